"""Database faults named right, backups taken while ffui writes, and integrity checks.

Tests run as root, which ignores file modes: a read-only place is made for real with a
read-only tmpfs mount or an immutable (chattr +i) file; where neither works the test
skips and says which.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import mounted_tmpfs
from ffui.db import open_sync


def _imported(ffui, home: Path, tmp_path: Path, name: str = "d1", rows: int = 3) -> None:
    src = tmp_path / f"{name}.jsonl"
    src.write_text("".join(json.dumps({"input": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(rows)))
    r = ffui("data", "import", src, "--name", name, home=home)
    assert r.returncode == 0, r.stderr


@pytest.fixture
def readonly_mount(tmp_path):
    """A tmpfs to fill and then remount read-only (needs CAP_SYS_ADMIN)."""
    with mounted_tmpfs(tmp_path, "16m", "to make read-only") as mnt:
        yield mnt, lambda: subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)


@pytest.fixture
def immutable():
    """chattr +i: read-only even for root. Undone at the end of the test."""
    done: list[Path] = []

    def make(*paths: Path) -> None:
        r = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"chattr +i (to make a file read-only for root) failed here: {r.stderr.strip()[:120]}")
        done.extend(paths)

    yield make
    if done:
        subprocess.run(["chattr", "-i", *map(str, done)], capture_output=True)


def test_a_database_on_a_read_only_file_system_is_named_read_only_not_foreign(readonly_mount, tmp_path, ffui):
    mnt, make_readonly = readonly_mount
    home = mnt / "home"
    _imported(ffui, home, tmp_path)
    make_readonly()
    r = ffui("data", "list", home=home)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"ffui: the database {home / 'ffui.db'} is on a read-only file system: remount it read-write, "
        "or copy the database to a writable place and point --db at the copy"]


def test_a_database_in_a_read_only_folder_says_the_folder_is_read_only(home, tmp_path, ffui, immutable):
    _imported(ffui, home, tmp_path)
    immutable(home)
    r = ffui("data", "list", home=home)
    assert r.returncode == 1
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"ffui: the folder {home} of the database is read-only"), line
    assert "not a SQLite database" not in line


def test_leftover_read_only_wal_and_shm_files_are_named_with_the_fix(home, tmp_path, ffui, immutable):
    _imported(ffui, home, tmp_path)
    # A process that dies with a change only in the -wal leaves -wal and -shm behind.
    leaver = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, sqlite3
        conn = sqlite3.connect({str(home / 'ffui.db')!r}, isolation_level=None)
        conn.execute("INSERT INTO settings(key, value) VALUES('kept', 'yes')")
        os._exit(0)
    """)])
    assert leaver.returncode == 0
    wal, shm = home / "ffui.db-wal", home / "ffui.db-shm"
    assert wal.exists() and shm.exists()
    immutable(wal, shm)
    r = ffui("settings", "set", "ui.theme", "dark", home=home)
    assert r.returncode == 1
    (line,) = r.stderr.strip().splitlines()  # one line, not a warning and then the error
    assert f"{wal} {shm} beside it are still read-only" in line, line
    assert f"chmod u+w {wal} {shm}" in line and "do not delete them" in line


def test_an_empty_database_file_is_initialised_and_says_so(tmp_path, ffui):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    r = ffui("--db", empty, "data", "list", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines() == [f"ffui: {empty} is an empty file; making it a new ffui database"]
    again = ffui("--db", empty, "data", "list", home=tmp_path)
    assert again.stderr == ""  # said once: now it is a database


# ---- backups ------------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sqlite3, sys, pathlib
    db, stop = sys.argv[1], pathlib.Path(sys.argv[2])
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    conn.execute("PRAGMA busy_timeout = 30000")
    sessions = [r[0] for r in conn.execute("SELECT id FROM scrape_sessions")]
    n = 0
    while not stop.exists():
        sid = sessions[n % len(sessions)]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO scraped_pairs(session_id, input_text, output_text) VALUES(?, ?, ?)",
                         [(sid, f"q{n}-{i}" * 20, f"a{n}-{i}" * 20) for i in range(50)])
        conn.execute("UPDATE scrape_sessions SET pair_count = pair_count + 50 WHERE id = ?", (sid,))
        conn.execute("COMMIT")
        n += 1
        if n == 5:
            pathlib.Path(sys.argv[2] + ".started").touch()
""")


def _grow(db: Path, rows: int) -> None:
    """Make the database big enough that the backup takes several steps."""
    conn = open_sync(db)
    sessions = [r[0] for r in conn.execute("SELECT id FROM scrape_sessions")]
    conn.execute("BEGIN IMMEDIATE")
    for sid in sessions:
        conn.executemany("INSERT INTO scraped_pairs(session_id, input_text, output_text) VALUES(?, ?, ?)",
                         [(sid, f"question {i} " * 30, f"answer {i} " * 30) for i in range(rows)])
        conn.execute("UPDATE scrape_sessions SET pair_count = pair_count + ? WHERE id = ?", (rows, sid))
    conn.execute("COMMIT")
    conn.close()


def test_a_backup_taken_while_another_process_writes_is_consistent(home, tmp_path, ffui):
    _imported(ffui, home, tmp_path, "one")
    _imported(ffui, home, tmp_path, "two")
    _grow(home / "ffui.db", 40_000)  # ~60 MB: several backup steps, with commits landing between them
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(home / "ffui.db"), str(stop)])
    try:
        deadline = time.monotonic() + 60
        while not Path(f"{stop}.started").exists():
            assert writer.poll() is None and time.monotonic() < deadline, "the writer did not get going"
            time.sleep(0.05)
        r = ffui("db", "backup", tmp_path / "backup.db", home=home, timeout=300)
    finally:
        stop.touch()
        writer.wait(60)
    assert r.returncode == 0, r.stderr
    assert "backing up: 100%" in r.stderr  # a big file says how far it is
    assert r.stdout.startswith(f"backed up {home / 'ffui.db'} to {tmp_path / 'backup.db'}")
    backup = tmp_path / "backup.db"
    assert backup.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob(".backup.db.partial*"))
    conn = sqlite3.connect(backup)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    counts = conn.execute("SELECT s.pair_count, (SELECT COUNT(*) FROM scraped_pairs p WHERE p.session_id = s.id) "
                          "FROM scrape_sessions s").fetchall()
    conn.close()
    assert len(counts) == 2 and all(listed == held for listed, held in counts), counts
    listing = ffui("--db", backup, "data", "list", home=tmp_path)  # ffui opens the backup as a database
    assert listing.returncode == 0 and "one" in listing.stdout, listing.stderr


def test_a_backup_never_overwrites_a_file(home, tmp_path, ffui):
    _imported(ffui, home, tmp_path)
    existing = tmp_path / "keep.db"
    existing.write_text("precious")
    r = ffui("db", "backup", existing, home=home)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"ffui: {existing} already exists; give a new file name (a backup never overwrites a file)"]
    assert existing.read_text() == "precious"


# ---- checks -------------------------------------------------------------------------------


def _damage_an_index(db: Path) -> None:
    """Make the pairs index disagree with its table, as a torn copy can: integrity_check sees it."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX idx_scraped_pairs_session ON "
                 "scraped_pairs(input_text, id)' WHERE name = 'idx_scraped_pairs_session'")
    conn.close()


def test_db_check_finds_damage_says_what_to_do_and_db_info_warns_after(home, tmp_path, ffui):
    _imported(ffui, home, tmp_path)
    ok = ffui("db", "check", home=home)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"{home / 'ffui.db'}: no damage found (integrity_check and foreign_key_check passed)"
    assert "no damage" in ffui("db", "info", home=home).stdout
    _damage_an_index(home / "ffui.db")
    bad = ffui("db", "check", home=home)
    assert bad.returncode == 1
    lines = bad.stdout.strip().splitlines()
    assert lines[0] == f"{home / 'ffui.db'}: DAMAGE FOUND"
    assert any("missing from index idx_scraped_pairs_session" in line for line in lines[1:])
    assert lines[-1].startswith("what to do: restore your latest backup")
    info = ffui("db", "info", home=home)
    assert info.returncode == 0
    assert "DAMAGE FOUND" in info.stdout
    (warning,) = info.stderr.strip().splitlines()
    assert warning.startswith("ffui: warning: the last check (") and "found damage" in warning
    stored = json.loads(ffui("db", "info", "--json", home=home).stdout)["last_check"]
    assert stored["ok"] is False and stored["checked_at"]


def test_backup_and_check_of_a_home_without_a_database_say_so_and_create_nothing(tmp_path, ffui):
    home = tmp_path / "empty-home"
    for args, verb in ((("db", "backup", tmp_path / "b.db"), "back up"), (("db", "check"), "check")):
        r = ffui(*args, home=home)
        assert r.returncode == 1
        assert r.stderr.strip() == f"ffui: there is no database at {home / 'ffui.db'} to {verb} (see: ffui db info)"
    assert not (home / "ffui.db").exists() and not (tmp_path / "b.db").exists()


def test_a_database_too_damaged_to_open_is_named_damaged_with_what_to_do(home, tmp_path, ffui):
    _imported(ffui, home, tmp_path)
    with open(home / "ffui.db", "r+b") as fh:  # past the 100-byte header: the schema page itself
        fh.seek(100)
        fh.write(b"\xff" * 300)
    for args in (("data", "list"), ("db", "check")):
        r = ffui(*args, home=home)
        assert r.returncode == 1
        (line,) = r.stderr.strip().splitlines()
        assert line.startswith(f"ffui: {home / 'ffui.db'} is damaged (SQLite: database disk image is malformed)"), line
        assert "restore your latest backup" in line and ".recover" in line
