"""Rendering dataset rows as a run would train them, through the render worker.

    rendered = await render_rows(db, "chat", model="/models/tiny", config="fast", rows=5)
    rendered.examples   # [{"row", "text", "trained", "tokens", "trained_tokens", "truncated", "dropped"}]
    rendered.summary    # examples, tokens, trained_tokens, truncated, dropped, dropped_why, rows, ...
    rendered.warnings   # what the trainer would warn about (a fallback chat template, tool turns)

The config is resolved as ``ffui train`` resolves it (ffui.jobs.manager.resolve_training_config),
the rows become the trainer's dataset.jsonl lines (ffui.data.training), and the worker
(``python -m ffui.train.render``) takes the trainer's own tokenizing path. This process never
imports torch or transformers.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ffui.jobs.errors import JobError

WORKER_MODULE = "ffui.train.render"


def text_pieces(example: dict) -> list[tuple[str, bool]]:
    """An example's text as (piece, trained) in order: what a view highlights."""
    text, done, pieces = example["text"], 0, []
    for span in example["trained"]:
        at = text.find(span, done)
        if at < 0:  # (never seen: a span decodes as it reads in the whole text)
            continue
        pieces += [(text[done:at], False), (span, True)]
        done = at + len(span)
    pieces.append((text[done:], False))
    return [(piece, trained) for piece, trained in pieces if piece]


class RenderError(JobError):
    """The worker could not render (a missing model, a record the trainer would refuse)."""


@dataclass
class Rendered:
    examples: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


async def render_rows(db, dataset, *, model: str, config: str | None = None, sets: Iterable[str] = (),
                      prompt: str | None = None, rows: int = 5, offset: int = 0,
                      hp: dict[str, Any] | None = None) -> Rendered:
    """``rows`` rows of ``dataset`` from ``offset``, as a run with these choices trains them."""
    from ffui.data import store
    from ffui.jobs.manager import resolve_training_config

    session = await store.resolve(db, dataset)
    cfg, _, _ = await resolve_training_config(db, model=model, config=config, sets=sets, prompt=prompt, hp=hp)
    records = await store.page(db, session, limit=max(1, rows), offset=offset)
    if not records:
        raise RenderError(f"dataset {store.display_name(session)!r} has no rows"
                          + (f" from row {offset + 1}" if offset else "") + " to render")
    return await render_records(records, store.session_layout(session), cfg, token=await _hub_token(db, cfg))


async def render_chosen(db, records: list[dict], layout, *, model: str, hp: dict[str, Any] | None = None,
                        prompt: str | None = None) -> Rendered:
    """Records a screen holds, rendered with the model and settings chosen in the Train form."""
    from ffui.jobs.manager import resolve_training_config

    cfg, _, _ = await resolve_training_config(db, model=model, hp=hp, prompt=prompt)
    return await render_records(records, layout, cfg, token=await _hub_token(db, cfg))


async def _hub_token(db, cfg: dict[str, Any]) -> str | None:
    """The stored Hugging Face token, for a base model that comes from the hub (its tokenizer
    may need downloading, as the trainer would); None for a local model."""
    from ffui.db import get_setting
    from ffui.train.config import is_hub_model

    return await get_setting(db, "huggingface.token") if is_hub_model(cfg.get("base_model") or "") else None


async def render_records(records: list[dict], layout, cfg: dict[str, Any], *, token: str | None = None) -> Rendered:
    """Stored records (as ``store.page`` gives them) rendered with a resolved training config;
    ``token`` reaches the worker in its environment (never its command line)."""
    from ffui.data.training import training_line

    with tempfile.TemporaryDirectory(prefix="ffui-render-") as tmp:
        folder = Path(tmp)
        (folder / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
        with open(folder / "dataset.jsonl", "w", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(training_line(rec, layout), ensure_ascii=False) + "\n")
        (folder / "rows.json").write_text(json.dumps([rec["id"] for rec in records]), encoding="utf-8")
        return await _run_worker(folder, token)


async def _run_worker(folder: Path, token: str | None) -> Rendered:
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    env.pop("HF_TOKEN", None)
    if token:  # as the trainer gets it: in the environment, for a hub model only
        env["HF_TOKEN"] = token
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", WORKER_MODULE, str(folder), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, limit=2 ** 26)
    except OSError as e:
        raise RenderError(f"cannot start the render worker: {e.strerror or e}") from None
    try:
        out, err = await proc.communicate()
    except asyncio.CancelledError:  # the screen moved on: the worker goes too
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    rendered = Rendered()
    for line in out.decode("utf-8", "replace").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # a library printing to stdout
        kind = item.pop("type", None) if isinstance(item, dict) else None
        if kind == "error":
            hint = item.get("hint")
            raise RenderError(item.get("message", "the render failed") + (f" ({hint})" if hint else ""))
        if kind == "warning":
            rendered.warnings.append(item.get("message", ""))
        elif kind == "example":
            rendered.examples.append(item)
        elif kind == "summary":
            rendered.summary = item
    if proc.returncode or not rendered.summary:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise RenderError(f"the render worker failed (exit {proc.returncode}): {tail[0][:300]}")
    return rendered
