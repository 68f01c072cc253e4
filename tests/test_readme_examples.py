"""Every `ffui ...` command in README.md's code blocks, and the ones docs/*.md show as things to
type, runs against a prepared home and succeeds: an example added to the docs that does not
work as written fails here.

The commands run in the order the documents give them, in one shared home, through bash (so
pipes and quotes work as a user's shell reads them), with the venv's `ffui` on the PATH and
the home as the working directory. What the test adapts, and only this:

- files and datasets the examples name are made first (PREPARED_FILES, PREPARED_DATASETS);
- a hub model id (`-m org/name`, `models add org/name`) becomes the tiny local model;
- `ffui train` gets `--set max_steps=2` (no download, no long run);
- a run id in `ffui runs VERB ID` becomes a run in the state the verb needs (RUN_STATE):
  a running run for checkpoint and cancel, a cancelled one for resume, an ended one otherwise;
- commands that ask first get `--yes` and run last (so they do not remove what the others
  use); every command gets a made-up token on standard input (secrets are prompted for);
- synopsis lines (`NAME`, `[--option]`) are usage notation, not commands, and are skipped, as
  is a bare `ffui [--home DIR]`, which opens the terminal UI (the tmux tests cover that).

An example that is meant to fail in the prepared home is declared in DOCUMENTED_FAILURES with
the error it must print and why.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import BIN, REPO
from procs_support import kill_runs, until

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TOKEN_INPUT = "hf_readme_example_token_0123456789\n"
RUN_STATE = {"checkpoint": "running", "cancel": "running", "resume": "resumable"}  # others: "ended"
# command prefix -> (text its error must contain, why it fails in the prepared home)
DOCUMENTED_FAILURES: dict[str, tuple[str, str]] = {
    # RunPod needs an account and the network: the prepared home has a made-up key and no way out,
    # and each says so in one line naming RunPod (tests/test_runpod.py runs them against a fake)
    "ffui pods ": ("RunPod", "a made-up RunPod key, no network"),
    "ffui train -d support -m org/name --on runpod": ("RunPod", "a made-up RunPod key, no network"),
}
PREPARED_DATASETS = {"alpaca": "alpaca.jsonl"}  # datasets docs/datasets.md's examples name


@dataclass
class Example:
    where: str  # file:line
    text: str   # as written


# ---- reading the documents ---------------------------------------------------------------


def examples(path: Path) -> list[Example]:
    """The `ffui ...` lines of the code blocks of ``path`` (continuation lines joined)."""
    out: list[Example] = []
    in_block, pending, start = False, "", 0
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            in_block, pending = not in_block, ""
            continue
        if not in_block:
            continue
        if pending:
            pending += " " + line.strip()
        elif line.startswith("ffui ") or line.startswith("$ ffui "):
            pending, start = line.removeprefix("$ "), n
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        if pending and not is_synopsis(pending) and not opens_ui(pending):
            out.append(Example(f"{path.name}:{start}", pending))
        pending = ""
    return out


def opens_ui(line: str) -> bool:
    """``ffui`` or ``ffui --home DIR`` alone opens the terminal UI: the tmux tests cover it."""
    words = shlex.split(line, comments=True)[1:]
    while words[:1] in (["--home"], ["--db"]):
        words = words[2:]
    return not words


def is_synopsis(line: str) -> bool:
    """Usage notation (``ffui data show NAME [-n 5]``), not a command to type."""
    words = shlex.split(line, comments=True)
    return any(re.fullmatch(r"[A-Z][A-Z_]{2,}(=\S*)?|\[--?\w\S*|\.\.\.|\S+\|\S*|\S*\|\S+", w) for w in words)


# ---- the prepared home -------------------------------------------------------------------


@pytest.fixture(scope="module")
def readme_home(tmp_path_factory):
    from ffui.train.tiny import build_tiny_model

    home = tmp_path_factory.mktemp("readme") / "home"
    home.mkdir()
    tiny = build_tiny_model(home / "models" / "tiny", arch="llama")
    shutil.copytree(tiny, home / "models" / "my-llama")
    chats = [{"messages": [{"role": "user", "content": f"What is {i} plus {i}?"},
                           {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."}]} for i in range(24)]
    chats += chats[:2]  # something for dedupe to find
    _write_jsonl(home / "chats.jsonl", chats)
    pairs = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(6)]
    _write_jsonl(home / "repo" / "data" / "train.jsonl", pairs)
    _write_jsonl(home / "repo" / "data" / "test.jsonl", pairs[:3])
    _write_jsonl(home / "alpaca.jsonl", [{"instruction": f"say {i}", "input": None if i % 2 else "now",
                                          "output": str(i)} for i in range(6)])
    (home / "faq.csv").write_text("question,answer\nwhat is ffui?,a fine-tuning studio\nwhy?,the terminal\n")
    (home / "quality.yaml").write_text("learning_rate: 2e-4\nlora_r: 8\nlora_alpha: 16\nwarmup_ratio: .1\n")
    for name, file in PREPARED_DATASETS.items():
        _ok(_shell(f"ffui data import {file} --name {name}", home))
    yield home
    kill_runs(home)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _shell(command: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFUI_")}
    env.update(FFUI_HOME=str(home), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", COLUMNS="80")
    return subprocess.run(["bash", "-c", command], cwd=home, env=env, input=TOKEN_INPUT, text=True,
                          capture_output=True, timeout=timeout)


def _ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, f"{r.args[-1]}\nexit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    return r


def _runs(home: Path) -> list[dict]:
    return json.loads(_ok(_shell("ffui runs list --json", home)).stdout)


# ---- adapting one example to the prepared home --------------------------------------------


def _words(text: str) -> list[str]:
    return shlex.split(text, comments=True)


def adapt(text: str, home: Path) -> str:
    """The command as it runs here (see the module docstring for each rule)."""
    command = without_comment(text)
    words = _words(command)
    subcommand = words[1:3]
    out = command
    for flag in ("-m", "--model"):
        out = re.sub(rf"(\s{flag}\s+)([\w.-]+/[\w.-]+)(?=\s|$)", lambda m: m.group(1) + _local_model(m.group(2), home), out)
    if subcommand[:2] == ["models", "add"] and len(words) > 3:
        out = out.replace(words[3], _local_model(words[3], home), 1)
    if words[1] == "train":
        out = re.sub(r"max_steps=\d+", "max_steps=2", out)
        if "max_steps=" not in out:
            out += " --set max_steps=2"
    if words[1] == "runs" and len(words) > 3 and words[3].isdigit():
        run_id = run_in_state(RUN_STATE.get(words[2], "ended"), home)
        out = re.sub(rf"(\bruns\s+{words[2]}\s+){words[3]}\b", rf"\g<1>{run_id}", out)
    if asks_first(words, home):
        out += " --yes"
    return out


def without_comment(text: str) -> str:
    """``text`` up to its shell comment (a ``#`` after a space, outside quotes)."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i].rstrip()
    return text


def _local_model(model: str, home: Path) -> str:
    return model if (home / model).exists() else "./models/tiny"


def asks_first(words: list[str], home: Path) -> bool:
    """True for a removal that asks first (its --help offers --yes) and was not given --yes."""
    if not removes(words) or "--yes" in words or "-y" in words:
        return False
    return "--yes" in _help(tuple(words[1:3]), home)


def removes(words: list[str]) -> bool:
    return any(w in ("rm", "unset", "delete") for w in words[1:3])


_HELP: dict[tuple, str] = {}


def _help(cmd: tuple, home: Path) -> str:
    if cmd not in _HELP:
        _HELP[cmd] = _shell(f"ffui {' '.join(cmd)} --help", home).stdout
    return _HELP[cmd]


def run_in_state(state: str, home: Path) -> int:
    """The id of a run in ``state`` (running, resumable, ended), making one if none is."""
    runs = _runs(home)
    if state == "running":
        live = [r for r in runs if r["status"] == "running" and (r.get("current_step") or 0) > 0]
        return live[0]["id"] if live else _start_live_run(home)
    if state == "resumable":
        done = [r for r in runs if r["status"] in ("cancelled", "failed") and _has_checkpoint(r["id"], home)]
        if done:
            return done[0]["id"]
        run_id = run_in_state("running", home)
        _ok(_shell(f"ffui runs cancel {run_id}", home))
        return run_id
    ended = [r for r in runs if r["status"] in ("completed", "cancelled", "failed")]
    if ended:
        return ended[0]["id"]
    _ok(_shell("ffui train -d support -m ./models/tiny --set max_steps=2 --wait", home))
    return _runs(home)[0]["id"]


def _has_checkpoint(run_id: int, home: Path) -> bool:
    run = json.loads(_ok(_shell(f"ffui runs show {run_id} --json", home)).stdout)
    return any(Path(run["storage_path"]).glob("checkpoints/checkpoint-*"))


def _start_live_run(home: Path) -> int:
    """A run that trains until it is cancelled, polled until its first step is recorded."""
    out = _ok(_shell("ffui train -d support -m ./models/tiny --set max_steps=100000 --set save_steps=100000 "
                     "--set max_seq_len=32 --name live", home)).stdout
    run_id = int(re.search(r"run (\d+)", out).group(1))

    def trained_a_step() -> bool:
        run = json.loads(_ok(_shell(f"ffui runs show {run_id} --json", home)).stdout)
        assert run["status"] in ("pending", "running"), run
        return run["status"] == "running" and (run.get("current_step") or 0) > 0
    until(trained_a_step, 240, f"run {run_id} to reach its first step", interval=0.5)
    return run_id


# ---- the test ----------------------------------------------------------------------------


def all_examples() -> list[Example]:
    """Every example, removals last (so they do not take away what the others use)."""
    found = [e for doc in DOCS for e in examples(doc)]
    return sorted(found, key=lambda e: removes(_words(e.text)))


def test_the_documents_have_examples_and_no_synopsis_is_taken_for_one():
    found = all_examples()
    assert len([e for e in found if e.where.startswith("README")]) >= 30
    assert not any("NAME" in e.text for e in found)
    assert is_synopsis("ffui data show NAME [-n 5 --offset N]")
    assert opens_ui("ffui --home demo-home   # the UI") and not opens_ui("ffui --home h runs list")
    assert not is_synopsis("ffui keys | grep '\\*'")
    assert not is_synopsis("ffui train -d x -m y --set target_modules=[q_proj,v_proj]")
    assert not is_synopsis("ffui settings set ui.keymap '{\"app.mode.runs\": \"f2\"}'")
    assert without_comment('ffui prompts add p -i "### Q:" -c "{output}"   # a #hash') == 'ffui prompts add p -i "### Q:" -c "{output}"'


def test_every_documented_command_works_as_written(readme_home):
    failures = []
    for e in all_examples():
        command = adapt(e.text, readme_home)
        r = _shell(command, readme_home)
        expected = next((v for k, v in DOCUMENTED_FAILURES.items() if e.text.startswith(k)), None)
        if expected and r.returncode != 0 and expected[0] in r.stderr:
            continue
        if r.returncode != 0 or "Traceback" in r.stderr:
            failures.append(f"{e.where}: {e.text}\n  ran: {command}\n  exit {r.returncode}: "
                            f"{(r.stderr or r.stdout).strip()[-600:]}")
    assert not failures, "examples that do not work as written:\n" + "\n".join(failures)
