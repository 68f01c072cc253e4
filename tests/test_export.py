"""`ffui export RUN`: a trained run leaves ffui as a folder anyone can load (docs/export.md).

One LoRA run of the tiny model is trained for the module through the real `ffui` command; each
export is a detached job of the ``export`` kind, run by the real supervisor and worker.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

from test_train_run import BASE_CONFIG, FACTS, pairs

GGUF_MAGIC = b"GGUF"


def ffui_ok(ffui, home, *args, timeout=300):
    r = ffui(*args, home=home, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    """(home, run id) of a completed LoRA run that has learned FACTS."""
    from conftest import run_ffui
    from job_support import kill_everything

    home = tmp_path_factory.mktemp("export-home")
    data = home / "facts.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in pairs(8)))
    ffui_ok(run_ffui, home, "data", "import", str(data), "--name", "facts")
    sets = {**BASE_CONFIG, "max_steps": 30, "num_gpu": 0, "max_seq_len": 64}
    args = [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
    ffui_ok(run_ffui, home, "train", "--dataset", "facts", "--model", str(tiny_model), *args, "--wait")
    yield home, 1
    kill_everything(home)


def answer(model, tok, question: str) -> str:
    import torch

    prompt = tok.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                     add_generation_prompt=True)
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        out = model.generate(input_ids=ids, max_new_tokens=8, do_sample=False)
    return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def fake_llama_cpp(root: Path) -> Path:
    """A llama.cpp checkout whose convert_hf_to_gguf.py checks its arguments the way the real one
    reads them (a model folder, --outfile, --outtype) and writes a file with GGUF's magic."""
    root.mkdir()
    (root / "convert_hf_to_gguf.py").write_text(
        "import argparse, json, pathlib\n"
        "p = argparse.ArgumentParser(); p.add_argument('model'); p.add_argument('--outfile'); p.add_argument('--outtype')\n"
        "a = p.parse_args()\n"
        "json.loads((pathlib.Path(a.model) / 'config.json').read_text())\n"
        "assert any(pathlib.Path(a.model).glob('*.safetensors')), 'no weights'\n"
        "pathlib.Path(a.outfile).write_bytes(b'GGUF' + a.outtype.encode())\n"
        "print('INFO:hf-to-gguf:Model successfully exported to', a.outfile)\n")
    return root


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")
def test_a_merged_export_loads_with_plain_transformers_and_answers_as_the_adapter(trained, tiny_model, ffui,
                                                                                   tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    home, run_id = trained
    llama = fake_llama_cpp(tmp_path / "llama.cpp")
    ffui_ok(ffui, home, "settings", "set", "export.llama_cpp_dir", str(llama))
    out = tmp_path / "merged"
    r = ffui_ok(ffui, home, "export", str(run_id), "--merged", "--out", str(out), "--gguf", "q8_0", "--wait")
    assert f"exported to: {out}" in r.stdout
    assert not out.with_name("merged.partial").exists()
    # a Hugging Face model folder: sharded safetensors, its tokenizer and chat template; no adapter
    assert list(out.glob("*.safetensors")) and (out / "config.json").is_file()
    assert not (out / "adapter_config.json").exists()
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.chat_template and "<|assistant|>" in tok.chat_template
    config = json.loads((out / "config.json").read_text())
    assert config.get("dtype", config.get("torch_dtype")) == "bfloat16"
    assert (out / "merged-q8_0.gguf").read_bytes() == GGUF_MAGIC + b"q8_0"

    exported = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    adapter_dir = Path(json.loads(ffui_ok(ffui, home, "runs", "show", str(run_id), "--json").stdout)["adapter_path"])
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32),
                                        adapter_dir).eval()
    for question, reply in FACTS:
        assert answer(exported, tok, question) == answer(adapted, tok, question)
    assert answer(exported, tok, FACTS[0][0]).startswith(FACTS[0][1])

    with sqlite3.connect(home / "ffui.db") as conn:  # registered as a model with its path
        rows = conn.execute("SELECT location, type FROM models WHERE location = ?", (str(out),)).fetchall()
    assert rows == [(str(out), "local")]


def test_an_adapter_export_is_the_adapter_with_its_tokenizer(trained, ffui, tmp_path):
    home, run_id = trained
    out = tmp_path / "adapter-out"
    ffui_ok(ffui, home, "export", str(run_id), "--out", str(out), "--wait")
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert (out / "tokenizer_config.json").is_file()


@pytest.mark.parametrize("args, fragment", [
    (["99"], "no run with id 99"),
    (["1", "--gguf", "q8_0"], "--gguf converts a merged model: add --merged"),
    (["1", "--merged", "--gguf", "q8_0"], "ffui settings set export.llama_cpp_dir"),
])
def test_bad_export_requests_are_one_line_and_queue_nothing(trained, ffui, args, fragment):
    home, _ = trained
    with sqlite3.connect(home / "ffui.db") as conn:
        conn.execute("DELETE FROM settings WHERE key = 'export.llama_cpp_dir'")
        before = conn.execute("SELECT COUNT(*) FROM training_runs").fetchone()[0]
    r = ffui("export", *args, home=home)
    assert r.returncode != 0 and fragment in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    with sqlite3.connect(home / "ffui.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM training_runs").fetchone()[0] == before


def test_an_existing_out_folder_is_refused(trained, ffui, tmp_path):
    home, run_id = trained
    (tmp_path / "taken").mkdir()
    r = ffui("export", str(run_id), "--out", str(tmp_path / "taken"), home=home)
    assert r.returncode != 0 and "already exists" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_an_export_that_answers_differently_fails_and_leaves_nothing(tmp_path):
    from ffui.train.events import UserError
    from ffui.train.export import Exporter

    exporter = Exporter(tmp_path, {"out": str(tmp_path / "m"), "merged": True}, events=None, control=None)
    exporter.compare(["q"], ["Paris."], ["Paris."])
    with pytest.raises(UserError, match="answers differently from the adapter"):
        exporter.compare(["q"], ["Paris."], ["Lyon."])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))


async def test_the_run_screen_exports_with_e(trained, tmp_path):
    import sqlite3 as sql

    from job_support import final, wait_run
    from test_tui_run_words import open_run
    from tui_support import app_for, notifications, wait_for

    home, run_id = trained
    app = app_for(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_run(app, pilot, run_id)
        await pilot.press("m")
        await wait_for(pilot, lambda: app.screen.query_one("#f-merged").has_focus, what="the export form")
        await pilot.press("space")  # the adapter alone, not merged
        app.screen.query_one("#f-out").value = str(tmp_path / "from-tui")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("export job" in n for n in notifications(app)), what="the job queued")
        with sql.connect(home / "ffui.db") as conn:
            (job_id,) = conn.execute("SELECT MAX(id) FROM training_runs").fetchone()
        job = await wait_run(app.db, job_id, final, "its outcome", timeout=120)
    assert job["status"] == "completed", job["error_message"]
    assert (tmp_path / "from-tui" / "adapter_config.json").is_file()


def test_a_stopped_export_leaves_nothing_behind(trained, ffui, tmp_path):
    """The worker itself, as its supervisor starts it, with a stop asked before its first phase ends."""
    import os
    import subprocess

    home, run_id = trained
    run = json.loads(ffui_ok(ffui, home, "runs", "show", str(run_id), "--json").stdout)
    job = tmp_path / "job"
    (job / "control").mkdir(parents=True)
    (job / "control" / "stop").touch()
    out = tmp_path / "never"
    spec = {"adapter_path": run["adapter_path"], "base_model": run["base_model"], "merged": True, "dtype": "bf16",
            "out": str(out), "train_config": run["hp"], "dataset_path": str(Path(run["storage_path"], "dataset.jsonl"))}
    (job / "config.json").write_text(json.dumps({"export": spec}))
    with open(job / "train.log", "ab") as log:
        rc = subprocess.run([sys.executable, "-m", "ffui.train.export", str(job)], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, timeout=300).returncode
    events = [json.loads(line) for line in (job / "events.jsonl").read_text().splitlines()]
    assert rc == 0 and events[-1]["type"] == "stopped", (job / "train.log").read_text()[-2000:]
    assert not out.exists() and not out.with_name("never.partial").exists()
    assert not (job / "control" / "stop").exists()  # handled, so a later attempt is not stopped at once
