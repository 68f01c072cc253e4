"""Stack Exchange questions and their answers as input/output pairs: :class:`StackExchangeSource`.

Reads the Stack Exchange API 2.3 (``{api}/questions?site=...&filter=withbody``, then
``{api}/questions/{id;id;...}/answers``, up to 100 ids a request) through
:class:`~ffui.data.sources.http.PoliteClient`. The API's own rules are kept:

- every answer carries ``quota_remaining`` (300 requests a day without a key, 10,000 with one);
  at 0 the scrape stops with one line saying when the quota resets;
- an answer may carry ``backoff`` (seconds): no request to the API goes out before it has
  passed (ignoring it gets the address throttled);
- errors come as ``{"error_id", "error_name", "error_message"}`` and are worded from those
  (a site that does not exist, a bad key, ``throttle_violation`` with its wait).

Bodies are HTML: they become text that keeps paragraphs, lists and code blocks
(:func:`html_text`, on the standard library's HTMLParser as the 4chan source's is). Titles are
HTML-escaped and are unescaped. A question (title and body) is paired with its accepted answer,
else its top-voted answer scoring at least ``min_score``. The content is CC BY-SA: each pair's
metadata carries its ``attribution`` (the answer's link, its author and profile, the licence).
The key is a constructor argument, sent as the ``key`` parameter only (never in an error line).
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import urlencode, urlsplit

from ffui.db.secrets import register_secret

from ..errors import DataError
from .base import Located, Location, RowSource
from .fourchan import PairFilter, PairOptions
from .http import HttpStatusError, PoliteClient, client_settings

DEFAULT_API_URL = "https://api.stackexchange.com/2.3"
DEFAULT_LICENCE = "CC BY-SA 4.0"
IDS_PER_REQUEST = 100
PAGE_SIZE = 100
MIN_INTERVAL_S = 0.1  # the API's hard limit is 30 requests a second; stay far below it
SITE_NAME = re.compile(r"^[a-z0-9.\-]{2,60}$")
KEY_HINT = ("wait, or store a key (ffui settings set sources.stackexchange.key, then type it) "
            "and add --key-from-settings")
BLOCKS = {"p", "div", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "hr"}


# -- body HTML to text ------------------------------------------------------------------------

class _BodyText(HTMLParser):
    """A post body's HTML to text: paragraphs as blank lines, ``<li>`` as ``- `` items,
    ``<pre>`` code verbatim in a fenced block, inline ``<code>`` in backticks, images as their
    alt text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.in_pre = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "pre":
            self.in_pre += 1
            self._block("```\n")
        elif tag == "code" and not self.in_pre:
            self.parts.append("`")
        elif tag == "li":
            self._block("- ", blank=False)
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(f"[{alt}]")
        elif tag in BLOCKS:
            self._block("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self.in_pre:
            self.in_pre -= 1
            self._block("```", blank=False)
            self.parts.append("\n\n")
        elif tag == "code" and not self.in_pre:
            self.parts.append("`")
        elif tag in BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.in_pre:
            data = re.sub(r"\s+", " ", data)  # outside code, HTML whitespace is one space
            if self.parts and self.parts[-1].endswith("\n"):
                data = data.lstrip()
        self.parts.append(data)

    def _block(self, opener: str, *, blank: bool = True) -> None:
        text = "".join(self.parts)
        if text and not text.endswith("\n"):
            self.parts.append("\n\n" if blank else "\n")
        self.parts.append(opener)


def html_text(body: str | None) -> str:
    """The text of an HTML body, its paragraphs, lists and code blocks kept."""
    if not body:
        return ""
    parser = _BodyText()
    parser.feed(body)
    parser.close()
    lines = [line.rstrip() for line in "".join(parser.parts).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


# -- pairing ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class StackExchangeOptions:
    """Which answer a question is paired with; ``filters``: the common filters."""

    min_score: int = 1  # a question without an accepted answer takes its best at this score or more
    filters: PairOptions = PairOptions()

    @property
    def details(self) -> str:
        return f"min_score={self.min_score}"


def chosen_answer(answers: list[dict], min_score: int) -> dict | None:
    """The accepted answer, else the top-voted one scoring at least ``min_score``."""
    accepted = [a for a in answers if a.get("is_accepted")]
    if accepted:
        return accepted[0]
    best = max(answers, key=lambda a: a.get("score") or 0, default=None)
    return best if best is not None and (best.get("score") or 0) >= min_score else None


def raw_question(site: str, question: dict, answers: list[dict]) -> dict:
    """What is kept of a question and its answers (authors too: the licence asks for them)."""
    def person(item: dict) -> dict:
        owner = item.get("owner") or {}
        return {"author": html.unescape(owner.get("display_name") or "") or None,
                "author_url": owner.get("link")}

    return {"site": site, "id": question["question_id"], "title": html.unescape(question.get("title") or ""),
            "body": question.get("body") or "", "link": question.get("link"), "score": question.get("score"),
            "tags": question.get("tags") or [], "licence": question.get("content_license"), **person(question),
            "answers": [{"id": a["answer_id"], "body": a.get("body") or "", "score": a.get("score"),
                         "is_accepted": bool(a.get("is_accepted")), "licence": a.get("content_license"),
                         **person(a)} for a in answers]}


def answer_url(raw: dict, answer_id: int) -> str:
    link = raw.get("link") or ""
    parts = urlsplit(link)
    return f"{parts.scheme}://{parts.netloc}/a/{answer_id}" if parts.netloc else f"{link}#{answer_id}"


def question_pairs(raw: dict, options: StackExchangeOptions) -> Iterator[dict]:
    """The pair of one raw question (none when no answer qualifies), unfiltered."""
    answer = chosen_answer(raw["answers"], options.min_score)
    if answer is None:
        return
    url = answer_url(raw, answer["id"])
    attribution = {"url": url, "question_url": raw.get("link"), "author": answer.get("author"),
                   "author_url": answer.get("author_url"), "question_author": raw.get("author"),
                   "licence": answer.get("licence") or raw.get("licence") or DEFAULT_LICENCE}
    question = (raw["title"] + "\n\n" + html_text(raw["body"])).strip()
    yield {"input": question, "output": html_text(answer["body"]), "source_url": url,
           "metadata": {"source": "stackexchange", "site": raw["site"], "question": raw["id"],
                        "answer": answer["id"], "accepted": answer["is_accepted"],
                        "score": answer.get("score"), "tags": raw.get("tags"),
                        "source_url": url, "attribution": attribution}}


def pairs_from_raw(questions: Iterable[dict], options: StackExchangeOptions) -> Iterator[dict]:
    """Kept raw questions paired again (``repair``): no request is made."""
    keep = PairFilter(options.filters)
    for raw in questions:
        yield from (pair for pair in question_pairs(raw, options) if keep.keep(pair))


# -- the source -------------------------------------------------------------------------------

class StackExchangeSource(RowSource):
    """Pairs from the answered questions of one Stack Exchange ``site`` (``"stackoverflow"``).

    ``tagged``: tags the questions must all have; ``key``: an API key (a secret: 10,000
    requests a day instead of 300); ``page``: the questions page to start at (a resumed
    scrape), ``skip_questions``: ids already fetched; ``on_thread(raw)`` gets each raw
    question with its answers, ``on_cursor(page)`` the next page once one is done.
    """

    kind = "stackexchange"

    def __init__(self, site: str, *, tagged: Iterable[str] = (), key: str | None = None,
                 options: StackExchangeOptions | None = None, api_url: str = DEFAULT_API_URL,
                 client: PoliteClient | None = None, max_pairs: int | None = None,
                 max_questions: int | None = None, page: int = 1, skip_questions: Iterable[int] = (),
                 on_thread: Callable[[dict], None] | None = None,
                 on_cursor: Callable[[int], None] | None = None, **client_args: Any):
        self.site = site.strip().lower()
        if not SITE_NAME.match(self.site):
            raise DataError("stackexchange", None, f"{site[:40]!r} is not a site name",
                            "name it as the API does: stackoverflow, superuser, math, ...")
        super().__init__(f"stackexchange {self.site}", total=max_pairs)
        self.tagged = [t.strip() for t in tagged if t.strip()]
        self.key = key or None
        register_secret(self.key)
        self.options = options or StackExchangeOptions()
        self.api_url = api_url.rstrip("/")
        client_args.setdefault("min_interval_s", MIN_INTERVAL_S)
        self.client = client or PoliteClient("stackexchange", **client_args)
        self._own_client = client is None
        self.max_pairs, self.max_questions = max_pairs, max_questions
        self.page = page
        self.skip_questions = set(skip_questions)
        self.on_thread, self.on_cursor = on_thread, on_cursor
        self.quota_remaining: int | None = None
        self.questions_fetched = 0
        self.filter = PairFilter(self.options.filters)

    @classmethod
    def from_settings(cls, site: str, settings: Mapping[str, str | None], *, use_key: bool = False,
                      **kw: Any) -> StackExchangeSource:
        """The source as the stored settings configure it (``sources.stackexchange.api_url``,
        with ``use_key`` the secret ``sources.stackexchange.key`` (else the ``key`` given, if
        any), ``sources.contact``, ``proxy.*``)."""
        api_url = settings.get("sources.stackexchange.api_url") or DEFAULT_API_URL
        key = settings.get("sources.stackexchange.key") if use_key else kw.pop("key", None)
        if use_key and not key:
            raise DataError("stackexchange", None, "no API key is stored",
                            "store one (ffui settings set sources.stackexchange.key, then type it), or leave out --key-from-settings")
        return cls(site, api_url=api_url, key=key, **client_settings(settings), **kw)

    @property
    def source_details(self) -> str:
        tags = f" tagged={';'.join(self.tagged)}" if self.tagged else ""
        return f"site={self.site}{tags} {self.options.details}"

    def where(self, loc: Location) -> str:
        return f"question {loc[0] if isinstance(loc, tuple) else loc}"

    def _rows(self) -> Iterator[Located]:
        for raw in self._questions():
            for pair in question_pairs(raw, self.options):
                if not self.filter.keep(pair):
                    continue
                self.done += 1
                yield raw["id"], pair
                if self.max_pairs is not None and self.done >= self.max_pairs:
                    return

    def close(self) -> None:
        super().close()
        if self._own_client:
            self.client.close()

    # -- fetching ---------------------------------------------------------------------------

    def _get(self, path: str, params: dict, what: str) -> dict:
        params = dict(params, site=self.site, filter="withbody", **({"key": self.key} if self.key else {}))
        url = f"{self.api_url}{path}?{urlencode(params, safe=';')}"
        try:
            answer = self.client.get_json(url, conditional=False, what=what)
        except HttpStatusError as e:
            raise self._api_error(e, what) from None
        if not isinstance(answer, dict) or not isinstance(answer.get("items"), list):
            raise DataError("stackexchange", what, "is not in the shape of a Stack Exchange API "
                            "answer (an object with items)", "is sources.stackexchange.api_url right?")
        if answer.get("backoff"):
            self.client.hold(url, float(answer["backoff"]))
        if answer.get("quota_remaining") is not None:
            self.quota_remaining = int(answer["quota_remaining"])
        return answer

    def _api_error(self, e: HttpStatusError, what: str) -> DataError:
        import json

        try:
            err = json.loads(e.body)
            name, message = err["error_name"], html.unescape(str(err.get("error_message") or ""))
        except (ValueError, TypeError, KeyError):
            return e
        if name == "throttle_violation":
            wait = re.search(r"available in (\d+) seconds", message)
            when = (" (it resets at " + time.strftime("%H:%M", time.localtime(time.time() + int(wait[1])))
                    + ")") if wait else ""
            return DataError("stackexchange", None, f"the API refuses more requests from this "
                             f"address today{when}", KEY_HINT)
        if name == "bad_parameter" and "site" in message.lower():
            return DataError("stackexchange", None, f"there is no site {self.site!r}",
                             "name it as the API does: stackoverflow, superuser, math, ...")
        if name in ("access_denied", "key_required") or "key" in message.lower():
            return DataError("stackexchange", None, f"the API refuses the key ({message})",
                             "check sources.stackexchange.key")
        return DataError("stackexchange", what, f"the API says {name}: {message}")

    def _check_quota(self) -> None:
        if self.quota_remaining == 0:
            raise DataError("stackexchange", None, "the day's request quota is used up (it resets "
                            "at midnight UTC)", KEY_HINT)

    def _questions(self) -> Iterator[dict]:
        fetched = 0
        while True:
            self._check_quota()
            params = {"page": self.page, "pagesize": PAGE_SIZE, "order": "desc", "sort": "votes",
                      **({"tagged": ";".join(self.tagged)} if self.tagged else {})}
            answer = self._get("/questions", params, f"{self.site} questions page {self.page}")
            questions = [q for q in answer["items"] if q.get("question_id") not in self.skip_questions
                         and (q.get("answer_count") or 0) > 0]
            if self.max_questions is not None:
                questions = questions[:max(0, self.max_questions - fetched)]
            for start in range(0, len(questions), IDS_PER_REQUEST):
                yield from self._with_answers(questions[start:start + IDS_PER_REQUEST])
            fetched += len(questions)
            self.page += 1
            if self.on_cursor is not None:
                self.on_cursor(self.page)
            if not answer.get("has_more") or (self.max_questions is not None and fetched >= self.max_questions):
                return

    def _with_answers(self, questions: list[dict]) -> Iterator[dict]:
        if not questions:
            return
        self._check_quota()
        ids = ";".join(str(q["question_id"]) for q in questions)
        by_question: dict[int, list[dict]] = {}
        page = 1
        while True:  # a question's answers may run over more than one page
            answer = self._get(f"/questions/{ids}/answers", {"page": page, "pagesize": PAGE_SIZE,
                               "order": "desc", "sort": "votes"}, f"{self.site} answers")
            for a in answer["items"]:
                by_question.setdefault(a.get("question_id"), []).append(a)
            if not answer.get("has_more"):
                break
            page += 1
            self._check_quota()
        for q in questions:
            raw = raw_question(self.site, q, by_question.get(q["question_id"], []))
            self.questions_fetched += 1
            if self.on_thread is not None:
                self.on_thread(raw)
            yield raw
