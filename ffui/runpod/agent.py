"""The pod's agent: a small HTTP server that runs one ffui worker in a RunPod pod.

Standard library only: it is shipped base64-encoded in the pod's start command (ffui.runpod.pod)
and runs on whatever Python the image has. Its environment (set by ffui when it creates the pod):

  FFUI_AGENT_TOKEN     every request must carry ``Authorization: Bearer <token>`` (per run)
  FFUI_AGENT_PORT      the port it listens on (8000 on RunPod, exposed as 8000/http)
  FFUI_POD_WORKDIR     where it works (/workspace/ffui): run/ (the run directory), pkg/ (ffui's
                       worker package, on PYTHONPATH), model/ (an uploaded base model)
  FFUI_AGENT_SILENCE_S it ends its own pod after its supervisor has been silent this long
  FFUI_AGENT_MAX_S     ... or after running this long (0: no limit)
  FFUI_RUNPOD_API      the API it ends its pod through (default https://api.runpod.io)

It ends its own pod with RunPod's pod-scoped key, which RunPod puts into every pod as
RUNPOD_API_KEY beside RUNPOD_POD_ID (ffui never puts the user's key into the pod). Before that it
asks the worker to save a checkpoint and stop; if that key is absent it stops its container.

Requests: GET /status; PUT /upload (a tar.gz of the work directory, then it installs what is
missing and starts the worker); GET /file?path=run/train.log&offset=N (bytes from N, the file's
size in X-Size); GET /tree?under=run/adapter; POST /stop, /checkpoint, /kill. No request is
long: RunPod's proxy drops those past about 100 s.
"""

from __future__ import annotations

import hmac
import importlib.util
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

CHUNK = 1 << 20  # the most bytes one /file answer carries


class Agent:
    def __init__(self, env: dict[str, str]):
        self.token = env["FFUI_AGENT_TOKEN"]
        self.workdir = Path(env.get("FFUI_POD_WORKDIR") or "/workspace/ffui")
        self.run_dir = self.workdir / "run"
        self.silence_s = float(env.get("FFUI_AGENT_SILENCE_S") or 3600)
        self.max_s = float(env.get("FFUI_AGENT_MAX_S") or 0)
        self.api = env.get("FFUI_RUNPOD_API") or "https://api.runpod.io"
        self.pod_id, self.pod_key = env.get("RUNPOD_POD_ID"), env.get("RUNPOD_API_KEY")
        self.started = self.last_contact = time.monotonic()
        self.state, self.error, self.exit_code = "waiting", None, None
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()

    # -- what the supervisor asks ----------------------------------------------------------

    def status(self) -> dict:
        try:
            free = shutil.disk_usage(self.workdir).free
        except OSError:
            free = None
        return {"state": self.state, "exit_code": self.exit_code, "error": self.error, "disk_free": free,
                "workdir": str(self.workdir),
                "uptime_s": round(time.monotonic() - self.started)}

    def upload(self, body: bytes) -> dict:
        with self.lock:
            if self.state != "waiting":
                return self.status()  # a second supervisor's upload: the first one already started it
            self.workdir.mkdir(parents=True, exist_ok=True)
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
                tar.extractall(self.workdir, filter="data")
            config = self.run_dir / "config.json"  # its paths name {pod_workdir}: make them ours
            config.write_text(config.read_text().replace("{pod_workdir}", json.dumps(str(self.workdir))[1:-1]))
            self.state = "installing"
        threading.Thread(target=self.install_and_run, daemon=True).start()
        return self.status()

    def install_and_run(self) -> None:
        job = json.loads((self.workdir / "job.json").read_text())
        log = open(self.run_dir / "train.log", "ab")
        try:
            missing = [spec for name, spec in job.get("packages", []) if importlib.util.find_spec(name) is None]
            if missing:
                log.write(f"agent: installing {', '.join(missing)}\n".encode())
                log.flush()
                done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], stdout=log,
                                      stderr=subprocess.STDOUT)
                if done.returncode:
                    self.finish(1, f"pip could not install {', '.join(missing)} (see the log above)")
                    return
            env = dict(os.environ, **job.get("env", {}))
            for name in ("FFUI_AGENT_TOKEN", "RUNPOD_API_KEY"):
                env.pop(name, None)  # the worker needs neither
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.workdir / "pkg"), env.get("PYTHONPATH")]))
            command = [sys.executable if word == "{python}" else word.replace("{run}", str(self.run_dir))
                       for word in job["command"]]
            self.proc = subprocess.Popen(command, cwd=self.run_dir, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env, start_new_session=True)
            self.state = "running"
            self.finish(self.proc.wait())
        except OSError as exc:
            self.finish(1, f"the agent could not start the worker: {exc}")
        finally:
            log.close()

    def finish(self, code: int, error: str | None = None) -> None:
        self.exit_code, self.error, self.state = code, error, "exited"

    def control(self, what: str) -> None:
        if what == "kill":
            if self.proc and self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
            return
        folder = self.run_dir / "control"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / what).touch()
        if what == "stop" and self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def read(self, rel: str, offset: int) -> tuple[bytes, int] | None:
        path = self.inside(rel)
        if path is None or not path.is_file():
            return None
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(min(offset, size))
            return fh.read(CHUNK), size

    def tree(self, rel: str) -> list[dict]:
        top = self.inside(rel)
        if top is None or not top.is_dir():
            return []
        return [{"path": str(p.relative_to(self.workdir)), "size": p.stat().st_size}
                for p in sorted(top.rglob("*")) if p.is_file()]

    def inside(self, rel: str) -> Path | None:
        path = (self.workdir / rel).resolve()
        return path if path.is_relative_to(self.run_dir.resolve()) else None

    # -- ending its own pod ----------------------------------------------------------------

    def watchdog(self) -> None:
        while True:
            time.sleep(min(5.0, max(0.2, self.silence_s / 10)))
            now = time.monotonic()
            if now - self.last_contact > self.silence_s:
                self.end_pod(f"no word from its supervisor for {self.silence_s:.0f}s")
            elif self.max_s and now - self.started > self.max_s:
                self.end_pod(f"it ran for its maximum of {self.max_s:.0f}s")

    def end_pod(self, why: str) -> None:
        print(f"agent: ending this pod: {why}", flush=True)
        if self.proc and self.proc.poll() is None:
            self.control("stop")  # a checkpoint first: a later resume starts from it
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.control("kill")
        if self.pod_id and self.pod_key:
            query = json.dumps({"query": f'mutation {{ podTerminate(input: {{podId: "{self.pod_id}"}}) }}'})
            request = urllib.request.Request(f"{self.api}/graphql", data=query.encode(), method="POST", headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {self.pod_key}"})
            try:
                urllib.request.urlopen(request, timeout=30).read()
            except OSError as exc:
                print(f"agent: could not terminate the pod ({exc}); stopping its container", flush=True)
        os._exit(0)

    def authorised(self, header: str | None) -> bool:
        ok = hmac.compare_digest((header or "").encode(), f"Bearer {self.token}".encode())
        if ok:
            self.last_contact = time.monotonic()
        return ok


def handler_for(agent: Agent) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet: the requests are ffui's own polling
            pass

        def reply(self, code: int, body: bytes | dict, headers: dict | None = None) -> None:
            data = json.dumps(body).encode() if isinstance(body, dict | list) else body
            self.send_response(code)
            for key, value in (headers or {}).items():
                self.send_header(key, str(value))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def route(self, method: str) -> None:
            if not agent.authorised(self.headers.get("Authorization")):
                return self.reply(401, {"error": "unauthorised"})
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            try:
                if method == "GET" and url.path == "/status":
                    return self.reply(200, agent.status())
                if method == "GET" and url.path == "/file":
                    got = agent.read(query.get("path", ""), int(query.get("offset", 0)))
                    if got is None:
                        return self.reply(404, {"error": "no such file"})
                    return self.reply(200, got[0], {"X-Size": got[1]})
                if method == "GET" and url.path == "/tree":
                    return self.reply(200, {"files": agent.tree(query.get("under", "run"))})
                if method == "PUT" and url.path == "/upload":
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    return self.reply(200, agent.upload(body))
                if method == "POST" and url.path in ("/stop", "/checkpoint", "/kill"):
                    agent.control(url.path[1:])
                    return self.reply(200, agent.status())
            except (OSError, ValueError, tarfile.TarError) as exc:
                return self.reply(500, {"error": f"{type(exc).__name__}: {exc}"})
            self.reply(404, {"error": "no such request"})

        def do_GET(self) -> None:
            self.route("GET")

        def do_PUT(self) -> None:
            self.route("PUT")

        def do_POST(self) -> None:
            self.route("POST")

    return Handler


def main() -> int:
    agent = Agent(dict(os.environ))
    agent.workdir.mkdir(parents=True, exist_ok=True)
    port = int(os.environ.get("FFUI_AGENT_PORT") or 8000)
    server = ThreadingHTTPServer((os.environ.get("FFUI_AGENT_HOST") or "0.0.0.0", port), handler_for(agent))
    threading.Thread(target=agent.watchdog, daemon=True).start()
    print(f"agent: listening on port {port}, working in {agent.workdir}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
