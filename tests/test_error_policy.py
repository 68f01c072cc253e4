"""One error policy: every user error is an FfuiError, and the app words a fault as the CLI does.

Both front ends call ``ffui.errors.user_message``; these tests hold them to it where they
used to differ, and check that ``ffui keys`` no longer loads the UI into the ffui process.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys

from tui_support import app_for, notifications, seed_fixed_home


def test_every_error_a_user_can_fix_is_an_ffui_error():
    from ffui.data.errors import DataError
    from ffui.data.prompts import TemplateError
    from ffui.db import CatalogError, DatabaseError
    from ffui.errors import FfuiError
    from ffui.jobs.errors import JobError
    from ffui.jobs.inference import InferenceError
    from ffui.train.config import ConfigError

    for kind in (DataError, TemplateError, CatalogError, DatabaseError, JobError, InferenceError, ConfigError):
        assert issubclass(kind, FfuiError), kind
    assert issubclass(ConfigError, ValueError) and issubclass(CatalogError, ValueError)  # (callers catch these)


async def test_the_app_words_a_full_disk_and_a_bug_as_the_cli_does(tmp_path):
    home = seed_fixed_home(tmp_path / "home")
    app = app_for(home)
    async with app.run_test(size=(80, 24)) as pilot:
        app.notify_error(OSError(errno.ENOSPC, "No space left on device", str(home / "export.jsonl")))
        app.notify_error(KeyError("surprise"))
        await pilot.pause()
        disk, bug = notifications(app)[:2]
    assert disk == (f"the disk is full ({home / 'export.jsonl'}): free some space and try again; "
                    "nothing was lost")
    assert bug.startswith("internal error: KeyError: 'surprise' (details in ") and bug.endswith("please report it)")


def test_ffui_keys_lists_the_bindings_without_loading_the_ui_into_ffui(tmp_path):
    """The bindings come from the UI's package in a child process: ffui never imports Textual."""
    code = (
        "import json, sys\n"
        "from ffui.cli import main\n"
        f"main(['--home', {str(tmp_path)!r}, 'keys'], standalone_mode=False)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'screens'))))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    assert any(line.startswith("app.mode.runs ") for line in lines), r.stdout[:500]
    assert json.loads(lines[-1]) == []
