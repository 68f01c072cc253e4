"""``ffui scrape repair``: a scraped dataset paired again another way, without a request.

A scrape keeps what it fetched, raw, in its run directory (ffui.data.scrape_worker); its
dataset's metadata says where (``scrape.run_dir``). A repair reads those items back and fills
a new dataset from them with other pairing options or filters; the old one stays as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

from .datasets import check_new_name, resolve, session_meta
from .errors import DataError
from .scrape_worker import fill_scraped, pair_options, read_raw


def repair_pairing(source: str, *, mode: str | None, context_k: int | None,
                   min_score: int | None, judge_threshold: int | None = None) -> dict:
    """The pairing options a repair gives for ``source`` (the others do not apply to it)."""
    if source == "synthetic":
        if mode is not None or context_k is not None or min_score is not None:
            raise DataError(None, None, "a synthetic dataset has no pairing mode",
                            "use --judge-threshold to curate its pairs again")
        return {} if judge_threshold is None else {"judge_threshold": judge_threshold}
    if judge_threshold is not None:
        raise DataError(None, None, f"--judge-threshold is for synthetic datasets, not {source}")
    if source == "stackexchange":
        if mode is not None:
            raise DataError(None, None, "a Stack Exchange dataset has no pairing mode",
                            "use --min-score to choose answers again")
        return {} if min_score is None else {"min_score": min_score}
    if min_score is not None:
        raise DataError(None, None, f"--min-score is for Stack Exchange datasets, not {source}")
    return {k: v for k, v in (("mode", mode), ("context_k", context_k)) if v is not None}


def original_pairing(run_dir: Path) -> dict:
    """The pairing the job that made a dataset was given (its RUN_DIR/config.json)."""
    try:
        return json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["scrape"].get("pairing") or {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


async def repair(db, dataset: str | int, *, mode: str | None = None, context_k: int | None = None,
                 min_score: int | None = None, filters: dict | None = None,
                 name: str | None = None, judge_threshold: int | None = None) -> dict:
    """A new dataset from the raw items behind scraped ``dataset``; ``{"id", "name", "rows"}``."""
    session = await resolve(db, dataset)
    label = session.get("name") or f"#{session['id']}"
    scrape = session_meta(session).get("scrape") or {}
    if not scrape.get("run_dir"):
        raise DataError(None, None, f"dataset {label!r} was not made by ffui scrape",
                        "only a scraped dataset keeps what it was paired from")
    items = read_raw(Path(scrape["run_dir"]))
    if not items:
        raise DataError(None, None, f"the items dataset {label!r} was paired from are gone "
                        f"({scrape['run_dir']})", "scrape again")
    source = session["source"]
    pairing = repair_pairing(source, mode=mode, context_k=context_k, min_score=min_score,
                             judge_threshold=judge_threshold)
    if source == "synthetic":  # (its type and threshold hold unless changed: a judged-out pair stays out)
        pairing = original_pairing(Path(scrape["run_dir"])) | pairing
    spec = {"source": source, "filters": filters or {}, "pairing": pairing}
    options = pair_options(spec)
    new_name = await check_new_name(db, name or f"{label}-{mode or 'repaired'}")
    filled = await fill_scraped(db, name=new_name, source=source,
                                details=f"repair of {label}: {options.details}", items=items,
                                options=options, run_dir=Path(scrape["run_dir"]))
    return {"id": filled["id"], "name": new_name, "rows": filled["rows"], "items": len(items)}
