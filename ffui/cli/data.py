"""ffui data import|preview|list|show|render|rm|merge|dedupe|filter|split|sample|shuffle|export|stats

Datasets live in the database (one ``scrape_sessions`` row each). Every operation makes a new
dataset and leaves its sources as they were. Errors are one line on stderr (DataError).
"""

from __future__ import annotations

import json
import sys
import time

import click

from ffui.cli import UserError, confirm_destructive, with_db
from ffui.turns import turn_text

FORMAT_CHOICES = ["auto", "alpaca", "sharegpt", "chatml", "openai", "input-output", "text"]


@click.group()
def data() -> None:
    """Import, inspect, transform and export datasets."""


class _Bar:
    """A one-line progress bar on stderr (only on a terminal, only after half a second)."""

    def __init__(self, label: str):
        self.label = label
        self.t0 = time.monotonic()
        self.shown = False
        self.tty = sys.stderr.isatty()

    def __call__(self, st: dict) -> None:
        if not self.tty or time.monotonic() - self.t0 < 0.5:
            return
        rows = st.get("rows") or 0
        total, done = st.get("total"), st.get("done")
        rate = rows / max(time.monotonic() - self.t0, 1e-6)
        bad = f", {st['bad']:,} bad" if st.get("bad") else ""
        if total and done is not None:
            frac = min(1.0, done / total)
            bar = "█" * int(30 * frac) + "░" * (30 - int(30 * frac))
            line = f"{self.label} {bar} {frac:6.1%}  {rows:,} rows{bad}  {rate:,.0f}/s"
        else:
            line = f"{self.label} {rows:,} rows{bad}  {rate:,.0f}/s"
        sys.stderr.write("\r" + line[:200] + "\x1b[K")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _bad_report(res: dict) -> None:
    if res.get("bad"):
        click.echo(f"left out {res['bad']:,} bad row{'' if res['bad'] == 1 else 's'}:", err=True)
        for b in res.get("bad_examples", []):
            click.echo(f"  {b}", err=True)
        if res["bad"] > len(res.get("bad_examples", [])):
            click.echo(f"  ... and {res['bad'] - len(res['bad_examples']):,} more", err=True)


@data.command("import")
@click.argument("source")
@click.option("--name", help="name of the new dataset (default: the file's name without its extensions)")
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="auto",
              show_default=True, help="row format (detected by default)")
@click.option("--map", "mapping", multiple=True, metavar="FIELD=COLUMN",
              help="take FIELD (instruction, input, output, messages, conversations, text, "
                   "system) from COLUMN; role=KEY and content=KEY name the keys inside each turn "
                   "(e.g. --map role=speaker --map content=text); repeatable")
@click.option("--split", help="split of a hub dataset, a DatasetDict folder, a .json {train, test} object or a folder of data files")
@click.option("--skip-bad", is_flag=True, help="leave bad rows out (counted and reported)")
@click.option("--description", help="a note kept in the dataset registry")
def data_import(source, name, fmt, mapping, split, skip_bad, description) -> None:
    """Import SOURCE (JSONL, JSON, CSV, TSV, Parquet, a save_to_disk folder, a folder of data
    files such as a downloaded hub repo, or a hub id).

    Text files may be compressed (.gz, .bz2, .xz): they are read as they are. In a folder of
    data files, --split picks the files whose path names that split (default: train)."""
    from ffui.data import store
    from ffui.data.readers import check_source_exists, default_dataset_name

    check_source_exists(source)  # before the name, the database or anything else
    name = name or default_dataset_name(source)
    bar = _Bar(f"importing {name}")
    try:
        res = with_db(store.import_dataset, source, name=name, fmt=fmt, mapping=list(mapping),
                      split=split, skip_bad=skip_bad, description=description, progress=bar)
    finally:
        bar.close()
    _bad_report(res)
    rate = res["rows"] / res["seconds"] if res["seconds"] else 0
    click.echo(f"imported {_rows(res['rows'])} into {res['name']} ({res['format']}, from "
               f"{res['kind']}) in {res['seconds']:.1f}s ({rate:,.0f} rows/s)")


@data.command("preview")
@click.argument("source")
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="auto")
@click.option("--map", "mapping", multiple=True, metavar="FIELD=COLUMN")
@click.option("--split")
@click.option("-n", "rows", default=3, show_default=True, help="rows to show")
@click.option("--json", "as_json", is_flag=True)
def data_preview(source, fmt, mapping, split, rows, as_json) -> None:
    """Show how SOURCE would be imported, without writing anything."""
    from ffui.data.importer import preview_import

    from ffui.db import get_setting

    token = with_db(get_setting, "huggingface.token")  # a gated or private hub dataset
    p = preview_import(source, fmt=fmt, mapping=list(mapping), split=split, n=rows, token=token)
    report = _column_report(p["layout"], p["columns"])
    if as_json:
        click.echo(json.dumps({**p, "column_uses": [c.to_dict() for c in report]}, ensure_ascii=False, indent=2,
                              default=str))
        return
    total = f", {p['total']:,} {p['progress_unit']}" if p.get("total") else ""
    click.echo(f"{p['path']}: {p['kind']}, format {p['format']}{total}")
    click.echo(f"columns: {', '.join(p['columns'])}  mapping: "
               + ", ".join(f"{k}={v}" for k, v in p["layout"]["columns"].items()))
    _echo_columns(report)
    for i, rec in enumerate(p["records"], 1):
        _echo_record(i, rec)
    for b in p["bad_examples"]:
        click.echo(f"bad: {b}", err=True)


def _column_report(layout: dict, columns: list[str] | None = None):
    from ffui.data.columns import column_report
    from ffui.data.formats import Layout

    return column_report(Layout.from_dict(layout), columns)


def _echo_columns(report) -> None:
    """How training uses each column (ffui.data.columns)."""
    from ffui.data.columns import report_lines

    click.echo("how each column is used:")
    for line in report_lines(report):
        click.echo(f"  {line}")


def _short(s: str, n: int = 160) -> str:
    s = (s or "").replace("\n", "⏎ ")
    return s if len(s) <= n else s[: n - 1] + "…"


def _echo_record(label, rec: dict) -> None:
    if rec.get("messages"):
        click.echo(f"[{label}] {len(rec['messages'])} turns")
        for m in rec["messages"]:
            c = turn_text(m) if m.get("content") is None or isinstance(m.get("content"), list) \
                else m.get("content")
            c = c if isinstance(c, str) else json.dumps(c, ensure_ascii=False)
            click.echo(f"    {m.get('role', '?'):>9}: {_short(c)}")
    else:
        click.echo(f"[{label}] input:  {_short(rec.get('input'))}")
        click.echo(f"    output: {_short(rec.get('output'))}")


@data.command("list")
@click.option("--json", "as_json", is_flag=True)
def data_list(as_json) -> None:
    """List datasets."""
    from ffui.data import store

    rows = with_db(store.list_datasets)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no datasets yet (ffui data import FILE --name NAME)")
        return
    w = max(len(r["name"]) for r in rows)
    click.echo(f"{'name':<{w}}  {'format':<12} {'rows':>10}  source")
    for r in rows:
        click.echo(f"{r['name']:<{w}}  {r['format'] or '':<12} {r['rows']:>10,}  "
                   f"{r['details'] or r['source'] or ''}")


@data.command("show")
@click.argument("name")
@click.option("-n", "--rows", "n", default=5, show_default=True, help="rows to show")
@click.option("--offset", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def data_show(name, n, offset, as_json) -> None:
    """Describe dataset NAME and show some rows."""
    from ffui.data import store

    async def go(db):
        return await store.show(db, name), await store.page(db, name, limit=n, offset=offset)

    info, rows = with_db(go)
    report = _column_report(info["layout"])
    if as_json:
        click.echo(json.dumps({"dataset": info, "columns": [c.to_dict() for c in report], "rows": rows},
                              ensure_ascii=False, indent=2))
        return
    click.echo(f"{info['name']}: {_rows(info['rows'])}, format {info['format']}, "
               f"created {info['created_at']}")
    click.echo(f"source: {info['details'] or info['source']}")
    if info.get("op"):
        click.echo(f"made by: {info['op']['kind']} of {', '.join(info['op']['sources'])} "
                   f"{json.dumps(info['op']['params'])}")
    _echo_columns(report)
    for i, rec in enumerate(rows, offset + 1):
        _echo_record(i, rec)


@data.command("render")
@click.argument("name")
@click.option("--model", "-m", required=True, help="registered model, model directory, or hub id (as ffui train)")
@click.option("--config", "-c", help="saved config name (ffui configs list) or a YAML/JSON file")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="override one setting; repeatable")
@click.option("--prompt", help="prompt template name (ffui prompts list)")
@click.option("--rows", "n", default=3, show_default=True, type=click.IntRange(min=1), help="rows to render")
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0), help="rows to skip first")
@click.option("--json", "as_json", is_flag=True,
              help="one object per example: row, text, trained (the trained spans), tokens, trained_tokens")
def data_render(name, model, config, sets, prompt, n, offset, as_json) -> None:
    """Show rows of dataset NAME exactly as a run with MODEL and this config trains them:
    chat template, truncation and labels; the trained spans are marked ⟦like this⟧."""
    from ffui.jobs.render import render_rows

    rendered = with_db(render_rows, name, model=model, config=config, sets=sets, prompt=prompt, rows=n,
                       offset=offset)
    for w in rendered.warnings:
        click.echo(f"warning: {w}", err=True)
    for number, ex in enumerate(rendered.examples, offset + 1):
        sides = "chosen" in ex or "completion" in ex  # a preference objective's example
        if as_json:
            keys = ("row", "prompt", "chosen", "rejected", "completion", "label") if sides else \
                ("row", "text", "trained", "tokens", "trained_tokens")
            click.echo(json.dumps({k: ex[k] for k in keys if k in ex}, ensure_ascii=False))
        elif sides:
            _echo_sides(number, ex)
        else:
            _echo_rendered(number, ex)
    click.echo(rendered.summary["line"], err=as_json)


def _echo_rendered(number: int, ex: dict) -> None:
    """One example: its place and id (as data show numbers rows), its counts, its text."""
    notes = [f"id {ex['row']}", f"{ex['tokens']} tokens, {ex['trained_tokens']} trained"]
    if ex.get("truncated"):
        notes.append("truncated")
    if ex.get("dropped"):
        notes.append(f"dropped: {ex['dropped']}")
    click.echo(f"── row {number} ({', '.join(notes)})")
    click.echo(_marked(ex))


def _echo_sides(number: int, ex: dict) -> None:
    """A preference example: its prompt, then each side (chosen in green, rejected in red)."""
    def shown(value) -> str:
        if isinstance(value, list):
            return "\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" if isinstance(m, dict) else str(m)
                             for m in value)
        return str(value)

    click.echo(f"── row {number} (id {ex['row']})")
    click.echo(f"prompt:\n{shown(ex.get('prompt'))}")
    for side, colour in (("chosen", "green"), ("rejected", "red"), ("completion", None)):
        if side in ex:
            click.echo(click.style(f"{side}:", fg=colour, bold=True) + f"\n{shown(ex[side])}")
    if "label" in ex:
        click.echo(f"label: {'desirable' if ex['label'] else 'undesirable'}")


def _marked(ex: dict) -> str:
    """The example's text with each trained span between ⟦ ⟧, green on a terminal."""
    from ffui.jobs.render import text_pieces

    return "".join(click.style(f"⟦{piece}⟧", fg="green", bold=True) if trained else piece
                   for piece, trained in text_pieces(ex))


@data.command("rm")
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="do not ask first")
def data_rm(name, yes) -> None:
    """Remove dataset NAME and its rows (asks first)."""
    from ffui.data import store

    info = with_db(store.show, name)
    confirm_destructive(f"remove dataset {info['name']} and its {_rows(info['rows'])}", yes)
    res = with_db(store.remove, name)
    click.echo(f"removed {res['name']} ({_rows(res['rows'])})")
    if res["unbound_prompts"]:
        click.echo(f"prompts now bound to no dataset: {', '.join(res['unbound_prompts'])}")


@data.command("merge")
@click.argument("sources", nargs=-1, required=True)
@click.option("--name", required=True, help="name of the new dataset")
@click.option("--interleave", is_flag=True, help="alternate rows instead of concatenating")
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="auto",
              help="format of the files among SOURCES")
@click.option("--map", "mapping", multiple=True, metavar="FIELD=COLUMN",
              help="column mapping for the files among SOURCES")
@click.option("--split", help="split for folders/hub ids among SOURCES")
@click.option("--skip-bad", is_flag=True, help="leave bad rows of files out")
def data_merge(sources, name, interleave, fmt, mapping, split, skip_bad) -> None:
    """Merge datasets and files (SOURCES) into a new dataset."""
    from ffui.data import store

    bar = _Bar(f"merging into {name}")
    try:
        res = with_db(store.merge, list(sources), name=name, interleave_rows=interleave, fmt=fmt,
                      mapping=list(mapping), split=split, skip_bad=skip_bad, progress=bar)
    finally:
        bar.close()
    _bad_report(res)
    click.echo(f"merged {len(sources)} sources into {res['name']}: {_rows(res['rows'])} "
               f"({res['format']}, {'interleaved' if interleave else 'concatenated'})")


@data.command("dedupe")
@click.argument("name")
@click.option("--name", "out", help="name of the new dataset (default NAME-dedupe)")
@click.option("--normalized", "--normalised", "normalised", is_flag=True,
              help="also treat rows equal after lower-casing and collapsing whitespace as "
                   "duplicates")
def data_dedupe(name, out, normalised) -> None:
    """Copy NAME without duplicate rows (the first of each is kept)."""
    from ffui.data import store

    res = with_db(store.dedupe, name, name=out, normalised=normalised)
    click.echo(f"{res['name']}: {_rows(res['rows'])} ({res['removed']:,} duplicates removed)")


@data.command("filter")
@click.argument("name")
@click.option("--name", "out", help="name of the new dataset (default NAME-filtered)")
@click.option("--min-chars", type=int, help="keep rows at least this long")
@click.option("--max-chars", type=int, help="keep rows at most this long")
@click.option("--field", type=click.Choice(["input", "output", "total"]), default="total",
              show_default=True, help="which length the bounds apply to")
@click.option("--drop-empty", is_flag=True, help="drop rows with an empty input, output or turn")
def data_filter(name, out, min_chars, max_chars, field, drop_empty) -> None:
    """Copy the rows of NAME that pass length bounds and/or have no empty field."""
    from ffui.data import store

    res = with_db(store.filter_dataset, name, name=out, min_chars=min_chars,
                  max_chars=max_chars, field=field, drop_empty=drop_empty)
    click.echo(f"{res['name']}: {_rows(res['rows'])} ({res['removed']:,} filtered out)")


@data.command("split")
@click.argument("name")
@click.option("--ratios", default="0.8,0.1,0.1", show_default=True,
              help="train,validation[,test] fractions (or weights)")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--prefix", help="names are PREFIX-train, PREFIX-validation, PREFIX-test "
                               "(default: NAME)")
def data_split(name, ratios, seed, prefix) -> None:
    """Split NAME into train/validation/test datasets."""
    from ffui.data import store

    res = with_db(store.split, name, ratios=ratios, seed=seed, prefix=prefix)
    click.echo(", ".join(f"{p['name']}: {_rows(p['rows'])}" for p in res["parts"])
               + f" (seed {seed})")


@data.command("sample")
@click.argument("name")
@click.option("-n", "n", type=int, help="number of rows")
@click.option("--fraction", type=float, help="fraction of the rows (0..1)")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--name", "out", help="name of the new dataset (default NAME-sample)")
def data_sample(name, n, fraction, seed, out) -> None:
    """Copy a random sample of NAME (rows stay in their order)."""
    from ffui.data import store

    if (n is None) == (fraction is None):
        raise UserError("give either -n ROWS or --fraction F")
    res = with_db(store.sample, name, name=out, n=n, fraction=fraction, seed=seed)
    click.echo(f"{res['name']}: {_rows(res['rows'])} sampled from {name} (seed {seed})")


@data.command("shuffle")
@click.argument("name")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--name", "out", help="name of the new dataset (default NAME-shuffled)")
def data_shuffle(name, seed, out) -> None:
    """Copy NAME with its rows in a random order."""
    from ffui.data import store

    res = with_db(store.shuffle, name, name=out, seed=seed)
    click.echo(f"{res['name']}: {_rows(res['rows'])} shuffled (seed {seed})")


@data.command("export")
@click.argument("name")
@click.argument("path")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "parquet", "hf"]), default="jsonl",
              show_default=True, help="hf: a folder datasets.load_from_disk opens")
@click.option("--as", "shape", type=click.Choice(["original", "chatml"]), default="original",
              show_default=True, help="rows in the dataset's own format or as chatml messages")
@click.option("--overwrite", is_flag=True, help="replace PATH if it exists")
def data_export(name, path, fmt, shape, overwrite) -> None:
    """Write dataset NAME to PATH."""
    from ffui.data import store

    res = with_db(store.export_dataset, name, path, fmt=fmt, shape=shape, overwrite=overwrite)
    click.echo(f"exported {_rows(res['rows'])} of {res['name']} to {res['path']} "
               f"({res['format']}, {res['shape']})")


@data.command("publish")
@click.argument("name")
@click.option("--to", "repo_id", required=True, metavar="ORG/NAME", help="the dataset repo to create on the hub")
@click.option("--private", is_flag=True, help="create the repo private")
@click.option("--update", is_flag=True, help="push a new version to a dataset repo of yours that exists already")
def data_publish(name, repo_id, private, update) -> None:
    """Publish dataset NAME to the Hugging Face Hub as parquet, with a README card."""
    from ffui.jobs.publishing import publish_dataset

    with_db(publish_dataset, name, repo_id, private=private, update=update, progress=click.echo)


@data.command("stats")
@click.argument("name")
@click.option("--tokenizer", help="tokenizer.json or a model folder, to count tokens")
@click.option("--against", multiple=True, help="another dataset to check for overlap (leakage)")
@click.option("--json", "as_json", is_flag=True)
def data_stats(name, tokenizer, against, as_json) -> None:
    """Row count, lengths, empty fields, duplicates, turns and split leakage of NAME."""
    from ffui.data import store
    from ffui.data.stats import format_stats

    st = with_db(store.stats, name, tokenizer=tokenizer, against=list(against))
    if as_json:
        click.echo(json.dumps(st, ensure_ascii=False, indent=2))
    else:
        click.echo(format_stats(st["name"], st))


def _rows(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")
