"""A fake 4chan read-only API on 127.0.0.1, in the real API's shape, that polices its rules.

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

It also acts as a plain HTTP proxy: a request in absolute form (``GET http://elsewhere/g/...``)
is answered as if for that host, and its ``Proxy-Authorization`` header recorded, so a test can
see that the client went through the proxy it was given.
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlsplit

BASE_TIME = 1_700_000_000
SLACK_S = 0.02  # the server's clock and the client's are one machine's, but not one instant


@dataclass
class Request:
    at: float  # time.monotonic() at arrival
    path: str
    headers: dict[str, str]
    absolute: bool  # asked in proxy (absolute) form


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
            self.requests.append(Request(now, path, dict(h.headers.items()), bool(parts.scheme)))
            busy = self._busy.pop(0) if self._busy else False
        if busy is not False:
            headers = {"Retry-After": str(busy)} if busy is not None else {}
            return self._send(h, 429, b"Too Many Requests", headers)
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
