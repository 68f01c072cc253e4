"""Training objectives: sft (default), pretrain, and the preference ones (dpo, orpo, kto) through
TRL's trainers, as a user meets them: preference files in the shapes other projects write import
as they are, the normaliser reads each shape, SFT on preference data stops with one line, .txt and
.md files import as documents, and each objective trains the tiny model as a detached run from the
CLI (and dpo from the Train form), with its metrics in the run's events and on the run screen.

Training runs are few and tiny (2 steps each): CPU is scarce.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ffui.train.preference import SFT_REFUSAL, PreferenceError, normalise_preference, render_sides

FACTS = [("What is the capital of France?", "Paris.", "Rome."), ("What colour is the sky?", "Blue.", "Green."),
         ("How many legs does a cat have?", "Four.", "Seven."), ("What do bees make?", "Honey.", "Cheese.")]
QUICK = ("--set", "max_steps=2", "--set", "num_gpu=0", "--set", "learning_rate=1e-2", "--set", "lora_r=8",
         "--set", "per_device_train_batch_size=4", "--set", "logging_steps=1")


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def trl_rows(repeat: int = 2) -> list[dict]:
    """TRL's explicit-prompt conversational shape."""
    return [{"prompt": [{"role": "user", "content": q}], "chosen": [{"role": "assistant", "content": c}],
             "rejected": [{"role": "assistant", "content": r}]} for _ in range(repeat) for q, c, r in FACTS]


def kto_rows(repeat: int = 1) -> list[dict]:
    return [{"prompt": q, "completion": " " + a, "label": good}
            for _ in range(repeat) for q, c, r in FACTS for a, good in ((c, True), (r, False))]


# ---- the normaliser, on each shape -------------------------------------------------------------


def test_sharegpt_with_a_chosen_and_a_rejected_turn():
    row = {"conversations": [{"from": "human", "value": "Hi?"}], "system": "Be kind.",
           "chosen": {"from": "gpt", "value": "Hello!"}, "rejected": {"from": "gpt", "value": "Go away."}}
    assert normalise_preference(row) == {
        "prompt": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi?"}],
        "chosen": [{"role": "assistant", "content": "Hello!"}],
        "rejected": [{"role": "assistant", "content": "Go away."}]}


def test_trl_prompt_chosen_rejected_as_strings_stay_text_and_as_messages_stay_turns():
    assert normalise_preference({"prompt": "Sky?", "chosen": " Blue.", "rejected": " Green."}) == \
        {"prompt": "Sky?", "chosen": " Blue.", "rejected": " Green."}
    assert normalise_preference(trl_rows(1)[0]) == trl_rows(1)[0]
    mixed = {"prompt": "Sky?", "chosen": [{"role": "assistant", "content": "Blue."}], "rejected": "Green."}
    assert normalise_preference(mixed) == {"prompt": [{"role": "user", "content": "Sky?"}],
                                           "chosen": [{"role": "assistant", "content": "Blue."}],
                                           "rejected": [{"role": "assistant", "content": "Green."}]}


def test_anthropic_hh_texts_split_after_the_last_shared_assistant_marker():
    turn = "\n\nHuman: What colour is the sky?\n\nAssistant: It is blue.\n\nHuman: Sure?\n\nAssistant:"
    row = {"chosen": turn + " Yes, blue.", "rejected": turn + " Yes, green."}  # the replies share "Yes, "
    assert normalise_preference(row) == {"prompt": turn, "chosen": " Yes, blue.", "rejected": " Yes, green."}


def test_full_chosen_and_rejected_conversations_share_their_prompt_turns():
    user = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Joke?"}]
    row = {"chosen": user + [{"role": "assistant", "content": "A pun."}],
           "rejected": user + [{"role": "assistant", "content": "No."}]}
    assert normalise_preference(row) == {"prompt": user, "chosen": [{"role": "assistant", "content": "A pun."}],
                                         "rejected": [{"role": "assistant", "content": "No."}]}


def test_kto_rows_and_a_labelled_conversation():
    assert normalise_preference({"prompt": "Hi?", "completion": "Hello!", "label": True}) == \
        {"prompt": "Hi?", "completion": "Hello!", "label": True}
    conv = {"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Go away."}],
            "label": False}
    assert normalise_preference(conv) == {"prompt": [{"role": "user", "content": "Hi?"}],
                                          "completion": [{"role": "assistant", "content": "Go away."}],
                                          "label": False}


@pytest.mark.parametrize("row, says", [
    ({"prompt": "Hi?", "completion": "Hello!", "label": "maybe"}, "label must be true or false"),
    ({"chosen": "Blue.", "rejected": "Green."}, "share no prompt"),
    ({"prompt": "Hi?", "chosen": [{"speaker": "x"}], "rejected": "No."}, "not {role, content}"),
])
def test_rows_the_normaliser_cannot_read_say_why(row, says):
    with pytest.raises(PreferenceError, match=says.replace("{", r"\{").replace("}", r"\}")):
        normalise_preference(row)


def test_kto_with_one_completion_per_batch_is_refused_by_the_config():
    from ffui.train.config import ConfigError, TrainConfig

    with pytest.raises(ConfigError, match="objective=kto needs per_device_train_batch_size >= 2"):
        TrainConfig.from_dict({"base_model": "m", "objective": "kto", "per_device_train_batch_size": 1})


def test_render_sides_reads_a_dataset_jsonl_line():
    line = {"text": "Sky?", "preference": {"prompt": "Sky?", "chosen": " Blue.", "rejected": " Green."}}
    assert render_sides(line) == {"prompt": "Sky?", "chosen": " Blue.", "rejected": " Green."}


# ---- import: preference files as they come, text documents ------------------------------------------


def training_lines(home: Path, dataset: str) -> list[dict]:
    import asyncio

    from ffui.db import connect
    from ffui.data.export import write_training_file

    async def go():
        async with connect(home / "ffui.db", home) as db:
            await write_training_file(db, dataset, home / "out.jsonl")
    asyncio.run(go())
    return [json.loads(line) for line in (home / "out.jsonl").read_text().splitlines()]


def test_preference_files_import_losslessly_and_map_chosen_gives_sft_rows(ffui, home, tmp_path):
    hh = write_jsonl(tmp_path / "hh.jsonl", [{"chosen": "\n\nHuman: Sky?\n\nAssistant: Blue.",
                                              "rejected": "\n\nHuman: Sky?\n\nAssistant: Green."}])
    trl = write_jsonl(tmp_path / "trl.jsonl", trl_rows(1))
    for path, name in ((hh, "hh"), (trl, "trl")):
        r = ffui("data", "import", path, "--name", name, home=home)
        assert r.returncode == 0, r.stderr
    assert training_lines(home, "hh")[0]["preference"] == json.loads(hh.read_text())
    assert [line["preference"] for line in training_lines(home, "trl")] == trl_rows(1)
    conv = write_jsonl(tmp_path / "conv.jsonl", [{"chosen": [*r["prompt"], *r["chosen"]],
                                                  "rejected": [*r["prompt"], *r["rejected"]]} for r in trl_rows(1)])
    r = ffui("data", "import", conv, "--name", "chosen-side", "--map", "messages=chosen", home=home)
    assert r.returncode == 0, r.stderr
    lines = training_lines(home, "chosen-side")
    assert "preference" not in lines[0] and lines[0]["messages"][-1] == {"role": "assistant", "content": "Paris."}


def test_txt_and_md_files_and_a_folder_of_them_import_as_documents(ffui, home, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("First document.\n\nIts second paragraph.\n")
    (notes / "b.md").write_text("# Title\n\nSecond document.\n")
    r = ffui("data", "import", notes / "a.txt", "--name", "one", home=home)
    assert r.returncode == 0 and "(text," in r.stdout, r.stdout + r.stderr
    assert training_lines(home, "one") == [{"text": "First document.\n\nIts second paragraph.\n"}]
    r = ffui("data", "import", notes, "--name", "folder", home=home)
    assert r.returncode == 0, r.stderr
    assert [line["text"] for line in training_lines(home, "folder")] == [
        "First document.\n\nIts second paragraph.\n", "# Title\n\nSecond document.\n"]


def test_pretrain_splits_long_documents_into_chunks_and_keeps_every_token(tiny_model):
    from transformers import AutoTokenizer

    from ffui.train import data, pretrain

    tok = AutoTokenizer.from_pretrained(tiny_model)
    docs = [" ".join(f"w{i}" for i in range(300)), "short"]
    recs = [data.Record(n, {"text": t}, "dataset.jsonl") for n, t in enumerate(docs, 1)]
    rows, stats, split = pretrain.tokenize_documents(recs, tok, 64)
    whole = sum(len(ids) + 1 for ids in tok(docs)["input_ids"])  # (the tokenizer's own bos, if any) + eos
    assert split == 1 and stats.tokens == whole == sum(len(r["input_ids"]) for r in rows)
    assert all(len(r["input_ids"]) <= 64 for r in rows)
    assert tok.decode([t for r in rows for t in r["input_ids"]]).count("w299") == 1  # the end is not cut


# ---- training, end to end, as detached runs from the CLI ------------------------------------------


def train(ffui, home: Path, model: Path, dataset: str, *sets: str):
    """``ffui train ... --wait``; (the command's result, the run's events)."""
    r = ffui("train", "--dataset", dataset, "--model", model, *QUICK, *sets, "--wait", home=home, timeout=400)
    run_dir = next((Path(line.split("artifacts:", 1)[1].strip()) for line in r.stdout.splitlines()
                    if "artifacts:" in line), None)
    evs = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()] if run_dir else []
    return r, evs


def steps(evs: list[dict]) -> list[dict]:
    return [e for e in evs if e["type"] == "step"]


def imported(ffui, home: Path, path: Path, name: str) -> str:
    r = ffui("data", "import", path, "--name", name, home=home)
    assert r.returncode == 0, r.stderr
    return name


def sharegpt_rows() -> list[dict]:
    """LLaMA-Factory's dpo_en_demo shape: sharegpt turns, then a chosen and a rejected turn."""
    return [{"conversations": [{"from": "human", "value": q}], "chosen": {"from": "gpt", "value": c},
             "rejected": {"from": "gpt", "value": r}} for q, c, r in FACTS]


def test_preference_data_under_sft_stops_with_one_line(ffui, job_home, tiny_model, tmp_path):
    # (this shape imported as plain sharegpt before, and SFT trained on the prompts alone)
    name = imported(ffui, job_home, write_jsonl(tmp_path / "dpo_en_demo.jsonl", sharegpt_rows()), "prefs")
    r, evs = train(ffui, job_home, tiny_model, name)
    assert r.returncode != 0 and (r.stdout + r.stderr).strip() == f"ffui: {SFT_REFUSAL}" and not evs
    assert ffui("runs", "list", "--json", home=job_home).stdout.strip() == "[]"  # no run was made
    r, _ = train(ffui, job_home, tiny_model, name, "--set", "objective=kto")
    assert r.returncode != 0 and "use --set objective=kto" not in r.stderr and "objective=dpo" in r.stderr


def test_the_trainer_refuses_preference_rows_under_sft_before_loading_anything(tiny_model, tmp_path):
    """A dataset.jsonl written by hand (not through ffui's import) meets the same line in the trainer."""
    import subprocess
    import sys

    run = tmp_path / "run"
    run.mkdir()
    write_jsonl(run / "dataset.jsonl", trl_rows(1))
    (run / "config.json").write_text(json.dumps({"base_model": str(tiny_model), "num_gpu": 0}))
    r = subprocess.run([sys.executable, "-m", "ffui.train", str(run)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout.strip() == f"error: dataset.jsonl line 1: {SFT_REFUSAL}"
    (error,) = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines()]
    assert error["type"] == "error" and SFT_REFUSAL in error["message"]


def test_dpo_trains_and_reports_rewards(ffui, job_home, tiny_model, tmp_path):
    name = imported(ffui, job_home, write_jsonl(tmp_path / "trl.jsonl", trl_rows()), "prefs")
    r, evs = train(ffui, job_home, tiny_model, name, "--set", "objective=dpo")
    assert r.returncode == 0, r.stdout + r.stderr
    assert [s["step"] for s in steps(evs)] == [1, 2]
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
        assert all(isinstance(s[key], float) for s in steps(evs)), key
    assert steps(evs)[-1]["rewards/margins"] > 0  # it learned to prefer the chosen replies
    done = next(e for e in evs if e["type"] == "done")
    assert (Path(done["adapter_path"]) / "adapter_config.json").exists()
    assert not (Path(done["adapter_path"]) / "ref").exists()  # only the trained adapter


def test_orpo_trains_on_text_pairs(ffui, job_home, tiny_model, tmp_path):
    rows = [{"prompt": q, "chosen": " " + c, "rejected": " " + r} for _ in range(2) for q, c, r in FACTS]
    name = imported(ffui, job_home, write_jsonl(tmp_path / "pairs.jsonl", rows), "pairs")
    r, evs = train(ffui, job_home, tiny_model, name, "--set", "objective=orpo")
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(steps(evs)) == 2 and all("log_odds_ratio" in s and "rewards/margins" in s for s in steps(evs))


def test_kto_trains_on_labelled_completions(ffui, job_home, tiny_model, tmp_path):
    name = imported(ffui, job_home, write_jsonl(tmp_path / "kto.jsonl", kto_rows(2)), "kto")
    r, evs = train(ffui, job_home, tiny_model, name, "--set", "objective=kto")
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(steps(evs)) == 2 and all("kl" in s for s in steps(evs))
    assert any("rewards/chosen" in s and "rewards/rejected" in s for s in steps(evs))


def test_pretrain_trains_on_a_folder_of_documents_with_nothing_cut(ffui, job_home, tiny_model, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "long.txt").write_text(" ".join(f"word{i}" for i in range(600)))
    (docs / "short.md").write_text("A short note about bees.\n")
    name = imported(ffui, job_home, docs, "docs")
    r, evs = train(ffui, job_home, tiny_model, name, "--set", "objective=pretrain", "--set", "max_seq_len=128")
    assert r.returncode == 0, r.stdout + r.stderr
    warnings = [e["message"] for e in evs if e["type"] == "warning"]
    assert any("split into chunks" in w for w in warnings) and not any("truncated" in w for w in warnings)
    start = next(e for e in evs if e["type"] == "start")
    assert start["data"]["truncated"] == 0 and start["data"]["rows"] >= 2 and len(steps(evs)) == 2


# ---- from the Train form, onto the run screen --------------------------------------------------


async def test_dpo_from_the_train_form_charts_its_rewards_on_the_run_screen(job_home, tiny_model, tmp_path):
    from textual.widgets import Select

    from ffui import db as fdb
    from ffui.data import store
    from screens.run_detail import RewardChart, RunDetailScreen
    from tui_support import app_for, screen_text, settle, wait_for

    async with fdb.connect(job_home / "ffui.db", job_home) as db:
        await store.import_dataset(db, str(write_jsonl(tmp_path / "trl.jsonl", trl_rows())), name="prefs")
        await fdb.create_model(db, type="local", name="tiny", location=str(tiny_model))
    app = app_for(job_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await settle(pilot, 4)
        form = app.screen
        form.query_one("#tr-model").value = str(tiny_model)
        form.query_one("#tr-dataset", Select).value = next(d["id"] for d in form.datasets if d["name"] == "prefs")
        form.query_one("#hp-objective", Select).value = "dpo"
        for key, value in (("max_steps", "2"), ("num_gpu", "0"), ("learning_rate", "0.01"), ("lora_r", "8"),
                           ("per_device_train_batch_size", "4")):
            form.query_one(f"#hp-{key}").value = value
        await settle(pilot)
        await pilot.press("ctrl+r")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen,
                                what="the run screen")
        chart = await wait_for(pilot, lambda: len(screen.query_one(RewardChart).history) == 2 and
                               screen.query_one(RewardChart), timeout=400, what="two steps of rewards")
        assert chart.display and len(chart.eval_history) == 2  # chosen and rejected, by step
        await wait_for(pilot, lambda: "margin" in screen_text(app) and "accuracy" in screen_text(app),
                       what="the reward metrics beside the chart")
    async with fdb.connect(job_home / "ffui.db", job_home) as db:
        (run,) = await fdb.list_training_runs(db)
    assert run["hp"]["objective"] == "dpo"


# ---- ffui data render shows the sides ------------------------------------------------------------

REAL = Path(__file__).parent / "data" / "real" / "llamafactory"


def test_data_render_shows_the_sides_a_preference_trainer_compares_and_refuses_them_under_sft(ffui, home, tiny_model):
    """LLaMA-Factory's real dpo_en_demo and kto_en_demo: `data render` under dpo shows each row's
    prompt, chosen and rejected as the trainer takes them; under kto the completion and its
    label; under sft it refuses with the line `ffui train` gives."""
    rows = json.loads((REAL / "dpo_en_demo.json").read_text())
    imported(ffui, home, REAL / "dpo_en_demo.json", "dpo-demo")
    r = ffui("data", "render", "dpo-demo", "--model", tiny_model, "--set", "objective=dpo", "--json", "--rows", "2",
             home=home)
    assert r.returncode == 0, r.stderr
    shown = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(shown) == len(rows) and f"{len(rows)} preference example" in r.stderr and "objective=dpo" in r.stderr
    for ex, row in zip(shown, rows):
        assert ex["prompt"] == [{"role": "user", "content": row["conversations"][0]["value"]}]
        assert ex["chosen"] == [{"role": "assistant", "content": row["chosen"]["value"]}]
        assert ex["rejected"] == [{"role": "assistant", "content": row["rejected"]["value"]}]
    text = ffui("data", "render", "dpo-demo", "--model", tiny_model, "--set", "objective=dpo", "--rows", "1", home=home)
    assert text.returncode == 0 and "chosen:" in text.stdout and "rejected:" in text.stdout
    assert rows[0]["rejected"]["value"][:40] in text.stdout
    sft = ffui("data", "render", "dpo-demo", "--model", tiny_model, home=home)
    assert sft.returncode != 0 and SFT_REFUSAL in sft.stderr and "Traceback" not in sft.stderr

    kto = json.loads((REAL / "kto_en_demo.json").read_text())
    imported(ffui, home, REAL / "kto_en_demo.json", "kto-demo")
    r = ffui("data", "render", "kto-demo", "--model", tiny_model, "--set", "objective=kto", "--json", "--rows", "1",
             home=home)
    assert r.returncode == 0, r.stderr
    (ex,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert ex["label"] is kto[0]["label"] and ex["completion"] and "chosen" not in ex
