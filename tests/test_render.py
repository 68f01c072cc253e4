"""ffui data render: rows as the trainer feeds them to the tiny model, trained spans marked,
counts that match the trainer's, and bad input as one line."""

import json
from pathlib import Path

import pytest

EOT = "</s>\n"  # the tiny model's chat template ends every turn with eos and a newline

CHAT = [
    {"messages": [{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "What is two plus two?"},
                  {"role": "assistant", "content": "Four."},
                  {"role": "user", "content": "And doubled?"},
                  {"role": "assistant", "content": "Eight."}]},
    {"messages": [{"role": "user", "content": "Name a colour."},
                  {"role": "assistant", "content": "Blue."}]},
    {"messages": [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi!"}]},
    {"messages": [{"role": "user", "content": "Count to three."},
                  {"role": "assistant", "content": "One, two, three."}]},
]
ALPACA = [
    {"instruction": "Translate to French.", "input": "cat", "output": "chat"},
    {"instruction": "Give the capital of Italy.", "input": "", "output": "Rome"},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def chat_home(home, ffui, tiny_model):
    r = ffui("data", "import", write_jsonl(home / "chat.jsonl", CHAT), "--name", "chat", home=home)
    assert r.returncode == 0, r.stderr
    return home


def render_json(ffui, home, dataset, model, *extra) -> list[dict]:
    r = ffui("data", "render", dataset, "--model", model, "--json", *extra, home=home)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def tokenizer_of(model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model))


def test_chat_rows_train_exactly_the_assistant_replies(chat_home, ffui, tiny_model):
    out = render_json(ffui, chat_home, "chat", tiny_model, "--rows", "10")
    assert [set(o) for o in out] == [{"row", "text", "trained", "tokens", "trained_tokens"}] * len(CHAT)
    tok = tokenizer_of(tiny_model)
    for o, row in zip(out, CHAT):
        replies = [m["content"] for m in row["messages"] if m["role"] == "assistant"]
        assert o["trained"] == [reply + EOT for reply in replies]
        for m in row["messages"]:  # the prompt side is in what the model reads, and never trained
            assert m["content"] in o["text"]
            if m["role"] != "assistant":
                assert not any(m["content"] in span for span in o["trained"])
        assert o["text"].startswith("<s><|system|>\nBe brief." if row["messages"][0]["role"] == "system"
                                    else "<s><|user|>\n")
        # each span is tokenized on its own, as the trainer tokenizes each segment
        assert o["trained_tokens"] == sum(len(tok(s, add_special_tokens=False)["input_ids"]) for s in o["trained"])
        assert o["tokens"] > o["trained_tokens"] > 0
    ids = [o["row"] for o in out]
    assert ids == sorted(ids) and len(set(ids)) == len(CHAT)


def test_alpaca_rows_train_the_output_and_read_instruction_and_input(home, ffui, tiny_model):
    assert ffui("data", "import", write_jsonl(home / "a.jsonl", ALPACA), "--name", "alp", home=home).returncode == 0
    out = render_json(ffui, home, "alp", tiny_model)
    assert [o["trained"] for o in out] == [["chat" + EOT], ["Rome" + EOT]]
    assert "Translate to French." in out[0]["text"] and "cat" in out[0]["text"]
    assert "Give the capital of Italy." in out[1]["text"]


def test_rows_limits_how_many_and_the_text_view_marks_spans_and_sums_up(chat_home, ffui, tiny_model):
    assert len(render_json(ffui, chat_home, "chat", tiny_model, "--rows", "2")) == 2
    assert len(render_json(ffui, chat_home, "chat", tiny_model)) == 3  # the default
    r = ffui("data", "render", "chat", "--model", tiny_model, "--rows", "2", home=chat_home)
    assert r.returncode == 0, r.stderr
    assert "⟦Four.</s>\n⟧" in r.stdout and "⟦Blue.</s>\n⟧" in r.stdout
    summary = r.stdout.strip().splitlines()[-1]
    assert summary.startswith("rendered data: 2 examples, 2 trained,")
    assert "0 truncated to max_seq_len=2048" in summary and "0 dropped" in summary


def test_summary_counts_truncated_and_dropped_rows_and_why(home, ffui, tiny_model):
    long_prompt = {"messages": [{"role": "user", "content": "word " * 200},
                                {"role": "assistant", "content": "ok"}]}
    long_reply = {"messages": [{"role": "user", "content": "hi"},
                               {"role": "assistant", "content": "word " * 200}]}
    rows = [CHAT[1], long_prompt, long_reply]
    assert ffui("data", "import", write_jsonl(home / "l.jsonl", rows), "--name", "long", home=home).returncode == 0
    r = ffui("data", "render", "long", "--model", tiny_model, "--set", "max_seq_len=32", "--json", home=home)
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["tokens"] for o in out][1:] == [32, 32]
    assert out[1]["trained"] == [] and out[1]["trained_tokens"] == 0  # its reply was cut off
    assert out[2]["trained"][0].startswith("word word") and not out[2]["trained"][0].endswith(EOT)
    summary = r.stderr.strip().splitlines()[-1]  # with --json the summary goes to stderr
    assert "3 examples, 2 trained" in summary and "2 truncated to max_seq_len=32" in summary
    assert "1 dropped (1 nothing left to train after truncation to max_seq_len)" in summary


def test_the_summary_is_what_the_trainer_logs_before_training(chat_home, job_home, ffui, tiny_model):
    """The same numbers from `data render` and from a real run's log: one code path."""
    r = ffui("data", "render", "chat", "--model", tiny_model, "--rows", "100", home=chat_home)
    rendered = r.stdout.strip().splitlines()[-1]
    t = ffui("train", "-d", "chat", "-m", tiny_model, "--set", "max_steps=1", "--set", "save_steps=100",
             "--wait", home=chat_home, timeout=600)
    assert t.returncode == 0, t.stdout + t.stderr
    log = ffui("runs", "logs", "1", home=chat_home).stdout
    trained = next(line for line in log.splitlines() if "training data:" in line)
    assert trained.split("training data: ", 1)[1] == rendered.split("rendered data: ", 1)[1]
    assert "training data: 4 examples, 4 trained" in t.stdout  # and `ffui train` shows it too


def test_a_missing_model_or_dataset_is_one_line(chat_home, ffui, tiny_model, tmp_path):
    r = ffui("data", "render", "chat", "--model", tmp_path / "nope", home=chat_home)
    assert r.returncode != 0 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    r = ffui("data", "render", "nosuch", "--model", tiny_model, home=chat_home)
    assert r.returncode != 0 and r.stderr.count("\n") == 1 and "no dataset named 'nosuch'" in r.stderr
    not_a_model = tmp_path / "empty-dir"
    not_a_model.mkdir()
    r = ffui("data", "render", "chat", "--model", not_a_model, home=chat_home)
    assert r.returncode != 0 and r.stderr.count("\n") == 1 and "has no config.json" in r.stderr


def test_packed_rows_train_exactly_the_tokens_the_render_counts(tiny_model):
    """In-process, on the trainer's own functions: the packed rows a run trains hold as many
    labelled tokens as the render says are trained, in fewer rows than examples."""
    from ffui.train import data
    from ffui.train.render import render

    def records():
        return [data.Record(i + 1, json.loads(json.dumps(r)), "dataset.jsonl", row=100 + i) for i, r in enumerate(CHAT)]

    tok = tokenizer_of(tiny_model)
    settings = data.DataSettings(max_seq_len=128, packing=True)
    data.prepare_tokenizer(tok, settings, lambda message: None)
    *examples, summary = render(records(), tok, settings)
    rows, _ = data.tokenize_records(records(), tok, settings)
    packed = data.pack_examples(rows, settings.max_seq_len)
    labelled = sum(1 for row in packed for label in row["labels"] if label != data.IGNORE)
    assert summary["type"] == "summary" and summary["rows"] == len(packed) < len(CHAT)
    assert labelled == summary["trained_tokens"] == sum(e["trained_tokens"] for e in examples)
    assert [e["row"] for e in examples] == [100, 101, 102, 103]
    assert "packed into" in summary["line"]
