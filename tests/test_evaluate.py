"""Evaluation jobs on the tiny model, as a user meets them: `ffui eval` of a trained adapter
against its base (both answers written, loss falls and exact match rises on the memorised
rows), `ffui eval show --json|--csv`, a cancel that keeps its rows, the compare table in the
TUI, an LLM judge behind a fake OpenAI-compatible server, and one line for each bad input.

One module-scoped home holds one training run (memorising four facts) and one evaluation of
it, so the file trains once and loads the model a few times only.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import run_ffui
from procs_support import until
from tui_support import app_for, screen_text, wait_for

pytest.importorskip("torch", reason="evaluations run the model: they need the [train] extras (torch)")

FACTS = [("What is the capital of France?", "Paris."), ("What colour is the sky?", "Blue."),
         ("How many legs does a cat have?", "Four."), ("What do bees make?", "Honey.")]
TRAIN_HP = {"learning_rate": 1e-2, "lora_r": 8, "per_device_train_batch_size": 4, "logging_steps": 5,
            "max_steps": 40, "eval_split": 0.25, "save_steps": 1000}
JUDGE_KEY = "judge-secret-key-123"


class FakeJudge:
    """An OpenAI-compatible chat completions endpoint on 127.0.0.1 that gives every answer 8."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                judge.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                reply = json.dumps({"id": "x", "object": "chat.completion", "model": body["model"], "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "8"}, "finish_reason": "stop"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def write_pairs(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"input": q, "output": a}) + "\n" for q, a in pairs))
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory, tiny_model):
    from job_support import kill_everything

    h = tmp_path_factory.mktemp("eval") / "home"
    h.mkdir()
    many = [FACTS[i % 4] for i in range(400)]
    for name, rows in (("facts-x3", FACTS * 3), ("facts", FACTS), ("many", many)):
        r = run_ffui("data", "import", write_pairs(h / f"{name}.jsonl", rows), "--name", name, home=h)
        assert r.returncode == 0, r.stderr
    run_ffui("data", "split", "facts", "--ratios", "0.5,0.5", "--prefix", "halves", home=h)
    sets = [f"--set={k}={v}" for k, v in TRAIN_HP.items()]
    r = run_ffui("train", "--dataset", "facts-x3", "--model", tiny_model, "--name", "facts", *sets, "--wait",
                 home=h, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    yield h
    kill_everything(h)


@pytest.fixture(scope="module")
def judge():
    server = FakeJudge()
    yield server
    server.close()


@pytest.fixture(scope="module")
def evaluated(home, judge):
    """`ffui eval` of the trained run against its base, every metric, the judge on the fake server."""
    for key, value in (("eval.judge_url", judge.url), ("eval.judge_model", "grader")):
        assert run_ffui("settings", "set", key, value, home=home).returncode == 0
    assert run_ffui("settings", "set", "eval.judge_api_key", home=home, input=JUDGE_KEY).returncode == 0
    r = run_ffui("eval", "--adapter", "facts", "--base", "--dataset", "facts", "--max-new-tokens", "12",
                 "--metrics", "loss,perplexity,exact_match,rouge_l,judge", "--wait", home=home, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    job_id = int(r.stdout.split()[1])
    shown = json.loads(run_ffui("eval", "show", job_id, "--json", home=home).stdout)
    return {"id": job_id, "out": r.stdout, "json": shown, "dir": Path(job_row(home, job_id)["storage_path"])}


def job_row(home: Path, job_id: int) -> dict:
    return json.loads(run_ffui("runs", "show", job_id, "--json", home=home).stdout)


def test_the_adapter_beats_its_base_on_the_memorised_rows(evaluated):
    base, adapter = evaluated["json"]["models"]
    assert (base["name"], adapter["name"]) == ("base", "facts") and base["adapter_path"] is None
    assert set(adapter["metrics"]) == {"loss", "perplexity", "exact_match", "rouge_l", "judge"}
    assert adapter["metrics"]["loss"] < 0.5 * base["metrics"]["loss"]
    assert adapter["metrics"]["exact_match"] >= 0.75 > base["metrics"]["exact_match"]
    assert adapter["metrics"]["rouge_l"] > base["metrics"]["rouge_l"]
    assert evaluated["json"]["status"] == "completed" and evaluated["json"]["rows"] == 4
    # the compare table the command printed: every metric, both models, the difference
    assert "exact_match" in evaluated["out"] and "Δ facts" in evaluated["out"] and "better" in evaluated["out"]
    assert "answered exactly as the base" not in evaluated["out"]


def test_perplexity_is_exp_of_the_mean_loss_over_all_reply_tokens(evaluated):
    rows = [json.loads(line) for line in (evaluated["dir"] / "predictions.jsonl").read_text().splitlines()]
    for model in evaluated["json"]["models"]:
        scores = [r["models"][model["name"]] for r in rows]
        token_mean = sum(s["loss_sum"] for s in scores) / sum(s["tokens"] for s in scores)
        assert model["metrics"]["loss"] == pytest.approx(token_mean)
        assert model["metrics"]["perplexity"] == pytest.approx(math.exp(token_mean))
        assert len({s["tokens"] for s in scores}) > 1, "replies of different lengths: a per-row mean would differ"


def test_both_answers_of_every_row_are_in_the_jsonl_and_the_csv(evaluated, home):
    rows = [json.loads(line) for line in (evaluated["dir"] / "predictions.jsonl").read_text().splitlines()]
    assert [(r["prompt"], r["reference"]) for r in rows] == FACTS
    assert all(isinstance(r["models"][m]["answer"], str) for r in rows for m in ("base", "facts"))
    assert sum(r["models"]["facts"]["answer"] == r["reference"] for r in rows) >= 3
    table = list(csv.DictReader(io.StringIO(run_ffui("eval", "show", evaluated["id"], "--csv", home=home).stdout)))
    assert [t["reference"] for t in table] == [a for _, a in FACTS]
    assert [t["facts answer"] for t in table] == [r["models"]["facts"]["answer"] for r in rows]
    assert {"base answer", "base exact_match", "facts rouge_l", "facts judge"} <= set(table[0])


def test_the_judge_is_asked_with_its_key_in_a_header_only(evaluated, judge, home):
    assert evaluated["json"]["models"][1]["metrics"]["judge"] == pytest.approx(0.8)
    asked = [r for r in judge.requests if r["body"]["model"] == "grader"]
    assert len(asked) == 8 and all(r["path"] == "/v1/chat/completions" for r in asked)
    assert all(r["auth"] == f"Bearer {JUDGE_KEY}" for r in asked)
    assert "Paris." in asked[0]["body"]["messages"][1]["content"]
    for name in ("train.log", "events.jsonl", "evaluation.json"):
        assert JUDGE_KEY not in (evaluated["dir"] / name).read_text()
    assert JUDGE_KEY not in run_ffui("runs", "logs", evaluated["id"], home=home).stdout


def test_evaluations_are_listed_as_jobs_of_their_kind(evaluated, home):
    listed = run_ffui("runs", "list", home=home).stdout.splitlines()
    kinds = {line.split()[0]: line.split()[2] for line in listed[1:]}
    assert kinds[str(evaluated["id"])] == "evaluation" and "training" in kinds.values()
    assert str(evaluated["id"]) in run_ffui("eval", "list", home=home).stdout


def test_a_training_run_with_an_eval_split_records_heldout_loss_and_perplexity(home):
    runs = json.loads(run_ffui("runs", "list", "--json", home=home).stdout)
    trained = next(r for r in runs if r["name"] == "facts" and r["kind"] == "training")
    metrics = json.loads((Path(job_row(home, trained["id"])["storage_path"]) / "metrics.json").read_text())
    assert metrics["heldout_tokens"] > 0 and metrics["heldout_loss"] > 0
    assert metrics["heldout_perplexity"] == pytest.approx(math.exp(metrics["heldout_loss"]))


def test_a_cancelled_evaluation_keeps_the_rows_it_finished(evaluated, home):
    r = run_ffui("eval", "--adapter", "facts", "--base", "--dataset", "many", "--batch-size", "1",
                 "--max-new-tokens", "4", "--metrics", "loss,exact_match", home=home)
    assert r.returncode == 0, r.stderr
    job_id = int(r.stdout.split()[1])
    predictions = Path(job_row(home, job_id)["storage_path"]) / "predictions.jsonl"
    until(lambda: predictions.exists() and len(predictions.read_text().splitlines()) >= 2, 300,
          "the evaluation's first rows")
    cancel = run_ffui("runs", "cancel", job_id, home=home, timeout=300)
    assert cancel.returncode == 0 and "cancelled" in cancel.stdout, cancel.stdout + cancel.stderr
    kept = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert 2 <= len(kept) < 400 and [k["row"] for k in kept] == list(range(len(kept)))
    shown = json.loads(run_ffui("eval", "show", job_id, "--json", home=home).stdout)
    assert shown["status"] == "cancelled" and shown["rows"] == len(kept)
    assert all(m["metrics"]["exact_match"] is not None for m in shown["models"])


async def test_the_compare_table_and_the_rows_in_the_tui(evaluated, home):
    from screens.eval_compare import EvalScreen
    from screens.widgets.modals import TextModal

    app = app_for(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.db is not None, what="the database")
        app.open_run(evaluated["id"])
        await wait_for(pilot, lambda: "Results" in screen_text(app), what="the run screen's results key")
        await pilot.press("v")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, EvalScreen) and app.screen, what="the eval screen")
        text = await wait_for(pilot, lambda: (t := screen_text(app)) and "exact_match" in t and "rows 1-4 of 4" in t
                              and t, what=lambda: f"the compare table and rows: {screen_text(app)}")
        assert "base" in text and "facts" in text and "better" in text and "perplexity" in text
        assert "Paris." in text, "the rows' references and answers"
        await pilot.press("down", "enter")
        modal = await wait_for(pilot, lambda: isinstance(app.screen, TextModal) and app.screen, what="the row")
        assert "What colour is the sky?" in screen_text(app) and "Blue." in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="back to the table")
        del modal


def untrained_adapter(base: Path, where: Path) -> Path:
    """A LoRA adapter as peft makes it before any step (B = 0): it changes no answer."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(r=4, target_modules=["q_proj"]))
    model.save_pretrained(where)
    return where


async def test_an_adapter_that_answers_as_its_base_is_said_plainly(home, tiny_model):
    from ffui import db as fdb

    adapter = untrained_adapter(tiny_model, home / "untrained")
    async with fdb.connect(home / "ffui.db", home) as db:
        model_id = await fdb.create_model(db, name="tiny", location=str(tiny_model))
        await fdb.create_adapter(db, name="untrained", model_id=model_id, location=str(adapter))
    r = await asyncio.to_thread(run_ffui, "eval", "--adapter", "untrained", "--base", "--dataset", "facts",
                                "--metrics", "exact_match", "--max-new-tokens", "6", "--wait", home=home, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "untrained answered exactly as the base on 100% of rows: the adapter may not have loaded" in r.stdout
    shown = json.loads(run_ffui("eval", "show", r.stdout.split()[1], "--json", home=home).stdout)
    assert shown["models"][1]["same_as_base"] == 1.0 and shown["models"][1]["name"] == "untrained"


@pytest.mark.parametrize("args, words", [
    (("--adapter", "nope", "--dataset", "facts"), "no run or adapter named 'nope'"),
    (("--adapter", "facts", "--dataset", "nosuch"), "nosuch"),
    (("--adapter", "facts", "--dataset", "facts-x3", "--split", "validation"), "has no validation split"),
    (("--adapter", "facts", "--dataset", "facts", "--metrics", "bleu"), "unknown metric 'bleu'"),
    (("--dataset", "facts"), "give --adapter"),
    (("show", "9999"), "no evaluation '9999'"),
])
def test_bad_inputs_are_one_line(home, args, words):
    r = run_ffui("eval", *args, home=home)
    assert r.returncode != 0 and words in r.stderr, r.stdout + r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_a_split_is_found_by_its_group_name(home):
    r = run_ffui("eval", "--adapter", "facts", "--dataset", "halves", "--split", "validation", "--limit", "1",
                 "--metrics", "loss", "--wait", home=home, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    shown = json.loads(run_ffui("eval", "show", r.stdout.split()[1], "--json", home=home).stdout)
    assert shown["dataset"] == "halves-validation" and shown["rows"] == 1
    assert list(shown["models"][0]["metrics"]) == ["loss"]



async def test_the_rows_view_pages_through_thousands_of_rows(tmp_path):
    """No model needed: an ended evaluation's record and a predictions file of 3,000 rows."""
    from ffui import db as fdb
    from screens.eval_compare import EvalScreen

    home = tmp_path / "home"
    home.mkdir()
    async with fdb.connect(home / "ffui.db", home) as db:
        job = await fdb.create_training_run(db, "eval big", status="completed", metadata={"kind": "evaluation"})
        eval_id = await fdb.create_evaluation(db, job_run_id=job["id"], name="eval big", dataset_name="big",
                                              models=[{"name": "base"}, {"name": "tuned", "adapter_path": "/a"}])
        await fdb.record_evaluation_results(db, eval_id, 3000, [{"exact_match": 0.1}, {"exact_match": 0.6}])
    with open(Path(job["storage_path"]) / "predictions.jsonl", "w") as f:
        for i in range(3000):
            f.write(json.dumps({"row": i, "prompt": f"question {i}", "reference": f"answer {i}", "models": {
                "base": {"answer": "?", "exact_match": 0.0}, "tuned": {"answer": f"answer {i}", "exact_match": 1.0}}})
                    + "\n")
    app = app_for(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.db is not None, what="the database")
        app.open_evaluation(job["id"])
        await wait_for(pilot, lambda: isinstance(app.screen, EvalScreen), what="the eval screen")
        def shows(*words):
            return lambda: all(w in screen_text(app) for w in words)

        await wait_for(pilot, shows("rows 1-100 of 3000", "+0.5000 better", "question 0"),
                       what=lambda: f"the first page and the compare table: {screen_text(app)}")
        for _ in range(29):
            await pilot.press("n")
        await wait_for(pilot, shows("rows 2901-3000 of 3000", "question 2900"), what="the last page")
        await pilot.press("b")
        await wait_for(pilot, lambda: "rows 2801-2900 of 3000" in screen_text(app), what="the page before")
