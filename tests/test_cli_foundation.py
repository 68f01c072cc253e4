"""The `ffui` command as a user runs it: db and settings commands, and clear one-line errors."""

import json
import sqlite3


def no_traceback(result):
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


def test_db_info_on_a_fresh_home(ffui, home):
    r = ffui("db", "info", home=home)
    assert r.returncode == 0, r.stderr
    assert f"home:             {home}" in r.stdout
    from ffui.db import SCHEMA_VERSION

    assert f"schema version:   {SCHEMA_VERSION}" in r.stdout and SCHEMA_VERSION >= 4
    assert "scraped_pairs" in r.stdout and "models" in r.stdout
    assert (home / "ffui.db").exists()


def test_home_and_db_options_override_the_environment(ffui, tmp_path):
    other = tmp_path / "elsewhere.db"
    r = ffui("--home", tmp_path / "h", "--db", other, "db", "info", "--json", home=tmp_path / "ignored")
    info = json.loads(r.stdout)
    assert info["home"] == str(tmp_path / "h") and info["db"] == str(other)
    assert other.exists() and not (tmp_path / "ignored").exists()
    r = ffui("db", "info", "--json", env={"FFUI_HOME": str(tmp_path / "h2"), "FFUI_DB": str(tmp_path / "x.db")})
    assert json.loads(r.stdout)["db"] == str(tmp_path / "x.db")


def test_secret_settings_are_masked_and_never_taken_from_argv(ffui, home):
    r = ffui("settings", "set", "huggingface.token", "hf_abcdefgh12345", home=home)
    assert r.returncode != 0 and "process list" in r.stderr
    no_traceback(r)
    r = ffui("settings", "set", "huggingface.token", home=home, input="hf_abcdefgh12345\n")
    assert r.returncode == 0, r.stderr
    ffui("settings", "set", "ui.theme", "dark", home=home)
    listing = ffui("settings", "list", home=home).stdout
    assert "hf_abcdefgh12345" not in listing and "ui.theme" in listing and "dark" in listing
    assert ffui("settings", "get", "huggingface.token", home=home).stdout.strip() != "hf_abcdefgh12345"
    assert ffui("settings", "get", "huggingface.token", "--reveal", home=home).stdout.strip() == "hf_abcdefgh12345"
    assert (home / "ffui.db").stat().st_mode & 0o777 == 0o600


def test_export_import_round_trip_through_the_cli(ffui, home, tmp_path):
    ffui("settings", "set", "ui.theme", "dark", home=home)
    out = tmp_path / "dump.json"
    r = ffui("db", "export", out, home=home)
    assert r.returncode == 0 and "secret settings were left out" in r.stdout
    r = ffui("db", "import", out, home=tmp_path / "new")
    assert r.returncode == 0, r.stderr
    assert "settings: 1 inserted, 0 skipped" in r.stdout


def test_bad_inputs_are_one_line_errors(ffui, home, tmp_path):
    notdb = tmp_path / "notes.txt"
    notdb.write_text("just some notes, not a database at all\n" * 10)
    truncated = tmp_path / "t.json"
    truncated.write_text('{"settings": {"data": [')
    newer = tmp_path / "newer.db"
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 42")
    conn.execute("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT)")
    conn.commit()
    conn.close()
    cases = [
        (["--db", notdb, "db", "info"], "not a SQLite database"),
        (["--db", newer, "db", "info"], "newer ffui"),
        (["--db", tmp_path, "db", "info"], "is a directory"),
        (["db", "import", truncated], "not valid JSON"),
        (["db", "import", tmp_path / "missing.json"], "does not exist"),
        (["settings", "get", "nope"], "is not a setting ffui uses"),
        (["settings", "get", "ui.theme"], "is not set"),
        (["db", "export", tmp_path / "no" / "such" / "dir" / "x.json"], "cannot write"),
    ]
    for args, message in cases:
        r = ffui(*args, home=home)
        assert r.returncode != 0, args
        no_traceback(r)
        lines = r.stderr.strip().splitlines()
        # one line, or click's usage block whose last line is the error
        assert (len(lines) == 1 or lines[0].startswith("Usage:")) and message in lines[-1], (args, r.stderr)
    assert notdb.read_text().startswith("just some notes")


def test_readme_quick_start_is_two_commands_and_ci_runs_the_test_one():
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    readme = (repo / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [line for line in block.splitlines() if line.strip()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    ci = (repo / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci
