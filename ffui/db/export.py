"""Whole-database JSON export and import, in seed 000's format.

Format: ``{table: {"schema": "CREATE TABLE ...", "data": [{column: value, ...}, ...]}}``.
An export is streamed row by row to a temporary file and renamed into place, so a full
disk or an interrupted export never leaves a half-written file under the final name.
An import is validated whole before anything is written and then lands in a single
transaction: rows that clash with existing keys are skipped and counted, rows whose
references point nowhere are removed again before commit and counted as skipped.
Exports of the seed-000 studio are accepted: its fine_tuning_jobs become training_runs.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffui.db.catalog import one_line
from ffui.db.core import Database, DatabaseError, open_sync
from ffui.db.secrets import is_secret_key

# Import order: parents before children (references are checked at commit anyway).
TABLE_ORDER = (
    "settings", "app_state", "training_configs", "models", "datasets", "prompts", "configs",
    "scrape_sessions", "scraped_pairs", "training_runs", "adapters", "evaluation_jobs", "evaluation_models",
    "app_logs",
)

# seed 000 fine_tuning_jobs column -> ffui training_runs column, or "hp.<key>" for a key of hp_json.
FINE_TUNING_JOBS_MAP: dict[str, str] = {
    "id": "job_uuid",
    "base_model_id": "base_model_id",
    "dataset_id": "registry_dataset_id",
    "prompt_id": "prompt_id",
    "num_workers": "num_workers",
    "cml_job_id": "cml_job_id",
    "adapter_id": "adapter_id",
    "num_cpu": "num_cpu",
    "num_gpu": "num_gpu",
    "num_memory": "num_memory",
    "num_epochs": "hp.num_train_epochs",
    "learning_rate": "hp.learning_rate",
    "out_dir": "output_dir",
    "training_arguments_config_id": "training_arguments_config_id",
    "model_bnb_config_id": "model_bnb_config_id",
    "adapter_bnb_config_id": "adapter_bnb_config_id",
    "lora_config_id": "lora_config_id",
    "training_arguments_config": "training_arguments_config",
    "model_bnb_config": "model_bnb_config",
    "adapter_bnb_config": "adapter_bnb_config",
    "lora_config": "lora_config",
    "dataset_fraction": "hp.dataset_fraction",
    "train_test_split": "hp.train_test_split",
    "user_script": "user_script",
    "user_config_id": "user_config_id",
    "framework_type": "framework_type",
    "axolotl_config_id": "axolotl_config_id",
    "gpu_label_id": "gpu_label_id",
    "adapter_name": "adapter_name",
}


class ImportError_(DatabaseError):
    """The import file cannot be used; nothing was written. str() is one line."""


@dataclass
class ImportReport:
    inserted: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"{t}: {self.inserted[t]:,} inserted, {self.skipped.get(t, 0):,} skipped"
            for t in self.inserted
            if self.inserted[t] or self.skipped.get(t)
        ]
        return (out or ["the file holds no rows; nothing was imported"]) + self.notes


def _tables(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return list(
        conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    )


def export_to_json(db_path: str | Path, output_path: str | Path, *, include_secrets: bool = False) -> dict[str, int]:
    """Write the whole database to ``output_path``; returns rows written per table."""
    output_path = Path(output_path)
    tmp = output_path.with_name(output_path.name + ".partial")
    conn = open_sync(db_path)
    counts: dict[str, int] = {}
    try:
        conn.execute("BEGIN")  # one consistent snapshot while other processes write
        with open(tmp, "w", encoding="utf-8") as out:
            out.write("{")
            for i, (name, sql) in enumerate(_tables(conn)):
                out.write(("," if i else "") + f"\n{json.dumps(name)}: {{\"schema\": {json.dumps(sql)}, \"data\": [")
                cur = conn.execute(f'SELECT * FROM "{name}"')
                cols = [d[0] for d in cur.description]
                n = 0
                for row in cur:
                    rec = dict(zip(cols, row))
                    if name == "settings" and not include_secrets and is_secret_key(str(rec.get("key"))):
                        continue
                    if name == "training_runs" and not include_secrets and rec.get("pod_agent_token"):
                        rec["pod_agent_token"] = None  # a RunPod run's agent token is a secret too
                    out.write(("," if n else "") + "\n" + json.dumps(rec, ensure_ascii=False))
                    n += 1
                out.write("\n]}")
                counts[name] = n
            out.write("\n}\n")
        os.replace(tmp, output_path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DatabaseError(f"cannot write {output_path}: {exc.strerror or exc}") from None
    finally:
        conn.rollback() if conn.in_transaction else None
        conn.close()
    os.chmod(output_path, 0o600) if include_secrets else None
    return counts


def load_export(path: str | Path) -> dict[str, dict]:
    """Read and validate an export file; raise ImportError_ naming what is wrong."""
    path = Path(path)
    try:
        with open(path, "r", encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise ImportError_(f"{path} does not exist") from None
    except IsADirectoryError:
        raise ImportError_(f"{path} is a directory; give the path of an export .json file") from None
    except UnicodeDecodeError:
        raise ImportError_(f"{path} is not UTF-8 text, so not an ffui export; nothing was imported") from None
    except RecursionError:
        raise ImportError_(f"{path} nests JSON arrays or objects too deeply to read, so it is not an ffui export; "
                           "nothing was imported") from None
    except json.JSONDecodeError as exc:
        raise ImportError_(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); the file is malformed "
            "or truncated, nothing was imported"
        ) from None
    except OSError as exc:
        raise ImportError_(f"cannot read {path}: {exc.strerror}") from None
    if not isinstance(doc, dict) or not doc:
        raise ImportError_(f"{path} is not an export: expected an object of tables, {{table: {{schema, data}}}}")
    for table, body in doc.items():
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ImportError_(f"{path}: table {table!r} has no 'data' list; nothing was imported")
        for i, row in enumerate(body["data"]):
            if not isinstance(row, dict):
                raise ImportError_(f"{path}: table {table!r} row {i + 1} is not an object; nothing was imported")
    return doc


def _map_fine_tuning_job(row: dict[str, Any], models: dict[str, dict]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    hp: dict[str, Any] = {}
    for src, value in row.items():
        target = FINE_TUNING_JOBS_MAP.get(src)
        if target is None or value is None:
            continue
        if target.startswith("hp."):
            hp[target[3:]] = value
        else:
            out[target] = value
    model = models.get(row.get("base_model_id") or "")
    out["name"] = row.get("adapter_name") or f"job-{str(row.get('id'))[:8]}"
    out["base_model"] = (model or {}).get("huggingface_model_name") or (model or {}).get("location") or row.get("base_model_id")
    if row.get("dataset_id"):
        out["dataset_source"], out["dataset_id"] = "datasets", row["dataset_id"]
    out["storage_path"] = row.get("out_dir")
    out["hp_json"] = json.dumps(hp)
    out["status"] = "completed" if row.get("adapter_id") else "cancelled"
    if not row.get("adapter_id"):
        out["error_message"] = "imported from a Fine Tuning Studio export without an adapter; outcome unknown"
    out["metadata_json"] = json.dumps({"imported_from": "fine_tuning_jobs"})
    return out


def import_from_json(db_path: str | Path, json_path: str | Path) -> ImportReport:
    """Import an export (ffui's or the seed-000 studio's) in one transaction."""
    doc = load_export(json_path)
    report = ImportReport()
    conn = open_sync(db_path)
    try:
        columns = {name: [r[1] for r in conn.execute(f'PRAGMA table_info("{name}")')] for name, _ in _tables(conn)}
        models = {r.get("id"): r for r in doc.get("models", {}).get("data", []) if isinstance(r, dict)}
        plan: list[tuple[str, list[dict]]] = []
        for table, body in doc.items():
            if table == "fine_tuning_jobs":
                plan.append(("training_runs", [_map_fine_tuning_job(r, models) for r in body["data"]]))
            elif table in columns:
                plan.append((table, body["data"]))
            else:
                report.notes.append(f"{table}: not an ffui table, {len(body['data'])} rows left out")
        plan.sort(key=lambda p: TABLE_ORDER.index(p[0]) if p[0] in TABLE_ORDER else len(TABLE_ORDER))
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("PRAGMA defer_foreign_keys = ON")
        for table, rows in plan:
            report.inserted.setdefault(table, 0)
            report.skipped.setdefault(table, 0)
            ignored = set()
            for row in rows:
                ignored |= set(row) - set(columns[table])
                usable = {k: v for k, v in row.items() if k in columns[table]}
                if isinstance(usable.get("name"), str):  # names are one line: they are shown in lists
                    usable["name"] = one_line(usable["name"])
                if not usable:
                    report.skipped[table] += 1
                    continue
                cols = ", ".join(f'"{c}"' for c in usable)
                marks = ", ".join("?" for _ in usable)
                values = [json.dumps(v) if isinstance(v, (dict, list)) else v for v in usable.values()]
                cur = conn.execute(f'INSERT OR IGNORE INTO "{table}" ({cols}) VALUES ({marks})', values)
                if cur.rowcount == 1:
                    report.inserted[table] += 1
                else:
                    report.skipped[table] += 1
            if ignored:
                report.notes.append(f"{table}: columns not in ffui's schema were left out: {', '.join(sorted(ignored))}")
        _drop_dangling(conn, report)
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise ImportError_(f"import of {json_path} failed ({exc}); nothing was imported") from None
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    return report


def _drop_dangling(conn: sqlite3.Connection, report: ImportReport) -> None:
    """Remove imported rows whose references point nowhere (they would fail the commit)."""
    for _ in range(20):
        bad = conn.execute("PRAGMA foreign_key_check").fetchall()
        if not bad:
            return
        for table, rowid, parent, _fk in {(b[0], b[1], b[2], None) for b in bad}:
            conn.execute(f'DELETE FROM "{table}" WHERE rowid = ?', (rowid,))
            report.inserted[table] = report.inserted.get(table, 0) - 1
            report.skipped[table] = report.skipped.get(table, 0) + 1
        report.notes.append(f"rows referring to missing {', '.join(sorted({b[2] for b in bad}))} rows were skipped")
    raise sqlite3.IntegrityError("references could not be resolved")


async def export_database(db: Database, output_path: str | Path, *, include_secrets: bool = False) -> dict[str, int]:
    import asyncio

    return await asyncio.to_thread(export_to_json, db.path, output_path, include_secrets=include_secrets)


async def import_database(db: Database, json_path: str | Path) -> ImportReport:
    import asyncio

    return await asyncio.to_thread(import_from_json, db.path, json_path)
