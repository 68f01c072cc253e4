"""Whole-database export and import (seed 000's format), including the studio's own exports."""

import json
import sqlite3

import pytest

from ffui import db as fdb
from ffui.db import DatabaseError
from ffui.db.export import export_to_json, import_from_json


async def fill(db):
    await fdb.set_setting(db, "huggingface.token", "hf_topsecretvalue")
    await fdb.set_setting(db, "ui.theme", "dark")
    await fdb.save_training_config(db, "quick", {"hp": {"learning_rate": 2e-4}})
    sid = await fdb.create_scrape_session(db, "file", name="chat", dataset_format="chatml")
    await fdb.add_scraped_pairs(
        db,
        sid,
        [
            {"input": "hi", "output": "hello", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
            {"input": "ünïcode ✓", "output": "ok", "metadata": {"k": [1, 2]}},
        ],
    )
    model = await fdb.create_model(db, name="tiny", location="/models/tiny", type="local")
    dataset = await fdb.create_dataset(db, name="chat", type="database", location="session:1")
    prompt = await fdb.create_prompt(db, name="p", dataset_id=dataset, prompt_template="{input}\n{output}")
    run = await fdb.create_training_run(db, "r1", base_model="/models/tiny", base_model_id=model, hp={"lora_r": 8})
    await fdb.create_adapter(db, name="a", model_id=model, fine_tuning_job_id=run["job_uuid"], prompt_id=prompt, location="/x")
    await fdb.create_config(db, type="lora", config='{"r": 8}', is_default=0)
    await fdb.add_log_lines(db, [{"level": "INFO", "message": f"line {i}", "run_id": run["id"]} for i in range(5)])


def rows(path):
    conn = sqlite3.connect(path)
    out = {}
    for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"):
        cur = conn.execute(f"SELECT * FROM {t} ORDER BY rowid")
        out[t] = [tuple(r) for r in cur]
    return out


async def test_export_then_import_into_empty_home_gives_the_same_rows(home, tmp_path, db):
    await fill(db)
    out = tmp_path / "export.json"
    export_to_json(db.path, out, include_secrets=True)
    other = tmp_path / "other" / "ffui.db"
    report = import_from_json(other, out)
    assert report.inserted["scraped_pairs"] == 2 and report.skipped["scraped_pairs"] == 0
    a, b = rows(db.path), rows(other)
    assert set(a) == set(b)
    for table in a:
        assert a[table] == b[table], table


async def test_export_leaves_secrets_out_unless_asked(db, tmp_path):
    await fill(db)
    out = tmp_path / "e.json"
    export_to_json(db.path, out)
    text = out.read_text()
    assert "hf_topsecretvalue" not in text
    keys = [r["key"] for r in json.loads(text)["settings"]["data"]]
    assert keys == ["ui.theme"]
    export_to_json(db.path, out, include_secrets=True)
    assert "hf_topsecretvalue" in out.read_text()


async def test_import_twice_skips_what_is_there(db, tmp_path):
    await fill(db)
    out = tmp_path / "e.json"
    export_to_json(db.path, out)
    report = import_from_json(db.path, out)
    assert report.inserted["scraped_pairs"] == 0 and report.skipped["scraped_pairs"] == 2
    assert await db.scalar("SELECT COUNT(*) FROM scraped_pairs") == 2


def studio_export():
    """What the seed-000 studio's export_to_json writes: its seven tables."""
    return {
        "models": {"schema": "CREATE TABLE IF NOT EXISTS models (...)", "data": [
            {"id": "m-1", "type": "huggingface", "name": "llama", "huggingface_model_name": "meta/llama-3"}]},
        "datasets": {"schema": "...", "data": [{"id": "d-1", "type": "huggingface", "name": "alpaca", "huggingface_name": "tatsu/alpaca", "features": '["instruction","output"]'}]},
        "prompts": {"schema": "...", "data": [{"id": "p-1", "name": "alpaca", "dataset_id": "d-1", "prompt_template": "{instruction}\n{output}", "input_template": "{instruction}", "completion_template": "{output}"}]},
        "configs": {"schema": "...", "data": [{"id": "c-1", "type": "lora", "config": '{"r": 16}', "is_default": 1}]},
        "fine_tuning_jobs": {"schema": "...", "data": [
            {"id": "j-1", "base_model_id": "m-1", "dataset_id": "d-1", "prompt_id": "p-1", "num_workers": 1, "adapter_id": "a-1",
             "num_cpu": 4, "num_gpu": 1, "num_memory": 16, "num_epochs": 3, "learning_rate": 0.0002, "out_dir": "/data/out/j-1",
             "lora_config_id": "c-1", "lora_config": '{"r": 16}', "dataset_fraction": 0.5, "train_test_split": 0.1,
             "framework_type": "legacy", "gpu_label_id": 2, "adapter_name": "alpaca-lora"},
            {"id": "j-2", "base_model_id": "m-1", "dataset_id": "d-1", "num_epochs": 1}]},
        "adapters": {"schema": "...", "data": [{"id": "a-1", "name": "alpaca-lora", "model_id": "m-1", "fine_tuning_job_id": "j-1", "prompt_id": "p-1", "location": "/data/out/j-1"}]},
        "evaluation_jobs": {"schema": "...", "data": [{"id": "e-1", "base_model_id": "m-1", "dataset_id": "d-1", "adapter_id": "a-1", "num_gpu": 1, "generation_config": '{"max_new_tokens": 64}'}]},
    }


async def test_import_of_a_studio_export_lands_with_jobs_as_runs(db, tmp_path):
    path = tmp_path / "studio.json"
    path.write_text(json.dumps(studio_export()))
    report = import_from_json(db.path, path)
    assert report.inserted == {
        "models": 1, "datasets": 1, "prompts": 1, "configs": 1, "training_runs": 2, "adapters": 1, "evaluation_jobs": 1,
    }
    run = await fdb.get_training_run_by_uuid(db, "j-1")
    assert run["name"] == "alpaca-lora" and run["base_model"] == "meta/llama-3"
    assert run["hp"] == {"num_train_epochs": 3, "learning_rate": 0.0002, "dataset_fraction": 0.5, "train_test_split": 0.1}
    assert (run["num_gpu"], run["output_dir"], run["adapter_id"], run["status"]) == (1, "/data/out/j-1", "a-1", "completed")
    assert (await fdb.get_training_run_by_uuid(db, "j-2"))["status"] == "cancelled"  # never queued
    adapter = await fdb.get_adapter(db, "a-1")
    assert adapter["fine_tuning_job_id"] == "j-1"


async def test_dangling_references_are_skipped_not_fatal(db, tmp_path):
    doc = studio_export()
    doc["adapters"]["data"].append({"id": "a-2", "model_id": "no-such-model"})
    path = tmp_path / "studio.json"
    path.write_text(json.dumps(doc))
    report = import_from_json(db.path, path)
    assert report.inserted["adapters"] == 1 and report.skipped["adapters"] == 1
    assert await fdb.get_adapter(db, "a-2") is None


@pytest.mark.parametrize(
    "content, message",
    [
        ("this is not json", "not valid JSON"),
        ('{"settings": {"schema": "x", "data": [{"key": "a", "value": "b"}', "not valid JSON"),  # truncated
        ("[1, 2, 3]", "not an export"),
        ('{"settings": [1, 2]}', "has no 'data' list"),
        ('{"settings": {"data": [1]}}', "row 1 is not an object"),
    ],
)
async def test_bad_import_files_change_nothing(db, tmp_path, content, message):
    await fill(db)
    before = rows(db.path)
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DatabaseError, match=message):
        import_from_json(db.path, path)
    assert rows(db.path) == before


async def test_binary_import_file_is_refused(db, tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(DatabaseError, match="not UTF-8"):
        import_from_json(db.path, path)


async def test_rows_that_break_a_constraint_are_skipped_and_counted(db, tmp_path):
    path = tmp_path / "e.json"
    path.write_text('{"settings": {"data": [{"key": "a"}, {"key": "b", "value": "1"}]}}')  # "a" lacks its NOT NULL value
    report = import_from_json(db.path, path)
    assert (report.inserted["settings"], report.skipped["settings"]) == (1, 1)
    assert await fdb.get_setting(db, "a") is None and await fdb.get_setting(db, "b") == "1"
