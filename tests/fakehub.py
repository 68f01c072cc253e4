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

Uploads, as ``create_repo`` and ``upload_folder`` send them with ``HF_HUB_DISABLE_XET=1`` (the
Xet protocol is not spoken here; without hf_xet the client speaks the same legacy LFS protocol):

* ``POST /api/repos/create`` (``name``, ``organization``, ``type``, ``visibility``): the repo,
  empty; 409 "You already created this model repo" when it exists; 403 when the token may not
  write to the namespace (``hub.token`` writes to ``hub.writable``, ``hub.ungranted_token`` only
  to ``hub.other_user``); 401 without a token.
* ``POST /api/validate-yaml`` (a README's metadata; no errors).
* ``POST /api/{models|datasets}/{repo}/preupload/{rev}``: ``uploadMode`` lfs for the LFS
  suffixes and files over 10 MB, else regular.
* ``POST /{datasets/}{repo}.git/info/lfs/objects/batch`` (``operation: upload``, ``basic``
  transfer): an upload and a verify action per object not stored yet; then ``PUT`` of the bytes
  to the upload action (checked against their sha256, chunked or not) and ``POST`` verify.
* ``POST /api/{models|datasets}/{repo}/commit/{rev}`` (NDJSON: a ``header``, then ``file``
  (base64) and ``lfsFile`` (sha256 of an uploaded object) lines): a new commit whose files are
  then served by the download API above. Each commit is kept in ``hub.commits``.

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

import base64
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS_SUFFIXES = {".parquet", ".arrow", ".safetensors", ".bin", ".pt", ".pth", ".h5", ".onnx",
                ".msgpack", ".gz", ".zst", ".zip"}
DATE = "2024-01-01T00:00:00.000Z"
LFS_MIN_SIZE = 10 * 1024 * 1024  # bigger files go to LFS whatever their suffix, as on the hub


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
    private: bool = False
    folder: Path | None = None  # where its files are (uploads land in the hub's own folder)


@dataclass
class Commit:
    repo_id: str
    kind: str
    summary: str
    files: list[str]  # paths in the repo, in the order sent
    lfs_files: list[str]  # those of them sent as LFS pointers


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
        lfs = f.suffix.lower() in LFS_SUFFIXES or len(data) > LFS_MIN_SIZE
        files[rel] = Entry(rel, f, len(data), oid, hashlib.sha256(data).hexdigest() if lfs else None)
        commit.update(f"{rel}:{oid}\n".encode())
    dirs = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
    return Repo(repo_id, kind, files, commit.hexdigest(), gated, dirs, folder=Path(folder))


class FakeHub:
    def __init__(self, token: str = "hf_fakehubTOKEN0123456789abcdefXYZ",
                 ungranted_token: str = "hf_fakehubNOTGRANTED0123456789abcd"):
        self.token = token
        self.ungranted_token = ungranted_token  # valid, but its user was never granted a gated repo
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[Request] = []
        self.unknown: list[str] = []
        self.commits: list[Commit] = []
        self.user, self.other_user = "fakeuser", "someone-else"
        self.writable = {self.user, "fakeorg"}  # namespaces hub.token may create repos in and write to
        self._uploads = Path(tempfile.mkdtemp(prefix="fakehub-"))  # uploaded repos and LFS objects
        self._lfs: dict[str, Path] = {}  # sha256 -> the uploaded object
        self._lock = threading.Lock()
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
        shutil.rmtree(self._uploads, ignore_errors=True)

    def can_write(self, token_user: str | None, repo_id: str) -> bool:
        return repo_id.split("/")[0] in (self.writable if token_user == self.user else {token_user})

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
        self.body = self._read_body()
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

    do_GET = do_HEAD = do_POST = do_PUT = _dispatch

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers, up to the empty line
                pass
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    @property
    def token_user(self) -> str | None:
        if not self.authed:
            return None
        return self.hub.user if self.granted else self.hub.other_user

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
        if s[:1] == ["_lfs"] and len(s) == 3:
            return self._lfs_object(s[1], s[2])
        if s == ["api", "repos", "create"] and self.command == "POST":
            return self._create_repo()
        if s == ["api", "validate-yaml"] and self.command == "POST":
            return self._json({"errors": [], "warnings": []})
        if s[-4:] == ["info", "lfs", "objects", "batch"] and self.command == "POST":
            kind, repo = ("dataset", s[1:-4]) if s[:1] == ["datasets"] else ("model", s[:-4])
            return self._lfs_batch(kind, "/".join(repo).removesuffix(".git"))
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
        elif verb in ("preupload", "commit") and len(rest) == 2 and self.command == "POST":
            if (repo := self._writable_repo(kind, repo_id, rest[1])) is not None:
                (self._preupload if verb == "preupload" else self._commit)(repo)
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

    # -- uploads -----------------------------------------------------------------------------
    def _create_repo(self) -> None:
        form = json.loads(self.body or b"{}")
        kind = form.get("type") or "model"
        repo_id = f"{form.get('organization') or self.token_user}/{form.get('name')}"
        if not self.authed:
            return self._error(401, None, "Invalid username or password.")
        if not self.hub.can_write(self.token_user, repo_id):
            return self._error(403, None, f"You don't have the rights to create a {kind} under the namespace "
                               f"\"{repo_id.split('/')[0]}\"")
        url = f"{self.hub.url}/{'datasets/' if kind == 'dataset' else ''}{repo_id}"
        with self.hub._lock:
            if (kind, repo_id) in self.hub.repos:  # the hub's 409 names the repo's URL too
                message = f"You already created this {kind} repo"
                return self._send(409, json.dumps({"error": message, "url": url}).encode(),
                                  {"X-Error-Message": message})
            folder = self.hub._uploads / kind / repo_id
            folder.mkdir(parents=True)
            repo = _read_repo(repo_id, kind, folder, False)
            repo.private = form.get("visibility") == "private" or bool(form.get("private"))
            self.hub.repos[(kind, repo_id)] = repo
        self._json({"url": url, "name": repo_id, "id": repo.sha[:24]})

    def _writable_repo(self, kind: str, repo_id: str, rev: str) -> Repo | None:
        repo = self._repo(kind, repo_id, rev)
        if repo is not None and not self.hub.can_write(self.token_user, repo_id):
            self._error(403, None, f"You don't have the rights to write to {repo_id}")
            return None
        return repo

    def _preupload(self, repo: Repo) -> None:
        files = []
        for f in json.loads(self.body or b"{}").get("files", []):
            lfs = Path(f["path"]).suffix.lower() in LFS_SUFFIXES or int(f.get("size") or 0) > LFS_MIN_SIZE
            files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                          "oid": None})
        self._json({"files": files, "commitOid": repo.sha})

    def _lfs_batch(self, kind: str, repo_id: str) -> None:
        if self._writable_repo(kind, repo_id, None) is None:
            return
        form = json.loads(self.body or b"{}")
        if form.get("operation") != "upload" or "basic" not in (form.get("transfers") or ["basic"]):
            return self._unknown()
        objects = []
        for o in form.get("objects", []):
            obj = {"oid": o["oid"], "size": o["size"], "authenticated": True}
            if o["oid"] not in self.hub._lfs:
                obj["actions"] = {"upload": {"href": f"{self.hub.url}/_lfs/{o['oid']}/upload", "header": {}},
                                  "verify": {"href": f"{self.hub.url}/_lfs/{o['oid']}/verify", "header": {}}}
            objects.append(obj)
        body = json.dumps({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}).encode()
        self._send(200, body, ctype="application/vnd.git-lfs+json")

    def _lfs_object(self, oid: str, action: str) -> None:
        if action == "upload" and self.command == "PUT":
            if hashlib.sha256(self.body).hexdigest() != oid:
                return self._error(400, None, "the uploaded bytes do not match their sha256")
            path = self.hub._uploads / "lfs" / oid
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(self.body)
            self.hub._lfs[oid] = path
            return self._send(200, b"", ctype="text/plain")
        if action == "verify" and self.command == "POST":
            if oid not in self.hub._lfs:
                return self._error(404, None, f"object {oid} was never uploaded")
            return self._json({"success": True})
        self._unknown()

    def _commit(self, repo: Repo) -> None:
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            return self._error(400, None, "a commit starts with its header line")
        staged: dict[str, bytes | Path] = {}
        lfs_files = []
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file":
                staged[value["path"]] = base64.b64decode(value["content"])
            elif line["key"] == "lfsFile":
                if value["oid"] not in self.hub._lfs:
                    return self._error(422, None, f"LFS object {value['oid']} of {value['path']} was never uploaded")
                staged[value["path"]] = self.hub._lfs[value["oid"]]
                lfs_files.append(value["path"])
            else:
                return self._unknown()
        with self.hub._lock:
            folder = repo.folder
            for path, content in staged.items():
                target = folder / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content if isinstance(content, bytes) else content.read_bytes())
            new = _read_repo(repo.repo_id, repo.kind, folder, repo.gated)
            new.private = repo.private
            self.hub.repos[(repo.kind, repo.repo_id)] = new
            self.hub.commits.append(Commit(repo.repo_id, repo.kind, lines[0]["value"].get("summary", ""),
                                           list(staged), lfs_files))
        prefix = "datasets/" if repo.kind == "dataset" else ""
        self._json({"success": True, "commitOid": new.sha, "pullRequestUrl": None,
                    "commitUrl": f"{self.hub.url}/{prefix}{repo.repo_id}/commit/{new.sha}"})
