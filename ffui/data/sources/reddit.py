"""Reddit comment trees as input/output pairs: :class:`RedditSource`.

Reads Reddit's public JSON (the page URL with ``.json``) through
:class:`~ffui.data.sources.http.PoliteClient`:

- a subreddit's listing ``{api}/r/{name}/{sort}.json?limit=100&raw_json=1`` (``t=`` for top and
  controversial), paged with ``after`` until it is null; or one post (``--post URL``);
- each post's comments ``{api}/comments/{id}.json?raw_json=1``, then the collapsed ones ("load
  more comments") from ``{api}/api/morechildren.json`` (at most 100 ids a request);
- ``raw_json=1`` everywhere, so text comes unescaped (no ``&amp;``): comment bodies are kept as
  the Markdown they were written in, line breaks and code blocks with them.

Without OAuth Reddit allows about 10 requests a minute, so requests go ``min_interval_s`` (6 s)
apart, and the ``X-Ratelimit-Remaining``/``X-Ratelimit-Reset`` headers of each answer spread
what is left of the window over what is left of its time (none left: nothing until the reset).
Deleted and removed comments (``[deleted]``, ``[removed]``) and bots (AutoModerator, names
ending in ``Bot``/``_bot``/``-bot``) make no pair. Authors are not kept.

Each fetched post becomes *raw* (post text and its comments: id, parent, body, score, and
whether it is gone or a bot) for ``on_thread``; :func:`post_pairs` pairs raw posts again
without a request. Modes: ``parent-child`` (a comment answers its parent, the post for a
top-level one) and ``contextual`` (up to ``context_k`` ancestors, the post first, are the input).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import urlencode, urlsplit

from ..errors import DataError
from .base import Located, Location, RowSource
from .fourchan import PairFilter, PairOptions
from .http import HttpStatusError, PoliteClient, client_settings

DEFAULT_API_URL = "https://www.reddit.com"
SITE_URL = "https://www.reddit.com"
MODES = ("parent-child", "contextual")
SORTS = ("hot", "new", "top", "rising", "controversial")
TIMES = ("hour", "day", "week", "month", "year", "all")
MIN_INTERVAL_S = 6.0  # about 10 requests a minute: Reddit's allowance without OAuth
MORE_IDS_PER_REQUEST = 100  # /api/morechildren takes at most 100 ids at once
GONE_BODIES = ("[deleted]", "[removed]")
BOTS = frozenset({"automoderator"})
BOT_NAME = re.compile(r"(Bot|[-_][bB][oO][tT])$")
SUBREDDIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}$")
POST_URL = re.compile(r"/comments/([a-z0-9]{1,12})(?:/|$)")


def is_bot(author: str | None) -> bool:
    return bool(author) and (author.lower() in BOTS or bool(BOT_NAME.search(author)))


def post_id_from_url(url: str) -> str:
    """The id of the post a Reddit URL names (``.../comments/abc123/title/``, ``redd.it/abc123``)."""
    parts = urlsplit(url.strip())
    found = POST_URL.search(parts.path)
    if found:
        return found.group(1)
    if parts.netloc.endswith("redd.it") and re.fullmatch(r"/[a-z0-9]{1,12}/?", parts.path):
        return parts.path.strip("/")
    raise DataError("reddit", None, f"{url[:80]!r} is not the URL of a Reddit post",
                    "give one like https://www.reddit.com/r/python/comments/abc123/title/")


# -- raw posts --------------------------------------------------------------------------------

def raw_comment(data: dict) -> dict:
    """What is kept of one comment (``t1``): no author, only whether it is a bot or gone."""
    body = data.get("body") or ""
    return {"id": data["id"], "parent": data.get("parent_id") or "", "body": body,
            "score": data.get("score"), "gone": body.strip() in GONE_BODIES
            or data.get("author") in GONE_BODIES, "bot": is_bot(data.get("author"))}


def raw_post(data: dict) -> dict:
    """What is kept of a post (``t3``): its text and where it is; comments are added to it."""
    text = (data.get("title") or "").strip()
    if (data.get("selftext") or "").strip() not in ("", *GONE_BODIES):
        text += "\n\n" + data["selftext"].strip()
    return {"id": data["id"], "subreddit": data.get("subreddit"), "text": text,
            "permalink": data.get("permalink") or f"/comments/{data['id']}/",
            "score": data.get("score"), "comments": []}


def walk_comments(children: Iterable[dict], comments: list[dict], more: list[dict]) -> None:
    """A listing's comment tree, flattened into ``comments`` (tree order); its "more" stubs
    into ``more``."""
    for child in children:
        data = child.get("data") or {}
        if child.get("kind") == "more":
            more.append(data)
        elif child.get("kind") == "t1":
            comments.append(raw_comment(data))
            replies = data.get("replies")
            if isinstance(replies, dict):
                walk_comments(replies.get("data", {}).get("children") or [], comments, more)


# -- pairing ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RedditOptions:
    """How a comment tree becomes pairs; ``filters`` holds the common filters (length, banned
    patterns, dedupe), the 4chan source's."""

    mode: str = "parent-child"
    context_k: int = 3  # contextual: ancestors in the input, the post counted (0: all)
    filters: PairOptions = PairOptions()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise DataError(None, None, f"unknown pairing mode {self.mode!r} for reddit",
                            f"use one of {', '.join(MODES)}")
        if self.context_k < 0:
            raise DataError(None, None, f"the context size must be 0 or more, got {self.context_k}")

    @property
    def details(self) -> str:
        return f"mode={self.mode}" + (f" k={self.context_k}" if self.mode == "contextual" else "")


def post_pairs(raw: dict, options: RedditOptions) -> Iterator[dict]:
    """The pair records of one raw post (unfiltered), in tree order."""
    post_key = "t3_" + raw["id"]
    texts: dict[str, str | None] = {post_key: raw["text"] or None}
    parents: dict[str, str] = {}
    for c in raw["comments"]:
        usable = not c["gone"] and not c["bot"] and c["body"].strip()
        texts["t1_" + c["id"]] = c["body"].strip() if usable else None
        parents["t1_" + c["id"]] = c["parent"]
    for c in raw["comments"]:
        key = "t1_" + c["id"]
        if texts[key] is None:
            continue
        chain = ancestors(key, parents, texts, 1 if options.mode == "parent-child" else options.context_k)
        if not chain:
            continue
        url = f"{SITE_URL}{raw['permalink'].rstrip('/')}/{c['id']}/"
        yield {"input": "\n\n".join(texts[k] for k in chain), "output": texts[key], "source_url": url,
               "metadata": {"source": "reddit", "subreddit": raw.get("subreddit"), "post": raw["id"],
                            "comments": [k[3:] for k in chain if k.startswith("t1_")] + [c["id"]],
                            "score": c.get("score"), "mode": options.mode, "source_url": url}}


def ancestors(key: str, parents: dict[str, str], texts: dict[str, str | None], k: int) -> list[str]:
    """Up to ``k`` ancestors of ``key`` (0: all), the oldest first; the chain ends at one whose
    text is gone (its input is unknown, so a reply to a deleted comment makes no pair)."""
    chain: list[str] = []
    parent = parents.get(key)
    while parent in texts and (not k or len(chain) < k):
        if texts[parent] is None:
            break
        chain.append(parent)
        parent = parents.get(parent)
    return chain[::-1]


def pairs_from_raw(posts: Iterable[dict], options: RedditOptions) -> Iterator[dict]:
    """Kept raw posts paired again (``repair``): no request is made."""
    keep = PairFilter(options.filters)
    for raw in posts:
        yield from (pair for pair in post_pairs(raw, options) if keep.keep(pair))


# -- the source -------------------------------------------------------------------------------

class RedditSource(RowSource):
    """Pairs from the comments of a subreddit's posts (``subreddit``) or of one ``post`` (URL).

    ``sort``/``time``: the listing (top of the week: ``"top"``, ``"week"``); ``max_posts``: how
    many posts; ``skip_posts``: ids already fetched (a resumed scrape), ``after``: the listing
    cursor to go on from; ``on_thread(raw)`` gets each raw post, ``on_cursor(after)`` each new
    listing cursor. The rest as for :class:`~ffui.data.sources.fourchan.FourChanSource`.
    """

    kind = "reddit"

    def __init__(self, subreddit: str | None = None, *, post: str | None = None,
                 sort: str = "hot", time: str | None = None, options: RedditOptions | None = None,
                 api_url: str = DEFAULT_API_URL, client: PoliteClient | None = None,
                 max_pairs: int | None = None, max_posts: int | None = None,
                 skip_posts: Iterable[str] = (), after: str | None = None,
                 on_thread: Callable[[dict], None] | None = None,
                 on_cursor: Callable[[str | None], None] | None = None,
                 min_interval_s: float = MIN_INTERVAL_S, **client_args: Any):
        self.subreddit = (subreddit or "").strip().removeprefix("/").removeprefix("r/").strip("/")
        self.post_id = post_id_from_url(post) if post else None
        if bool(self.subreddit) == bool(self.post_id):
            raise DataError("reddit", None, "give either a subreddit or a post URL",
                            "--subreddit NAME, or --post URL")
        if self.subreddit and not SUBREDDIT_NAME.match(self.subreddit):
            raise DataError("reddit", None, f"{self.subreddit[:40]!r} is not a subreddit name",
                            "name it like LocalLLaMA (letters, digits, _)")
        if sort not in SORTS or (time is not None and time not in TIMES):
            bad, allowed = (f"sort {sort!r}", SORTS) if sort not in SORTS else (f"time {time!r}", TIMES)
            raise DataError("reddit", None, f"unknown {bad}", f"use one of {', '.join(allowed)}")
        super().__init__(f"reddit r/{self.subreddit}" if self.subreddit else f"reddit post {self.post_id}",
                         total=max_pairs)
        self.sort, self.time = sort, time
        self.options = options or RedditOptions()
        self.api_url = api_url.rstrip("/")
        self.client = client or PoliteClient("reddit", min_interval_s=min_interval_s, **client_args)
        self._own_client = client is None
        self.max_pairs, self.max_posts = max_pairs, max_posts
        self.skip_posts = set(skip_posts)
        self.after = after
        self.on_thread, self.on_cursor = on_thread, on_cursor
        self.posts_fetched = 0
        self.more_skipped = 0  # "continue this thread" links, which need a page of their own
        self.filter = PairFilter(self.options.filters)

    @classmethod
    def from_settings(cls, subreddit: str | None, settings: Mapping[str, str | None],
                      **kw: Any) -> RedditSource:
        """The source as the stored settings configure it (``sources.reddit.api_url``,
        ``sources.contact``, ``proxy.*``)."""
        api_url = settings.get("sources.reddit.api_url") or DEFAULT_API_URL
        return cls(subreddit, api_url=api_url, **client_settings(settings), **kw)

    @property
    def source_details(self) -> str:
        what = f"subreddit={self.subreddit} sort={self.sort}" + (f" t={self.time}" if self.time else "") \
            if self.subreddit else f"post={self.post_id}"
        return f"{what} {self.options.details}"

    def where(self, loc: Location) -> str:
        post, comment = loc if isinstance(loc, tuple) else (loc, loc)
        return f"post {post}, comment {comment}"

    def _rows(self) -> Iterator[Located]:
        for raw in self._posts():
            for pair in post_pairs(raw, self.options):
                if not self.filter.keep(pair):
                    continue
                self.done += 1
                yield (raw["id"], pair["metadata"]["comments"][-1]), pair
                if self.max_pairs is not None and self.done >= self.max_pairs:
                    return

    def close(self) -> None:
        super().close()
        if self._own_client:
            self.client.close()

    # -- fetching ---------------------------------------------------------------------------

    def _get(self, path: str, params: dict, what: str) -> Any:
        url = f"{self.api_url}{path}?{urlencode(dict(params, raw_json=1))}"
        try:
            return self.client.get_json(url, conditional=False, what=what)
        finally:
            self._obey_rate_limit(url)

    def _obey_rate_limit(self, url: str) -> None:
        """Spread the requests the window has left over the time it has left."""
        headers = self.client.last_headers
        try:
            remaining = float(headers.get("X-Ratelimit-Remaining", ""))
            reset = float(headers.get("X-Ratelimit-Reset", ""))
        except ValueError:
            return
        self.client.hold(url, reset if remaining < 1 else reset / remaining)

    def _posts(self) -> Iterator[dict]:
        if self.post_id:
            raw = self._comments(self.post_id)
            if raw is not None:
                yield raw
            return
        fetched = 0
        while True:
            listing = self._listing()
            for data in listing["posts"]:
                if self.max_posts is not None and fetched >= self.max_posts:
                    return
                fetched += 1
                if data.get("id") in self.skip_posts:
                    continue
                raw = self._comments(data["id"])
                if raw is not None:
                    yield raw
            self.after = listing["after"]
            if self.on_cursor is not None:
                self.on_cursor(self.after)
            if not self.after:
                return

    def _listing(self) -> dict:
        name = f"r/{self.subreddit}"
        params = {"limit": 100, **({"t": self.time} if self.time else {}),
                  **({"after": self.after} if self.after else {})}
        try:
            page = self._get(f"/r/{self.subreddit}/{self.sort}.json", params, f"{name} listing")
        except HttpStatusError as e:
            raise self._subreddit_error(e) from None
        try:
            data = page["data"]
            children = data["children"]
        except (TypeError, KeyError):
            raise DataError("reddit", f"{name} listing", "is not in the shape of a Reddit listing",
                            "is sources.reddit.api_url right?") from None
        if children and all(c.get("kind") == "t5" for c in children):  # redirected to a search
            raise DataError("reddit", None, f"there is no subreddit {name}", "check the name")
        return {"posts": [c["data"] for c in children if c.get("kind") == "t3"], "after": data.get("after")}

    def _subreddit_error(self, e: HttpStatusError) -> DataError:
        name = f"r/{self.subreddit}"
        if e.status == 404:
            return DataError("reddit", None, f"there is no subreddit {name} (or it is banned)", "check the name")
        if e.status == 403:
            return DataError("reddit", None, f"{name} is private or quarantined: its posts cannot "
                             "be read without a login", "choose another subreddit")
        return e

    def _comments(self, post_id: str) -> dict | None:
        """One post and its whole comment tree, raw; None when it is gone."""
        what = f"post {post_id}"
        try:
            answer = self._get(f"/comments/{post_id}.json", {"limit": 500}, what)
        except HttpStatusError as e:
            if e.status == 404 and not self.post_id:  # removed since the listing was read
                return None
            if e.status == 404:
                raise DataError("reddit", None, f"there is no post {post_id}", "check the URL") from None
            raise
        try:
            raw = raw_post(answer[0]["data"]["children"][0]["data"])
            more: list[dict] = []
            walk_comments(answer[1]["data"]["children"], raw["comments"], more)
            self._more_comments(post_id, raw["comments"], more)
        except (TypeError, KeyError, IndexError):
            raise DataError("reddit", what, "is not in the shape of a Reddit comments page",
                            "is sources.reddit.api_url right?") from None
        self.posts_fetched += 1
        if self.on_thread is not None:
            self.on_thread(raw)
        return raw

    def _more_comments(self, post_id: str, comments: list[dict], more: list[dict]) -> None:
        """The collapsed comments behind ``more`` stubs, fetched 100 ids a request."""
        while more:
            stub = more.pop(0)
            ids = [i for i in stub.get("children") or [] if i != "_"]
            if not ids:  # "continue this thread": a deeper page of its own, not fetched
                self.more_skipped += 1
                continue
            for start in range(0, len(ids), MORE_IDS_PER_REQUEST):
                chunk = ids[start:start + MORE_IDS_PER_REQUEST]
                answer = self._get("/api/morechildren.json", {
                    "api_type": "json", "link_id": f"t3_{post_id}", "children": ",".join(chunk)},
                    f"post {post_id} more comments")
                for thing in answer["json"]["data"]["things"]:
                    if thing.get("kind") == "more":
                        more.append(thing["data"])
                    elif thing.get("kind") == "t1":
                        comments.append(raw_comment(thing["data"]))
