"""ffui scrape 4chan|reddit|stackexchange: a new dataset from a forum, as a detached job.

Each command checks its options (one line per problem), queues a scrape job (a run of kind
``scrape``: ``ffui runs list/show/logs/cancel/resume`` work on it) and says how to follow it;
``--wait`` shows its progress until it ends, with the exit status of ``train --wait``.
"""

from __future__ import annotations

import functools

import click

from ffui.cli import ffui_command, get_paths, with_db


def filter_options(fn):
    """The filters every source shares, given to ``fn`` as ``filters``."""
    @click.option("--min-chars", type=click.IntRange(min=1), default=1, show_default=True,
                  help="drop a pair with a side shorter than this")
    @click.option("--max-chars", type=click.IntRange(min=1), help="drop a pair with a side longer than this")
    @click.option("--ban", "banned", multiple=True, metavar="REGEX", help="drop pairs matching it; repeatable")
    @click.option("--keep-duplicates", is_flag=True, help="keep pairs whose text repeats")
    @functools.wraps(fn)
    def wrapped(*args, min_chars, max_chars, banned, keep_duplicates, **kw):
        filters = {"min_chars": min_chars, "max_chars": max_chars, "banned": list(banned),
                   "dedupe": not keep_duplicates}
        return fn(*args, filters=filters, **kw)
    return wrapped


def common_options(fn):
    """What every scrape takes: the dataset, how many pairs, the filters, --wait."""
    @click.option("--dataset", "--name", "dataset", help="the new dataset's name (default: from the source)")
    @click.option("--max-pairs", type=click.IntRange(min=1), help="stop after so many pairs")
    @click.option("--wait", "-w", is_flag=True, help="show progress until the job ends; exit status tells the outcome")
    @filter_options
    @functools.wraps(fn)
    def wrapped(*args, dataset, max_pairs, wait, filters, **kw):
        job = fn(*args, **kw)
        start(job, filters=filters, dataset=dataset, max_pairs=max_pairs, wait=wait)
    return wrapped


def start(job: dict, *, filters: dict, dataset: str | None, max_pairs: int | None, wait: bool) -> None:
    from ffui.jobs.kinds.scrape import create_scrape
    from ffui.jobs.manager import get_run, schedule

    async def go(db):
        created = await create_scrape(db, job["source"], job["args"], pairing=job.get("pairing"),
                                      filters=filters, dataset=dataset, max_pairs=max_pairs,
                                      use_key=job.get("use_key", False))
        await schedule(db)
        return await get_run(db, created["id"])

    r = with_db(go)
    name = r["metadata"]["dataset"]
    state = "started" if r["status"] == "running" else f"queued ({r['status']})"
    click.echo(f"scrape {r['id']} into dataset {name!r} {state}")
    if not wait:
        ffui = ffui_command(get_paths())
        click.echo(f"  follow it: {ffui} runs logs {r['id']} --follow")
        click.echo(f"  stop it:   {ffui} runs cancel {r['id']} (keeps what was fetched)")
        return
    from ffui.cli.runs import wait_for_run

    code = wait_for_run(r["id"])
    ended = with_db(get_run, r["id"])
    final = (ended.get("metrics") or {}).get("final") or {}
    if final.get("pairs") is not None:
        click.echo(f"  dataset {name!r}: {final['pairs']} pairs (ffui data show {name})")
    raise SystemExit(code)


@click.group()
def scrape() -> None:
    """Make a dataset from a forum (4chan, Reddit, Stack Exchange), as a job."""


@scrape.command("4chan")
@click.option("--boards", required=True, help="boards, comma-separated: g,sci")
@click.option("--mode", type=click.Choice(["adjacent", "contextual", "quote-chain"]), default="adjacent",
              show_default=True, help="how posts pair up")
@click.option("--context-k", type=click.IntRange(min=0), default=6, show_default=True,
              help="contextual: posts of input (0: all); quote-chain: steps back")
@click.option("--max-threads", type=click.IntRange(min=1), help="threads a board")
@common_options
def scrape_4chan(boards, mode, context_k, max_threads) -> dict:
    """Pairs from the threads of 4chan boards."""
    args = {"boards": [b for b in boards.split(",") if b.strip()],
            **({"max_threads": max_threads} if max_threads else {})}
    return {"source": "4chan", "args": args, "pairing": {"mode": mode, "context_k": context_k}}


@scrape.command("reddit")
@click.option("--subreddit", help="a subreddit's name: LocalLLaMA")
@click.option("--post", help="one post's URL instead")
@click.option("--sort", type=click.Choice(["hot", "new", "top", "rising", "controversial"]), default="hot",
              show_default=True)
@click.option("--time", "time_", type=click.Choice(["hour", "day", "week", "month", "year", "all"]),
              help="top/controversial: of which period")
@click.option("--mode", type=click.Choice(["parent-child", "contextual"]), default="parent-child",
              show_default=True, help="a reply answers its parent, or its ancestors")
@click.option("--context-k", type=click.IntRange(min=0), default=3, show_default=True,
              help="contextual: ancestors of input (0: all)")
@click.option("--max-posts", type=click.IntRange(min=1), help="posts to read")
@common_options
def scrape_reddit(subreddit, post, sort, time_, mode, context_k, max_posts) -> dict:
    """Pairs from the comment trees of a subreddit's posts, or of one post."""
    args = {"subreddit": subreddit, "post": post, "sort": sort, "time": time_,
            **({"max_posts": max_posts} if max_posts else {})}
    return {"source": "reddit", "args": args, "pairing": {"mode": mode, "context_k": context_k}}


@scrape.command("stackexchange")
@click.option("--site", required=True, help="the API's site name: stackoverflow, superuser, math")
@click.option("--tagged", help="tags the questions must have, comma-separated")
@click.option("--min-score", type=int, default=1, show_default=True,
              help="without an accepted answer, the top answer must score this")
@click.option("--max-questions", type=click.IntRange(min=1), help="questions to read")
@click.option("--key-from-settings", is_flag=True, help="use the stored sources.stackexchange.key (10,000 requests a day)")
@common_options
def scrape_stackexchange(site, tagged, min_score, max_questions, key_from_settings) -> dict:
    """Pairs of questions and their accepted (or best) answers, with attribution (CC BY-SA)."""
    args = {"site": site, "tagged": [t for t in (tagged or "").split(",") if t.strip()],
            **({"max_questions": max_questions} if max_questions else {})}
    return {"source": "stackexchange", "args": args, "pairing": {"min_score": min_score},
            "use_key": key_from_settings}



@scrape.command("repair")
@click.argument("dataset")
@click.option("--mode", type=click.Choice(["adjacent", "contextual", "quote-chain", "parent-child"]),
              help="the new pairing (4chan: adjacent, contextual, quote-chain; reddit: parent-child, contextual)")
@click.option("--context-k", type=click.IntRange(min=0), help="contextual: posts or ancestors of input")
@click.option("--min-score", type=int, help="Stack Exchange: the score a non-accepted answer needs")
@click.option("--judge-threshold", type=click.IntRange(min=1, max=10),
              help="synthetic: keep the pairs the judge scored this or more")
@click.option("--name", "name", help="the new dataset's name (default: DATASET-MODE)")
@filter_options
def scrape_repair(dataset, mode, context_k, min_score, judge_threshold, name, filters) -> None:
    """Pair a scraped DATASET again into a new dataset, from what it fetched: no request is made."""
    from ffui.data.scrape_repair import repair

    made = with_db(repair, dataset, mode=mode, context_k=context_k, min_score=min_score,
                   filters=filters, name=name, judge_threshold=judge_threshold)
    click.echo(f"dataset {made['name']!r}: {made['rows']} pairs from the {made['items']} items "
               f"{dataset!r} was made from (nothing fetched)")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--endpoint", required=True, help="an OpenAI-compatible API: http://127.0.0.1:11434/v1 (Ollama)")
@click.option("--model", required=True, help="a model the endpoint has")
@click.option("--type", "type_", type=click.Choice(["qa", "cot", "summary"]), default="qa", show_default=True,
              help="questions and answers, chain-of-thought answers, or summaries")
@click.option("--pairs-per-chunk", type=click.IntRange(min=1, max=50), default=3, show_default=True)
@click.option("--concurrency", type=click.IntRange(min=1, max=64), default=4, show_default=True,
              help="requests in flight at once")
@click.option("--chunk-words", type=click.IntRange(min=20), default=400, show_default=True)
@click.option("--judge-threshold", type=click.IntRange(min=1, max=10),
              help="score each pair 1-10 by a second request; drop those below")
@click.option("--key-from-settings", is_flag=True, help="send the stored sources.synthetic.api_key")
@common_options
def synth(paths, endpoint, model, type_, pairs_per_chunk, concurrency, chunk_words, judge_threshold,
          key_from_settings) -> dict:
    """Pairs written by a model from documents (.md, .txt, .html, .pdf, .docx files or folders), as a job."""
    from ffui.data.sources.synthetic import context_warning
    from ffui.jobs.kinds.scrape import synth_job

    warning = context_warning(endpoint, chunk_words)
    if warning:
        click.echo(warning, err=True)
    return synth_job(list(paths), endpoint, model, type=type_, pairs_per_chunk=pairs_per_chunk,
                     judge_threshold=judge_threshold, use_key=key_from_settings, concurrency=concurrency,
                     chunk_words=chunk_words)
