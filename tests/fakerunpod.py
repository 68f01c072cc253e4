"""A fake RunPod for end-to-end tests: its GraphQL API as the runpod SDK (1.12) speaks it, and
pods that are real processes on this machine.

ffui (the SDK inside it) talks to it unchanged when ``RUNPOD_API_BASE_URL`` is ``fake.url``. It
answers ``POST /graphql`` the way api.runpod.io does for what the SDK sends:

* the key in ``Authorization: Bearer``; a wrong or missing key is HTTP 401 (the SDK raises
  ``AuthenticationError``); every other error is HTTP 200 with ``{"errors": [{"message"}]}``
  (the SDK raises ``QueryError(message)``);
* ``gpuTypes`` (all, with prices; or ``input: {id}``, which ``create_pod`` asks first);
* ``podFindAndDeployOnDemand(input: {...})``: "There are no longer any instances available with
  the requested specifications" while a GPU type has no capacity; else a pod whose ``runtime``
  is null until its start command is running and its agent port answers;
* ``myself { pods }``, ``pod(input: {podId})`` (null when there is none), ``podTerminate``
  (an unknown pod is an error, as on RunPod).

A pod's start command (``dockerArgs``) runs here, in its own process group and a temporary work
directory, with the pod's env, ``FFUI_AGENT_PORT`` and ``FFUI_POD_WORKDIR`` rewritten to free
local values, ``RUNPOD_POD_ID`` and a pod-scoped ``RUNPOD_API_KEY`` added (as RunPod does), and
this virtualenv's bin first on PATH (its ``python3`` has what the worker needs). Its HTTP port is
reached at ``fake.proxy_url`` (``/proxy/{pod_id}/{port}/...``), which forwards to the agent and
answers 502 while nothing listens, as RunPod's proxy does.

Faults a test sets: ``capacity[gpu] = 0``; ``never_start`` (images whose pods never get a
runtime); ``fail_after_create`` (the next create makes the pod, then answers an error);
``proxy_errors[pod_id] = n`` (the next n proxied requests answer 502); ``vanish(pod_id)``;
``uptime_scale`` (billing runs that many times faster than the clock); ``disk`` (a folder, e.g. a
small tmpfs, for the pods' work directories).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BIN = Path(sys.executable).parent
GPUS = {"NVIDIA A40": 0.39, "NVIDIA L40S": 0.79, "NVIDIA RTX A6000": 0.49, "NVIDIA GeForce RTX 4090": 0.69}
NO_CAPACITY = "There are no longer any instances available with the requested specifications. Please refresh and try again."


@dataclass
class Pod:
    id: str
    name: str
    image: str
    gpu: str
    gpu_count: int
    env: dict
    docker_args: str
    cost_per_hr: float
    created: float = field(default_factory=time.time)
    workdir: Path | None = None
    port: int = 0
    key: str = ""
    proc: subprocess.Popen | None = None
    log: Path | None = None

    def runtime(self) -> dict | None:
        if self.proc is None or self.proc.poll() is not None:
            return None
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError:
            return None
        return {"ports": [{"ip": "127.0.0.1", "isIpPublic": False, "privatePort": 8000, "publicPort": self.port,
                           "type": "http"}]}


class FakeRunPod:
    def __init__(self) -> None:
        self.key = "rp_" + secrets.token_hex(16)
        self.pods: dict[str, Pod] = {}
        self.terminated: list[str] = []
        self.capacity: dict[str, int] = {gpu: 99 for gpu in GPUS}
        self.never_start: set[str] = set()
        self.fail_after_create = False
        self.proxy_errors: dict[str, int] = {}
        self.uptime_scale = 1.0
        self.requests: list[dict] = []  # every request: path (with query), Authorization, body
        self.lock = threading.RLock()
        self.root = Path(tempfile.mkdtemp(prefix="fakerunpod-"))
        self.disk: Path | None = None  # where pods' work directories go instead (a small tmpfs: a full pod disk)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.proxy_url = self.url + "/proxy/{pod_id}/{port}"

    def __enter__(self) -> "FakeRunPod":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        for pod in list(self.pods.values()):
            self.stop(pod)
        self.server.shutdown()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- pods -----------------------------------------------------------------------------

    def create(self, fields: dict) -> Pod:
        pod_id = secrets.token_hex(7)
        gpu = fields["gpuTypeId"]
        pod = Pod(pod_id, fields["name"], fields["imageName"], gpu, int(fields.get("gpuCount") or 1),
                  fields.get("env") or {}, fields.get("dockerArgs") or "", GPUS[gpu] * int(fields.get("gpuCount") or 1))
        pod.key = "pod_" + secrets.token_hex(12)
        self.pods[pod_id] = pod
        if pod.image not in self.never_start and pod.docker_args:  # (a test's bare pod has no command)
            self.boot(pod)
        return pod

    def boot(self, pod: Pod) -> None:
        pod.workdir = (self.disk or self.root) / pod.id / "workspace"
        pod.workdir.mkdir(parents=True)
        (self.root / pod.id).mkdir(exist_ok=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            pod.port = s.getsockname()[1]
        env = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(self.root / pod.id),
               **pod.env, "FFUI_AGENT_PORT": str(pod.port), "FFUI_POD_WORKDIR": str(pod.workdir),
               "FFUI_AGENT_HOST": "127.0.0.1", "RUNPOD_POD_ID": pod.id, "RUNPOD_API_KEY": pod.key}
        pod.log = self.root / pod.id / "container.log"
        with open(pod.log, "ab") as log:
            pod.proc = subprocess.Popen(shlex.split(pod.docker_args), env=env, stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                        cwd=self.root / pod.id)

    def stop(self, pod: Pod) -> None:
        if pod.proc is not None and pod.proc.poll() is None:
            try:
                os.killpg(pod.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            pod.proc.wait()

    def terminate(self, pod_id: str) -> bool:
        with self.lock:
            pod = self.pods.pop(pod_id, None)
        if pod is None:
            return False
        self.stop(pod)
        self.terminated.append(pod_id)
        return True

    def vanish(self, pod_id: str) -> None:
        """The pod is gone without ffui asking (RunPod reclaimed it, or a user on the web site)."""
        self.terminate(pod_id)

    def ffui_pods(self) -> list[Pod]:
        return [p for p in self.pods.values() if p.name.startswith("ffui-")]

    def pod_json(self, pod: Pod) -> dict:
        uptime = (time.time() - pod.created) * self.uptime_scale
        return {"id": pod.id, "name": pod.name, "imageName": pod.image, "costPerHr": pod.cost_per_hr,
                "desiredStatus": "RUNNING", "gpuCount": pod.gpu_count, "uptimeSeconds": int(uptime),
                "env": [f"{k}={v}" for k, v in pod.env.items()], "dockerArgs": pod.docker_args,
                "runtime": pod.runtime(), "machine": {"gpuDisplayName": pod.gpu.replace("NVIDIA ", "")}}

    # -- GraphQL --------------------------------------------------------------------------

    def answer(self, query: str, key: str | None) -> tuple[int, dict]:
        terminate = re.search(r'podTerminate\(input:\s*\{\s*podId:\s*"([^"]*)"', query)
        own_pod = next((p for p in self.pods.values() if p.key and p.key == key), None)
        if key != self.key and not (terminate and own_pod and own_pod.id == terminate.group(1)):
            return 401, {"errors": [{"message": "Unauthorized"}]}
        if terminate:
            if not self.terminate(terminate.group(1)):
                return 200, {"errors": [{"message": "pod not found to terminate"}], "data": None}
            return 200, {"data": {"podTerminate": None}}
        one = re.search(r'gpuTypes\(input:\s*\{id:\s*"([^"]*)"\}\)', query)
        if one:
            gpu = one.group(1)
            return 200, {"data": {"gpuTypes": [self.gpu_json(gpu)] if gpu in GPUS else []}}
        if "gpuTypes" in query:
            return 200, {"data": {"gpuTypes": [self.gpu_json(g) for g in GPUS]}}
        if "podFindAndDeployOnDemand" in query:
            return self.deploy(query)
        single = re.search(r'pod\(input:\s*\{podId:\s*"([^"]*)"\}\)', query)
        if single:
            pod = self.pods.get(single.group(1))
            return 200, {"data": {"pod": self.pod_json(pod) if pod else None}}
        if "myself" in query and "pods" in query:
            return 200, {"data": {"myself": {"pods": [self.pod_json(p) for p in list(self.pods.values())]}}}
        return 200, {"errors": [{"message": f"fake RunPod does not know this query: {query[:80]}"}]}

    def gpu_json(self, gpu: str) -> dict:
        return {"id": gpu, "displayName": gpu.replace("NVIDIA ", ""), "memoryInGb": 48, "secureCloud": True,
                "communityCloud": True, "securePrice": GPUS[gpu], "communityPrice": round(GPUS[gpu] * 0.8, 2),
                "maxGpuCount": 8}

    def deploy(self, query: str) -> tuple[int, dict]:
        fields = parse_input(query)
        gpu = fields.get("gpuTypeId")
        with self.lock:
            if self.capacity.get(gpu, 0) <= 0:
                return 200, {"errors": [{"message": NO_CAPACITY}], "data": {"podFindAndDeployOnDemand": None}}
            pod = self.create(fields)
            if self.fail_after_create:
                self.fail_after_create = False
                return 200, {"errors": [{"message": "Something went wrong. Please try again later."}], "data": None}
        return 200, {"data": {"podFindAndDeployOnDemand": {"id": pod.id, "imageName": pod.image, "env": [],
                                                             "machineId": "m1", "machine": {"podHostId": pod.id},
                                                             "costPerHr": pod.cost_per_hr}}}

    # -- the proxy to a pod's HTTP port ---------------------------------------------------

    def proxy(self, method: str, path: str, headers: dict, body: bytes | None) -> tuple[int, dict, bytes]:
        m = re.match(r"/proxy/([^/]+)/(\d+)(/.*)", path)
        pod = self.pods.get(m.group(1)) if m else None
        if pod is None or pod.runtime() is None:
            return 502, {}, b"<html>502 Bad Gateway</html>"
        if self.proxy_errors.get(pod.id):
            self.proxy_errors[pod.id] -= 1
            return 502, {}, b"<html>502 Bad Gateway</html>"
        req = urllib.request.Request(f"http://127.0.0.1:{pod.port}{m.group(3)}", data=body, method=method,
                                     headers={k: v for k, v in headers.items() if k.lower() == "authorization"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()
        except OSError:
            return 502, {}, b"<html>502 Bad Gateway</html>"

    def handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def send(self, code: int, body: bytes, headers: dict | None = None) -> None:
                self.send_response(code)
                for k, v in (headers or {}).items():
                    if k.lower() in ("x-size", "content-type"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self) -> None:
                self.route("POST")

            def do_GET(self) -> None:
                self.route("GET")

            def do_PUT(self) -> None:
                self.route("PUT")

            def route(self, method: str) -> None:
                body = self.body() if method in ("POST", "PUT") else None
                auth = self.headers.get("Authorization")
                fake.requests.append({"method": method, "path": self.path, "authorization": auth,
                                      "body": (body or b"")[:4000].decode("utf-8", "replace")})
                if self.path.startswith("/proxy/"):
                    code, headers, data = fake.proxy(method, self.path, dict(self.headers), body)
                    return self.send(code, data, headers)
                if self.path.split("?")[0] != "/graphql" or method != "POST":
                    return self.send(404, b"not found")
                key = auth[7:] if auth and auth.startswith("Bearer ") else None
                try:
                    query = json.loads(body)["query"]
                except (ValueError, KeyError):
                    return self.send(400, b'{"errors": [{"message": "bad request"}]}')
                code, answer = fake.answer(query, key)
                self.send(code, json.dumps(answer).encode(), {"Content-Type": "application/json"})

        return Handler


def parse_input(query: str) -> dict:
    """The fields of ``input: { ... }`` as the SDK writes them: name: "x", gpuCount: 1, env: [...]."""
    fields: dict = {}
    for key, text, other in re.findall(r'(\w+):\s*(?:"((?:[^"\\]|\\.)*)"|([\w.]+))', query.split("env:")[0]):
        fields[key] = text if text or not other else other
    env = re.search(r"env:\s*\[(.*?)\]", query, re.S)
    if env:
        fields["env"] = dict(re.findall(r'\{\s*key:\s*"([^"]*)",\s*value:\s*"([^"]*)"\s*\}', env.group(1)))
    return fields
