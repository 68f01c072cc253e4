"""The house's import boundaries (pyproject's import-linter contracts) hold, and would catch a break.

The contracts are checked with the real ``lint-imports`` of the venv; that they bite is shown
on a copy of the tree with one bad import added, which must break the contract meant (an upward
import also makes a cycle, so it may break that contract too).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` run on the packages of ``tree`` (found first on the path)."""
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the dev extra (pip install -e '.[dev]')")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree), "HOME": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=120)


def broken_contracts(result: subprocess.CompletedProcess) -> set[str]:
    """The names of the contracts reported broken ("NAME BROKEN", maybe with a count after it)."""
    return {line.split(" BROKEN", 1)[0] for line in result.stdout.splitlines() if " BROKEN" in line}


def test_the_import_contracts_hold():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    """The packages and the contracts, copied once; each case edits a module and restores it."""
    tree = tmp_path_factory.mktemp("tree")
    for package in ("ffui", "screens"):
        shutil.copytree(REPO / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tree / "pyproject.toml")
    return tree


PUBLIC_API = "screens and the CLI use the data layer's public API, not its modules or SQLite"
BAD_IMPORTS = [
    ("screens/runs.py", "from ffui.db.core import open_sync", PUBLIC_API),
    ("screens/settings.py", "import ffui.db.core", PUBLIC_API),
    ("screens/palette.py", "from ffui.db.training_runs import decode_run", PUBLIC_API),
    ("screens/logs.py", "import sqlite3", PUBLIC_API),
    ("ffui/cli/models.py", "from ffui.db.core import Database", PUBLIC_API),
    ("ffui/cli/db.py", "from ffui.db.maintenance import parse_last_check", PUBLIC_API),
    ("ffui/cli/runs.py", "import aiosqlite", PUBLIC_API),
    ("ffui/gpu.py", "import textual", "ffui (the core) never imports the UI"),
    ("ffui/jobs/tail.py", "from screens.widgets.base import FfuiScreen", "ffui (the core) never imports the UI"),
    ("ffui/db/training_runs.py", "from ffui.jobs import manager", "core layers: cli > jobs > data > db"),
    ("ffui/train/plan.py", "from ffui.db import get_setting", "the worker (ffui.train) imports only itself and the shared leaves"),
    ("ffui/procs.py", "from ffui.db import core", "the shared leaves import nothing of ffui"),
    ("screens/help.py", "from ffui.cli import UserError", "the front ends are siblings: screens never import the CLI"),
    ("ffui/db/core.py", "from ffui.db import logs", "no import cycles between sibling modules"),
]


@contextlib.contextmanager
def line_added(path: Path, line: str):
    """``path`` (in the tree copy) with ``line`` appended for the block; yields its line number."""
    original = path.read_text()
    path.write_text(original + f"\n{line}\n")
    try:
        yield len(original.splitlines()) + 2
    finally:
        path.write_text(original)


@pytest.mark.parametrize("module, line, contract", BAD_IMPORTS, ids=[f"{m}:{c}" for m, _, c in BAD_IMPORTS])
def test_a_bad_import_breaks_its_contract(tree_copy, module, line, contract):
    with line_added(tree_copy / module, f"{line}  # the bad import under test"):
        result = lint_imports(tree_copy)
    assert result.returncode != 0, result.stdout[-3000:]
    assert contract in broken_contracts(result), result.stdout[-3000:] + result.stderr[-1000:]


# -- SQL run through the open Database, which no import contract can see ----------------------

FRONT_ENDS = ("screens", "ffui/cli")
SQL_CALL = re.compile(r"\.(fetchall|fetchone|fetchmany|execute|executemany|executescript|scalar)\(|\.conn\b")
SQL_TEXT = re.compile(r"\b(SELECT|INSERT INTO|DELETE FROM|PRAGMA|UPDATE \w+ SET)\b")


def sql_in_front_ends(root: Path) -> list[str]:
    """``path:line: text`` for each line of screens/ or ffui/cli/ that runs or holds SQL."""
    found = []
    for folder in FRONT_ENDS:
        for path in sorted((root / folder).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if SQL_CALL.search(line) or SQL_TEXT.search(line):
                    found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_no_sql_in_the_screens_or_the_cli():
    assert sql_in_front_ends(REPO) == []


@pytest.mark.parametrize("module, line", [
    ("screens/runs.py", "rows = await self.app.db.fetchall('SELECT id FROM training_runs')"),
    ("screens/widgets/header.py", "n = await db.scalar(QUERY)"),
    ("ffui/cli/runs.py", "await db.execute(sql, (run_id,))"),
    ("ffui/cli/models.py", "QUERY = 'DELETE FROM models WHERE id = ?'"),
])
def test_sql_in_a_screen_or_a_command_is_found(tree_copy, module, line):
    with line_added(tree_copy / module, f"{line}  # the SQL under test") as number:
        found = sql_in_front_ends(tree_copy)
    assert [f for f in found if f.startswith(module)] == [f"{module}:{number}: {line}  # the SQL under test"]


# -- the UI process stays light ----------------------------------------------------------------

HEAVY = ("torch", "transformers", "peft", "trl", "accelerate", "datasets")
CORE_PACKAGES = ("ffui.cli", "ffui.db", "ffui.jobs", "ffui.data")
WALK = """
import importlib, json, pkgutil, sys, ffui
def walk(pkg):
    mod = importlib.import_module(pkg)
    for info in pkgutil.walk_packages(mod.__path__, pkg + '.'):
        importlib.import_module(info.name)
def loaded(roots):
    return sorted(m for m in sys.modules if m.split('.')[0] in roots)
for info in pkgutil.iter_modules(ffui.__path__, 'ffui.'):
    if not info.ispkg and info.name != 'ffui.__main__':
        importlib.import_module(info.name)
for pkg in PACKAGES:
    walk(pkg)
core = {"modules": len(sys.modules), "ui": loaded(("textual", "screens")), "heavy": loaded(HEAVY)}
walk("screens")
print(json.dumps({"core": core, "with_screens": {"heavy": loaded(HEAVY)}}))
"""


def test_importing_every_module_of_the_ui_process_loads_no_torch():
    """In a fresh process, every module the UI process may load (ffui's own modules, all of
    ffui.cli, ffui.db, ffui.jobs and ffui.data, then all of screens; not the worker side,
    ffui.train, which has its own process) pulls in none of the heavy training libraries, and
    the core none of the UI."""
    code = f"PACKAGES = {CORE_PACKAGES!r}\nHEAVY = {HEAVY!r}\n" + WALK
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["core"]["modules"] > 100, "the walk imported almost nothing"
    assert result["core"]["ui"] == [], "the core loads the UI"
    assert result["core"]["heavy"] == [] and result["with_screens"]["heavy"] == [], result
