"""The schema covers both seeds, and databases made by others upgrade in place."""

import hashlib
import re
import sqlite3
from pathlib import Path

import pytest

from ffui.db import DatabaseError, SCHEMA_VERSION, connect, open_sync
from ffui.db.export import FINE_TUNING_JOBS_MAP

REPO = Path(__file__).resolve().parent.parent

# Seed 001 (FineFoundry), verbatim.
SEED_001_SQL = """
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT DEFAULT (datetime('now')));
CREATE TABLE training_configs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, config_json TEXT NOT NULL,
  train_target TEXT, created_at TEXT DEFAULT (datetime('now')), updated_at TEXT DEFAULT (datetime('now')));
CREATE TABLE scrape_sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, source_details TEXT,
  dataset_format TEXT DEFAULT 'standard', pair_count INTEGER DEFAULT 0, created_at TEXT DEFAULT (datetime('now')), metadata_json TEXT);
CREATE TABLE scraped_pairs (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER NOT NULL, input_text TEXT NOT NULL,
  output_text TEXT NOT NULL, source_url TEXT, metadata_json TEXT, created_at TEXT DEFAULT (datetime('now')),
  FOREIGN KEY (session_id) REFERENCES scrape_sessions(id) ON DELETE CASCADE);
CREATE TABLE training_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, status TEXT DEFAULT 'pending',
  base_model TEXT, dataset_source TEXT, dataset_id TEXT, storage_path TEXT, output_dir TEXT, adapter_path TEXT,
  checkpoint_path TEXT, hp_json TEXT, logs_json TEXT, started_at TEXT, completed_at TEXT,
  created_at TEXT DEFAULT (datetime('now')), updated_at TEXT DEFAULT (datetime('now')), metadata_json TEXT);
CREATE TABLE app_logs (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT DEFAULT (datetime('now')), level TEXT NOT NULL,
  logger TEXT, message TEXT NOT NULL, module TEXT, func_name TEXT, line_no INTEGER, exc_info TEXT);
CREATE TABLE app_state (key TEXT PRIMARY KEY, value TEXT);
"""

# Seed 000 (Fine Tuning Studio): table -> columns (fine_tuning_jobs is folded into training_runs).
SEED_000 = {
    "models": "id type framework name description huggingface_model_name location cml_registered_model_id mlflow_experiment_id mlflow_run_id",
    "datasets": "id type name description huggingface_name location features",
    "adapters": "id type name description huggingface_name model_id location fine_tuning_job_id prompt_id cml_registered_model_id mlflow_experiment_id mlflow_run_id",
    "prompts": "id type name description dataset_id prompt_template input_template completion_template",
    "evaluation_jobs": "id type cml_job_id parent_job_id base_model_id dataset_id prompt_id num_workers adapter_id num_cpu num_gpu num_memory evaluation_dir model_bnb_config_id adapter_bnb_config_id generation_config_id model_bnb_config adapter_bnb_config generation_config",
    "configs": "id type description config model_family is_default",
}
FINE_TUNING_JOBS = (
    "id base_model_id dataset_id prompt_id num_workers cml_job_id adapter_id num_cpu num_gpu num_memory num_epochs "
    "learning_rate out_dir training_arguments_config_id model_bnb_config_id adapter_bnb_config_id lora_config_id "
    "training_arguments_config model_bnb_config adapter_bnb_config lora_config dataset_fraction train_test_split "
    "user_script user_config_id framework_type axolotl_config_id gpu_label_id adapter_name"
).split()


def columns(conn, table):
    return {r[1]: r for r in conn.execute(f"PRAGMA table_info({table})")}


def seed_001_columns():
    conn = sqlite3.connect(":memory:")
    conn.executescript(SEED_001_SQL)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
    return {t: columns(conn, t) for t in tables}


def test_fresh_database_has_every_seed_001_column_with_its_type_and_default(home):
    conn = open_sync(home / "ffui.db")
    for table, cols in seed_001_columns().items():
        have = columns(conn, table)
        for name, (_, _, typ, notnull, default, pk) in cols.items():
            assert name in have, f"{table}.{name} missing"
            assert have[name][2:] == (typ, notnull, default, pk), f"{table}.{name} differs from seed 001"
    fks = conn.execute("PRAGMA foreign_key_list(scraped_pairs)").fetchall()
    assert any(f[2] == "scrape_sessions" and f[6] == "CASCADE" for f in fks)


def test_fresh_database_has_every_seed_000_table_and_column(home):
    conn = open_sync(home / "ffui.db")
    for table, cols in SEED_000.items():
        have = columns(conn, table)
        assert set(cols.split()) <= set(have), f"{table} lacks {set(cols.split()) - set(have)}"
        assert have["id"][5] == 1  # the primary key


def test_every_fine_tuning_jobs_column_has_a_home_documented_in_schema_md(home):
    conn = open_sync(home / "ffui.db")
    runs = columns(conn, "training_runs")
    doc = (REPO / "docs" / "schema.md").read_text()
    section = doc.split("### fine_tuning_jobs", 1)[1].split("\n### ", 1)[0]
    documented = dict(re.findall(r"^\| `(\w+)` \| `([\w.]+)`", section, re.M))
    assert set(FINE_TUNING_JOBS) == set(documented) == set(FINE_TUNING_JOBS_MAP)
    for src, target in documented.items():
        assert FINE_TUNING_JOBS_MAP[src] == target
        if target.startswith("hp."):
            continue
        assert target in runs, f"fine_tuning_jobs.{src} -> training_runs.{target} does not exist"


def test_lookup_indexes_exist(home):
    conn = open_sync(home / "ffui.db")
    plans = {
        "SELECT * FROM scraped_pairs WHERE session_id = 1 AND id > 5 ORDER BY id LIMIT 50": "idx_scraped_pairs_session",
        "SELECT * FROM app_logs WHERE run_id = 1 AND id > 3 ORDER BY id": "idx_app_logs_run",
        "SELECT * FROM app_logs WHERE level = 'ERROR' ORDER BY id DESC LIMIT 10": "idx_app_logs_level",
        "SELECT * FROM training_runs WHERE status = 'running'": "idx_training_runs_status",
    }
    for sql, index in plans.items():
        plan = " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert index in plan, f"{sql!r} does not use {index}: {plan}"


def make_seed_001_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(SEED_001_SQL)
    conn.execute("INSERT INTO settings(key, value) VALUES ('huggingface.token', 'hf_oldtoken123'), ('ollama.enabled', 'true')")
    conn.execute("INSERT INTO training_configs(name, config_json) VALUES ('my_config.json', '{\"hp\": {\"epochs\": 3}}')")
    conn.execute("INSERT INTO scrape_sessions(source, source_details) VALUES ('reddit', 'r/LocalLLaMA')")
    conn.executemany(
        "INSERT INTO scraped_pairs(session_id, input_text, output_text) VALUES (1, ?, ?)",
        [(f"q{i}", f"a{i}") for i in range(50)],
    )
    conn.execute("INSERT INTO training_runs(name, status, base_model, hp_json) VALUES ('old run', 'completed', 'llama', '{}')")
    conn.execute("INSERT INTO app_logs(level, logger, message) VALUES ('INFO', 'finefoundry', 'hello')")
    conn.execute("INSERT INTO app_state(key, value) VALUES ('last_used_config', 'my_config.json'), ('schema_version', '1')")
    conn.commit()
    conn.close()


def dump(path: Path) -> dict:
    conn = sqlite3.connect(path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
    out = {}
    for t in tables:
        cur = conn.execute(f"SELECT * FROM {t} ORDER BY rowid")
        cols = [d[0] for d in cur.description]
        out[t] = [dict(zip(cols, r)) for r in cur]
    conn.close()
    return out


async def test_predecessor_database_upgrades_in_place_with_every_row(tmp_path):
    path = tmp_path / "finefoundry.db"
    make_seed_001_db(path)
    before = dump(path)
    async with connect(path) as db:
        assert await db.scalar("PRAGMA user_version") == SCHEMA_VERSION
        assert await db.scalar("SELECT COUNT(*) FROM models") == 0  # seed-000 tables were added
    after = dump(path)
    for table, rows in before.items():
        if table == "app_state":
            continue
        assert len(after[table]) == len(rows)
        for old, new in zip(rows, after[table]):
            assert {k: new[k] for k in old} == old, f"{table} row changed"
    state = {r["key"]: r["value"] for r in after["app_state"]}
    assert state["last_used_config"] == "my_config.json"
    assert state["schema_version"] == str(SCHEMA_VERSION)


async def test_database_of_an_older_ffui_upgrades(tmp_path):
    path = tmp_path / "v1.db"
    make_seed_001_db(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    async with connect(path) as db:
        assert await db.scalar("PRAGMA user_version") == SCHEMA_VERSION
        assert await db.scalar("SELECT COUNT(*) FROM scraped_pairs") == 50
        assert await db.scalar("SELECT job_uuid FROM training_runs") is None  # new column, old row kept


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_newer_database_is_refused_and_untouched(tmp_path):
    path = tmp_path / "new.db"
    make_seed_001_db(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(DatabaseError, match="newer ffui"):
        async with connect(path):
            pass
    assert digest(path) == before


@pytest.mark.parametrize("content", [b"hello, this is a text file\n" * 20, b"\x00\x01\x02binary" * 100, b"{}"])
async def test_non_sqlite_file_is_refused_and_untouched(tmp_path, content):
    path = tmp_path / "notes.db"
    path.write_bytes(content)
    with pytest.raises(DatabaseError, match="not a SQLite database"):
        async with connect(path):
            pass
    assert path.read_bytes() == content


async def test_sqlite_database_of_another_program_is_refused_and_untouched(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.execute("INSERT INTO invoices(total) VALUES (9.5)")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(DatabaseError, match="another program"):
        async with connect(path):
            pass
    assert digest(path) == before


async def test_init_is_idempotent_and_file_is_private(home):
    from ffui.db import init_db

    assert await init_db(home / "ffui.db") == SCHEMA_VERSION
    assert await init_db(home / "ffui.db") == SCHEMA_VERSION
    assert (home / "ffui.db").stat().st_mode & 0o777 == 0o600
