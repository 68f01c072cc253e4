"""4chan threads as input/output pairs: :class:`FourChanSource`.

Reads 4chan's read-only JSON API (``{api}/{board}/catalog.json``, then
``{api}/{board}/thread/{no}.json``) through :class:`~ffui.data.sources.http.PoliteClient`: at most
one request a second, a thread not fetched again within 10 s, ``If-Modified-Since`` sent back.

Each fetched thread is first made *raw*: its posts with number, time, subject, HTML and a stable
poster hash, and no name, tripcode or poster id (those are not stored). Raw threads go to
``on_thread`` so they can be kept; :func:`thread_pairs` turns one into pairs without a request,
so a later repair can pair them again another way. The pairing modes are pure functions:

- ``adjacent``: each post answers the one before it;
- ``contextual``: the last ``context_k`` posts (0: all earlier ones) are the input;
- ``quote-chain``: a post answers the post its first ``>>123`` link names; up to ``context_k``
  such steps back make the input; consecutive posts of one poster are merged first.

Records are ``{"input", "output", "source_url", "metadata"}``, the columns of ``scraped_pairs``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Callable, Iterable, Iterator, Mapping

from ..errors import DataError
from .base import Located, Location, RowSource
from .http import NOT_MODIFIED, HttpStatusError, PoliteClient, client_settings

DEFAULT_API_URL = "https://a.4cdn.org"
BOARDS_URL = "https://boards.4chan.org"
MODES = ("adjacent", "contextual", "quote-chain")
MIN_INTERVAL_S = 1.0  # 4chan's API rules: at most one request a second
THREAD_REFRESH_S = 10.0  # ... and a thread no more often than every 10 seconds
QUOTE_LINK = re.compile(r">>(\d+)")
BOARD_NAME = re.compile(r"^[a-z0-9]{1,10}$")


# -- post HTML to text ------------------------------------------------------------------------

class _PostText(HTMLParser):
    """4chan's ``com`` markup to text: ``<br>`` a line break, greentext and quote links as their
    text (``>quote``, ``>>123``), ``<pre>`` code kept verbatim in a fenced block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.in_code = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "pre":
            self.in_code += 1
            self._fence()

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self.in_code:
            self.in_code -= 1
            self._fence()
        elif tag == "p":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def _fence(self) -> None:
        """A ``` line of its own (a ``<br>`` before ``<pre>`` gives no extra blank line)."""
        if self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")
        self.parts.append("```\n")


def post_text(html: str | None) -> str:
    """The text of a post's ``com`` HTML, with its paragraphs, line breaks, quotes and code."""
    if not html:
        return ""
    parser = _PostText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    lines = [line.rstrip() for line in text.split("\n")]
    text = "\n".join(lines).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text)


def quote_refs(text: str) -> list[int]:
    """The post numbers a post's text links to with ``>>123``, in order."""
    return [int(n) for n in QUOTE_LINK.findall(text)]


def without_quote_links(text: str) -> str:
    """A post's text for a pair: the ``>>123`` links (meaningless outside the thread) removed."""
    text = re.sub(r"(?m)^>>\d+\s*$\n?", "", text)
    text = QUOTE_LINK.sub("", text)
    return text.strip()


# -- raw threads ------------------------------------------------------------------------------

def poster_hash(board: str, thread: int, post: dict) -> str | None:
    """A stable stand-in for who wrote ``post`` within its thread (poster id, else tripcode);
    None for an anonymous post, which cannot be told apart from the others."""
    who = post.get("id") or post.get("trip")
    if not who:
        return None
    return hashlib.sha256(f"{board}/{thread}/{who}".encode()).hexdigest()[:12]


def raw_thread(board: str, thread: dict) -> dict:
    """What is kept of a fetched thread: its posts without names, tripcodes or poster ids."""
    posts = thread.get("posts") or []
    no = int(posts[0]["no"]) if posts else 0
    kept = []
    for p in posts:
        kept.append({"no": int(p["no"]), "resto": int(p.get("resto") or 0),
                     "time": p.get("time"), "sub": p.get("sub"), "com": p.get("com") or "",
                     "poster": poster_hash(board, no, p)})
    return {"board": board, "no": no, "posts": kept}


# -- pairing ----------------------------------------------------------------------------------

@dataclass
class Post:
    nos: list[int]
    text: str  # with its >>links
    poster: str | None

    @property
    def no(self) -> int:
        return self.nos[0]


@dataclass(frozen=True)
class PairOptions:
    """How threads become pairs, and which pairs are kept."""

    mode: str = "adjacent"
    context_k: int = 6  # contextual: posts of input (0: all); quote-chain: steps back
    min_chars: int = 1
    max_chars: int | None = None
    banned: tuple[str, ...] = ()  # regular expressions; a pair matching one is dropped
    dedupe: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise DataError(None, None, f"unknown pairing mode {self.mode!r}",
                            f"use one of {', '.join(MODES)}")
        if self.context_k < 0:
            raise DataError(None, None, f"the context size must be 0 or more, got {self.context_k}")
        for pattern in self.banned:
            try:
                re.compile(pattern)
            except re.error as e:
                raise DataError(None, None, f"the banned pattern {pattern!r} is not a valid "
                                f"regular expression: {e}") from None

    @property
    def details(self) -> str:
        return f"mode={self.mode}" + (f" k={self.context_k}" if self.mode != "adjacent" else "")


def thread_posts(raw: dict) -> list[Post]:
    """A raw thread's posts as text (the OP's subject heads its text); posts without text left out."""
    posts = []
    for p in raw["posts"]:
        text = post_text(p.get("com"))
        if p.get("sub"):
            text = (post_text(p["sub"]) + "\n\n" + text).strip()
        if text:
            posts.append(Post([p["no"]], text, p.get("poster")))
    return posts


def adjacent_pairs(posts: list[Post]) -> Iterator[tuple[list[Post], Post]]:
    """Each post answers the previous one."""
    for before, post in zip(posts, posts[1:]):
        yield [before], post


def contextual_pairs(posts: list[Post], k: int) -> Iterator[tuple[list[Post], Post]]:
    """Each post answers the ``k`` posts before it (0: all of them)."""
    for i in range(1, len(posts)):
        yield posts[max(0, i - k) if k else 0:i], posts[i]


def merge_poster_runs(posts: list[Post]) -> list[Post]:
    """Consecutive posts of one known poster as one post (its numbers kept)."""
    merged: list[Post] = []
    for post in posts:
        last = merged[-1] if merged else None
        if last is not None and post.poster is not None and post.poster == last.poster:
            merged[-1] = Post(last.nos + post.nos, last.text + "\n\n" + post.text, last.poster)
        else:
            merged.append(Post(list(post.nos), post.text, post.poster))
    return merged


def quote_chain_pairs(posts: list[Post], k: int) -> Iterator[tuple[list[Post], Post]]:
    """Each post that quotes an earlier one answers it; the input follows the first quote link
    of each post back, up to ``k`` steps (0: to the start of the chain)."""
    posts = merge_poster_runs(posts)
    by_no = {no: post for post in posts for no in post.nos}

    def answered(post: Post) -> Post | None:
        for ref in quote_refs(post.text):
            target = by_no.get(ref)
            if target is not None and target.no < post.no:
                return target
        return None

    for post in posts:
        chain: list[Post] = []
        step = answered(post)
        while step is not None and step not in chain and (not k or len(chain) < k):
            chain.append(step)
            step = answered(step)
        if chain:
            yield chain[::-1], post


def post_url(board: str, thread: int, post: int) -> str:
    return f"{BOARDS_URL}/{board}/thread/{thread}#p{post}"


def thread_pairs(raw: dict, options: PairOptions) -> Iterator[dict]:
    """The pair records of one raw thread (unfiltered), in thread order."""
    posts = thread_posts(raw)
    if options.mode == "adjacent":
        pairs = adjacent_pairs(posts)
    elif options.mode == "contextual":
        pairs = contextual_pairs(posts, options.context_k)
    else:
        pairs = quote_chain_pairs(posts, options.context_k)
    board, thread = raw["board"], raw["no"]
    for context, answer in pairs:
        url = post_url(board, thread, answer.no)
        yield {"input": "\n\n".join(without_quote_links(p.text) for p in context),
               "output": without_quote_links(answer.text), "source_url": url,
               "metadata": {"source": "4chan", "board": board, "thread": thread,
                            "posts": [no for p in context for no in p.nos] + answer.nos,
                            "mode": options.mode, "source_url": url}}


@dataclass
class PairFilter:
    """The common filters: length, banned patterns, duplicates (kept across threads)."""

    options: PairOptions
    seen: set[bytes] = field(default_factory=set)
    dropped: int = 0

    def __post_init__(self) -> None:
        self._banned = [re.compile(p) for p in self.options.banned]

    def keep(self, pair: dict) -> bool:
        o = self.options
        texts = (pair["input"], pair["output"])
        ok = (all(len(t.strip()) >= max(o.min_chars, 1) for t in texts)
              and (o.max_chars is None or all(len(t) <= o.max_chars for t in texts))
              and not any(b.search(t) for b in self._banned for t in texts))
        if ok and o.dedupe:
            key = hashlib.sha256("\0".join(" ".join(t.split()) for t in texts).encode()).digest()
            ok = key not in self.seen
            self.seen.add(key)
        self.dropped += not ok
        return ok


def pairs_from_raw(threads: Iterable[dict], options: PairOptions) -> Iterator[dict]:
    """Kept raw threads paired again (``repair``): no request is made."""
    keep = PairFilter(options)
    for raw in threads:
        yield from (pair for pair in thread_pairs(raw, options) if keep.keep(pair))


# -- the source -------------------------------------------------------------------------------

class FourChanSource(RowSource):
    """Pairs from the threads of 4chan ``boards`` (names like ``"g"``), fetched now.

    ``client``: the PoliteClient to use (default: one made with ``client_args``, e.g. the
    contact and proxies of :func:`~ffui.data.sources.http.client_settings`); ``api_url``: the
    setting ``sources.4chan.api_url``; ``max_pairs``: stop after so many; ``max_threads``: per
    board; ``on_thread(raw)``: called with each raw thread as it is fetched, to keep it;
    ``skip_threads``: ``"board/no"`` of threads already fetched, not fetched again.
    """

    kind = "4chan"

    def __init__(self, boards: Iterable[str], *, options: PairOptions | None = None,
                 api_url: str = DEFAULT_API_URL, client: PoliteClient | None = None,
                 max_pairs: int | None = None, max_threads: int | None = None,
                 on_thread: Callable[[dict], None] | None = None,
                 skip_threads: Iterable[str] = (), **client_args: Any):
        self.boards = [b.strip().strip("/").lower() for b in boards if b.strip().strip("/")]
        bad = [b for b in self.boards if not BOARD_NAME.match(b)]
        if not self.boards or bad:
            problem = f"{bad[0]!r} is not a board name" if bad else "no board was given"
            raise DataError("4chan", None, problem, "name boards like g,sci")
        super().__init__("4chan " + ",".join(f"/{b}/" for b in self.boards), total=max_pairs)
        self.options = options or PairOptions()
        self.api_url = api_url.rstrip("/")
        self.client = client or PoliteClient("4chan", min_interval_s=MIN_INTERVAL_S, **client_args)
        self._own_client = client is None
        self.max_pairs = max_pairs
        self.max_threads = max_threads
        self.on_thread = on_thread
        self.skip_threads = set(skip_threads)  # "board/no" already fetched (a resumed scrape)
        self.threads_fetched = 0
        self.threads_gone = 0  # pruned between the catalog and their fetch
        self._fetched_at: dict[tuple[str, int], float] = {}
        self.filter = PairFilter(self.options)

    @classmethod
    def from_settings(cls, boards: Iterable[str], settings: Mapping[str, str | None],
                      **kw: Any) -> FourChanSource:
        """The source as the stored settings configure it: ``sources.4chan.api_url``,
        ``sources.contact`` and ``proxy.*`` (``settings``: key -> value, secrets unmasked)."""
        api_url = settings.get("sources.4chan.api_url") or DEFAULT_API_URL
        return cls(boards, api_url=api_url, **client_settings(settings), **kw)

    @property
    def source_details(self) -> str:
        return f"boards={','.join(self.boards)} {self.options.details}"

    def where(self, loc: Location) -> str:
        thread, post = loc if isinstance(loc, tuple) else (loc, loc)
        return f"thread {thread}, post {post}"

    def _rows(self) -> Iterator[Located]:
        for board in self.boards:
            for raw in self._threads(board):
                for pair in thread_pairs(raw, self.options):
                    if not self.filter.keep(pair):
                        continue
                    self.done += 1
                    yield (raw["no"], pair["metadata"]["posts"][-1]), pair
                    if self.max_pairs is not None and self.done >= self.max_pairs:
                        return

    def close(self) -> None:
        """Stop reading; the connections of a client made here are closed too."""
        super().close()
        if self._own_client:
            self.client.close()

    def _threads(self, board: str) -> Iterator[dict]:
        """The raw threads of ``board``, in catalog order."""
        numbers = self._catalog(board)
        for no in numbers[: self.max_threads] if self.max_threads else numbers:
            if f"{board}/{no}" in self.skip_threads:
                continue
            raw = self._thread(board, no)
            if raw is not None:
                yield raw

    def _catalog(self, board: str) -> list[int]:
        url = f"{self.api_url}/{board}/catalog.json"
        try:
            pages = self.client.get_json(url, conditional=False, what=f"/{board}/ catalog")
        except HttpStatusError as e:
            if e.status == 404:
                raise DataError("4chan", None, f"there is no board /{board}/",
                                "check the name (4chan boards are short: g, sci, ...)") from None
            raise
        try:
            return [int(t["no"]) for page in pages for t in page["threads"]]
        except (TypeError, KeyError, ValueError):
            raise DataError("4chan", f"/{board}/ catalog", "is not in the shape of 4chan's "
                            "catalog (a list of pages with threads)",
                            "is sources.4chan.api_url right?") from None

    def _thread(self, board: str, no: int) -> dict | None:
        """One thread, raw; None when it is gone, unchanged, or was fetched less than 10 s ago."""
        now = self.client.clock()
        last = self._fetched_at.get((board, no))
        if last is not None and now - last < THREAD_REFRESH_S:
            return None
        self._fetched_at[(board, no)] = now
        try:
            thread = self.client.get_json(f"{self.api_url}/{board}/thread/{no}.json",
                                          what=f"/{board}/ thread {no}")
        except HttpStatusError as e:
            if e.status == 404:  # pruned or archived since the catalog was read
                self.threads_gone += 1
                return None
            raise
        if thread is NOT_MODIFIED:
            return None
        try:
            raw = raw_thread(board, thread)
        except (AttributeError, TypeError, KeyError, ValueError):
            raise DataError("4chan", f"/{board}/ thread {no}", "is not in the shape of a 4chan "
                            "thread (an object with posts)", "is sources.4chan.api_url right?") from None
        self.threads_fetched += 1
        if self.on_thread is not None:
            self.on_thread(raw)
        return raw
