"""`ffui doctor` as a user runs it on this CPU machine: what it says about the libraries, CUDA, the
disk, the hub (a fake one on 127.0.0.1, up or down) and its token, RunPod; and `--smoke`, which
really trains the tiny model with each backend usable here and says why the others are not.

Each run probes the training libraries in a child process (a few seconds of imports), so the
checks of one situation share one run.
"""

from __future__ import annotations

import re
import socket

import pytest

from fakehub import FakeHub

pytest.importorskip("torch", reason="the doctor's library rows are asserted with the [train] extras installed")


def row(out: str, name: str) -> str:
    """The report's line for ``name`` (mark, name, detail), with runs of spaces squeezed."""
    for line in out.splitlines():
        if re.match(rf"\s+(ok|NO|--)\s+{re.escape(name)}\s{{2,}}", line):
            return " ".join(line.split())
    raise AssertionError(f"no {name!r} row in:\n{out}")


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once it is closed


def test_doctor_with_the_hub_up_checks_the_stored_token_and_every_library(ffui, home):
    with FakeHub() as hub:
        r = ffui("settings", "set", "huggingface.token", home=home, input=hub.token + "\n")
        assert r.returncode == 0, r.stderr
        url = hub.url
        r = ffui("doctor", home=home, env={"HF_ENDPOINT": url, "HF_HUB_OFFLINE": "", "RUNPOD_API_KEY": ""})
    assert r.returncode == 0, r.stderr
    assert row(r.stdout, "hub") == f"ok hub {url} reachable"
    assert row(r.stdout, "hub token") == "ok hub token valid (user fakeuser)"
    assert hub.token not in r.stdout + r.stderr  # a secret is never printed
    assert re.fullmatch(r"ok torch \S+, imports", row(r.stdout, "torch"))
    for name in ("transformers", "peft", "trl", "accelerate"):
        assert row(r.stdout, name).startswith("ok"), row(r.stdout, name)
    for name in ("bitsandbytes", "unsloth", "flash-attn"):
        row(r.stdout, name)  # each has its row, installed or not
    assert row(r.stdout, "CUDA").startswith("NO CUDA unavailable: this torch")  # a CPU build here
    assert re.search(r"GB free in ", row(r.stdout, "disk"))
    assert row(r.stdout, "runpod") == "-- runpod no key set (to train on RunPod: ffui settings set runpod.api_key)"
    assert "Traceback" not in r.stdout + r.stderr


def test_doctor_with_the_hub_down_or_a_bad_token_says_so_in_one_line_each(ffui, home):
    down = ffui("doctor", home=home, env={"HF_ENDPOINT": closed_port(), "HF_TOKEN": "hf_whatever123",
                                          "RUNPOD_API_KEY": "rpa_secretKEY42", "RUNPOD_API_BASE_URL": closed_port()})
    assert down.returncode == 0, down.stderr
    assert not row(down.stdout, "runpod").startswith("ok")  # set, but RunPod is not reachable here
    assert "rpa_secretKEY42" not in down.stdout + down.stderr
    assert "is unreachable: only local and already downloaded models can be trained" in row(down.stdout, "hub")
    assert row(down.stdout, "hub token") == "-- hub token not checked (no hub)"
    with FakeHub() as hub:
        bad = ffui("doctor", home=home, env={"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_notAValidToken0123456789"})
    assert bad.returncode == 0, bad.stderr
    assert row(bad.stdout, "hub token") == ("NO hub token invalid: the hub refused it (401); set a valid one with: "
                                        "ffui settings set huggingface.token")
    assert "hf_notAValidToken0123456789" not in bad.stdout + bad.stderr
    assert "Traceback" not in down.stdout + down.stderr + bad.stdout + bad.stderr


def test_smoke_trains_on_the_cpu_and_says_why_the_cuda_rows_cannot_run(ffui, home):
    r = ffui("doctor", "--smoke", home=home, env={"HF_ENDPOINT": closed_port()}, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    table = r.stdout[r.stdout.index("smoke test"):]
    cpu = re.search(r"^\s+cpu\s+ran\s+(\d+)\s+(\d+) MB\s*$", table, re.M)
    assert cpu, table
    assert int(cpu.group(1)) > 0 and int(cpu.group(2)) > 0  # tokens/s and memory, measured
    for backend in ("peft on CUDA", "4-bit QLoRA", "unsloth", "several GPUs (DDP)"):
        line = next(line for line in table.splitlines() if line.strip().startswith(backend))
        assert re.search(r"unavailable\s+-\s+-\s+no CUDA: this torch \(\S+\) is a CPU-only build", line), line


def test_an_import_that_crashes_the_interpreter_costs_only_its_own_line(tmp_path, monkeypatch):
    """A CUDA library that segfaults on import takes down the probe child, not the doctor; the
    packages after it are still probed, in a new child."""
    from ffui.jobs import doctor

    (tmp_path / "crashes_on_import.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    (tmp_path / "hangs_on_import.py").write_text("import time\ntime.sleep(600)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    found = doctor.probe(("json", "crashes_on_import", "csv", "not_a_module_anywhere"), timeout=60)
    assert found.imports("json") and found.imports("csv")
    assert found.why_not("crashes_on_import") == "its import crashed the interpreter (SIGSEGV)"
    assert found.why_not("not_a_module_anywhere") == "not installed"
    hung = doctor.probe(("hangs_on_import", "csv"), timeout=10)
    assert hung.why_not("hangs_on_import").startswith("its import hung") and hung.imports("csv")
