"""Bad input costs bounded work and gets one clear line: YAML alias bombs, JSON nested past
Python's limit, a model that needs its own code, names with line breaks."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN


def _dataset(ffui, home: Path, tmp_path: Path) -> None:
    src = tmp_path / "d.jsonl"
    src.write_text("".join(json.dumps({"input": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(4)))
    assert ffui("data", "import", src, "--name", "d", home=home).returncode == 0


def _alias_bomb(path: Path) -> Path:
    """600 bytes that stand for 9**9 strings (nine levels of nine aliases)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    path.write_text("\n".join(lines + ["target_modules: *a8"]) + "\n")
    return path


def _ffui_with_memory_cap(*args, home: Path, cap: int = 1536 << 20) -> subprocess.CompletedProcess:
    """The real ffui, with its address space capped: a blow-up fails fast instead of eating the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFUI_")} | {"FFUI_HOME": str(home)}
    return subprocess.run([str(BIN / "ffui"), *map(str, args)], capture_output=True, text=True, env=env, timeout=120,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap)))


def test_a_yaml_alias_bomb_is_refused_in_one_line(home, tmp_path, ffui):
    _dataset(ffui, home, tmp_path)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    bomb = _alias_bomb(tmp_path / "bomb.yaml")
    assert bomb.stat().st_size < 600
    for args in (("train", "-d", "d", "-m", model, "-c", bomb), ("configs", "save", "boom", "--from", bomb)):
        r = _ffui_with_memory_cap(*args, home=home)
        assert r.returncode == 1, r.stdout
        assert r.stderr.strip().splitlines() == [
            f"ffui: config {bomb} is refused: with its aliases (*name) expanded it holds more than 100,000 "
            "values; write the settings out plainly"]
    assert not (home / "ffui-crash.log").exists()


def test_a_huge_wrong_value_is_shown_briefly(home, tmp_path, ffui):
    cfg = tmp_path / "big.yaml"
    cfg.write_text("target_modules: [" + ", ".join(f"[m{i}, n{i}]" for i in range(20000)) + "]\n")
    r = ffui("configs", "save", "big", "--from", cfg, home=home)
    assert r.returncode == 1
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith('ffui: target_modules must be a string or a list of strings, got [["m0", "n0"]')
    assert len(line) < 300


def test_set_reads_an_exponent_as_a_number(home, ffui):
    """README: --set learning_rate=1e-4 (YAML 1.1 would make it the string '1e-4')."""
    r = ffui("configs", "save", "lr", "--set", "learning_rate=1e-4", home=home)
    assert r.returncode == 0, r.stderr
    assert json.loads(ffui("configs", "show", "lr", home=home).stdout)["hp"]["learning_rate"] == 0.0001


DEPTH = 100_000


@pytest.mark.parametrize("name, text, where", [
    ("deep.jsonl", '{"input": "a", "output": "b"}\n{"input": ' + "[" * DEPTH + "]" * DEPTH + ', "output": "x"}\n',
     "line 2: the JSON is nested too deeply"),
    ("deep.json", '[{"input": "a", "output": "b"},\n{"input": ' + "[" * DEPTH + "]" * DEPTH + ', "output": "x"}]\n',
     "line 2: row 2: the JSON is nested too deeply"),
    ("wrapped.json", '{"data": [{"input": "a", "output": "b"},\n\n{"input": ' + "[" * DEPTH + "]" * DEPTH + "}]}\n",
     "line 3: the JSON is nested too deeply"),
    ("deep.csv", 'conversations\n"[{""from"": ""human"", ""value"": ""hi""}, {""from"": ""gpt"", ""value"": ""yo""}]"\n'
     + "[" * DEPTH + "]" * DEPTH + "\n", "line 3: column 'conversations': the JSON is nested too deeply"),
], ids=["jsonl", "json-array", "json-wrapped", "csv-cell"])
def test_json_nested_past_the_limit_is_a_data_error_with_its_line(home, tmp_path, ffui, name, text, where):
    src = tmp_path / name
    src.write_text(text)
    r = ffui("data", "import", src, "--name", "deep", home=home)
    assert r.returncode == 1
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"ffui: {src}, {where}"), line
    assert not (home / "ffui-crash.log").exists()


def test_a_deep_jsonl_row_can_be_skipped(home, tmp_path, ffui):
    src = tmp_path / "deep.jsonl"
    src.write_text('{"input": "a", "output": "b"}\n{"input": ' + "[" * DEPTH + "]" * DEPTH + "}\n")
    r = ffui("data", "import", src, "--name", "deep", "--skip-bad", home=home)
    assert r.returncode == 0, r.stderr
    assert "imported 1 row" in r.stdout and "line 2: the JSON is nested too deeply" in r.stderr


@pytest.mark.parametrize("args, kind", [
    (("data", "import", "{src}", "--name", "two\nlines"), "dataset"),
    (("configs", "save", "two\nlines", "--set", "learning_rate=0.1"), "config"),
    (("train", "-d", "d", "-m", "{model}", "--name", "two\nlines"), "run"),
    (("train", "-d", "d", "-m", "{model}", "--name", "tab\there"), "run"),
], ids=["dataset", "config", "run-newline", "run-tab"])
def test_names_are_one_line(home, tmp_path, ffui, args, kind):
    _dataset(ffui, home, tmp_path)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    args = [a.format(src=tmp_path / "d.jsonl", model=model) for a in args]
    r = ffui(*args, home=home)
    assert r.returncode == 1, r.stdout
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"ffui: a {kind} name must be one line of text, without newlines, tabs or control "
                           "characters"), line
    assert "lines" not in ffui("runs", "list", home=home).stdout


def test_a_model_that_needs_its_own_code_fails_as_a_model_error(home, tmp_path, ffui):
    pytest.importorskip("transformers", reason="the trainer needs the [train] extras")
    pytest.importorskip("torch", reason="the trainer needs the [train] extras")
    _dataset(ffui, home, tmp_path)
    model = tmp_path / "mystery"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({
        "model_type": "mystery-ffui-test", "architectures": ["MysteryForCausalLM"],
        "auto_map": {"AutoConfig": "configuration_mystery.MysteryConfig",
                     "AutoModelForCausalLM": "modeling_mystery.MysteryForCausalLM"}}))
    ran = tmp_path / "the-model-code-ran"
    for module in ("configuration_mystery.py", "modeling_mystery.py"):
        (model / module).write_text(f"open({str(ran)!r}, 'w').write('yes')\n")
    r = ffui("train", "-d", "d", "-m", model, "--wait", home=home, timeout=300)
    assert r.returncode != 0
    reason = [line for line in r.stdout.splitlines() if line.strip().startswith("reason:")]
    assert reason and f"base model {model} needs code from its repository" in reason[0], r.stdout
    assert "ffui does not run code that comes with a model" in reason[0]
    assert "bug in ffui" not in r.stdout
    assert not ran.exists()


def test_an_import_makes_names_one_line_and_refuses_json_nested_too_deep(home, tmp_path, ffui):
    export = tmp_path / "export.json"
    export.write_text(json.dumps({"training_configs": {"schema": "", "data": [
        {"id": 1, "name": "two\nlines", "config_json": "{}", "train_target": None}]}}))
    r = ffui("db", "import", export, home=home)
    assert r.returncode == 0, r.stderr
    assert "two lines" in ffui("configs", "list", home=home).stdout
    deep = tmp_path / "deep.json"
    deep.write_text('{"settings": {"data": ' + "[" * DEPTH + "]" * DEPTH + "}}")
    r = ffui("db", "import", deep, home=home)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"ffui: {deep} nests JSON arrays or objects too deeply to read, so it is not an ffui export; "
        "nothing was imported"]
