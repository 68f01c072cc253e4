"""The Playground's inference worker, through its asyncio client, on a real adapter from a real run.

Also home of the session-wide helpers the TUI tests share (a tiny model, and a home holding a
dataset and one completed run made by the real training engine), built once per test session.
"""

import asyncio
import json
import os
from pathlib import Path

import pytest

from conftest import tiny_model_dir
from procs_support import until_async
from ffui import db as fdb
from ffui.procs import alive

FACTS = [("What colour is the sky?", "Blue."), ("What is two plus two?", "Four."),
         ("Name a large cat.", "Tiger."), ("What do bees make?", "Honey.")]
RUN_HP = {"method": "lora", "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "learning_rate": 1e-2,
          "per_device_train_batch_size": 4, "max_seq_len": 64, "logging_steps": 1, "save_steps": 10,
          "max_steps": 30, "num_gpu": 0, "seed": 1, "eval_split": 0.0}
_cache: dict = {}


def tiny_model_path(factory) -> Path:
    """The tiny llama model, built once per session (the same one as the ``tiny_model`` fixture)."""
    return tiny_model_dir(factory)


def write_facts(path: Path, n: int = 32) -> Path:
    with open(path, "w") as fh:
        for i in range(n):
            q, a = FACTS[i % len(FACTS)]
            fh.write(json.dumps({"messages": [{"role": "user", "content": q},
                                              {"role": "assistant", "content": a}]}) + "\n")
    return path


async def wait_run(home: Path, run_id: int, timeout: float = 240) -> dict:
    async with fdb.connect(home / "ffui.db", home) as db:
        async def final():
            run = await fdb.get_training_run(db, run_id)
            return run if run["status"] in fdb.FINAL_STATUSES else None
        return await until_async(final, timeout, f"run {run_id} to finish", interval=0.3)


def trained_home(factory) -> tuple[Path, dict]:
    """A home with the dataset 'facts' and one completed run (adapter registered), built once."""
    if "home" not in _cache:
        from ffui.data import store
        from ffui.jobs import manager

        model = tiny_model_path(factory)
        home = factory.mktemp("trained") / "home"
        home.mkdir()
        data = write_facts(home / "facts.jsonl")
        old = os.environ.get("FFUI_HOME")

        async def go():
            async with fdb.connect(home / "ffui.db", home) as db:
                await store.import_dataset(db, str(data), name="facts")
                run = await manager.start_run(db, dataset="facts", model=str(model), hp=dict(RUN_HP),
                                              name="facts-run")
            return await wait_run(home, run["id"])
        os.environ["FFUI_HOME"] = str(home)
        try:
            run = asyncio.run(go())
        finally:
            if old is None:
                os.environ.pop("FFUI_HOME", None)
            else:
                os.environ["FFUI_HOME"] = old
        assert run["status"] == "completed", run.get("error_message")
        _cache["home"] = (home, run)
    return _cache["home"]


pytest.importorskip("torch", reason="inference needs the [train] extras")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_home(tmp_path_factory)


async def test_chat_streams_tokens_and_base_and_adapter_both_answer(trained, tmp_path):
    from ffui.jobs.inference import InferenceWorker

    home, run = trained
    worker = InferenceWorker(log_path=tmp_path / "infer.log")
    try:
        loaded = await worker.load(run["base_model"], run["adapter_path"])
        assert loaded["adapter_path"] == run["adapter_path"] and loaded["device"] == "cpu"
        question, answer = FACTS[0]
        msgs = [{"role": "user", "content": question}]
        tokens, done = [], None
        async for ev in worker.generate(msgs, temperature=0, max_new_tokens=8, use_adapter=True):
            if "token" in ev:
                tokens.append(ev["token"])
            else:
                done = ev
        assert len(tokens) >= 2 and "".join(tokens) == done["text"]  # it streamed, piece by piece
        assert done["text"].startswith(answer) and done["tokens_per_s"] > 0 and done["adapter"] is True
        base = [ev async for ev in worker.generate(msgs, temperature=0, max_new_tokens=8, use_adapter=False)]
        assert base[-1]["done"] and base[-1]["adapter"] is False
        assert base[-1]["text"] and base[-1]["text"] != done["text"]  # the untrained base says something else
        # a second turn: the conversation so far goes back in
        msgs += [{"role": "assistant", "content": done["text"]}, {"role": "user", "content": FACTS[3][0]}]
        second = [ev async for ev in worker.generate(msgs, temperature=0.7, top_p=0.9, max_new_tokens=8,
                                                     system="Answer in one word.", seed=0)]
        assert second[-1]["done"] and second[-1]["tokens"] >= 1
    finally:
        pid = worker.pid
        await worker.stop()
    assert pid and not Path(f"/proc/{pid}").exists()


async def test_leaving_a_stream_early_cancels_it_and_the_worker_goes_on(trained, tmp_path):
    from ffui.jobs.inference import InferenceWorker

    home, run = trained
    worker = InferenceWorker(log_path=tmp_path / "infer.log")
    try:
        await worker.load(run["base_model"], None)
        n = 0
        async for ev in worker.generate([{"role": "user", "content": "Tell me a story."}], temperature=1.0,
                                        max_new_tokens=5000):
            n += 1
            if n == 3:
                break
        # the worker generates one request at a time, so the story's reply is in before the next one's
        (story,) = worker._queues.values()  # the stream left early keeps its queue for the worker's done
        after = [ev async for ev in worker.generate([{"role": "user", "content": "hi"}], temperature=0,
                                                    max_new_tokens=3)]
        assert after[-1]["done"] and after[-1]["tokens"] >= 1
        tail = [story.get_nowait() for _ in range(story.qsize())]
        done = [m for m in tail if m.get("done")]
        assert done and done[-1]["cancelled"] and done[-1]["tokens"] < 5000  # stopped, not 5000 tokens later
    finally:
        await worker.stop()


async def test_a_missing_model_or_adapter_is_one_clear_line(trained, tmp_path):
    from ffui.jobs.inference import InferenceError, InferenceWorker

    home, run = trained
    worker = InferenceWorker(log_path=tmp_path / "infer.log")
    try:
        with pytest.raises(InferenceError) as e:
            await worker.load(str(tmp_path / "no-such-model"))
        assert "base model not found" in str(e.value) and "\n" not in str(e.value)
        with pytest.raises(InferenceError) as e:
            await worker.load(run["base_model"], str(tmp_path / "no-adapter"))
        assert "adapter not found" in str(e.value)
        (tmp_path / "notadapter").mkdir()
        with pytest.raises(InferenceError) as e:
            await worker.load(run["base_model"], str(tmp_path / "notadapter"))
        assert "not a LoRA adapter" in str(e.value)
        with pytest.raises(InferenceError) as e:
            await worker.load("some-org/not-downloaded-model")
        assert "not downloaded" in str(e.value)
        with pytest.raises(InferenceError) as e:
            async for _ in worker.generate([{"role": "user", "content": "hi"}]):
                pass
        assert "no model loaded" in str(e.value)
    finally:
        await worker.stop()


async def test_the_worker_exits_when_its_client_goes_away(tmp_path):
    """A crashed UI closes the pipe: the worker sees EOF and exits; nothing is left behind."""
    from ffui.jobs.inference import InferenceWorker

    worker = InferenceWorker(log_path=tmp_path / "infer.log")
    await worker.start()
    pid = worker.pid
    worker.proc.stdin.close()
    await asyncio.wait_for(worker.proc.wait(), 10)
    assert not alive(pid)  # gone, or a zombie its parent has not reaped yet
    await worker.stop()


def test_the_client_never_imports_torch():
    import subprocess
    import sys

    code = ("import sys, ffui.jobs.inference, ffui.jobs.estimate, ffui.jobs.presets; "
            "print(any(m in sys.modules for m in ('torch', 'transformers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
