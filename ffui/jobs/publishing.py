"""Publishing to the Hugging Face Hub: queueing a run's ``publish`` job (ffui/jobs/kinds/publish.py)
and publishing a dataset as parquet. Every problem the user can fix before anything is sent
(no token, a bad repo name, nothing merged yet) is one line here."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Callable

from ffui.db import Database, create_training_run, get_setting, get_training_run, list_training_runs
from ffui.jobs.cards import dataset_card, model_card
from ffui.jobs.errors import JobError
from ffui.jobs.exports import trained_run
from ffui.jobs.scheduler import schedule

REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}")
NO_TOKEN = ("publishing needs a Hugging Face token with write access: create one at "
            "https://huggingface.co/settings/tokens, then ffui settings set huggingface.token hf_...")


def check_repo_id(repo_id: str) -> str:
    if not REPO_ID.fullmatch(repo_id or "") or ".." in repo_id or repo_id.endswith((".git", ".")):
        raise JobError(f"--to {repo_id[:80]!r}: give the repo as org/name (letters, digits, - _ .)")
    return repo_id


async def hub_token(db: Database) -> str:
    token = await get_setting(db, "huggingface.token") or os.environ.get("HF_TOKEN")
    if not token:
        raise JobError(NO_TOKEN)
    return token


async def merged_export(db: Database, run_id: int) -> dict:
    """The newest completed merged export of run ``run_id`` still on disk, or one line saying what to do."""
    for job in sorted(await list_training_runs(db, status="completed"), key=lambda r: r["id"], reverse=True):
        meta = job.get("metadata") or {}
        if meta.get("kind") == "export" and meta.get("source_run") == run_id and (job.get("hp") or {}).get("merged") \
                and job.get("output_dir") and Path(job["output_dir"]).is_dir():
            return job
    raise JobError(f"run {run_id} has no merged export yet: run ffui export {run_id} --merged --wait first")


async def start_publish(db: Database, run_id: int, to: str, *, merged: bool = False, private: bool = False,
                        update: bool = False) -> dict:
    """Queue the upload of run ``run_id``'s adapter (or its newest merged export) to ``to``."""
    check_repo_id(to)
    await hub_token(db)
    run = await trained_run(db, run_id)
    export = await merged_export(db, run_id) if merged else None
    folder = export["output_dir"] if export else run["adapter_path"]
    model_id = await _model_at(db, folder) if export else None
    card = model_card(to, run, await _dataset_name(db, run), merged, await evaluations_of(db, run_id))
    job = await create_training_run(
        db, f"publish-{run['name']}"[:120], base_model=run.get("base_model"), dataset_source=run.get("dataset_source"),
        dataset_id=run.get("dataset_id"), base_model_id=run.get("base_model_id"),
        hp={"repo_id": to, "merged": merged, "private": private},
        metadata={"kind": "publish", "source_run": run_id, "repo_id": to, "adapter_id": run.get("adapter_id"),
                  "model_id": model_id})
    spec = {"repo_id": to, "repo_type": "model", "private": private, "update": update, "folder": folder, "card": card}
    (Path(job["storage_path"]) / "config.json").write_text(json.dumps({"publish": spec}, indent=2), encoding="utf-8")
    await schedule(db)
    return await get_training_run(db, job["id"])


async def evaluations_of(db: Database, run_id: int) -> list[dict]:
    """Completed evaluation jobs of the run (``metadata.source_run``), with their metrics, for its card."""
    found = []
    for job in await list_training_runs(db, status="completed"):
        meta = job.get("metadata") or {}
        if meta.get("kind") == "evaluation" and meta.get("source_run") == run_id:
            found.append({"id": job["id"], "name": job["name"], "metrics": (job.get("metrics") or {}).get("final")})
    return found


async def _model_at(db: Database, path: str) -> str | None:
    row = await db.fetchone("SELECT id FROM models WHERE location = ? LIMIT 1", (path,))
    return row["id"] if row else None


async def _dataset_name(db: Database, run: dict) -> str:
    from ffui.data import store

    try:
        return (await store.resolve(db, run.get("dataset_id"), filling_ok=True)).get("name") or f"#{run['dataset_id']}"
    except Exception:  # the dataset was removed since: the card still says which one it was
        return f"#{run.get('dataset_id')}"


async def publish_dataset(db: Database, name: str, to: str, *, private: bool = False, update: bool = False,
                          progress: Callable[[str], None] = print) -> str:
    """Upload dataset ``name`` to the dataset repo ``to`` as parquet, with a card; its URL."""
    import asyncio

    from ffui.data import store
    from ffui.train.publish import HubRefusal, upload

    check_repo_id(to)
    token = await hub_token(db)
    session = await store.resolve(db, name)
    with tempfile.TemporaryDirectory(prefix="ffui-publish-") as tmp:
        folder = Path(tmp)
        (folder / "data").mkdir()
        res = await store.export_dataset(db, session, folder / "data" / "train-00000-of-00001.parquet", fmt="parquet")
        progress(f"wrote {res['rows']:,} rows of {res['name']} as parquet")
        card = dataset_card(to, res["name"], res["rows"], res["shape"], session.get("description"))
        (folder / "README.md").write_text(card, encoding="utf-8")
        try:
            return await asyncio.to_thread(upload, folder, to, repo_type="dataset", private=private, update=update,
                                           token=token, progress=progress)
        except HubRefusal as e:
            raise JobError(f"{e.message}: {e.hint}") from None
