"""A fake Hugging Face Hub for end-to-end tests: the real HTTP protocol, served from local folders.

huggingface_hub, datasets and transformers talk to it unchanged when ``HF_ENDPOINT`` points at
``hub.url``. It answers the way huggingface.co does for what those libraries ask
(huggingface_hub 2.4 / datasets 5.2 / transformers 5.23):

* ``GET /api/{models|datasets}/{repo}[/revision/{rev}]``: repo info (``sha``, ``siblings``,
  ``gated``; sizes and LFS info with ``?blobs=true``).
* ``GET /api/{models|datasets}/{repo}/tree/{rev}[/{path}]?recursive=&expand=``: a folder listing
  (HfFileSystem, list_repo_tree, list_repo_files); ``POST .../paths-info/{rev}`` (form or JSON
  ``paths``; HfFileSystem.info).
* ``HEAD|GET /{repo}/resolve/{rev}/{path}`` and ``/datasets/{repo}/resolve/{rev}/{path}``:
  small ("git") files answer 200 with ``ETag`` (git blob sha1), ``X-Repo-Commit`` and
  ``Content-Length``; LFS files (parquet, safetensors, ...) answer 302 to a signed "CDN" URL on
  another host name (``localhost`` instead of ``127.0.0.1``, so clients drop ``Authorization``
  like they do for the real CDN) with ``X-Linked-Size`` / ``X-Linked-Etag`` (sha256).
  ``Range: bytes=a-b | a- | -n`` gives 206 (or 416), on the hub and on the CDN.
* ``GET /api/agent-harnesses`` (huggingface_hub's agent detection, asked once a day).
* ``GET /api/whoami-v2``: the token's user (``fakeuser``); 401 without a valid token.

Errors carry the hub's ``X-Error-Code`` / ``X-Error-Message`` headers, which huggingface_hub
turns into its exceptions: an unknown repo is ``RepoNotFound`` (401 without a token, 404 with
one, as on the hub, which does not tell strangers whether a private repo exists); a gated repo's
files need ``Authorization: Bearer <hub.token>`` (401 ``GatedRepo`` without it; 403 ``GatedRepo``
"not in the authorized list" with ``hub.ungranted_token``, a valid token whose user has not been
granted access; its info and file list stay public, as on the hub); a wrong token is 401
"Invalid credentials in Authorization header" everywhere; an unknown revision is ``RevisionNotFound`` and a missing
file ``EntryNotFound`` (404, with ``X-Repo-Commit``).

Every request is recorded in ``hub.requests`` (method, path with query, host, Authorization
header). Anything not implemented answers 501 and is printed to stderr and kept in
``hub.unknown``, so a library that starts calling something new fails loudly.

    with FakeHub() as hub:
        hub.add_dataset("org/chat", folder, gated=True)
        env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": hub.token}
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS_SUFFIXES = {".parquet", ".arrow", ".safetensors", ".bin", ".pt", ".pth", ".h5", ".onnx",
                ".msgpack", ".gz", ".zst", ".zip"}
DATE = "2024-01-01T00:00:00.000Z"


@dataclass
class Entry:
    path: str
    file: Path
    size: int
    oid: str  # git blob sha1
    sha256: str | None  # set for LFS files

    def tree_json(self) -> dict:
        out = {"type": "file", "oid": self.oid, "size": self.size, "path": self.path}
        if self.sha256:
            out["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": 134}
        return out


@dataclass
class Repo:
    repo_id: str
    kind: str  # "model" | "dataset"
    files: dict[str, Entry]
    sha: str
    gated: bool = False
    dirs: set[str] = field(default_factory=set)


@dataclass
class Request:
    method: str
    path: str  # with the query string
    host: str
    auth: str | None


def _read_repo(repo_id: str, kind: str, folder: Path, gated: bool) -> Repo:
    files, commit = {}, hashlib.sha1(f"{kind}:{repo_id}".encode())
    for f in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        rel = f.relative_to(folder).as_posix()
        data = f.read_bytes()
        oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        lfs = f.suffix.lower() in LFS_SUFFIXES
        files[rel] = Entry(rel, f, len(data), oid, hashlib.sha256(data).hexdigest() if lfs else None)
        commit.update(f"{rel}:{oid}\n".encode())
    dirs = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
    return Repo(repo_id, kind, files, commit.hexdigest(), gated, dirs)


class FakeHub:
    def __init__(self, token: str = "hf_fakehubTOKEN0123456789abcdefXYZ",
                 ungranted_token: str = "hf_fakehubNOTGRANTED0123456789abcd"):
        self.token = token
        self.ungranted_token = ungranted_token  # valid, but its user was never granted a gated repo
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[Request] = []
        self.unknown: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    # -- set up ----------------------------------------------------------------------------
    def add_model(self, repo_id: str, folder: str | os.PathLike, gated: bool = False) -> Repo:
        return self._add(repo_id, "model", folder, gated)

    def add_dataset(self, repo_id: str, folder: str | os.PathLike, gated: bool = False) -> Repo:
        return self._add(repo_id, "dataset", folder, gated)

    def _add(self, repo_id, kind, folder, gated) -> Repo:
        self.repos[(kind, repo_id)] = repo = _read_repo(repo_id, kind, Path(folder), gated)
        return repo

    def start(self) -> Self:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # daemon threads
        threading.Thread(target=self._server.serve_forever, daemon=True, name="fakehub").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: FakeHub

    def log_message(self, *args) -> None:  # quiet; requests are recorded instead
        pass

    def _dispatch(self) -> None:
        auth = self.headers.get("Authorization")
        self.hub.requests.append(Request(self.command, self.path, self.headers.get("Host", ""), auth))
        n = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(n) if n else b""
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.segs = [unquote(s) for s in url.path.split("/")[1:]]
        self.authed = self.granted = False
        if auth is not None:
            if auth not in (f"Bearer {self.hub.token}", f"Bearer {self.hub.ungranted_token}"):
                return self._error(401, None, "Invalid credentials in Authorization header")
            self.authed = True
            self.granted = auth == f"Bearer {self.hub.token}"
        try:
            self._route()
        except (BrokenPipeError, ConnectionResetError):  # the client went away
            pass

    do_GET = do_HEAD = do_POST = _dispatch

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None,
              ctype: str = "application/json; charset=utf-8") -> None:
        headers = dict(headers or {})
        length = headers.pop("Content-Length", len(body))  # HEAD: the size of what GET sends
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, obj, headers: dict | None = None) -> None:
        self._send(200, json.dumps(obj).encode(), headers)

    def _error(self, status: int, code: str | None, message: str, headers: dict | None = None) -> None:
        h = dict(headers or {})
        if code:
            h["X-Error-Code"] = code
        h["X-Error-Message"] = message
        self._send(status, json.dumps({"error": message}).encode(), h)

    def _unknown(self) -> None:
        line = f"{self.command} {self.path}"
        self.hub.unknown.append(line)
        print(f"\n*** FAKEHUB: NOT IMPLEMENTED: {line}\n", file=sys.stderr, flush=True)
        self._error(501, None, f"fakehub does not implement {line}")

    # -- routing -----------------------------------------------------------------------------
    def _route(self) -> None:
        s = self.segs
        if s[:1] == ["_cdn"] and len(s) == 2:
            return self._cdn(s[1])
        if s[:2] == ["api", "agent-harnesses"]:  # huggingface_hub's agent detection, daily
            return self._json({"standardEnvVars": ["AI_AGENT", "AGENT"], "harnesses": {}})
        if s[:2] == ["api", "whoami-v2"] and self.command == "GET":  # who a token belongs to (ffui doctor)
            if not self.authed:
                return self._error(401, None, "Invalid credentials in Authorization header")
            return self._json({"type": "user", "name": "fakeuser", "auth": {"type": "access_token"}})
        if s[:1] == ["api"] and len(s) >= 4 and s[1] in ("models", "datasets"):
            return self._api(s[1][:-1], "/".join(s[2:4]), s[4:])
        kind, rest = ("dataset", s[1:]) if s[:1] == ["datasets"] else ("model", s)
        if len(rest) >= 5 and rest[2] == "resolve" and self.command in ("GET", "HEAD"):
            return self._resolve(kind, "/".join(rest[:2]), rest[3], "/".join(rest[4:]))
        self._unknown()

    def _repo(self, kind: str, repo_id: str, rev: str | None) -> Repo | None:
        """The repo at ``rev``, or None after answering with the hub's error."""
        repo = self.hub.repos.get((kind, repo_id))
        if repo is None:
            status = 404 if self.authed else 401
            self._error(status, "RepoNotFound", "Repository not found")
            return None
        if rev not in (None, "main", repo.sha):
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            return None
        return repo

    # -- JSON API ----------------------------------------------------------------------------
    def _api(self, kind: str, repo_id: str, rest: list[str]) -> None:
        verb = rest[0] if rest else ""
        if verb in ("", "revision") and self.command == "GET":
            rev = rest[1] if verb else None
            if (repo := self._repo(kind, repo_id, rev)) is not None:
                self._json(self._info(repo), {"X-Repo-Commit": repo.sha})
        elif verb == "tree" and len(rest) >= 2 and self.command == "GET":
            if (repo := self._repo(kind, repo_id, rest[1])) is not None:
                self._tree(repo, "/".join(rest[2:]).strip("/"))
        elif verb == "paths-info" and len(rest) == 2 and self.command == "POST":
            if (repo := self._repo(kind, repo_id, rest[1])) is not None:
                if "json" in (self.headers.get("Content-Type") or ""):
                    form = json.loads(self.body or b"{}")
                    paths, expand = form.get("paths") or [], bool(form.get("expand"))
                else:
                    form = parse_qs(self.body.decode())
                    paths, expand = form.get("paths", []), form.get("expand", [""])[-1] == "true"
                self._json([self._entry_json(repo, p.strip("/"), expand) for p in paths
                            if p.strip("/") in repo.files or p.strip("/") in repo.dirs])
        else:
            self._unknown()

    def _info(self, repo: Repo) -> dict:
        blobs = self.query.get("blobs") == "true"
        siblings = []
        for e in repo.files.values():
            sib = {"rfilename": e.path}
            if blobs:
                sib.update(size=e.size, blobId=e.oid)
                if e.sha256:
                    sib["lfs"] = {"size": e.size, "sha256": e.sha256, "pointerSize": 134}
            siblings.append(sib)
        info = {"_id": repo.sha[:24], "id": repo.repo_id, "author": repo.repo_id.split("/")[0],
                "sha": repo.sha, "lastModified": DATE, "createdAt": DATE, "private": False,
                "gated": "auto" if repo.gated else False, "disabled": False, "downloads": 0,
                "likes": 0, "tags": [], "siblings": siblings}
        if repo.kind == "model":
            info.update(modelId=repo.repo_id, library_name="transformers",
                        pipeline_tag="text-generation")
            cfg = repo.files.get("config.json")
            if cfg is not None:
                c = json.loads(cfg.file.read_text())
                info["config"] = {k: c[k] for k in ("architectures", "model_type") if k in c}
        return info

    def _entry_json(self, repo: Repo, path: str, expand: bool) -> dict:
        if path in repo.files:
            out = repo.files[path].tree_json()
        else:
            out = {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0,
                   "path": path}
        if expand:
            out["lastCommit"] = {"id": repo.sha, "title": "Upload", "date": DATE}
        return out

    def _tree(self, repo: Repo, path: str) -> None:
        if path and path not in repo.dirs:
            return self._error(404, "EntryNotFound", f"{path} does not exist on \"main\"",
                               {"X-Repo-Commit": repo.sha})
        recursive = self.query.get("recursive") == "true"
        expand = self.query.get("expand") == "true"
        prefix = path + "/" if path else ""
        names = sorted(p for p in (*repo.dirs, *repo.files) if p.startswith(prefix))
        if not recursive:
            names = [p for p in names if "/" not in p[len(prefix):]]
        # the hub lists folders first
        names.sort(key=lambda p: (p not in repo.dirs, p))
        self._json([self._entry_json(repo, p, expand) for p in names])

    # -- files -------------------------------------------------------------------------------
    def _resolve(self, kind: str, repo_id: str, rev: str, path: str) -> None:
        repo = self._repo(kind, repo_id, rev)
        if repo is None:
            return
        if repo.gated and not self.authed:
            what = "dataset" if kind == "dataset" else "model"
            return self._error(401, "GatedRepo", f"Access to {what} {repo_id} is restricted. You must "
                               "have access to it and be authenticated to access it. Please log in.")
        if repo.gated and not self.granted:
            page = f"{self.hub.url}/{'datasets/' if kind == 'dataset' else ''}{repo_id}"
            return self._error(403, "GatedRepo", f"Access to {'dataset' if kind == 'dataset' else 'model'} "
                               f"{repo_id} is restricted and you are not in the authorized list. "
                               f"Visit {page} to ask for access.")
        entry = repo.files.get(path)
        if entry is None:
            return self._error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": repo.sha})
        common = {"X-Repo-Commit": repo.sha, "Accept-Ranges": "bytes"}
        if entry.sha256:  # LFS: redirect to the "CDN", a host the token must not be sent to
            loc = (f"http://localhost:{self.hub.port}/_cdn/{entry.sha256}"
                   f"?X-Amz-Expires=3600&X-Amz-Signature={entry.sha256[:16]}&name={quote(path, safe='')}")
            return self._send(302, f"Found. Redirecting to {loc}".encode(), {
                **common, "Location": loc, "ETag": f'"{entry.sha256}"',
                "X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": entry.size},
                ctype="text/plain; charset=utf-8")
        self._file(entry, {**common, "ETag": f'"{entry.oid}"'})

    def _cdn(self, sha256: str) -> None:
        for repo in self.hub.repos.values():
            for e in repo.files.values():
                if e.sha256 == sha256:
                    return self._file(e, {"ETag": f'"{sha256}"', "Accept-Ranges": "bytes"})
        self._send(404, b"NoSuchKey", ctype="text/plain")

    def _file(self, entry: Entry, headers: dict) -> None:
        size, rng = entry.size, self.headers.get("Range")
        start, end, status = 0, size - 1, 200
        if rng and self.command == "GET":
            spec = rng.strip().removeprefix("bytes=")
            a, _, b = spec.partition("-")
            if "," in spec or not (a or b):
                return self._unknown()
            if a:
                start, end = int(a), min(int(b), size - 1) if b else size - 1
            else:
                start = max(0, size - int(b))
            if start >= size:
                return self._send(416, b"", {**headers, "Content-Range": f"bytes */{size}"})
            status = 206
            headers = {**headers, "Content-Range": f"bytes {start}-{end}/{size}"}
        with open(entry.file, "rb") as f:
            f.seek(start)
            data = f.read(end - start + 1)
        ctype = "application/json" if entry.path.endswith(".json") else "application/octet-stream"
        if self.command == "HEAD":
            return self._send(status, b"", {**headers, "Content-Length": size}, ctype=ctype)
        self._send(status, data, headers, ctype=ctype)
