"""ffui's side of the pod agent's HTTP protocol (ffui.runpod.agent): short requests, each with
the run's agent token in its Authorization header (never in the URL)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlencode

TIMEOUT_S = 20.0  # well under the ~100 s after which RunPod's proxy drops a request


class AgentUnreachable(OSError):
    """No answer, or a 5xx (the proxy's 502 while the agent is not up yet, or the agent's own)."""


class AgentClient:
    def __init__(self, url: str, token: str):
        self.url = url.rstrip("/")
        self.token = token

    def request(self, method: str, route: str, body: bytes | None = None, **query) -> tuple[bytes, dict]:
        url = f"{self.url}{route}" + (f"?{urlencode(query)}" if query else "")
        req = urllib.request.Request(url, data=body, method=method,
                                     headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
                return resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code in (401, 403):  # 401: the proxy can route to an old pod
                raise AgentUnreachable(f"the pod's agent answered HTTP {exc.code}") from None
            if exc.code == 404:
                raise FileNotFoundError(route) from None
            raise AgentUnreachable(f"the pod's agent answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise AgentUnreachable(f"the pod's agent does not answer ({getattr(exc, 'reason', exc)})") from None

    def status(self) -> dict:
        return json.loads(self.request("GET", "/status")[0])

    def upload(self, data: bytes) -> dict:
        return json.loads(self.request("PUT", "/upload", data)[0])

    def read(self, path: str, offset: int) -> tuple[bytes, int] | None:
        """Bytes of ``path`` (relative to the pod's work directory) from ``offset``, and its size."""
        try:
            data, headers = self.request("GET", "/file", path=path, offset=offset)
        except FileNotFoundError:
            return None
        return data, int(headers.get("X-Size") or 0)

    def tree(self, under: str) -> list[dict]:
        return json.loads(self.request("GET", "/tree", under=under)[0])["files"]

    def control(self, what: str) -> None:
        self.request("POST", f"/{what}", b"")
