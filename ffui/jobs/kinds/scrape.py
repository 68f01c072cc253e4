"""The ``scrape`` kind: fetching a forum into a new dataset, as a detached job.

Its row is a training_runs row with ``metadata.kind = "scrape"`` (so the queue, the supervisor,
cancel, resume, app_logs and the Runs screen treat it as any job); its worker is
``python -m ffui.data.scrape_worker RUN_DIR`` (ffui/data/scrape_worker.py says what it does),
its spec in RUN_DIR/config.json. It needs no GPU, so it never waits for a training slot
(``takes_slot``). A Stack Exchange key reaches the worker in its environment, never in its
arguments or files.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from ffui.data.errors import DataError
from ffui.data.scrape_worker import MODULE, SECRET_ENV, open_source, pair_options
from ffui.db import Database, create_training_run, get_setting, get_training_run
from ffui.jobs.executors.base import WorkerSpec
from ffui.jobs.kinds.training import TrainingKind

SOURCES = ("4chan", "reddit", "stackexchange", "synthetic")
KEY_SETTING = "sources.stackexchange.key"
KEY_SETTINGS = {"stackexchange": KEY_SETTING, "synthetic": "sources.synthetic.api_key"}  # a source's secret


class ScrapeKind(TrainingKind):
    name = "scrape"
    noun = "scraper"
    module = MODULE
    takes_slot = False  # no GPU: runs beside training, not after it

    def command(self, run: dict) -> list[str]:
        return [sys.executable, "-m", self.module, str(run["storage_path"])]

    async def worker(self, db: Database, run: dict) -> WorkerSpec:
        spec = WorkerSpec(self.command(run), {"PYTHONUNBUFFERED": "1"}, noun=self.noun)
        spec.unset_env = ("HF_TOKEN", SECRET_ENV)
        metadata = run.get("metadata") or {}
        if metadata.get("use_key"):
            key = await get_setting(db, KEY_SETTINGS.get(metadata.get("source"), KEY_SETTING))
            if key:
                spec.env[SECRET_ENV] = key
                spec.unset_env = ("HF_TOKEN",)
        return spec

    def apply_event(self, run: dict, event: dict, fields: dict[str, Any]) -> list[tuple[str, str]]:
        notes = super().apply_event(run, event, fields)
        if event.get("dataset_id") is not None:  # done, or cancelled with what was fetched
            fields["dataset_id"] = str(event["dataset_id"])
            fields["dataset_source"] = "database"
            run["metrics"].setdefault("final", {})["pairs"] = event.get("pairs", (event.get("metrics") or {}).get("pairs"))
            fields["metrics"] = run["metrics"]
        return notes

    async def on_end(self, db: Database, run: dict, out: dict[str, Any], terminal: dict[str, dict]) -> None:
        """Nothing to register: the worker made the dataset itself."""


def default_name(source: str, args: dict) -> str:
    what = {"4chan": "-".join(args.get("boards") or []), "reddit": args.get("subreddit") or "post",
            "stackexchange": args.get("site") or "",
            "synthetic": Path((args.get("paths") or ["docs"])[0]).stem}[source]
    return f"{source}-{what}-{time.strftime('%Y%m%d-%H%M%S')}"


def checked_spec(source: str, args: dict[str, Any], *, pairing: dict | None = None,
                 filters: dict | None = None, max_pairs: int | None = None) -> dict:
    """A scrape's spec, its options checked (one DataError line each) without a request."""
    if source not in SOURCES:
        raise DataError(None, None, f"unknown source {source!r}", f"use one of {', '.join(SOURCES)}")
    if max_pairs is not None and max_pairs < 1:
        raise DataError(None, None, f"at most {max_pairs} pairs? give 1 or more")
    spec = {"source": source, "args": args, "pairing": pairing or {}, "filters": filters or {},
            "max_pairs": max_pairs}
    pair_options(spec)  # a bad mode or pattern: one line now, not a failed job later
    with open_source(spec, {}, set(), {}) as checked:  # (no request is made)
        spec["details"] = checked.source_details
    return spec


def form_job(source: str, target: str, mode: str | None = None) -> dict:
    """A scrape as the TUI's form gives it: what to read (boards ``g,sci``, a subreddit or a
    post's URL, a site) and a pairing mode (None: the source's default)."""
    target = target.strip()
    pairing = {"mode": mode} if mode and source != "stackexchange" else {}
    if source == "4chan":
        args: dict[str, Any] = {"boards": [b for b in target.split(",") if b.strip()]}
    elif source == "reddit":
        args = {"post": target} if "/" in target.removeprefix("r/") else {"subreddit": target}
    else:
        args = {"site": target}
    return {"source": source, "args": args, "pairing": pairing}


def synth_job(paths: list[str], endpoint: str, model: str, *, type: str = "qa", pairs_per_chunk: int = 3,
              judge_threshold: int | None = None, use_key: bool = False, concurrency: int = 4,
              chunk_words: int = 400) -> dict:
    """An ``ffui synth`` job as the CLI and the TUI's documents form give it."""
    import os

    args = {"paths": [os.path.abspath(os.path.expanduser(p)) for p in paths], "endpoint": endpoint.strip(),
            "model": model.strip(), "pairs_per_chunk": pairs_per_chunk, "concurrency": concurrency,
            "chunk_words": chunk_words}
    pairing = {"type": type, **({"judge_threshold": judge_threshold} if judge_threshold else {})}
    return {"source": "synthetic", "args": args, "pairing": pairing, "use_key": use_key}


async def create_scrape(db: Database, source: str, args: dict[str, Any], *, pairing: dict | None = None,
                        filters: dict | None = None, dataset: str | None = None,
                        max_pairs: int | None = None, use_key: bool = False) -> dict:
    """A pending scrape job making dataset ``dataset`` (default: from the source); its options
    are checked first (one DataError line each), before anything is made."""
    from ffui.data.datasets import check_new_name

    spec = checked_spec(source, args, pairing=pairing, filters=filters, max_pairs=max_pairs)
    setting = KEY_SETTINGS.get(source, KEY_SETTING)
    if use_key and not await get_setting(db, setting):
        raise DataError(source, None, "no API key is stored",
                        f"store one (ffui settings set {setting}, then type it), or leave out --key-from-settings")
    spec["dataset"] = await check_new_name(db, dataset or default_name(source, args))
    run = await create_training_run(db, f"scrape-{spec['dataset']}", base_model=None, hp={},
                                    metadata={"kind": "scrape", "use_key": use_key or None,
                                              "source": source, "dataset": spec["dataset"]})
    config = {"scrape": spec, "db": str(db.path), "home": str(db.home)}
    (Path(run["storage_path"]) / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return await get_training_run(db, run["id"])
