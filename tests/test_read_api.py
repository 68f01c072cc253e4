"""What the screens and the CLI show comes from named functions of ffui (issue 9 item 5): the Runs
table's summaries and loss trends, the Playground's choices, table counts, one model lookup,
and deleting or resuming a run in one step, with its guard, for both front ends.

Queries are counted with SQLite's trace callback on a real database file: a list of N things
costs the same few statements for any N.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest

from conftest import kill_runs
from job_support import wait_run as poll_run
from ffui import db as fdb
from ffui.jobs.errors import JobError


@contextlib.asynccontextmanager
async def counted(db):
    """The statements ``db`` runs inside the block, as SQLite saw them."""
    seen: list[str] = []
    await db.conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        await db.conn.set_trace_callback(None)


def selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]


async def add_runs(db, n: int, points: int = 40) -> list[int]:
    ids = []
    for i in range(n):
        run = await fdb.create_training_run(db, f"run-{i}", base_model="tiny", status="completed",
                                            create_storage=False)
        history = [[step, 3.0 - step * 0.01 * (i + 1)] for step in range(1, points + 1)]
        await fdb.update_training_run(db, run["id"], metrics={"history": history}, last_loss=history[-1][1])
        ids.append(run["id"])
    return ids


# -- the Runs table ---------------------------------------------------------------------------


async def test_run_summaries_and_their_losses_are_two_queries_for_any_number_of_runs(db):
    ids = await add_runs(db, 12)
    await fdb.update_training_run(db, ids[3], status="running", metadata={"stalled": {"since": 1234.5}})
    # what another tool may have written: one such run must not break the list
    await db.write("UPDATE training_runs SET metrics_json = 'not json' WHERE id = ?", (ids[5],))
    await db.write("UPDATE training_runs SET metadata_json = 'not json' WHERE id = ?", (ids[6],))
    async with counted(db) as statements:
        rows = await fdb.list_run_summaries(db, 500)
        losses = await fdb.loss_histories(db, [r["id"] for r in rows])
    assert len(selects(statements)) == 2, statements
    assert [r["id"] for r in rows] == ids[::-1], "newest first"
    assert {r["id"]: r["stalled_since"] for r in rows}[ids[3]] == 1234.5
    assert "hp_json" not in rows[0] and "logs_json" not in rows[0], "a summary, not the whole row"
    assert losses[ids[0]][:2] == [pytest.approx(2.99), pytest.approx(2.98)] and len(losses[ids[0]]) == 40
    assert losses[ids[5]] == [], "a damaged history draws no trend, and breaks nothing"
    assert {r["id"]: r["stalled_since"] for r in rows}[ids[6]] is None


async def test_the_runs_table_reads_the_same_few_queries_for_3_runs_as_for_30(db):
    from screens.runs import fetch_runs

    async def statements_for_a_first_look() -> list[str]:
        async with counted(db) as statements:
            rows = await fetch_runs(db, {})
        assert all(r["spark"] for r in rows), "every run has its trend"
        return selects(statements)

    damaged = await add_runs(db, 3)
    # another tool's text in seed 001's metadata column: the table still shows every run
    await db.write("UPDATE training_runs SET metadata_json = '{oops' WHERE id = ?", (damaged[1],))
    few = await statements_for_a_first_look()
    await add_runs(db, 27)
    assert len(await statements_for_a_first_look()) == len(few) <= 2


# -- a run's screen ---------------------------------------------------------------------------


async def test_the_change_probe_changes_when_the_run_does_and_not_otherwise(db):
    run = await fdb.create_training_run(db, "probed", base_model="tiny", status="running", create_storage=False)
    first = await fdb.run_change_probe(db, run["id"])
    assert await fdb.run_change_probe(db, run["id"]) == first
    await db.write("UPDATE training_runs SET current_step = 3 WHERE id = ?", (run["id"],))
    assert (await fdb.run_change_probe(db, run["id"]))["current_step"] == 3
    assert await fdb.run_change_probe(db, run["id"] + 1) is None
    assert await fdb.get_run_status(db, run["id"]) == "running"


# -- the Playground ---------------------------------------------------------------------------


async def test_playground_choices_are_one_query_however_many_adapters(db):
    base = await fdb.create_model(db, type="local", name="tiny", location="/models/tiny")
    hub = await fdb.create_model(db, type="huggingface", name="hub", huggingface_model_name="org/base")
    made = await fdb.create_training_run(db, "trainer", base_model="/models/tiny", status="completed",
                                         create_storage=False, adapter_path="/runs/a/adapter")
    await fdb.create_adapter(db, name="zeta", location="/runs/a/adapter", model_id=base,
                             fine_tuning_job_id=made["job_uuid"])
    await fdb.create_adapter(db, name="alpha", location="/adapters/alpha", model_id=hub)
    await fdb.create_adapter(db, name="no-files")  # no location: nothing to load
    for i in range(20):
        await fdb.create_adapter(db, name=f"more-{i:02}", location=f"/adapters/more-{i:02}")
    unregistered = await fdb.create_training_run(db, "only-a-run", base_model="org/other", status="completed",
                                                 create_storage=False, adapter_path="/runs/b/adapter")
    async with counted(db) as statements:
        choices = await fdb.list_chat_choices(db)
    assert len(statements) == 1, statements
    by_path = {c["path"]: c for c in choices}
    assert [c["path"] for c in choices[:2]] == ["/adapters/alpha", "/adapters/more-00"], "registered ones, by name"
    assert choices[-1] == {"label": f"only-a-run (run {unregistered['id']})", "path": "/runs/b/adapter",
                           "run_id": unregistered["id"], "base": "org/other"}, "then runs' adapters"
    assert by_path["/runs/a/adapter"] == {"label": f"zeta (run {made['id']})", "path": "/runs/a/adapter",
                                          "run_id": made["id"], "base": "/models/tiny"}, "once, as registered"
    assert by_path["/adapters/alpha"]["base"] == "org/base" and by_path["/adapters/alpha"]["run_id"] is None
    assert len(choices) == 2 + 20 + 1


# -- one model lookup -------------------------------------------------------------------------


async def test_find_model_by_id_name_hub_id_location_or_the_start_of_its_id(db):
    local = await fdb.create_model(db, id="abcd1111-0000", type="local", name="tiny", location="/m/tiny")
    hub = await fdb.create_model(db, id="abcd2222-0000", type="huggingface", name="base", huggingface_model_name="org/x")
    named_like_an_id = await fdb.create_model(db, id="ffff0000-0000", type="local", name="abcd1111-0000",
                                              location="/m/other")
    for ref, expected in [("abcd1111-0000", local), ("tiny", local), ("/m/tiny", local), ("org/x", hub),
                          ("base", hub), ("abcd2", hub), ("ffff", named_like_an_id)]:
        assert (await fdb.find_model(db, ref))["id"] == expected, ref
    assert await fdb.find_model(db, "abc_") is None, "an id start is text, not a LIKE pattern"
    assert await fdb.find_model(db, "") is None and await fdb.find_model(db, "nothing") is None
    with pytest.raises(fdb.CatalogError, match="starts the ids of several models"):
        await fdb.find_model(db, "abcd")


def test_models_rm_with_an_id_start_that_fits_two_models_removes_neither(home, ffui):
    async def setup():
        async with fdb.connect(home / "ffui.db", home) as db:
            await fdb.create_model(db, id="abcd1111-0000", type="local", name="one", location="/m/one")
            await fdb.create_model(db, id="abcd2222-0000", type="local", name="two", location="/m/two")

    asyncio.run(setup())
    r = ffui("models", "rm", "abcd", home=home)
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == ["ffui: 'abcd' starts the ids of several models; give more of the id "
                                             "(see: ffui models list)"]
    listed = ffui("models", "list", home=home).stdout
    assert "one" in listed and "two" in listed, "both are still registered"
    r = ffui("models", "rm", "abcd2", home=home)
    assert r.returncode == 0 and "abcd2222-0000 removed" in r.stdout, r.stderr


# -- counts and configs -----------------------------------------------------------------------


async def test_table_counts_count_every_table_of_the_file(db, ffui, home):
    await add_runs(db, 2)
    await db.write('CREATE TABLE "someone else\'s" (x)')
    await db.write("""INSERT INTO "someone else's" VALUES (1), (2), (3)""")
    counts = await fdb.table_counts(db)
    assert counts["training_runs"] == 2 and counts["someone else's"] == 3 and counts["scraped_pairs"] == 0
    assert list(counts) == sorted(counts)
    info = json.loads(ffui("db", "info", "--json", home=home).stdout)
    assert info["counts"] == counts and info["version"] == await fdb.schema_version(db)
    assert info["last_check"] is None and await fdb.last_check(db) is None


def test_config_settings_unwraps_what_ffui_saves_and_keeps_what_it_did_not():
    assert fdb.config_settings({"hp": {"lora_r": 8}, "model": "m"}) == {"lora_r": 8}
    assert fdb.config_settings({"lora_r": 8}) == {"lora_r": 8}
    assert fdb.config_settings({"hp": "not settings", "lora_r": 8}) == {"hp": "not settings", "lora_r": 8}


# -- deleting and resuming a run --------------------------------------------------------------


async def test_delete_run_refuses_a_live_run_and_keeps_its_rows_and_files(db):
    from ffui.jobs.runs import RunStillActive, delete_run

    run = await fdb.create_training_run(db, "live", base_model="tiny", status="running")
    await fdb.add_log_lines(db, [{"message": "step 1", "run_id": run["id"], "source": "train"}])
    with pytest.raises(RunStillActive, match=f"^run {run['id']} is running; cancel it first$"):
        await delete_run(db, run["id"], delete_artifacts=True)
    assert (await fdb.get_training_run(db, run["id"]))["status"] == "running"
    assert Path(run["storage_path"]).is_dir() and await fdb.get_log_count(db, run_id=run["id"]) == 1
    await fdb.update_training_run(db, run["id"], status="cancelled")
    files = await delete_run(db, run["id"], delete_artifacts=True)
    assert files == f"deleted {run['storage_path']} (checkpoints, adapter, logs)"
    assert await fdb.get_training_run(db, run["id"]) is None and not Path(run["storage_path"]).exists()
    assert await fdb.get_log_count(db, run_id=run["id"]) == 0
    with pytest.raises(JobError, match="no run with id"):
        await delete_run(db, run["id"])


async def test_a_run_resumed_meanwhile_is_not_deleted(db):
    """The status is checked again in the delete's own transaction: another ffui may have
    resumed the run while the user read the confirmation."""
    run = await fdb.create_training_run(db, "resumed-elsewhere", base_model="tiny", status="pending")
    assert await fdb.delete_training_run(db, run["id"], delete_artifacts=True, statuses=fdb.FINAL_STATUSES) is None
    assert await fdb.get_training_run(db, run["id"]) is not None and Path(run["storage_path"]).is_dir()


def test_runs_rm_of_a_running_run_says_cancel_it_first(home, ffui):
    async def setup():
        async with fdb.connect(home / "ffui.db", home) as db:
            return await fdb.create_training_run(db, "live", base_model="tiny", status="running")

    run = asyncio.run(setup())
    r = ffui("runs", "rm", run["id"], "--artifacts", "--yes", home=home)
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == [f"ffui: run {run['id']} is running; cancel it first "
                                             f"(ffui runs cancel {run['id']})"]
    assert Path(run["storage_path"]).is_dir()


@pytest.fixture
async def jobs_db(home):
    """A database whose runs' processes are all killed after the test."""
    try:
        async with fdb.connect(home / "ffui.db", home) as db:
            yield db
    finally:
        kill_runs(home)


async def cancelled_fake_run(db, name: str, **options) -> dict:
    from ffui.jobs.fake_worker import create_fake_run

    run = await create_fake_run(db, name, **options)
    Path(run["storage_path"], "checkpoints", "checkpoint-4").mkdir(parents=True)
    await fdb.update_training_run(db, run["id"], status="cancelled")
    return run


async def test_resume_with_start_runs_it_now_or_queues_it(jobs_db):
    from ffui.jobs.runs import resume_run

    db = jobs_db
    await fdb.set_setting(db, "jobs.max_concurrent", "1")
    run = await cancelled_fake_run(db, "resumed", steps=8)
    resumed = await resume_run(db, run["id"], start=True)
    assert resumed["status"] != "pending", "a free slot: it starts at once"
    assert resumed["hp"]["resume_from_checkpoint"].endswith("checkpoint-4")
    done = await poll_run(db, run["id"], lambda r: r["status"] in fdb.FINAL_STATUSES, "to end")
    assert done["status"] == "completed", done.get("error_message")

    busy = await cancelled_fake_run(db, "busy", steps=1000, step_s=0.05)
    await resume_run(db, busy["id"], start=True)
    queued = await cancelled_fake_run(db, "queued", steps=8)
    assert (await resume_run(db, queued["id"], start=True))["status"] == "pending", "no slot: it waits"
    not_started = await cancelled_fake_run(db, "later", steps=8)
    await fdb.set_setting(db, "jobs.max_concurrent", "4")
    assert (await resume_run(db, not_started["id"], start=False))["status"] == "pending"
