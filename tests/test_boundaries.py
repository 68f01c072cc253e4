"""The house's import boundaries (pyproject's import-linter contracts) hold, and would catch a break.

The contracts are checked with the real ``lint-imports`` of the venv; that they bite is shown
on a copy of the tree with one bad import added, which must break the contract meant (an upward
import also makes a cycle, so it may break that contract too).
"""

from __future__ import annotations

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


BAD_IMPORTS = [
    ("screens/runs.py", "from ffui.db.core import open_sync", "screens use the data layer's public API, not its modules or SQLite"),
    ("screens/logs.py", "import sqlite3", "screens use the data layer's public API, not its modules or SQLite"),
    ("ffui/gpu.py", "import textual", "ffui (the core) never imports the UI"),
    ("ffui/jobs/tail.py", "from screens.widgets.base import FfuiScreen", "ffui (the core) never imports the UI"),
    ("ffui/db/training_runs.py", "from ffui.jobs import manager", "core layers: cli > jobs > data > db"),
    ("ffui/train/plan.py", "from ffui.db import get_setting", "the worker (ffui.train) imports only itself and the shared leaves"),
    ("ffui/procs.py", "from ffui.db import core", "the shared leaves import nothing of ffui"),
    ("screens/help.py", "from ffui.cli import UserError", "the front ends are siblings: screens never import the CLI"),
    ("ffui/db/core.py", "from ffui.db import logs", "no import cycles between sibling modules"),
]


@pytest.mark.parametrize("module, line, contract", BAD_IMPORTS, ids=[f"{m}:{c}" for m, _, c in BAD_IMPORTS])
def test_a_bad_import_breaks_its_contract(tree_copy, module, line, contract):
    path = tree_copy / module
    original = path.read_text()
    path.write_text(original + f"\n{line}  # the bad import under test\n")
    try:
        result = lint_imports(tree_copy)
    finally:
        path.write_text(original)
    assert result.returncode != 0, result.stdout[-3000:]
    assert contract in broken_contracts(result), result.stdout[-3000:] + result.stderr[-1000:]
