"""A new user's first day at the command line (issue 8): numbers written as people write
them, one prompt renderer for the preview and the trainer, settings that refuse typos,
`runs cancel` of an ended run, `data import` without --name."""

import json
from pathlib import Path

import pytest
from procs_support import kill_runs

from ffui.train.config import ConfigError, parse_setting, parse_settings


@pytest.mark.parametrize("key, text, value", [
    ("learning_rate", "1e-4", 1e-4),
    ("learning_rate", "2E-5", 2e-5),
    ("lora_dropout", ".5", 0.5),
    ("learning_rate", " 3e-4 ", 3e-4),
    ("max_seq_len", "1_000", 1000),
    ("max_seq_len", "1,024", 1024),
    ("max_seq_len", "1e3", 1000),
    ("max_steps", "-1", -1),
    ("num_train_epochs", "1_000", 1000.0),
    ("target_modules", "q_proj,v_proj", ["q_proj", "v_proj"]),
    ("target_modules", "[q_proj, v_proj]", ["q_proj", "v_proj"]),
    ("target_modules", "['q_proj', \"v_proj\"]", ["q_proj", "v_proj"]),
    ("target_modules", "all-linear", "all-linear"),
    ("packing", "true", True),
    ("packing", "no", False),
    ("save_total_limit", "null", None),
    ("save_total_limit", "", None),
    ("early_stopping_patience", "3", 3),
    ("method", "qlora", "qlora"),
    ("base_model", "org/1e-4", "org/1e-4"),
    ("prompt_template", '{"prompt_template": "{input}{output}"}', {"prompt_template": "{input}{output}"}),
])
def test_the_one_parser_reads_settings_as_people_write_them(key, text, value):
    assert parse_setting(key, text) == value


@pytest.mark.parametrize("key, text, says", [
    ("learning_rate", "fast", "must be a number"),
    ("learning_rate", "nan", "finite"),
    ("lora_r", "1.5", "whole number"),
    ("lora_r", "1,5", "whole number"),
    ("lora_r", "", "needs a value"),
    ("packing", "maybe", "true or false"),
])
def test_the_parser_says_what_is_wrong(key, text, says):
    with pytest.raises(ValueError, match=says):
        parse_setting(key, text)


def test_yaml_strings_of_numeric_fields_go_through_the_parser():
    # what yaml.safe_load gives for "learning_rate: 2e-4" and "lora_r: 1_000"-style files
    assert parse_settings({"learning_rate": "2e-4", "base_model": "1e-4", "lora_r": 8}) == {
        "learning_rate": 2e-4, "base_model": "1e-4", "lora_r": 8}
    with pytest.raises(ConfigError) as e:
        parse_settings({"learning_rate": "fast", "lora_r": "x"})
    assert len(e.value.problems) == 2


# ---- through the real `ffui` command --------------------------------------------------------


@pytest.fixture
def alpaca_home(home, ffui):
    """A home with an alpaca dataset whose rows have a null, a missing and non-string fields."""
    rows = [{"instruction": "hi", "input": None, "output": "yo", "score": 3, "tags": ["a", "b"], "ok": True},
            {"instruction": "sum", "output": "4", "score": 1.5, "tags": [], "ok": False},
            {"instruction": "add", "input": "2+2", "output": "4", "score": 0, "tags": ["x"], "ok": True}]
    (home / "alp.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = ffui("data", "import", home / "alp.jsonl", "--name", "alp", home=home)
    assert r.returncode == 0, r.stderr
    yield home
    kill_runs(home)


def test_train_with_the_readmes_learning_rate_starts_and_completes(alpaca_home, tiny_model, ffui):
    r = ffui("train", "--dataset", "alp", "--model", tiny_model, "--set", "max_steps=2",
             "--set", "learning_rate=1e-4", "--set", "target_modules=q_proj,v_proj", "--wait",
             home=alpaca_home, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    show = ffui("runs", "show", "1", "--json", home=alpaca_home)
    hp = json.loads(show.stdout)["hp"]
    assert hp["learning_rate"] == 1e-4 and hp["target_modules"] == ["q_proj", "v_proj"]


def test_a_yaml_config_with_exponent_numbers_is_read(alpaca_home, tiny_model, ffui):
    cfg = alpaca_home / "quality.yaml"
    cfg.write_text("learning_rate: 2e-4\nweight_decay: 1E-2\ntarget_modules: [q_proj, v_proj]\n"
                   "max_steps: 2\nlora_r: 1_0\n")
    r = ffui("configs", "save", "fromyaml", "--from", cfg, home=alpaca_home)
    assert r.returncode == 0, r.stderr
    saved = json.loads(ffui("configs", "show", "fromyaml", home=alpaca_home).stdout)["hp"]
    assert saved == {"learning_rate": 2e-4, "weight_decay": 0.01, "target_modules": ["q_proj", "v_proj"],
                     "max_steps": 2, "lora_r": 10}
    bad = alpaca_home / "bad.yaml"
    bad.write_text("learning_rate: fast\n")
    r = ffui("configs", "save", "bad", "--from", bad, home=alpaca_home)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "learning_rate must be a number" in r.stderr


def test_configs_save_takes_exponents_and_lists(alpaca_home, ffui):
    r = ffui("configs", "save", "quick", "--set", "learning_rate=5e-5", "--set", "target_modules=[q_proj, v_proj]",
             "--set", "max_steps=1_000", home=alpaca_home)
    assert r.returncode == 0, r.stderr
    saved = json.loads(ffui("configs", "show", "quick", home=alpaca_home).stdout)["hp"]
    assert saved == {"learning_rate": 5e-5, "target_modules": ["q_proj", "v_proj"], "max_steps": 1000}
    r = ffui("configs", "save", "typo", "--set", "lora_r=eight", home=alpaca_home)
    assert r.returncode == 1 and "lora_r must be a whole number" in r.stderr and r.stderr.count("\n") == 1


def test_the_template_preview_is_what_the_trainer_feeds(alpaca_home, tiny_model, ffui):
    """Null, missing and non-string fields render the same in `ffui prompts render` and in the
    trainer's rendering of the run's dataset.jsonl."""
    from ffui.train.data import DataSettings, read_records, render_segments

    r = ffui("prompts", "add", "p", "--dataset", "alp", "-i", "I:{instruction} X:{input} O:",
             "-c", "{output} s={score} t={tags} k={ok}", home=alpaca_home)
    assert r.returncode == 0, r.stderr
    r = ffui("prompts", "render", "p", "-n", "3", "--json", home=alpaca_home)
    preview = [(x["input"], x["completion"]) for x in json.loads(r.stdout)]
    assert preview[0] == ("I:hi X: O:", 'yo s=3 t=["a", "b"] k=true')  # null input is empty, not None
    assert preview[1] == ("I:sum X: O:", "4 s=1.5 t=[] k=false")      # a missing input too
    r = ffui("train", "-d", "alp", "-m", tiny_model, "--prompt", "p", "--set", "max_steps=1", "--wait",
             home=alpaca_home, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = Path(json.loads(ffui("runs", "show", "1", "--json", home=alpaca_home).stdout)["storage_path"])
    cfg = json.loads((run_dir / "config.json").read_text())
    settings = DataSettings(prompt_template=cfg["prompt_template"], completion_only_loss=True)
    fed = []
    for rec in read_records(run_dir / "dataset.jsonl"):
        segments, _ = render_segments(rec, None, settings)
        fed.append(tuple(text for text, _ in segments))
    assert fed == preview


def test_an_unknown_setting_is_refused_with_a_did_you_mean(home, ffui):
    r = ffui("settings", "set", "ui.them", "light", home=home)
    assert r.returncode == 1 and "did you mean 'ui.theme'" in r.stderr and r.stderr.count("\n") == 1
    r = ffui("settings", "set", "ui.colour", "red", home=home)
    assert r.returncode == 1 and "not a setting" in r.stderr
    r = ffui("settings", "set", "jobs.max_concurrent", "two", home=home)
    assert r.returncode == 1 and "whole number" in r.stderr
    assert "ui.colour" not in ffui("settings", "list", home=home).stdout
    assert ffui("settings", "set", "ui.theme", "light", home=home).returncode == 0
    listed = ffui("settings", "list", home=home).stdout
    assert "ui.theme" in listed and "light" in listed
    assert "runpod.api_key" in listed and "(not set)" in listed and "RunPod API key" in listed


def test_cancelling_an_ended_run_says_so_in_one_line(alpaca_home, tiny_model, ffui):
    r = ffui("train", "-d", "alp", "-m", tiny_model, "--set", "max_steps=1", "--wait", home=alpaca_home, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    r = ffui("runs", "cancel", "1", home=alpaca_home)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.strip() == "ffui: run 1 has already ended (completed); there is nothing to cancel"


def test_data_import_without_a_name_takes_the_files_stem(home, ffui):
    (home / "support chats.jsonl").write_text('{"input": "a", "output": "b"}\n')
    r = ffui("data", "import", home / "support chats.jsonl", home=home)
    assert r.returncode == 0, r.stderr
    assert "into support-chats" in r.stdout
    assert "support-chats" in ffui("data", "list", home=home).stdout


def test_importing_a_missing_file_says_so_first(home, ffui):
    (home / "x.jsonl").write_text('{"input": "a", "output": "b"}\n')
    assert ffui("data", "import", home / "x.jsonl", "--name", "taken", home=home).returncode == 0
    for args in (["missing.jsonl"], ["missing.jsonl", "--name", "taken"]):
        r = ffui("data", "import", *args, home=home)
        assert r.returncode == 1
        assert r.stderr.strip() == "ffui: missing.jsonl: no such file or folder", r.stderr


def test_the_demo_ends_with_commands_that_work_as_printed(tmp_path):
    """Run from a folder with `ffui` not on the PATH and the home in demo-home, as the README's
    Quick start does: each printed next command works there and makes no ffui.db in the folder."""
    import os
    import subprocess

    from conftest import BIN

    env = {k: v for k, v in os.environ.items() if not k.startswith("FFUI_")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != BIN)
    r = subprocess.run([str(BIN / "ffui"), "--home", "demo-home", "demo", "--steps", "2"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        nexts = r.stdout.split("next, from this directory:\n", 1)[1].splitlines()
        commands = [line.strip().split("   ")[0] for line in nexts if line.strip()]
        assert commands and all("--home demo-home" in c for c in commands), commands
        for command in commands[1:]:  # the first opens the UI
            out = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                                 timeout=120)
            assert out.returncode == 0, f"{command}: {out.stderr}"
            assert "demo" in out.stdout
        assert not (tmp_path / "ffui.db").exists()
    finally:
        kill_runs(tmp_path / "demo-home")


def test_getting_an_unknown_setting_says_it_is_not_one(home, ffui):
    r = ffui("settings", "get", "jobs.max_concurent", home=home)
    assert r.returncode == 1 and "did you mean 'jobs.max_concurrent'" in r.stderr
    r = ffui("settings", "get", "jobs.max_concurrent", home=home)
    assert r.returncode == 1 and "is not set" in r.stderr


def test_building_the_tiny_model_writes_no_progress_bar(tmp_path, ffui):
    r = ffui("model", "tiny", tmp_path / "tiny", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
