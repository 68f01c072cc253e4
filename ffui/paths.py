"""Where ffui keeps its state.

The home holds ``ffui.db`` and ``training_outputs/`` (the predecessor studio kept both in
the project root, so the default home is the current directory). ``--home``/``FFUI_HOME``
move the home; ``--db``/``FFUI_DB`` move the database file alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DB_FILENAME = "ffui.db"
OUTPUTS_DIRNAME = "training_outputs"


@dataclass(frozen=True)
class Paths:
    home: Path
    db: Path

    @property
    def training_outputs(self) -> Path:
        return self.home / OUTPUTS_DIRNAME


def resolve_paths(home: str | os.PathLike | None = None, db: str | os.PathLike | None = None) -> Paths:
    """Explicit arguments win over the environment, which wins over the defaults."""
    home_s = home or os.environ.get("FFUI_HOME") or os.getcwd()
    home_p = Path(home_s).expanduser().resolve()
    db_s = db or os.environ.get("FFUI_DB")
    db_p = Path(db_s).expanduser().resolve() if db_s else home_p / DB_FILENAME
    return Paths(home=home_p, db=db_p)


PRIVATE_UMASK = 0o077


def keep_files_private() -> None:
    """Files and folders this process creates are the user's alone (0600/0700), like the
    database: datasets, logs and exports can be private data. Set at each entry point (the
    ffui command, supervisors, trainers); children inherit it."""
    os.umask(PRIVATE_UMASK)
