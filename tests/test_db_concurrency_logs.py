"""Several processes at once, the logging handler, log queries and clearing."""

import logging
import subprocess
import sys
import textwrap

from ffui import db as fdb
from ffui.db import DbLogHandler

WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from ffui import db as fdb

    async def main(path, tag, n):
        async with fdb.connect(path) as db:
            run = await fdb.create_training_run(db, f"run-{tag}", create_storage=False)
            for i in range(n):
                await fdb.set_setting(db, f"writer.{tag}.{i % 7}", str(i))
                await fdb.add_log_lines(db, [{"message": f"{tag} {i} {j}", "run_id": run["id"]} for j in range(5)])
                await fdb.update_training_run(db, run["id"], current_step=i, status="running")
                await fdb.get_logs(db, limit=20, run_id=run["id"])

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


async def test_two_processes_writing_at_once_never_see_a_locked_database(home, db):
    n = 150
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db.path), tag, str(n)], stderr=subprocess.PIPE, text=True)
        for tag in ("a", "b")
    ]
    # ...and this process writes through the logging handler meanwhile.
    handler = DbLogHandler(db.path, flush_interval=0.05)
    log = logging.getLogger("ffui.test.concurrency")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    for i in range(2000):
        log.info("handler line %d", i)
    errors = [p.communicate(timeout=120)[1] for p in procs]
    handler.close()
    log.removeHandler(handler)
    assert [p.returncode for p in procs] == [0, 0], errors
    assert not any("locked" in e for e in errors)
    assert await fdb.get_log_count(db, logger="ffui.test.concurrency") == 2000
    for tag in ("a", "b"):
        run = (await fdb.list_training_runs(db, status="running"))
        assert any(r["name"] == f"run-{tag}" and r["current_step"] == n - 1 for r in run)
    assert await db.scalar("SELECT COUNT(*) FROM app_logs WHERE run_id IS NOT NULL") == 2 * n * 5


async def test_handler_batches_redacts_secrets_and_flushes_on_close(home, db):
    await fdb.set_setting(db, "runpod.api_key", "rp_SUPERSECRET_123")
    handler = DbLogHandler(db.path)
    log = logging.getLogger("ffui.test.handler")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    handler.flush()  # the writer thread has read the secrets by now
    log.warning("calling the API with key rp_SUPERSECRET_123 now")
    try:
        raise RuntimeError("token rp_SUPERSECRET_123 rejected")
    except RuntimeError:
        log.exception("request failed")
    handler.close()
    log.removeHandler(handler)
    rows = await fdb.get_logs(db, logger="ffui.test.handler")
    assert [r["level"] for r in rows] == ["WARNING", "ERROR"]
    text = " ".join(f"{r['message']} {r['exc_info']}" for r in rows)
    assert "rp_SUPERSECRET_123" not in text and "***" in text
    assert "RuntimeError" in rows[1]["exc_info"]
    assert rows[0]["func_name"] == "test_handler_batches_redacts_secrets_and_flushes_on_close"


async def test_handler_logs_what_was_true_when_the_call_was_made(home, db):
    """Formatting may happen in the writer thread; a line still says what it said at the call,
    and one unformattable record costs only itself."""
    handler = DbLogHandler(db.path, run_id=7, source="app")
    log = logging.getLogger("ffui.test.frozen")
    log.propagate = False  # pytest's own capture would trip over the broken record
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    items = ["a"]
    state = {"step": 1}
    log.info("items %s", items)
    log.info("at %(step)s", state)
    log.info("count %d", 3)
    log.info("broken %d", "not a number")
    log.info("after %s", "the broken one")
    items.append("b")
    state["step"] = 2
    handler.close()
    log.removeHandler(handler)
    rows = sorted(await fdb.get_logs(db, logger="ffui.test.frozen"), key=lambda r: r["id"])
    messages = [r["message"] for r in rows]
    assert messages[:3] == ["items ['a']", "at 1", "count 3"]
    assert "broken %d" in messages[3] and "could not be formatted" in messages[3]
    assert messages[4] == "after the broken one"
    assert {r["run_id"] for r in rows} == {7}


def test_handler_never_blocks_the_caller(home):
    """emit() only queues: 20,000 records take far less than one commit each would."""
    from ffui.db import open_sync

    open_sync(home / "ffui.db").close()
    handler = DbLogHandler(home / "ffui.db")
    log = logging.getLogger("ffui.test.speed")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    for i in range(20000):
        log.info("line %d", i)
    handler.close()
    log.removeHandler(handler)
    conn = open_sync(home / "ffui.db")
    assert conn.execute("SELECT COUNT(*) FROM app_logs WHERE logger = 'ffui.test.speed'").fetchone()[0] == 20000


async def test_get_logs_returns_the_last_lines_and_follows_by_id(db):
    await fdb.add_log_lines(db, [{"message": f"m{i}", "level": "ERROR" if i % 10 == 0 else "INFO", "run_id": 1} for i in range(1000)])
    last = await fdb.get_logs(db, limit=3)
    assert [r["message"] for r in last] == ["m997", "m998", "m999"]
    nxt = await fdb.get_logs(db, limit=2, after_id=last[0]["id"])
    assert [r["message"] for r in nxt] == ["m998", "m999"]
    assert await fdb.get_log_count(db, level="ERROR") == 100
    assert len(await fdb.get_logs(db, limit=500, level="error")) == 100
    assert [r["message"] for r in await fdb.get_logs(db, search="m99", limit=20)][:2] == ["m99", "m990"]


async def test_clear_logs_older_than_days(db):
    await fdb.add_log_lines(db, [{"message": "old", "timestamp": "2020-01-01 00:00:00.000"}, {"message": "new"}])
    assert await fdb.clear_logs(db, older_than_days=30) == 1
    assert [r["message"] for r in await fdb.get_logs(db)] == ["new"]
    assert await fdb.clear_logs(db) == 1
