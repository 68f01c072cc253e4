"""The worker of a scrape job: ``python -m ffui.data.scrape_worker RUN_DIR``.

It speaks the worker protocol the supervisor tails (docs/events.md: ``events.jsonl``, its log
on stdout, exit codes; the run's worker lock first; ``control/stop`` and SIGTERM), and does
what ``RUN_DIR/config.json``'s ``scrape`` mapping says (written by ffui.jobs.kinds.scrape):
``source`` (4chan, reddit, stackexchange), ``args`` (the source's own), ``pairing``,
``filters``, ``dataset`` (the new dataset's name) and ``max_pairs``.

Two phases, so that no network wait ever holds the database:

1. fetch: every thread, post or question fetched is appended, raw, to ``RUN_DIR/raw.jsonl.gz``
   (one gzip member a line: a kill loses at most the line being written) and the source's
   cursor to ``checkpoints/checkpoint-N/cursor.json`` (N: items kept), which is what
   ``ffui runs resume`` continues from: the items kept are not fetched again.
2. fill: the kept raw items are paired (the sources' own ``pairs_from_raw``, dedupe across
   all of them) into the new dataset through the one fill path (ffui.data.fill).

A cancel stops the fetch at once, even in a rate-limit wait, and the fill still runs: the
dataset keeps what was fetched and the last log line says how much. A failure (no network, a
refused request, a quota) keeps the raw items and the cursor, for a resume.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Iterator

from ffui.events import CHECKPOINT, DONE, EXIT_OK, EXIT_USER, START, STEP, STOPPED
from ffui.train import worker_lock
from ffui.train.control import Control
from ffui.train.events import EventWriter

from .errors import DataError
from .formats import Layout

MODULE = "ffui.data.scrape_worker"
RAW_FILE = "raw.jsonl.gz"
SECRET_ENV = "FFUI_SOURCE_KEY"  # a source's API key reaches the worker here, never in argv or files
STEP_EVERY_S = 1.0


class StopScrape(Exception):
    """A stop was asked while the fetch waited: it ends the fetch, not the job."""


# -- the kept raw items -----------------------------------------------------------------------

def read_raw(run_dir: Path) -> list[dict]:
    """The raw items kept so far; a line torn by a kill at the end is left out."""
    path = run_dir / RAW_FILE
    items: list[dict] = []
    if not path.exists():
        return items
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                try:
                    items.append(json.loads(line))
                except ValueError:
                    break
    except (EOFError, OSError, zlib.error):
        pass  # the member a kill cut short
    return items


def append_raw(run_dir: Path, item: dict) -> None:
    line = (json.dumps(item, ensure_ascii=False) + "\n").encode()
    with open(run_dir / RAW_FILE, "ab") as f:
        f.write(gzip.compress(line))
        f.flush()
        os.fsync(f.fileno())


def item_key(source: str, item: dict) -> str:
    return f"{item['board']}/{item['no']}" if source == "4chan" else str(item["id"])


def item_name(source: str, item: dict) -> str:
    """An item as a log line names it: ``/g/ thread 1000``, ``post abc12``, ``question 11``."""
    if source == "4chan":
        return f"/{item['board']}/ thread {item['no']}"
    return f"{ {'reddit': 'post', 'synthetic': 'chunk'}.get(source, 'question')} {item['id']}"


def save_cursor(run_dir: Path, n_items: int, cursor: dict) -> Path:
    """The resume point, as a checkpoint ``ffui runs resume`` finds; older ones go."""
    folder = run_dir / "checkpoints"
    path = folder / f"checkpoint-{n_items}"
    path.mkdir(parents=True, exist_ok=True)
    (path / "cursor.json").write_text(json.dumps(cursor), encoding="utf-8")
    for old in folder.iterdir():
        if old != path:
            shutil.rmtree(old, ignore_errors=True)
    return path


def load_cursor(run_dir: Path) -> dict:
    folder = run_dir / "checkpoints"
    for path in sorted(folder.glob("checkpoint-*/cursor.json"), reverse=True) if folder.is_dir() else ():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
    return {}


# -- the sources ------------------------------------------------------------------------------

def pair_options(spec: dict):
    """The source's pairing options from the job's ``pairing`` and ``filters``."""
    from .sources.fourchan import PairOptions

    filters = spec.get("filters") or {}
    filters = dict(filters, banned=tuple(filters.get("banned") or ()))
    pairing = spec.get("pairing") or {}
    if spec["source"] == "4chan":
        return PairOptions(**pairing, **filters)
    if spec["source"] == "reddit":
        from .sources.reddit import RedditOptions

        return RedditOptions(**pairing, filters=PairOptions(**filters))
    if spec["source"] == "synthetic":
        from .sources.synthetic import SyntheticOptions

        return SyntheticOptions(**pairing, filters=PairOptions(**filters))
    from .sources.stackexchange import StackExchangeOptions

    return StackExchangeOptions(**pairing, filters=PairOptions(**filters))


def pairs_from_raw(source: str, items: list[dict], options) -> Iterator[dict]:
    from .sources import fourchan, reddit, stackexchange, synthetic

    module = {"4chan": fourchan, "reddit": reddit, "stackexchange": stackexchange,
              "synthetic": synthetic}[source]
    return module.pairs_from_raw(items, options)


def open_source(spec: dict, settings: dict, keys: set[str], cursor: dict, *, key: str | None = None,
                **kw: Any):
    """The job's source, going on from ``cursor`` and skipping the items in ``keys``; ``key``:
    the Stack Exchange API key, if any."""
    args, name = dict(spec.get("args") or {}), spec["source"]
    options = pair_options(spec)
    if name == "4chan":
        from .sources.fourchan import FourChanSource

        return FourChanSource.from_settings(args.pop("boards"), settings, options=options,
                                            skip_threads=keys, **args, **kw)
    if name == "reddit":
        from .sources.reddit import RedditSource

        return RedditSource.from_settings(args.pop("subreddit", None), settings, options=options,
                                          skip_posts=keys, after=cursor.get("after"), **args, **kw)
    if name == "synthetic":
        from .sources.synthetic import SyntheticSource

        return SyntheticSource(args.pop("paths"), options=options, skip_chunks=keys, key=key, **args, **kw)
    from .sources.stackexchange import StackExchangeSource

    return StackExchangeSource.from_settings(
        args.pop("site"), settings, options=options, key=key, page=cursor.get("page", 1),
        skip_questions={int(k) for k in keys}, **args, **kw)


# -- the dataset ------------------------------------------------------------------------------

async def fill_scraped(db, *, name: str, source: str, details: str | None, items: list[dict], options,
                       run_dir: Path, max_pairs: int | None = None) -> dict:
    """Raw ``items`` of ``source`` paired with ``options`` into the new dataset ``name``, through
    the one fill path; where the raw items are goes into its metadata (for a repair). A scrape
    that pairs nothing makes no dataset (an empty one helps nobody)."""
    from .datasets import check_new_name
    from .fill import fill_dataset

    name = await check_new_name(db, name)  # (a fill a kill cut short is cleared away here)
    records = pairs_from_raw(source, items, options)
    if max_pairs is not None:
        records = (r for _, r in zip(range(max_pairs), records))

    def nothing_found(n: int) -> None:
        if n == 0:
            raise DataError(source, None, f"no pairs were found in the {len(items)} items fetched",
                            "loosen --min-chars/--ban, or choose other sources")

    return await fill_dataset(
        db, name=name, layout=Layout.default("input-output"), source=source, source_details=details,
        meta={"scrape": {"run_dir": str(run_dir), "raw": RAW_FILE, "items": len(items),
                         "licence": "CC BY-SA" if source == "stackexchange" else None}},
        registry={"type": "scrape", "description": details}, records=records, report=nothing_found)


# -- the job ----------------------------------------------------------------------------------

class ScrapeWorker:
    def __init__(self, run_dir: Path, config: dict):
        self.run_dir = run_dir
        self.spec = config["scrape"]
        self.db_path, self.home = config["db"], config["home"]
        self.events = EventWriter(run_dir / "events.jsonl")
        self.control = Control(run_dir)
        self.items = read_raw(run_dir)
        self.cursor = load_cursor(run_dir)
        self.max_pairs = self.spec.get("max_pairs")
        self.source = None
        self._last_step = 0.0

    def log(self, text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def sleep(self, seconds: float) -> None:
        """The client's waits, cut short by a stop (which then ends the fetch)."""
        end = time.monotonic() + seconds
        while True:
            self.control.poll()
            if self.control.stop_requested:
                raise StopScrape
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.2))

    def keep(self, raw: dict) -> None:
        self.items.append(raw)
        append_raw(self.run_dir, raw)
        save_cursor(self.run_dir, len(self.items), self.cursor)
        self.log(f"fetched {item_name(self.spec['source'], raw)} ({len(self.items)} items, "
                 f"{self.requests()[0]} requests so far)")

    def on_cursor(self, field: str) -> Callable[[Any], None]:
        def remember(value: Any) -> None:
            self.cursor[field] = value
            save_cursor(self.run_dir, len(self.items), self.cursor)
        return remember

    def step(self, pairs: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_step < STEP_EVERY_S:
            return
        self._last_step = now
        requests, waited_s = self.requests()
        self.events.emit(STEP, step=pairs, total=self.max_pairs, pairs=pairs, items=len(self.items),
                         requests=requests, waited_s=round(waited_s, 1))

    def requests(self) -> tuple[int, float]:
        """Requests sent and seconds waited for rate limits, so far (the client's, or the
        source's own when it has no polite client: a local model endpoint)."""
        counter = getattr(self.source, "client", self.source)
        return (counter.requests, counter.waited_s) if counter is not None else (0, 0.0)

    def fetch(self, settings: dict) -> bool:
        """Phase 1; False when a stop ended it."""
        name = self.spec["source"]
        options = pair_options(self.spec)
        have = sum(1 for _ in pairs_from_raw(name, self.items, options))
        if self.items:
            self.log(f"resuming: {len(self.items)} items kept ({have} pairs), fetching on")
        wanted = None if self.max_pairs is None else self.max_pairs - have
        if wanted is not None and wanted <= 0:
            return True
        save_cursor(self.run_dir, len(self.items), self.cursor)  # resumable even before its first item
        field = {"reddit": "after", "stackexchange": "page"}.get(name, "boards_done")
        keys = {item_key(name, i) for i in self.items}
        self.source = open_source(self.spec, settings, keys, self.cursor, max_pairs=wanted,
                                  key=os.environ.pop(SECRET_ENV, None),
                                  on_thread=self.keep, sleep=self.sleep,
                                  **({"on_cursor": self.on_cursor(field)} if name != "4chan" else {}))
        try:
            with self.source:
                for _ in self.source.rows():
                    self.step(have + self.source.done)
                    self.control.poll()
                    if self.control.stop_requested:
                        return False
        except StopScrape:
            return False
        finally:
            self.step(have + self.source.done, force=True)
        return True

    async def fill(self) -> dict:
        """Phase 2: the kept items, paired, into the new dataset."""
        from ffui.db import connect

        async with connect(Path(self.db_path), Path(self.home)) as db:
            return await fill_scraped(db, name=self.spec["dataset"], source=self.spec["source"],
                                      details=self.spec.get("details"), items=self.items,
                                      options=pair_options(self.spec), run_dir=self.run_dir,
                                      max_pairs=self.max_pairs)

    async def name_free(self) -> None:
        from ffui.db import connect

        from .datasets import check_new_name

        async with connect(Path(self.db_path), Path(self.home)) as db:
            await check_new_name(db, self.spec["dataset"])

    def run(self, settings: dict) -> int:
        self.events.emit(START, backend="scrape", device="cpu", total_steps=self.max_pairs,
                         resumed_from_step=len(self.items) or None, config={}, data={})
        try:
            if self.items:  # a resume: its dataset's name must still be free, before fetching more
                asyncio.run(self.name_free())
            stopped = not self.fetch(settings)
            filled = asyncio.run(self.fill())
        except DataError as e:
            return self.fail(e)
        summary = (f"dataset {self.spec['dataset']!r}: {filled['rows']} pairs from {len(self.items)} "
                   f"items, {self.requests()[0]} requests")
        if getattr(self.source, "note", ""):  # (synthetic: invalid answers, pairs the judge dropped)
            summary += f"; {self.source.note}"
        if stopped:
            self.log(f"cancelled: kept what was fetched; {summary}")
            self.control.stop_handled()
            self.events.emit(STOPPED, step=filled["rows"], dataset_id=filled["id"], pairs=filled["rows"])
        else:
            self.log(f"done: {summary}")
            self.events.emit(DONE, dataset_id=filled["id"], dataset=self.spec["dataset"],
                             metrics={"pairs": filled["rows"], "items": len(self.items)})
        return EXIT_OK

    def fail(self, error: DataError) -> int:
        path = save_cursor(self.run_dir, len(self.items), self.cursor)
        self.events.emit(CHECKPOINT, step=len(self.items), path=str(path))
        self.log(f"error: {error}")
        kept = f"{len(self.items)} fetched items are kept: resume the job to go on"
        self.events.error(str(error), kept, kind="user", exit_code=EXIT_USER)
        return EXIT_USER


def stored_settings(db_path: str, home: str) -> dict:
    """The settings a source reads (unmasked: proxy passwords work), in this process only."""
    from ffui.db import connect, list_settings

    async def read() -> dict:
        async with connect(Path(db_path), Path(home)) as db:
            return {s["key"]: s["value"] for s in await list_settings(db, mask_secrets=False)}

    return asyncio.run(read())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    run_dir = Path(args[0]).resolve()
    if worker_lock.hold(run_dir) is None:
        print(f"error: another worker already runs in {run_dir}; this one did nothing", flush=True)
        return worker_lock.EXIT_LOCKED
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    worker = ScrapeWorker(run_dir, config)
    worker.control.install_signal_handlers()
    try:
        return worker.run(stored_settings(config["db"], config["home"]))
    finally:
        worker.events.close()


if __name__ == "__main__":
    sys.exit(main())
