"""The one polite HTTP client every scraper uses: :class:`PoliteClient`.

Built on ``httpx2`` (installed with huggingface_hub, which ffui already uses for the hub): it
gives timeouts per phase, proxies per scheme with exceptions and typed errors; what is here is
the glue a good citizen of someone else's API needs:

- a per-host minimum interval between requests (each source sets its own: 4chan one a second);
- 429 and 503 retried with bounded exponential backoff, ``Retry-After`` (seconds or a date)
  honoured; a wait longer than ``max_wait_s`` is not slept through but reported;
- conditional requests: the ``Last-Modified`` of each URL is remembered and sent back as
  ``If-Modified-Since``; a 304 comes back as :data:`NOT_MODIFIED`;
- an honest User-Agent, ``ffui/<version> (+<contact>)``, the contact from ``sources.contact``;
- the ``proxy.*`` settings on every request (``proxy.no_proxy`` hosts go direct);
- every failure one :class:`~ffui.data.errors.DataError` line. A proxy URL may carry a user
  and password: only ``scheme://host:port`` of it is ever put into a message.

The clock and the sleep are constructor arguments, so tests of the backoff need not wait.
"""

from __future__ import annotations

import email.utils
import errno
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping
from urllib.parse import urlsplit

from ffui import __version__
from ffui.db.secrets import register_secret

from ..errors import DataError

if TYPE_CHECKING:
    import httpx2 as httpx

#: what :meth:`PoliteClient.get_json` returns when the server says the URL has not changed
NOT_MODIFIED = object()

RETRIED_STATUSES = (429, 503)
STATUS_WORDS = {401: "asks for a login (401)", 403: "refuses access (403 Forbidden)",
                404: "has no such page (404 Not Found)", 410: "has removed the page (410 Gone)"}
STATUS_HINTS = {403: "the site may block this network or its proxy; check the proxy.* settings",
                404: "check the name and sources.*.api_url"}


class HttpStatusError(DataError):
    """The server answered with an error status (``status``), after any retries."""

    def __init__(self, path: str, where: str, message: str, hint: str | None = None, *,
                 status: int, body: str = ""):
        super().__init__(path, where, message, hint)
        self.status = status
        self.body = body  # the error page's start, for an API that words its errors in JSON


def user_agent(contact: str | None) -> str:
    """``ffui/0.1.0 (+mailto:me@example.org)``: who is asking and how to reach them."""
    contact = (contact or "").strip()
    return f"ffui/{__version__} (+{contact})" if contact else f"ffui/{__version__}"


@dataclass(frozen=True)
class Proxies:
    """The ``proxy.*`` settings: a proxy URL per scheme, and the hosts reached directly."""

    http: str | None = None
    https: str | None = None
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Mapping[str, str | None]) -> Proxies:
        hosts = (settings.get("proxy.no_proxy") or "").replace(";", ",").split(",")
        for key in ("proxy.http", "proxy.https"):  # a password in a proxy URL is a secret
            register_secret(urlsplit(settings.get(key) or "").password)
        return cls(http=(settings.get("proxy.http") or "").strip() or None,
                   https=(settings.get("proxy.https") or "").strip() or None,
                   no_proxy=tuple(h.strip().lstrip(".") for h in hosts if h.strip()))

    def for_url(self, url: str) -> str | None:
        """The proxy a request to ``url`` goes through, or None."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if any(host == h or host.endswith("." + h) or h == "*" for h in self.no_proxy):
            return None
        return self.https if parts.scheme == "https" else self.http

    def mounts(self) -> dict[str, httpx.HTTPTransport]:
        """httpx transports: direct for ``no_proxy`` hosts, through the proxy for the rest."""
        import httpx2 as httpx

        mounts: dict[str, httpx.HTTPTransport] = {}
        for scheme, proxy in (("http", self.http), ("https", self.https)):
            if proxy:
                mounts[f"{scheme}://"] = httpx.HTTPTransport(proxy=proxy)
        for host in self.no_proxy if mounts else ():
            mounts[f"all://*{host}" if host != "*" else "all://"] = httpx.HTTPTransport()
        return mounts


def shown_proxy(proxy: str) -> str:
    """A proxy URL fit for a message: ``http://proxy.example:3128``, never its user or password."""
    parts = urlsplit(proxy)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


class PoliteClient:
    """GET JSON from one source's hosts, politely (see the module docstring).

    ``name`` starts every error line (``"4chan"``); ``min_interval_s``: the least time between two
    requests to one host; ``intervals``: other minimums for named hosts. Use as a context
    manager, or call :meth:`close`.
    """

    def __init__(self, name: str, *, min_interval_s: float = 1.0,
                 intervals: Mapping[str, float] | None = None, contact: str | None = None,
                 proxies: Proxies | None = None, timeout_s: float = 20.0, max_retries: int = 4,
                 backoff_s: float = 2.0, max_wait_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None):
        import httpx2 as httpx  # here, not at the top: importing the sources stays light for the UI

        self.name = name
        self.min_interval_s = min_interval_s
        self.intervals = dict(intervals or {})
        self.proxies = proxies or Proxies()
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self.clock = clock
        self.sleep = sleep
        self.requests = 0  # how many were sent (progress: "requests")
        self.waited_s = 0.0  # time spent in rate-limit and backoff waits
        self.last_headers: Mapping[str, str] = {}  # of the latest answer (rate-limit headers)
        self._last_request: dict[str, float] = {}
        self._not_before: dict[str, float] = {}  # host -> the clock before which it is not asked
        self._last_modified: dict[str, str] = {}
        try:
            mounts = self.proxies.mounts() if transport is None else None
        except ImportError:  # a socks5:// proxy without the socksio package
            raise DataError(name, None, "a proxy.* setting names a SOCKS proxy, which needs the "
                            "socksio package", "pip install socksio") from None
        self._http = httpx.Client(
            headers={"User-Agent": user_agent(contact), "Accept": "application/json"},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            follow_redirects=True, transport=transport, mounts=mounts or None,
            trust_env=not mounts)  # settings, when given, win over the environment's proxies

    @property
    def user_agent(self) -> str:
        return self._http.headers["User-Agent"]

    def get_json(self, url: str, *, conditional: bool = True,
                 what: str | None = None) -> Any:
        """The JSON at ``url``, or :data:`NOT_MODIFIED` when ``conditional`` and the server says
        it has not changed since the last fetch. ``what`` names the page in an error line (the
        URL otherwise). Raises DataError."""
        headers = {}
        if conditional and url in self._last_modified:
            headers["If-Modified-Since"] = self._last_modified[url]
        response = self._send(url, headers, what or url)
        self.last_headers = response.headers
        if response.status_code == 304:
            return NOT_MODIFIED
        if response.headers.get("Last-Modified"):
            self._last_modified[url] = response.headers["Last-Modified"]
        try:
            return response.json()
        except ValueError:
            raise self._error(what or url, "answered with something that is not JSON",
                              "the API may have changed, or a login page is in the way") from None

    def _send(self, url: str, headers: dict, what: str) -> httpx.Response:
        for attempt in range(self.max_retries + 1):
            self._wait_turn(url)
            response = self._request(url, headers, what)
            if response.status_code not in RETRIED_STATUSES:
                break
            wait = retry_after_s(response.headers.get("Retry-After"), time.time())
            if wait is None:
                wait = self.backoff_s * 2 ** attempt
            if attempt == self.max_retries or wait > self.max_wait_s:
                raise self._too_busy(what, response.status_code, attempt, wait)
            self.waited_s += wait
            self.sleep(wait)
        if response.status_code >= 400:
            words = STATUS_WORDS.get(response.status_code, f"answered {response.status_code} "
                                     f"{response.reason_phrase}".rstrip())
            raise HttpStatusError(self.name, what, words, STATUS_HINTS.get(response.status_code),
                                  status=response.status_code, body=response.text[:4000])
        return response

    def hold(self, url: str, seconds: float) -> None:
        """Ask ``url``'s host nothing for ``seconds`` from now (an API's own rate-limit headers
        or backoff field said so); a longer hold already set stays."""
        host = urlsplit(url).netloc
        self._not_before[host] = max(self._not_before.get(host, 0.0), self.clock() + seconds)

    def _wait_turn(self, url: str) -> None:
        host = urlsplit(url).netloc
        interval = self.intervals.get(host, self.min_interval_s)
        last = self._last_request.get(host)
        due = max(last + interval if last is not None else 0.0, self._not_before.get(host, 0.0))
        wait = due - self.clock()
        if wait > 0:
            self.waited_s += wait
            self.sleep(wait)
        self._last_request[host] = self.clock()

    def _request(self, url: str, headers: dict, what: str) -> httpx.Response:
        import httpx2 as httpx

        self.requests += 1
        try:
            response = self._http.get(url, headers=headers)
        except httpx.TimeoutException:
            raise self._error(what, "did not answer in time",
                              "the site or the network is slow; try again later") from None
        except httpx.ProxyError:
            raise self._error(what, f"the proxy {self._proxy_shown(url)} refused the request",
                              "check the proxy.* settings") from None
        except (httpx.NetworkError, httpx.UnsupportedProtocol, OSError) as e:
            raise self._error(what, *self._network_words(url, e)) from None
        # the clock starts again when the answer is in, so a slow answer does not shorten the gap
        self._last_request[urlsplit(url).netloc] = self.clock()
        return response

    def _network_words(self, url: str, exc: BaseException) -> tuple[str, str]:
        host = urlsplit(url).hostname
        proxy = self.proxies.for_url(url)
        cause = _root_cause(exc)
        if proxy:
            return (f"could not reach it through the proxy {shown_proxy(proxy)}",
                    "check the proxy.* settings (ffui settings list)")
        if isinstance(cause, socket.gaierror):
            return (f"cannot find the host {host} (DNS lookup failed)",
                    "check the address and that this machine is online")
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return f"{host} refused the connection", "is the address right and the service up?"
        if getattr(cause, "errno", None) in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "the network is unreachable", "check that this machine is online"
        return f"the connection to {host} failed", "check that this machine is online; try again"

    def _proxy_shown(self, url: str) -> str:
        proxy = self.proxies.for_url(url)
        return shown_proxy(proxy) if proxy else "(none)"

    def _too_busy(self, what: str, status: int, attempt: int, wait: float) -> DataError:
        if wait > self.max_wait_s:
            until = time.strftime("%H:%M", time.localtime(time.time() + wait))
            return self._error(what, f"asks ffui to wait {wait:.0f} s before the next request "
                               f"({status})", f"try again after {until}")
        meaning = "too many requests" if status == 429 else "service unavailable"
        return self._error(what, f"still answers {status} ({meaning}) after {attempt} retries",
                           "wait a few minutes and try again")

    def _error(self, what: str, message: str, hint: str | None = None) -> DataError:
        return DataError(self.name, what, message, hint)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def retry_after_s(value: str | None, now: float) -> float | None:
    """``Retry-After`` in seconds from ``now`` (it is seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - now)


def _root_cause(exc: BaseException) -> BaseException:
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__
    return seen


def client_settings(settings: Mapping[str, str | None]) -> dict:
    """The :class:`PoliteClient` arguments the stored settings give: contact and proxies."""
    return {"contact": settings.get("sources.contact"), "proxies": Proxies.from_settings(settings)}


__all__ = ["HttpStatusError", "NOT_MODIFIED", "PoliteClient", "Proxies", "client_settings", "retry_after_s",
           "shown_proxy", "user_agent"]
