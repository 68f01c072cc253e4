"""The trainer's dataset pipeline on a real (tiny) tokenizer and model: rendering, label masks,
truncation, packing and batching."""

from __future__ import annotations

import json

import pytest

from ffui.train.data import (IGNORE, Collator, DataSettings, Record, pack_examples, read_records, split_records,
                             tokenize_records)
from ffui.train.events import UserError


@pytest.fixture(scope="module")
def tok(tiny_qwen):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_qwen)


def recs(*datas) -> list[Record]:
    return [Record(i + 1, d, "dataset.jsonl") for i, d in enumerate(datas)]


def trained_spans(tok, ex) -> list[str]:
    """The decoded runs of labelled tokens: what the loss is computed on."""
    runs, cur = [], []
    for i, lab in zip(ex["input_ids"], ex["labels"]):
        if lab == IGNORE:
            if cur:
                runs.append(tok.decode(cur))
                cur = []
        else:
            cur.append(i)
    if cur:
        runs.append(tok.decode(cur))
    return runs


def trained_text(tok, ex) -> str:
    """The text of the labelled tokens, runs joined with '|'."""
    return "|".join(trained_spans(tok, ex))


def test_tiny_model_loads_like_a_hub_model(tiny_qwen, tok):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_qwen)
    assert model.config.model_type == "qwen2" and model.config.num_hidden_layers == 2
    prompt = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|assistant|>\n") and tok.pad_token and tok.eos_token and tok.bos_token
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 3


def test_multi_turn_chat_trains_every_assistant_turn_only(tok):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."}]
    (ex,), _ = tokenize_records(recs({"messages": msgs}), tok, DataSettings())
    assert trained_text(tok, ex) == "Hello!</s>\n|Paris.</s>\n"
    full = tok.apply_chat_template(msgs, tokenize=False)
    assert tok.decode(ex["input_ids"]) == full


def test_without_completion_only_loss_every_turn_is_trained(tok):
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    (ex,), _ = tokenize_records(recs({"messages": msgs}), tok, DataSettings(completion_only_loss=False))
    assert all(lab != IGNORE for lab in ex["labels"])


def test_input_output_pairs_use_the_chat_template(tok):
    (ex,), _ = tokenize_records(recs({"input": "2+2?", "output": "4", "system": "Math."}), tok, DataSettings())
    assert tok.decode(ex["input_ids"]).startswith("<s><|system|>\nMath.</s>\n<|user|>\n2+2?")
    assert trained_text(tok, ex) == "4</s>\n"


def test_prompt_template_fills_record_keys_and_fields(tok):
    pt = {"prompt_template": "### {topic} question:\n{input}\n### Answer:\n{output}",
          "input_template": "### {topic} question:\n{input}\n### Answer:\n", "completion_template": "{output}"}
    rec = {"input": "Colour of the sky?", "output": "Blue", "fields": {"topic": "Science"}}
    (ex,), _ = tokenize_records(recs(rec), tok, DataSettings(prompt_template=pt))
    assert tok.decode(ex["input_ids"]) == "### Science question:\nColour of the sky?\n### Answer:\nBlue</s>"
    assert trained_text(tok, ex) == "Blue</s>"


def test_prompt_template_with_only_a_completion_template(tok):
    pt = {"prompt_template": "Q: {q}\nA: {a}", "completion_template": "{a}"}
    (ex,), _ = tokenize_records(recs({"q": "Why?", "a": "Because."}), tok, DataSettings(prompt_template=pt))
    assert trained_text(tok, ex) == "Because.</s>"


def test_prompt_template_missing_placeholder_names_the_key_and_line(tok):
    pt = {"prompt_template": "{instruction}\n{output}"}
    with pytest.raises(UserError) as e:
        tokenize_records(recs({"input": "a", "output": "b"}), tok, DataSettings(prompt_template=pt))
    assert "line 1" in e.value.message and "'instruction'" in e.value.message


def test_plain_text_is_trained_whole_and_ends_with_eos(tok):
    (ex,), _ = tokenize_records(recs({"text": "Once upon a time."}), tok, DataSettings())
    assert tok.decode(ex["input_ids"]) == "Once upon a time.</s>"
    assert ex["labels"] == ex["input_ids"]


def test_long_examples_are_truncated_and_prompt_only_ones_skipped(tok):
    long_answer = {"input": "Hi", "output": "word " * 200}
    long_prompt = {"input": "word " * 200, "output": "ok"}
    rows, stats = tokenize_records(recs(long_answer, long_prompt), tok, DataSettings(max_seq_len=32))
    assert stats.truncated == 2 and stats.dropped == 1 and len(rows) == 1
    assert len(rows[0]["input_ids"]) == 32


def test_packing_keeps_examples_apart(tok):
    data = [{"text": "short one"}, {"text": "a somewhat longer example here"}, {"text": "mid size text"}] * 5
    rows, stats = tokenize_records(recs(*data), tok, DataSettings())
    packed = pack_examples(rows, max_len=40)
    assert len(packed) < len(rows)
    assert sum(len(r["input_ids"]) for r in packed) == stats.tokens
    for r in packed:
        assert len(r["input_ids"]) <= 40
        starts = [i for i, p in enumerate(r["position_ids"]) if p == 0]
        assert all(r["labels"][i] == IGNORE for i in starts)  # never predict across examples


def test_packed_rows_give_the_same_logits_as_separate_examples(tiny_qwen, tok):
    """The block-diagonal mask must really stop packed examples attending to each other.

    use_cache=False as in training: with a KV cache transformers does not look for packed rows.
    """
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_qwen).eval()
    rows, _ = tokenize_records(recs({"text": "The quick brown fox"}, {"text": "Paris is in France"}), tok,
                               DataSettings())
    (packed,) = pack_examples(rows, max_len=64)
    batch = Collator(tok.pad_token_id)([packed])
    assert "attention_mask" not in batch
    with torch.no_grad():
        together = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
        apart = [model(input_ids=torch.tensor([r["input_ids"]])).logits[0] for r in sorted(
            rows, key=lambda r: -len(r["input_ids"]))]
    assert torch.allclose(together, torch.cat(apart), atol=1e-4)


def test_collator_pads_to_the_longest_in_the_batch(tok):
    rows = [{"input_ids": [5, 6, 7], "labels": [5, 6, 7]}, {"input_ids": [8], "labels": [IGNORE]}]
    b = Collator(pad_id=0)(rows)
    assert b["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert b["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert b["labels"].tolist() == [[5, 6, 7], [IGNORE] * 3]
    assert Collator(pad_id=0, pad_to_multiple_of=8)(rows)["input_ids"].shape == (2, 8)


@pytest.mark.parametrize("content, expected", [
    ("", "has no examples"),
    ('{"input": "a", "output": "b"}\n{"input": "a", \n', "line 2 is not valid JSON"),
    ('["a", "b"]\n', "line 1 is a list, not a JSON object"),
])
def test_unreadable_datasets_say_which_line(tmp_path, content, expected):
    path = tmp_path / "dataset.jsonl"
    path.write_text(content)
    with pytest.raises(UserError) as e:
        read_records(path)
    assert expected in e.value.message


def test_unknown_record_shapes_are_rejected_with_the_accepted_ones(tok):
    with pytest.raises(UserError) as e:
        tokenize_records(recs({"question": "a", "answer": "b"}), tok, DataSettings())
    assert "line 1" in e.value.message and "prompt_template" in e.value.hint


def test_eval_split_is_seeded_and_disjoint():
    records = recs(*({"text": str(i)} for i in range(20)))
    train, held = split_records(records, None, DataSettings(eval_split=0.2, seed=1))
    again, held2 = split_records(records, None, DataSettings(eval_split=0.2, seed=1))
    assert len(held) == 4 and [r.line for r in held] == [r.line for r in held2]
    assert {r.line for r in train} | {r.line for r in held} == set(range(1, 21))
    assert [r.line for r in split_records(records, None, DataSettings(eval_split=0.2, seed=2))[1]] != \
        [r.line for r in held]


def test_eval_file_overrides_the_split():
    records, extra = recs({"text": "a"}, {"text": "b"}), recs({"text": "c"})
    assert split_records(records, extra, DataSettings(eval_split=0.5)) == (records, extra)


def test_dataset_file_round_trip(tmp_path):
    path = tmp_path / "dataset.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in ["a", "b"]) + "\n\n")
    assert [r.data["text"] for r in read_records(path)] == ["a", "b"]


# ---- tool and function-calling turns -------------------------------------------------------

STRICT_TEMPLATE = (  # Llama-2 style: only system/user/assistant, anything else raises
    "{% for m in messages %}{% if m['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('Conversation roles must be user/assistant/system') }}{% endif %}"
    "{{ '[' + m['role'] + '] ' + m['content'] + eos_token + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '[assistant] ' }}{% endif %}"
)
TOOL_TEMPLATE = (  # Qwen2.5 style: tool calls rendered as <tool_call> JSON, tool results as tool_response
    "{% for m in messages %}"
    "{% if m['role'] == 'tool' %}{{ '<|user|>\n<tool_response>\n' + m['content'] + '\n</tool_response>' + eos_token + '\n' }}"
    "{% elif m['role'] == 'assistant' %}{{ '<|assistant|>\n' + m['content'] }}"
    "{% for c in m.get('tool_calls', []) %}{{ '<tool_call>\n{\"name\": \"' + c['function']['name'] + '\", \"arguments\": ' "
    "+ (c['function']['arguments'] | tojson) + '}\n</tool_call>' }}{% endfor %}{{ eos_token + '\n' }}"
    "{% else %}{{ '<|' + m['role'] + '|>\n' + m['content'] + eos_token + '\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
GLAIVE = {"messages": [  # sharegpt function calling as stored after import (roles kept)
    {"role": "system", "content": "You can call get_weather(city)."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "function_call", "content": '{"name": "get_weather", "arguments": {"city": "Paris"}}'},
    {"role": "observation", "content": '{"temp_c": 18}'},
    {"role": "assistant", "content": "It is 18 degrees in Paris."}]}
OPENAI = {"messages": [  # OpenAI chat format with tool_calls and a tool turn
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 18}'},
    {"role": "assistant", "content": "It is 18 degrees in Paris."}]}


def tool_tokenize(tok, datas, template=None):
    import copy

    from ffui.train.data import prepare_tokenizer, warn_tool_fallbacks

    t = copy.deepcopy(tok)
    s = DataSettings(chat_template=template)
    warnings: list[str] = []
    prepare_tokenizer(t, s, warnings.append)
    records = recs(*copy.deepcopy(datas))
    warn_tool_fallbacks(records, s, warnings.append)
    examples, _ = tokenize_records(records, t, s)
    return t, examples, warnings


def test_function_calls_are_trained_and_tool_results_are_not(tok):
    t, (ex,), warnings = tool_tokenize(tok, [GLAIVE])  # the tiny model's <|role|> template: any role renders
    trained = trained_text(t, ex)
    assert '"name": "get_weather"' in trained and "It is 18 degrees in Paris." in trained
    assert "temp_c" not in trained and "temp_c" in t.decode(ex["input_ids"])
    assert "<|tool|>" in t.decode(ex["input_ids"]) and warnings == []


def test_openai_tool_calls_become_json_text_where_the_template_cannot_render_them(tok):
    t, (ex,), warnings = tool_tokenize(tok, [OPENAI])
    trained = trained_text(t, ex)
    assert '{"name": "get_weather", "arguments": {"city": "Paris"}}' in trained
    assert "temp_c" not in trained
    assert len(warnings) == 1 and "does not render tool_calls" in warnings[0]


def test_a_template_without_a_tool_role_gets_tool_results_as_user_turns(tok):
    t, (ex,), warnings = tool_tokenize(tok, [GLAIVE], STRICT_TEMPLATE)
    text = t.decode(ex["input_ids"])
    assert '[user] Tool result:\n{"temp_c": 18}' in text and "temp_c" not in trained_text(t, ex)
    assert any("no 'tool' role" in w for w in warnings)


def test_a_template_with_tool_support_renders_calls_natively(tok):
    t, (ex,), warnings = tool_tokenize(tok, [OPENAI], TOOL_TEMPLATE)
    trained = trained_text(t, ex)
    assert "<tool_call>" in trained and "get_weather" in trained and "tool_response" not in trained
    assert "<tool_response>" in t.decode(ex["input_ids"]) and warnings == []


def test_unknown_roles_are_still_rejected_with_the_accepted_ones(tok):
    with pytest.raises(UserError) as e:
        tokenize_records(recs({"messages": [{"role": "narrator", "content": "x"}]}), tok, DataSettings())
    assert "line 1" in str(e.value) and "tool" in str(e.value)
