"""Real dataset files (tests/data/real, sources in SOURCES.md) and the shapes they bring, seen as
the trainer sees them: each file is imported into a real database, written as the run's
dataset.jsonl by the job path (store.write_training_file), then read and tokenized by the
worker's own functions (ffui.train.data) with the tiny model's tokenizer. The assertions are on
the decoded input and the decoded trained spans, not on the import alone."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ffui.data import store
from ffui.data.errors import DataError
from ffui.train.data import (DataSettings, Record, prepare_tokenizer, read_records, tokenize_records,
                             warn_tool_fallbacks)
from ffui.train.events import UserError
from test_train_data import trained_spans

REAL = Path(__file__).parent / "data" / "real"
QWEN_LIKE_TEMPLATE = (  # renders tools=, tool_calls (arguments | tojson) and reasoning_content, as Qwen3's does
    "{% if tools %}{{ '<|system|>\n# Tools\n' }}{% for t in tools %}{{ t | tojson }}{{ '\n' }}{% endfor %}"
    "{{ eos_token + '\n' }}{% endif %}"
    "{% for m in messages %}{% if m['role'] == 'assistant' %}{{ '<|assistant|>\n' }}"
    "{% if m.get('reasoning_content') %}{{ '<think>' + m['reasoning_content'] + '</think>' }}{% endif %}"
    "{{ m['content'] }}{% for c in m.get('tool_calls', []) %}{{ '<tool_call>' + c['function']['name'] + ' ' "
    "+ (c['function']['arguments'] | tojson) + '</tool_call>' }}{% endfor %}{{ eos_token + '\n' }}"
    "{% else %}{{ '<|' + m['role'] + '|>\n' + m['content'] + eos_token + '\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def tok(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


class Seen:
    """What the trainer sees of a dataset: per example the decoded text and trained spans."""

    def __init__(self, tok, records: list[Record], settings: DataSettings):
        self.tok = copy.deepcopy(tok)
        self.warnings: list[str] = []
        prepare_tokenizer(self.tok, settings, self.warnings.append)
        warn_tool_fallbacks(records, settings, self.warnings.append)
        self.examples, self.stats = tokenize_records(records, self.tok, settings)
        self.texts = [self.tok.decode(ex["input_ids"]) for ex in self.examples]
        # (the tiny template ends each turn with eos and a newline, both trained: the newline is
        # left out here so the spans read as the answers plus </s>)
        self.trained = [[t.removesuffix("\n") for t in trained_spans(self.tok, ex)] for ex in self.examples]


async def training_records(db, tmp_path: Path, file: str, **import_args) -> list[Record]:
    """``file`` imported as a dataset and written as the run's dataset.jsonl, read back by the worker."""
    name = Path(file).stem.replace("_", "-")
    await store.import_dataset(db, REAL / file if not Path(file).is_absolute() else file, name=name,
                               **import_args)
    path = tmp_path / f"{name}.dataset.jsonl"
    await store.write_training_file(db, name, path)
    return read_records(path)


async def seen(db, tmp_path, tok, file: str, settings: DataSettings | None = None, **import_args) -> Seen:
    return Seen(tok, await training_records(db, tmp_path, file, **import_args), settings or DataSettings())


# ---- files whose shape trained right before: the corpus keeps them right ------------------


async def test_alpaca_files_train_the_output_after_instruction_and_input(db, tmp_path, tok):
    s = await seen(db, tmp_path, tok, "axolotl/alpaca.json")
    assert "You will be given a series of words" in s.texts[0] and "Words: ['Hello', 'world']." in s.texts[0]
    assert s.trained[0] == ["['world', 'Hello']</s>"]
    s = await seen(db, tmp_path, tok, "llamafactory/identity.json")
    assert s.trained[2] == ["您好，我是 NAME，一个由 AUTHOR 开发的 AI 助手，很高兴认识您。请问我能为您做些什么？</s>"]
    assert "<|user|>\nhi</s>" in s.texts[0]


async def test_openai_chat_trains_every_assistant_turn_and_keeps_the_system_prompt(db, tmp_path, tok):
    s = await seen(db, tmp_path, tok, "openai-cookbook/toy_chat_fine_tuning.jsonl")
    assert s.texts[1].startswith("<s><|system|>\nYou are a happy assistant")
    assert s.trained[1] == ["It's ok, it happens to everyone.</s>", "It will pay off next time.</s>",
                            "Golf is fun too!</s>", "It's easy to learn!</s>"]
    assert s.trained[3] == ["You're great!</s>"]  # a row with no user turn still trains its answer


async def test_sharegpt_with_a_system_column_on_some_rows(db, tmp_path, tok):
    s = await seen(db, tmp_path, tok, "fastchat/dummy_conversation_with_system.json")
    assert s.texts[0].startswith("<s><|system|>\nA chat between a curious user and an artificial intelligence "
                                 "assistant whose name is Vick.")
    assert "<|system|>" not in s.texts[1] and "identity_7" not in s.texts[1]
    assert s.trained[1] == ["My name is Vicuna, and I'm a language model developed by Large Model Systems "
                            "Organization (LMSYS).</s>"]


async def test_a_system_column_beside_messages_leads_the_conversation(db, tmp_path, tok):
    s = await seen(db, tmp_path, tok, "anthropic-cookbook/json_mode_dataset.jsonl")
    assert s.texts[0].startswith("<s><|system|>\nJSON Mode: Enabled</s>")
    assert s.trained[1][0].startswith('{\n  "answer": {\n    "capital": "Canberra"')


async def test_a_single_conversation_object_and_plain_text(db, tmp_path, tok):
    s = await seen(db, tmp_path, tok, "axolotl/conversation.json")
    assert len(s.trained[0]) == 2 and s.trained[0][1].startswith("Sure. The basic idea would be")
    s = await seen(db, tmp_path, tok, "llamafactory/c4_demo.jsonl")
    assert s.trained[0] == [s.texts[0]]  # text rows: everything is trained
    assert s.texts[1].startswith("It was a very busy, but extremely enjoyable weekend")


# ---- history and context ------------------------------------------------------------------


async def test_ms_swift_history_becomes_earlier_turns_and_system_leads(db, tmp_path, tok):
    s = await seen(db, tmp_path, tok, "ms-swift/val.jsonl")
    assert s.texts[0].startswith("<s><|system|>\nyou are a helpful assistant!</s>\n<|user|>\nHello!</s>\n"
                                 "<|assistant|>\nHello! I am Swift AI assistant. How can I assist you?</s>\n"
                                 "<|user|>\nHow do we customize the dataset in the Swift LLM Example?")
    assert s.trained[0][0] == "Hello! I am Swift AI assistant. How can I assist you?</s>"
    assert s.trained[0][1].startswith("There are two ways to incorporate your own dataset.")
    assert "<|system|>" not in s.texts[1] and len(s.trained[1]) == 1


async def test_a_context_column_beside_question_and_answer_is_part_of_the_prompt(db, tmp_path, tok):
    path = tmp_path / "squad_like.jsonl"  # the SQuAD/RAG shape: question, context, answer
    path.write_text(json.dumps({"question": "Who wrote it?", "context": "The novel was written by Jane Austen.",
                                "answer": "Jane Austen"}) + "\n")
    s = await seen(db, tmp_path, tok, str(path))
    assert "<|user|>\nWho wrote it?\n\nThe novel was written by Jane Austen.</s>" in s.texts[0]
    assert s.trained[0] == ["Jane Austen</s>"]


# ---- tools --------------------------------------------------------------------------------


async def test_openai_function_calling_rows_show_their_tools_and_train_the_calls(db, tmp_path, tok):
    records = await training_records(db, tmp_path, "openai-cookbook/drone_training.jsonl")
    native = Seen(tok, copy.deepcopy(records), DataSettings(chat_template=QWEN_LIKE_TEMPLATE))
    assert '"name": "takeoff_drone"' in native.texts[0].split("<|user|>")[0]  # the schemas, before the turns
    # the JSON string arguments reach the template as an object: tojson once, not a string of JSON
    assert native.trained[0] == ['<tool_call>takeoff_drone {"altitude": 100}</tool_call></s>']
    assert native.warnings == []
    fallback = Seen(tok, copy.deepcopy(records), DataSettings())  # the tiny template renders no tools
    assert fallback.texts[0].startswith("<s><|system|>\nYou can call these functions (JSON schemas):\n"
                                        '{"name": "takeoff_drone"')
    assert "You are an intelligent AI that controls a drone" in fallback.texts[0]
    assert fallback.trained[0] == ['{"name": "takeoff_drone", "arguments": {"altitude": 100}}</s>']
    assert any("does not render tool definitions" in w for w in fallback.warnings)


async def test_glaive_tools_column_held_as_a_json_string_reaches_the_model(db, tmp_path, tok):
    s = await seen(db, tmp_path, tok, "llamafactory/glaive_toolcall_en_demo.json")
    system = s.texts[0].split("<|user|>")[0]
    assert '{"name": "calculate_area", "description": "Calculate the area of a given shape"' in system
    assert '{"name": "calculate_area", "arguments": {"shape": "rectangle", "dimensions": [5, 3]}}</s>' in s.trained[0]
    assert not any("area" in t and "15}" in t for t in s.trained[0])  # observations are read, not trained


async def test_tool_call_only_turns_count_as_content(db, tmp_path, ffui, home):
    from ffui.data.ops import empty_fields, lengths

    await store.import_dataset(db, REAL / "openai-cookbook/drone_training.jsonl", name="drone")
    rec = (await store.page(db, "drone", limit=1))[0]
    assert rec["output"] == '{"name": "takeoff_drone", "arguments": {"altitude": 100}}'
    assert empty_fields(rec, "chatml") == [] and lengths(rec)[1] > 0
    r = ffui("data", "show", "drone", "-n", "1", home=home)
    assert r.returncode == 0, r.stderr
    assert "assistant: null" not in r.stdout and "takeoff_drone" in r.stdout


def test_the_datasets_screen_shows_what_a_tool_call_only_turn_says():
    from ffui.data.formats import detect_layout, normalise_row
    from screens.dataset_browse import first_exchange, render_record

    raw = json.loads((REAL / "openai-cookbook/drone_training.jsonl").read_text().splitlines()[0])
    lay = detect_layout([raw])
    rec = normalise_row(raw, lay)
    calls = '{"name": "takeoff_drone", "arguments": {"altitude": 100}}'
    assert first_exchange(rec) == ("Let's get the drone in the air, can you make it take off", calls)
    body = str(render_record(rec, lay))
    assert body.index("── assistant") < body.index(calls) and "null" not in body.split("── metadata")[0]
    parts = {"messages": [{"role": "user", "content": [{"type": "text", "value": "Hi?"}]},
                          {"role": "assistant", "content": [{"type": "text", "value": "Hello."}]}]}
    assert first_exchange(normalise_row(parts, detect_layout([parts]))) == ("Hi?", "Hello.")


async def test_chatml_export_keeps_tools_and_parallel_tool_calls(db, tmp_path):
    await store.import_dataset(db, REAL / "llamafactory/glaive_toolcall_en_demo.json", name="glaive")
    await store.import_dataset(db, REAL / "openai-cookbook/drone_training.jsonl", name="drone")
    for name in ("glaive", "drone"):
        await store.export_dataset(db, name, tmp_path / f"{name}.jsonl", shape="chatml")
    glaive = json.loads((tmp_path / "glaive.jsonl").read_text())
    assert glaive["tools"][0] == {"type": "function", "function": {
        "name": "calculate_area", "description": "Calculate the area of a given shape",
        "parameters": json.loads(json.loads((REAL / "llamafactory/glaive_toolcall_en_demo.json").read_text())[0]
                                 ["tools"])[0]["parameters"]}}
    drone = [json.loads(x) for x in (tmp_path / "drone.jsonl").read_text().splitlines()]
    original = [json.loads(x) for x in (REAL / "openai-cookbook/drone_training.jsonl").read_text().splitlines()]
    assert [d["tools"] for d in drone] == [o["tools"] for o in original]
    assert [d["parallel_tool_calls"] for d in drone] == [False, False]
    await store.export_dataset(db, "drone", tmp_path / "drone-original.jsonl")  # and the original shape as it came
    assert [json.loads(x) for x in (tmp_path / "drone-original.jsonl").read_text().splitlines()] == original


# ---- per-turn training flags ---------------------------------------------------------------


async def test_openai_weight_zero_turns_are_shown_but_not_trained(db, tmp_path, tok):
    s = await seen(db, tmp_path, tok, "openai-guide/multi_turn_weight.jsonl")
    assert "<|assistant|>\nParis</s>" in s.texts[0]
    assert s.trained[0] == ["Paris, as if everyone doesn't know that already.</s>"]


async def test_llamafactory_loss_weight_zero_is_honoured(db, tmp_path, tok):
    path = tmp_path / "lw.jsonl"
    path.write_text(json.dumps({"messages": [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Draft answer.", "loss_weight": 0.0},
        {"role": "user", "content": "Again"}, {"role": "assistant", "content": "Final answer.", "loss_weight": 1.0}]}) + "\n")
    s = await seen(db, tmp_path, tok, str(path))
    assert "Draft answer." in s.texts[0] and s.trained[0] == ["Final answer.</s>"]


# ---- typed content parts, reasoning --------------------------------------------------------


@pytest.mark.parametrize("key", ["text", "value"])  # OpenAI's spelling, LLaMA-Factory's
async def test_typed_content_parts_train_their_text(db, tmp_path, tok, key):
    path = tmp_path / f"parts-{key}.jsonl"
    path.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": [{"type": "text", key: f"Question {n}?"}]},
        {"role": "assistant", "content": [{"type": "text", key: f"Answer {n}"}, {"type": "text", key: " in two parts."}]}]})
        + "\n" for n in range(3)))
    s = await seen(db, tmp_path, tok, str(path))
    assert [t for t in s.trained] == [[f"Answer {n} in two parts.</s>"] for n in range(3)]
    assert "<|user|>\nQuestion 1?</s>" in s.texts[1]
    rows = await store.page(db, path.stem, limit=10)
    assert [r["output"] for r in rows] == [f"Answer {n} in two parts." for n in range(3)]
    dedupe = await store.dedupe(db, path.stem, name=f"parts-{key}-dedupe")
    assert dedupe["removed"] == 0  # three different conversations, not "2 duplicates removed"


async def test_reasoning_content_is_rendered_where_the_template_supports_it(db, tmp_path, tok):
    path = tmp_path / "reasoning.jsonl"
    path.write_text(json.dumps({"messages": [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4", "reasoning_content": "Two plus two is four."}]}) + "\n")
    records = await training_records(db, tmp_path, str(path))
    native = Seen(tok, copy.deepcopy(records), DataSettings(chat_template=QWEN_LIKE_TEMPLATE))
    assert native.trained[0] == ["<think>Two plus two is four.</think>4</s>"]
    plain = Seen(tok, copy.deepcopy(records), DataSettings())
    assert plain.trained[0] == ["4</s>"] and any("reasoning_content" in w for w in plain.warnings)


# ---- mappings ------------------------------------------------------------------------------


async def test_turn_keys_and_system_column_mapped_from_the_command_line(db, tmp_path, tok, ffui, home):
    path = tmp_path / "speakers.jsonl"
    rows = [{"dialog": [{"speaker": "user", "text": "Ping?"}, {"speaker": "assistant", "text": "Pong."}],
             "persona": "You answer in one word."}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = ffui("data", "import", path, "--name", "speakers", "--map", "role=speaker", "--map", "content=text",
             "--map", "system=persona", home=home)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "dataset.jsonl"
    await store.write_training_file(db, "speakers", out)
    s = Seen(tok, read_records(out), DataSettings())
    assert s.texts[0].startswith("<s><|system|>\nYou answer in one word.</s>\n<|user|>\nPing?</s>")
    assert s.trained[0] == ["Pong.</s>"]
    r = ffui("data", "export", "speakers", tmp_path / "back.jsonl", home=home)
    assert r.returncode == 0, r.stderr
    assert [json.loads(x) for x in (tmp_path / "back.jsonl").read_text().splitlines()] == rows


# ---- refusals and warnings -----------------------------------------------------------------


async def test_media_rows_are_refused_for_text_training_unless_drop_media(db, tmp_path, tok):
    records = await training_records(db, tmp_path, "llamafactory/mllm_demo.json")
    with pytest.raises(UserError) as e:
        Seen(tok, copy.deepcopy(records), DataSettings())
    assert "line 1: the row refers to media (1 images)" in e.value.message and "drop_media=true" in e.value.hint
    s = Seen(tok, copy.deepcopy(records), DataSettings(drop_media=True))
    assert s.trained[0] == ["They're Kane and Gretzka from Bayern Munich.</s>", "They are celebrating on the soccer field.</s>"]


async def test_drop_media_strips_the_image_placeholders(db, tmp_path, tok):
    path = tmp_path / "llava_like.json"  # LLaVA / LLaMA-Factory shape with the placeholder in the turn
    path.write_text(json.dumps([{"messages": [{"role": "user", "content": "<image>Who are they?"},
                                              {"role": "assistant", "content": "Two footballers."}],
                                 "images": ["1.jpg"]}]))
    s = Seen(tok, await training_records(db, tmp_path, str(path)), DataSettings(drop_media=True))
    assert "<image>" not in s.texts[0] and "<|user|>\nWho are they?</s>" in s.texts[0]


async def test_empty_replies_are_left_out_with_a_warning_unless_asked(db, tmp_path, tok):
    path = tmp_path / "empty.jsonl"
    path.write_text("".join(json.dumps({"instruction": q, "output": a}) + "\n"
                            for q, a in [("Say hi", "Hi!"), ("Say nothing", ""), ("Say bye", "Bye!")]))
    records = await training_records(db, tmp_path, str(path))
    s = Seen(tok, copy.deepcopy(records), DataSettings())
    assert s.stats.empty_replies == 1 and [t for t in s.trained] == [["Hi!</s>"], ["Bye!</s>"]]
    kept = Seen(tok, copy.deepcopy(records), DataSettings(keep_empty_replies=True))
    assert kept.stats.empty_replies == 0 and kept.trained[1] == ["</s>"]


async def test_nested_instances_get_a_specific_error(db, tmp_path):
    with pytest.raises(DataError) as e:
        await store.import_dataset(db, REAL / "stanford_alpaca/seed_tasks.jsonl", name="seeds")
    msg = str(e.value)
    assert "'instances' holds a list of 1 objects (keys: input, output)" in msg and "nested shape" in msg
    assert "flatten" in msg and "cannot tell the format" not in msg


async def test_preference_files_import_and_keep_every_column(db, tmp_path):
    """Training them is the objectives work's (SOURCES.md): here, nothing is lost on the way in."""
    for file in ("llamafactory/dpo_en_demo.json", "llamafactory/kto_en_demo.json"):
        name = Path(file).stem.replace("_", "-")
        await store.import_dataset(db, REAL / file, name=name)
        await store.export_dataset(db, name, tmp_path / f"{name}.jsonl")
        back = [json.loads(x) for x in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        assert back == json.loads((REAL / file).read_text())


# ---- a step of training on real files ------------------------------------------------------


@pytest.mark.parametrize("file", ["openai-cookbook/drone_training.jsonl", "ms-swift/val.jsonl"])
async def test_real_files_train_a_step(db, tmp_path, tiny_model, file):
    from test_train_run import events, train

    run = tmp_path / "run"
    run.mkdir()
    await training_records(db, tmp_path, file)
    await store.write_training_file(db, Path(file).stem.replace("_", "-"), run / "dataset.jsonl")
    (run / "config.json").write_text(json.dumps({"base_model": str(tiny_model), "max_steps": 1, "lora_r": 4,
                                                 "per_device_train_batch_size": 2, "logging_steps": 1}))
    rc = train(run)
    assert rc == 0, (run / "train.log").read_text()[-3000:]
    steps = [e for e in events(run) if e["type"] == "step"]
    assert len(steps) == 1 and steps[0]["loss"] > 0


# ---- `ffui data render --json` shows the same: what the command prints is what is asserted above


@pytest.mark.parametrize("file", ["openai-guide/multi_turn_weight.jsonl", "openai-cookbook/drone_training.jsonl",
                                  "llamafactory/glaive_toolcall_en_demo.json", "ms-swift/val.jsonl",
                                  "axolotl/alpaca.json"])
async def test_data_render_json_shows_the_spans_the_trainer_trains(db, tmp_path, tok, ffui, home, tiny_model, file):
    """Weights, tools and tool calls, history, alpaca: `ffui data render --json` (the command, a worker
    process) gives exactly the trained spans the tests above assert on the worker's functions."""
    s = await seen(db, tmp_path, tok, file)
    name = "rendered-" + Path(file).stem.replace("_", "-")
    assert ffui("data", "import", REAL / file, "--name", name, home=home).returncode == 0
    r = ffui("data", "render", name, "--model", tiny_model, "--json", "--rows", "100", home=home)
    assert r.returncode == 0, r.stderr
    shown = [json.loads(line) for line in r.stdout.splitlines()]
    trained = [[t.removesuffix("\n") for t in ex["trained"]] for ex in shown if ex["trained_tokens"]]
    assert trained == s.trained and trained, (trained, s.trained)
    assert [ex["text"] for ex in shown if ex["trained_tokens"]] == [tok.decode(ex["input_ids"], skip_special_tokens=False,
                                                                              clean_up_tokenization_spaces=False)
                                                                   for ex in s.examples]


def test_data_render_refuses_media_rows_for_text_training_with_the_trainers_line(ffui, home, tiny_model):
    assert ffui("data", "import", REAL / "llamafactory/mllm_demo.json", "--name", "mllm", home=home).returncode == 0
    r = ffui("data", "render", "mllm", "--model", tiny_model, "--json", home=home)
    assert r.returncode != 0 and "the row refers to media (1 images)" in r.stderr and "drop_media=true" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    r = ffui("data", "render", "mllm", "--model", tiny_model, "--json", "--set", "drop_media=true", home=home)
    assert r.returncode == 0 and "<image>" not in r.stdout
