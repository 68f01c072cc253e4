"""Fake forum APIs on 127.0.0.1 (4chan, Reddit, Stack Exchange), in the real APIs' shapes,
that police their rules.

It answers what ``a.4cdn.org`` answers (https://github.com/4chan/4chan-API):

* ``GET /{board}/catalog.json``: a list of pages, each ``{"page": n, "threads": [...]}``, a
  thread being its OP's fields (``no``, ``resto`` 0, ``time``, ``name``, ``sub``, ``com``, ...)
  plus ``replies``, ``images``, ``last_modified`` and ``last_replies``;
* ``GET /{board}/thread/{no}.json``: ``{"posts": [...]}``, the OP first, replies with ``resto``;
* a ``Last-Modified`` header on both; ``If-Modified-Since`` not older than it gives 304;
* 404 for an unknown board or thread.

What it polices, into ``forum.violations`` (a test asserts it stays empty): two requests less
than ``min_interval_s`` apart, a thread fetched again within ``thread_refresh_s``. It records
every request in ``forum.requests`` (arrival time, path, headers); ``forum.busy(n, retry_after)``
makes the next ``n`` requests answer 429 (with ``Retry-After`` unless it is None).

Reddit (paths ``/r/...``, ``/comments/...``, ``/api/morechildren.json``) and Stack Exchange
(paths under ``/2.3/``) are served by :class:`FakeReddit` and :class:`FakeStackExchange`
(``forum.reddit``, ``forum.stackexchange``); their docstrings say what they speak and police.

It also acts as a plain HTTP proxy: a request in absolute form (``GET http://elsewhere/g/...``)
is answered as if for that host, and its ``Proxy-Authorization`` header recorded, so a test can
see that the client went through the proxy it was given.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit

BASE_TIME = 1_700_000_000
SLACK_S = 0.02  # the server's clock and the client's are one machine's, but not one instant


@dataclass
class Request:
    at: float  # time.monotonic() at arrival
    path: str
    headers: dict[str, str]
    absolute: bool  # asked in proxy (absolute) form
    query: str = ""


@dataclass
class FakeForum:
    min_interval_s: float = 1.0
    thread_refresh_s: float = 10.0
    boards: dict[str, list[dict]] = field(default_factory=dict)  # board -> threads ({"posts"})
    requests: list[Request] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    pruned: set[int] = field(default_factory=set)
    _busy: list[int | None] = field(default_factory=list)
    _thread_fetched: dict[str, float] = field(default_factory=dict)
    reddit: FakeReddit = field(default_factory=lambda: FakeReddit())
    stackexchange: FakeStackExchange = field(default_factory=lambda: FakeStackExchange())

    def add_thread(self, board: str, posts: list[dict], *, last_modified: int | None = None) -> dict:
        """A thread from posts (dicts with at least ``no`` and ``com``); the first is the OP."""
        op_no = posts[0]["no"]
        full = []
        for i, p in enumerate(posts):
            post = {"no": p["no"], "resto": 0 if i == 0 else op_no, "now": "11/14/23(Tue)22:13:20",
                    "time": p.get("time", BASE_TIME + i * 60), "name": p.get("name", "Anonymous")}
            post.update({k: v for k, v in p.items() if k not in post or k == "time"})
            full.append(post)
        full[0].update(replies=len(posts) - 1, images=0, unique_ips=len(posts))
        thread = {"posts": full, "last_modified": last_modified or full[-1]["time"]}
        self.boards.setdefault(board, []).append(thread)
        return thread

    def prune(self, no: int) -> None:
        """Thread ``no`` stays in the catalog but its own URL answers 404 (pruned meanwhile)."""
        self.pruned.add(no)

    def busy(self, n: int, retry_after: int | None = 1) -> None:
        self._busy.extend([retry_after] * n)

    def catalog(self, board: str) -> list[dict]:
        threads = []
        for t in self.boards[board]:
            op = dict(t["posts"][0], last_modified=t["last_modified"],
                      last_replies=t["posts"][1:][-5:])
            threads.append(op)
        return [{"page": i // 15 + 1, "threads": threads[i:i + 15]}
                for i in range(0, max(len(threads), 1), 15)]

    def thread_paths(self) -> list[str]:
        return [r.path for r in self.requests if "/thread/" in r.path]

    # -- the server ----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        forum = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                forum._answer(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._lock = threading.Lock()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _police(self, path: str, now: float) -> None:
        if self.requests and now - self.requests[-1].at < self.min_interval_s - SLACK_S:
            gap = now - self.requests[-1].at
            self.violations.append(f"{path} came {gap:.3f} s after the previous request")
        if "/thread/" in path:
            last = self._thread_fetched.get(path)
            if last is not None and now - last < self.thread_refresh_s - SLACK_S:
                self.violations.append(f"{path} fetched again after {now - last:.1f} s")
            self._thread_fetched[path] = now

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        now = time.monotonic()
        parts = urlsplit(h.path)
        path = parts.path
        with self._lock:
            self._police(path, now)
            self.requests.append(Request(now, path, dict(h.headers.items()), bool(parts.scheme), parts.query))
            busy = self._busy.pop(0) if self._busy else False
        if busy is not False:
            headers = {"Retry-After": str(busy)} if busy is not None else {}
            return self._send(h, 429, b"Too Many Requests", headers)
        for api in (self.reddit, self.stackexchange):
            if api.serves(path):
                with self._lock:
                    status, body, headers = api.answer(path, parse_qs(parts.query), now, self.violations)
                return self._send(h, status, body, headers)
        found = self._lookup(path)
        if found is None:
            return self._send(h, 404, b"404 Not Found")
        body, modified = found
        since = h.headers.get("If-Modified-Since")
        if since and email.utils.parsedate_to_datetime(since).timestamp() >= modified:
            return self._send(h, 304, b"")
        self._send(h, 200, json.dumps(body).encode(), {
            "Content-Type": "application/json",
            "Last-Modified": email.utils.formatdate(modified, usegmt=True)})

    def _lookup(self, path: str) -> tuple[object, int] | None:
        bits = path.strip("/").split("/")
        board = bits[0] if bits else ""
        if board not in self.boards:
            return None
        threads = self.boards[board]
        if bits[1:] == ["catalog.json"]:
            return self.catalog(board), max((t["last_modified"] for t in threads), default=BASE_TIME)
        if len(bits) == 3 and bits[1] == "thread" and bits[2].endswith(".json"):
            for t in threads:
                if str(t["posts"][0]["no"]) == bits[2][:-5] and t["posts"][0]["no"] not in self.pruned:
                    return {"posts": t["posts"]}, t["last_modified"]
        return None

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict | None = None) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        if status != 304:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if status != 304:
            h.wfile.write(body)


def _json(status: int, body: object, headers: dict | None = None) -> tuple[int, bytes, dict]:
    return status, json.dumps(body).encode(), {"Content-Type": "application/json; charset=UTF-8",
                                               **(headers or {})}


def _one(query: dict[str, list[str]], key: str, default: str | None = None) -> str | None:
    return query.get(key, [default])[0]


@dataclass
class FakeReddit:
    """Reddit's public JSON, as ``www.reddit.com`` answers it without OAuth:

    * ``GET /r/{sub}/{sort}.json?limit&after&t``: ``{"kind": "Listing", "data": {"after",
      "children": [{"kind": "t3", "data": post}]}}``, ``page_size`` posts a page (the real one
      honours ``limit``; a small page makes paging testable), ``after`` = the last post's
      ``t3_`` name while more follow, null at the end;
    * ``GET /comments/{id}.json`` (and ``/r/{sub}/comments/{id}.json``): ``[post listing,
      comment listing]``, each comment ``t1`` with ``parent_id``, ``author``, ``body`` and
      ``replies`` ("" or a listing); comments named in ``collapsed`` are left out of the tree
      and stand in a ``more`` stub (``children``: their ids) in their parent's replies;
    * ``GET /api/morechildren.json?api_type=json&link_id=t3_X&children=a,b``: ``{"json":
      {"errors": [], "data": {"things": [...]}}}``, the named comments and their replies, flat;
    * an unknown subreddit: 404 ``{"reason": "banned", "message": "Not Found", "error": 404}``;
      a private one (in ``private``): 403 ``{"reason": "private", ...}``;
    * ``X-Ratelimit-Used``/``-Remaining``/``-Reset`` on every answer: ``limit`` requests a
      window of ``window_s`` seconds.

    It polices, into the forum's violations: a request without ``raw_json=1``, a request made
    when the window had none left (answered 429), more than 100 ids to morechildren.
    """

    page_size: int = 2
    limit: int = 100
    window_s: float = 5.0  # (Reddit's is 600 s: a short one keeps the tests fast)
    posts: dict[str, list[dict]] = field(default_factory=dict)  # subreddit -> posts (with "comments")
    private: set[str] = field(default_factory=set)
    collapsed: set[str] = field(default_factory=set)
    _window_start: float | None = None
    _used: int = 0

    def add_post(self, subreddit: str, post_id: str, title: str, selftext: str = "",
                 comments: list[dict] | None = None, author: str = "op_user") -> None:
        """A post and its comment tree (dicts ``id``, ``body``, optional ``author`` and
        ``replies``, a list of the same)."""
        self.posts.setdefault(subreddit, []).append({
            "id": post_id, "name": f"t3_{post_id}", "title": title, "selftext": selftext,
            "author": author, "subreddit": subreddit, "score": 10, "created_utc": BASE_TIME,
            "permalink": f"/r/{subreddit}/comments/{post_id}/{title.lower().replace(' ', '_')[:20]}/",
            "num_comments": 0, "comments": comments or []})

    def serves(self, path: str) -> bool:
        return path.startswith(("/r/", "/comments/", "/api/morechildren"))

    def answer(self, path: str, query: dict, now: float, violations: list[str]) -> tuple[int, bytes, dict]:
        if _one(query, "raw_json") != "1":
            violations.append(f"{path} asked without raw_json=1")
        if self._window_start is None or now - self._window_start >= self.window_s:
            self._window_start, self._used = now, 0
        if self._used >= self.limit:
            violations.append(f"{path} asked with no request left in the rate-limit window")
            return _json(429, {"message": "Too Many Requests", "error": 429}, self._limits(now))
        self._used += 1
        status, body = self._route(path, query, violations)
        return _json(status, body, self._limits(now))

    def _limits(self, now: float) -> dict:
        left = max(0.0, self.window_s - (now - (self._window_start or now)))
        return {"X-Ratelimit-Used": str(self._used), "X-Ratelimit-Remaining": str(self.limit - self._used),
                "X-Ratelimit-Reset": str(int(left + 0.999))}

    def _route(self, path: str, query: dict, violations: list[str]) -> tuple[int, object]:
        bits = path.strip("/").removesuffix(".json").split("/")
        if bits[:2] == ["api", "morechildren"]:
            ids = (_one(query, "children") or "").split(",")
            if len(ids) > 100:
                violations.append(f"morechildren asked for {len(ids)} ids (at most 100)")
            post = self._post((_one(query, "link_id") or "")[3:])
            things = [t for c in self._flat(post) if c["data"]["id"] in ids for t in self._subtree(post, c)]
            return 200, {"json": {"errors": [], "data": {"things": things}}}
        if bits[0] == "r" and len(bits) >= 2 and (bits[1] not in self.posts or bits[1] in self.private):
            if bits[1] in self.private:
                return 403, {"reason": "private", "message": "Forbidden", "error": 403}
            return 404, {"reason": "banned", "message": "Not Found", "error": 404}
        if "comments" in bits:
            post = self._post(bits[bits.index("comments") + 1])
            if post is None:
                return 404, {"message": "Not Found", "error": 404}
            return 200, [self._listing([{"kind": "t3", "data": self._post_data(post)}], None),
                         self._listing(self._tree(post, post["comments"], f"t3_{post['id']}"), None)]
        if bits[0] == "r" and len(bits) == 3:
            posts = self.posts[bits[1]]
            after = _one(query, "after")
            start = next((i + 1 for i, p in enumerate(posts) if p["name"] == after), 0)
            page = posts[start:start + self.page_size]
            more = start + self.page_size < len(posts)
            return 200, self._listing([{"kind": "t3", "data": self._post_data(p)} for p in page],
                                      page[-1]["name"] if more and page else None)
        return 404, {"message": "Not Found", "error": 404}

    @staticmethod
    def _listing(children: list, after: str | None) -> dict:
        return {"kind": "Listing", "data": {"after": after, "before": None, "dist": len(children),
                                            "children": children}}

    def _post(self, post_id: str) -> dict | None:
        return next((p for posts in self.posts.values() for p in posts if p["id"] == post_id), None)

    @staticmethod
    def _post_data(post: dict) -> dict:
        return {k: v for k, v in post.items() if k != "comments"}

    def _comment(self, post: dict, c: dict, parent: str, depth: int, replies: object) -> dict:
        return {"kind": "t1", "data": {
            "id": c["id"], "name": f"t1_{c['id']}", "parent_id": parent, "link_id": f"t3_{post['id']}",
            "author": c.get("author", f"user_{c['id']}"), "body": c["body"], "score": c.get("score", 1),
            "depth": depth, "subreddit": post["subreddit"], "replies": replies,
            "permalink": f"{post['permalink']}{c['id']}/"}}

    def _tree(self, post: dict, comments: list[dict], parent: str, depth: int = 0) -> list[dict]:
        shown, hidden = [], []
        for c in comments:
            if c["id"] in self.collapsed:
                hidden.append(c["id"])
                continue
            kids = self._tree(post, c.get("replies") or [], f"t1_{c['id']}", depth + 1)
            shown.append(self._comment(post, c, parent, depth, self._listing(kids, None) if kids else ""))
        if hidden:
            shown.append({"kind": "more", "data": {"count": len(hidden), "name": f"t1_{hidden[0]}",
                                                   "id": hidden[0], "parent_id": parent, "depth": depth,
                                                   "children": hidden}})
        return shown

    def _flat(self, post: dict | None) -> list[dict]:
        out: list[dict] = []

        def walk(comments: list[dict], parent: str, depth: int) -> None:
            for c in comments:
                out.append({"data": c, "parent": parent, "depth": depth})
                walk(c.get("replies") or [], f"t1_{c['id']}", depth + 1)

        if post is not None:
            walk(post["comments"], f"t3_{post['id']}", 0)
        return out

    def _subtree(self, post: dict, entry: dict) -> list[dict]:
        """A collapsed comment and its replies, flat, as morechildren gives them."""
        out = [self._comment(post, entry["data"], entry["parent"], entry["depth"], "")]
        for kid in entry["data"].get("replies") or []:
            out += self._subtree(post, {"data": kid, "parent": f"t1_{entry['data']['id']}",
                                        "depth": entry["depth"] + 1})
        return out


@dataclass
class FakeStackExchange:
    """The Stack Exchange API 2.3 under ``/2.3``, gzip-compressed as the real one always is:

    * ``GET /2.3/questions?site&page&pagesize&sort&order&tagged&filter``: the common wrapper
      ``{"items", "has_more", "quota_max", "quota_remaining"}`` (plus ``backoff`` when set), the
      questions with ``question_id``, ``title`` (HTML-escaped), ``link``, ``owner``, ``score``,
      ``accepted_answer_id``, ``answer_count``, ``tags``, ``content_license`` and, with
      ``filter=withbody``, ``body`` (HTML);
    * ``GET /2.3/questions/{id;id}/answers?...``: the answers of those questions (``answer_id``,
      ``question_id``, ``is_accepted``, ``score``, ``owner``, ``body``), ``pagesize`` a page
      (questions come ``page_size`` a page, so that their paging is tested);
    * errors as ``{"error_id", "error_name", "error_message"}`` with status 400: an unknown site
      (``bad_parameter``), the quota used up (502 ``throttle_violation``, "more requests
      available in N seconds").

    ``quota`` requests are allowed (each answer says how many are left); ``backoff(s)`` puts
    ``"backoff": s`` into the next answer. It polices: a request before a backoff has passed, a
    request without ``filter=withbody``, more than 100 ids in one request, and a request after
    the quota said 0.
    """

    quota: int = 300
    page_size: int = 2
    sites: dict[str, list[dict]] = field(default_factory=dict)  # site -> questions (with "answers")
    _backoff_next: float | None = None
    _not_before: float = 0.0
    _used: int = 0

    def add_question(self, site: str, qid: int, title: str, body: str, answers: list[dict],
                     tags: tuple[str, ...] = ("python",), score: int = 5) -> None:
        """A question and its answers (dicts ``answer_id``, ``body``, ``score``, optional
        ``is_accepted`` and ``owner`` display name)."""
        host = "stackoverflow.com" if site == "stackoverflow" else f"{site}.stackexchange.com"
        accepted = next((a["answer_id"] for a in answers if a.get("is_accepted")), None)
        self.sites.setdefault(site, []).append({
            "question_id": qid, "title": title, "body": body, "score": score, "tags": list(tags),
            "link": f"https://{host}/questions/{qid}/{re.sub(r'[^a-z0-9]+', '-', title.lower())[:30]}",
            "owner": {"display_name": "Asker", "user_id": 1, "link": f"https://{host}/users/1/asker"},
            "is_answered": bool(answers), "answer_count": len(answers), "content_license": "CC BY-SA 4.0",
            **({"accepted_answer_id": accepted} if accepted else {}),
            "answers": [{"answer_id": a["answer_id"], "question_id": qid, "body": a["body"],
                         "score": a.get("score", 0), "is_accepted": bool(a.get("is_accepted")),
                         "content_license": "CC BY-SA 4.0",
                         "owner": {"display_name": a.get("owner", f"user{a['answer_id']}"),
                                   "user_id": a["answer_id"],
                                   "link": f"https://{host}/users/{a['answer_id']}/x"}} for a in answers]})

    def backoff(self, seconds: float) -> None:
        self._backoff_next = seconds

    def serves(self, path: str) -> bool:
        return path.startswith("/2.3/")

    def answer(self, path: str, query: dict, now: float, violations: list[str]) -> tuple[int, bytes, dict]:
        if now < self._not_before - SLACK_S:
            violations.append(f"{path} came {self._not_before - now:.2f} s before the backoff ended")
        if self._used >= self.quota:
            violations.append(f"{path} asked after the quota was used up")
            return self._gzip(*_json(400, {"error_id": 502, "error_name": "throttle_violation",
                                           "error_message": "too many requests from this IP, more "
                                           "requests available in 3600 seconds"}))
        self._used += 1
        if _one(query, "filter") != "withbody":
            violations.append(f"{path} asked without filter=withbody")
        site = _one(query, "site") or ""
        if site not in self.sites:
            return self._gzip(*_json(400, {"error_id": 400, "error_name": "bad_parameter",
                                           "error_message": f"No site found for name `{site}`"}))
        bits = path.strip("/").split("/")
        questions = self.sites[site]
        size = min(int(_one(query, "pagesize", "30")), 100)
        if len(bits) == 4 and bits[3] == "answers":
            ids = {int(i) for i in bits[2].split(";")}
            if len(ids) > 100:
                violations.append(f"{len(ids)} ids in one request (at most 100)")
            items = [a for q in questions if q["question_id"] in ids for a in q["answers"]]
        else:
            size = min(size, self.page_size)
            tagged = set(filter(None, (_one(query, "tagged") or "").split(";")))
            items = [{k: v for k, v in q.items() if k != "answers"} for q in questions
                     if tagged <= set(q["tags"])]
        page = int(_one(query, "page", "1"))
        body = {"items": items[(page - 1) * size:page * size], "has_more": page * size < len(items),
                "quota_max": self.quota, "quota_remaining": self.quota - self._used}
        if self._backoff_next is not None:
            body["backoff"], self._not_before = self._backoff_next, now + self._backoff_next
            self._backoff_next = None
        return self._gzip(*_json(200, body))

    @staticmethod
    def _gzip(status: int, body: bytes, headers: dict) -> tuple[int, bytes, dict]:
        return status, gzip.compress(body), dict(headers, **{"Content-Encoding": "gzip"})
