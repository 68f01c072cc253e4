"""The ``runpod`` executor: the worker runs in a RunPod pod, under ffui's pod agent.

``start`` creates the pod (named ``ffui-<run uuid>``, trying each GPU type of the run's list,
with backoff between rounds; after a create that raised, what exists under that name is
terminated) and returns its id, GPU, $/hr, agent URL and per-run token for the row. From then on
each poll of the supervisor moves the pod along its stages, none of which blocks the poll:
waiting for the image to start (``runtime`` non-null, with a deadline), uploading the run
directory and ffui's worker package (a thread), installing, training, downloading, terminated.

``fetch`` mirrors the pod's ``train.log`` and ``events.jsonl`` into the local run directory by
byte offset, so the supervisor's tailing, app_logs and the Runs screen work unchanged. The pod's
events are kept raw in ``pods/<pod id>.events.jsonl`` and appended to ``events.jsonl`` with the
pod's paths made local and their line number in the pod (``pod_line``), which is how a new
supervisor knows where it is. The executor's own events (``pod``: stage, cost; ``error``: why a
pod failed) go into ``events.jsonl`` too, so they land in the row and the log in the same way.
Checkpoints are brought home as they appear and the adapter when training ends; only then is the
pod terminated. Whatever ends the run (completed, failed, cancelled, out of budget, lost), the
pod is terminated before the outcome is recorded, and again in ``cleanup``.

``RUN_DIR/pod.json`` is the attempt's pod (id, log base offset, created time, terminated, exit
code): written before the row names the pod, so a supervisor killed anywhere leaves enough for
the next one.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from ffui.db import register_secret
from ffui.events import CHECKPOINT, ERROR, POD, WARNING
from ffui.jobs import health
from ffui.jobs.executors.base import Executor, Launch, WorkerSpec
from ffui.runfiles import open_run_file
from ffui.runpod import bundle
from ffui.runpod.agent_client import AgentClient, AgentUnreachable
from ffui.runpod.api import BadKey, NoCapacity, RunPod, RunPodError, api_base, pod_name
from ffui.runpod.options import RUNTIME_SETTINGS, runtime_settings

AGENT_PORT = 8000
POD_WORKDIR = "/workspace/ffui"
POD_FILE = "pod.json"
COMMAND_FILE = "pod-command.json"  # the worker's command and environment, less its secrets
SECRET_ENV = ("HF_TOKEN",)
API_EVERY_S = 2.0  # how often a starting pod is asked whether it runs yet
AGENT_EVERY_S = 1.0  # how often the agent is asked how its worker is
DISK_FULL_BYTES = 8 << 20
MIRROR_CHUNKS = 8  # at most this many 1 MB answers per file per poll: a poll stays short


class CancelledWhileWaiting(Exception):
    pass


class RunPodExecutor(Executor):
    name = "runpod"

    def __init__(self) -> None:
        self.account: RunPod | None = None
        self.db = None
        self.account_error: str | None = None
        self.settings: dict[str, Any] = {k: v for k, (v, _) in RUNTIME_SETTINGS.items()}
        self.agent: AgentClient | None = None
        self.status: dict = {}
        self.ready = self.ended = False
        self.abort: str | None = None  # why the pod is ended before its worker ends: "cancelled", a failure
        self.exit_code: int | None = None
        self.last_api = self.last_cost = self.last_status = 0.0
        self.unreachable_since: float | None = None
        self.stage: str | None = None
        self.cost_stopped = False
        self.translated: int | None = None  # pod events lines already in events.jsonl
        self.pending_home: list[str] = []  # pod directories (run/checkpoints/checkpoint-N) to bring home
        self.worker: threading.Thread | None = None  # the upload or the bringing home, off the poll
        self.spec_env: dict[str, str] | None = None  # the worker's environment, when this supervisor started it
        self.secret_env: dict[str, str] = {}  # what a replacement supervisor adds back (the hub token)

    async def attach(self, db) -> None:
        from ffui.runpod.api import account

        from ffui.db import get_setting

        self.db = db  # start's waits for a GPU look for a cancel in the row
        self.settings = await runtime_settings(db)
        token = await get_setting(db, "huggingface.token")
        self.secret_env = {"HF_TOKEN": token} if token else {}
        try:
            self.account = await account(db)
        except BadKey as exc:
            self.account_error = str(exc)

    def capacity(self) -> tuple[int, str]:
        return 1 << 16, "pods run on RunPod: they do not count against this machine's limit"

    # -- the pod file ---------------------------------------------------------------------

    def pod_file(self, run: dict) -> Path:
        return Path(run["storage_path"]) / POD_FILE

    def pod_state(self, run: dict) -> dict:
        try:
            return json.loads(self.pod_file(run).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def save_state(self, run: dict, **changes: Any) -> dict:
        state = {**self.pod_state(run), **changes}
        tmp = self.pod_file(run).with_suffix(".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self.pod_file(run))
        return state

    def options(self, run: dict) -> dict:
        return (run.get("metadata") or {}).get("runpod") or {}

    # -- start: create the pod ------------------------------------------------------------

    async def start(self, run: dict, spec: WorkerSpec) -> Launch:
        if not spec.wanted:
            self.ended = True
            return Launch("not-started", note=("INFO", f"cancelled before its {spec.noun} started"))
        if self.account is None:
            raise OSError(self.account_error or "no RunPod account (the executor was not attached)")
        opts, name = self.options(run), pod_name(run["job_uuid"])
        token = secrets.token_hex(24)
        register_secret(token)  # no log line of this supervisor may show it
        self.spec_env = dict(spec.env)
        command_file = Path(run["storage_path"]) / COMMAND_FILE  # for a replacement supervisor's upload
        command_file.write_text(json.dumps({"command": spec.command, "secrets": [k for k in spec.env if k in SECRET_ENV],
                                            "env": {k: v for k, v in spec.env.items() if k not in SECRET_ENV}}),
                                encoding="utf-8")
        self.emit(run, POD, stage="creating", message=f"creating pod {name}")
        await asyncio.to_thread(self.terminate_named, name)  # an earlier attempt's, made but never recorded
        try:
            pod, gpu = await self.create(run, opts, name, token)
        except CancelledWhileWaiting:
            self.ended = True
            self.emit(run, POD, stage="terminated", message="cancelled while waiting for a GPU; no pod was made")
            return Launch("not-started", note=("INFO", "cancelled while waiting for a GPU"))
        url = self.settings["runpod.proxy_url"].format(pod_id=pod["id"], port=AGENT_PORT)
        rate = float(pod.get("costPerHr") or 0)
        log_size = (Path(run["storage_path"]) / "train.log").stat().st_size \
            if (Path(run["storage_path"]) / "train.log").exists() else 0
        self.save_state(run, pod_id=pod["id"], gpu=gpu, created_at=time.time(), log_base=log_size,
                        terminated=False, exit_code=None)
        self.emit(run, POD, id=pod["id"], gpu=gpu, cost_per_hr=rate, cost=0.0, stage="pulling the image")
        return Launch("started", {"pod_id": pod["id"], "pod_gpu": gpu, "pod_cost_per_hr": rate, "pod_cost": 0.0,
                                  "pod_stage": "pulling the image", "pod_url": url, "pod_agent_token": token},
                      ("INFO", f"pod {pod['id']} created on {gpu} (${rate:.2f}/hr); waiting for its image to start"))

    async def create(self, run: dict, opts: dict, name: str, token: str) -> tuple[dict, str]:
        """Create the pod on the first GPU type of the list that has capacity; rounds with backoff."""
        gpus = opts.get("gpus") or ["NVIDIA A40"]
        rounds, backoff = int(self.settings["runpod.capacity_rounds"]), float(self.settings["runpod.capacity_backoff_s"])
        env = self.pod_env(token)
        for round_no in range(max(1, rounds)):
            for gpu in gpus:
                health.beat(run)
                try:
                    pod = await asyncio.to_thread(self.account.create, name=name, image=opts.get("image") or "",
                                                  gpu=gpu, gpu_count=int(opts.get("gpu_count") or 1),
                                                  cloud=opts.get("cloud") or "ALL", env=env,
                                                  start_command=bundle.start_command(), port=AGENT_PORT,
                                                  disk_gb=int(self.settings["runpod.disk_gb"]))
                except NoCapacity:
                    self.emit(run, POD, stage="waiting for a GPU", level="WARNING",
                              message=f"no {gpu} free on RunPod now; trying the next GPU type")
                    continue
                except RunPodError as exc:
                    await asyncio.to_thread(self.terminate_named, name)  # a create that raised may have made it
                    raise OSError(str(exc)) from None
                if gpu != gpus[0]:
                    self.emit(run, POD, level="WARNING", message=f"got a {gpu} instead of a {gpus[0]}")
                return pod, gpu
            if round_no + 1 < rounds:
                self.emit(run, POD, stage="waiting for a GPU",
                          message=f"no GPU of {', '.join(gpus)} is free; asking again in {backoff * (round_no + 1):.0f}s")
                if not await self.sleep_beating(run, backoff * (round_no + 1)):
                    raise CancelledWhileWaiting()
        raise OSError(f"RunPod has no free {' or '.join(gpus)} now ({rounds} tries); add types with "
                      "--gpu-fallback, try --cloud all, or resume later")

    async def sleep_beating(self, run: dict, seconds: float) -> bool:
        """Wait, beating; False as soon as the run is cancelled meanwhile."""
        from ffui.db import get_training_run

        end = time.monotonic() + seconds
        while time.monotonic() < end:
            health.beat(run)
            row = await get_training_run(self.db, run["id"]) if self.db is not None else None
            if row and (row.get("metadata") or {}).get("cancel_requested"):
                return False
            await asyncio.sleep(min(1.0, max(0.0, end - time.monotonic())))
        return True

    def pod_env(self, token: str) -> dict[str, str]:
        env = {"FFUI_AGENT_TOKEN": token, "FFUI_AGENT_PORT": str(AGENT_PORT), "FFUI_POD_WORKDIR": POD_WORKDIR,
               "FFUI_AGENT_SILENCE_S": str(int(self.settings["runpod.agent_silence_s"])),
               "FFUI_AGENT_MAX_S": str(int(float(self.settings["runpod.max_hours"]) * 3600))}
        if api_base() != "https://api.runpod.io":
            env["FFUI_RUNPOD_API"] = api_base()  # where the pod ends itself (a test's fake API)
        return env

    def terminate_named(self, name: str) -> None:
        for pod in self.account.find(name):
            self.account.terminate(pod["id"])

    # -- watch: each poll moves the pod one stage on ---------------------------------------

    def started(self, run: dict) -> bool:
        return bool(run.get("pod_id")) and self.pod_state(run).get("pod_id") == run.get("pod_id")

    def running(self, run: dict) -> bool:
        state = self.pod_state(run)
        if self.ended or state.get("terminated"):
            self.exit_code = self.exit_code if self.ended else state.get("exit_code")
            self.ended = True
            return False
        if self.account is None:  # a manager's question: the row's word for it
            return run.get("status") == "running" and run.get("pod_stage") != "terminated"
        try:
            return self.advance(run, state)
        except RunPodError as exc:  # the API itself is unreachable: keep trying, the pod bills meanwhile
            return self.unreachable(run, str(exc))
        except Exception as exc:  # a bug here must not leave a pod billing with nobody to end it
            return self.fail(run, f"internal error in the RunPod executor ({type(exc).__name__}: {exc}); "
                                  "the pod was terminated")

    def advance(self, run: dict, state: dict) -> bool:
        now = time.time()
        if self.abort:
            return self.end_pod(run, 1 if self.abort != "cancelled" else None)
        if self.agent is None:
            register_secret(run["pod_agent_token"])
            self.agent = AgentClient(run["pod_url"], run["pod_agent_token"])
        if not self.ready and (not self.wait_for_runtime(run, state, now) or not self.ready):
            return not self.ended
        if self.worker is not None and self.worker.is_alive():
            return True  # uploading or bringing files home
        if now - self.last_status < AGENT_EVERY_S:
            return True
        self.last_status = now
        try:
            self.status = self.agent.status()
        except AgentUnreachable as exc:
            return self.unreachable(run, str(exc))
        self.unreachable_since = None
        agent_state = self.status.get("state")
        if agent_state == "waiting":
            self.set_stage(run, "uploading")
            self.worker = threading.Thread(target=self.upload, args=(run,), daemon=True)
            self.worker.start()
            return True
        if agent_state in ("installing", "running"):
            self.set_stage(run, "installing" if agent_state == "installing" else "training")
            self.track_cost(run, now)
            return True
        return self.worker_ended(run)

    def wait_for_runtime(self, run: dict, state: dict, now: float) -> bool:
        if now - self.last_api < API_EVERY_S:
            return True
        self.last_api = now
        pod = self.account.pod(run["pod_id"])
        if pod is None:
            return self.fail(run, gone(run))
        if pod.get("runtime"):
            self.ready = True
            return True
        deadline = float(self.settings["runpod.start_deadline_s"])
        if now - float(state.get("created_at") or now) > deadline:
            return self.fail(run, f"pod {run['pod_id']}'s image {self.options(run).get('image')} did not start "
                                  f"within {health.fmt_duration(deadline)}; check the image name, or raise "
                                  "runpod.start_deadline_s for a big image")
        return True

    def upload(self, run: dict) -> None:
        try:
            spec = json.loads((Path(run["storage_path"]) / COMMAND_FILE).read_text())
            env = self.spec_env if self.spec_env is not None else {
                **spec["env"], **{k: v for k, v in self.secret_env.items() if k in spec.get("secrets", [])}}
            data = bundle.build(Path(run["storage_path"]), spec["command"], env)
            self.agent.upload(data)
        except (OSError, ValueError) as exc:
            self.emit(run, WARNING, message=f"uploading to pod {run['pod_id']} failed ({exc}); trying again")

    def worker_ended(self, run: dict) -> bool:
        """The worker on the pod has exited: bring the rest home, then end the pod."""
        self.fetch(run)
        if self.mirror_pending(run) or (self.worker is not None and self.worker.is_alive()):
            return True
        self.set_stage(run, "downloading")
        if self.pending_home or not (Path(run["storage_path"]) / ".home-done").exists():
            self.worker = threading.Thread(target=self.bring_home, args=(run, True), daemon=True)
            self.worker.start()
            return True
        code = self.status.get("exit_code")
        if self.status.get("error"):
            self.error(run, self.status["error"], f"see: ffui runs logs {run['id']}")
        if self.cost_stopped:
            self.error(run, f"the run reached its cost limit of ${float(self.options(run).get('max_cost')):.2f}; "
                            "its last checkpoint is home", f"raise the limit and continue: ffui runs resume {run['id']}")
            code = 1
        free = self.status.get("disk_free")
        if free is not None and free < DISK_FULL_BYTES and code:  # (a full disk has 0 free: not "unknown")
            self.error(run, "the pod's disk is full", "raise the setting runpod.disk_gb, then resume the run")
        return self.end_pod(run, code)

    def track_cost(self, run: dict, now: float) -> None:
        if now - self.last_cost < float(self.settings["runpod.cost_poll_s"]):
            return
        self.last_cost = now
        pod = self.account.pod(run["pod_id"])
        if pod is None:
            self.abort = gone(run)
            self.error(run, self.abort, self.resume_hint(run))
            return
        cost = round(float(pod.get("costPerHr") or 0) * float(pod.get("uptimeSeconds") or 0) / 3600, 4)
        self.emit(run, POD, cost=cost, cost_per_hr=float(pod.get("costPerHr") or 0))
        limit = self.options(run).get("max_cost")
        if limit and cost >= float(limit) and not self.cost_stopped:
            self.cost_stopped = True
            self.emit(run, WARNING, message=f"the run has cost ${cost:.2f} of its ${float(limit):.2f} limit: "
                                            "saving a checkpoint and stopping")
            self.agent.control("stop")

    def unreachable(self, run: dict, why: str) -> bool:
        now = time.time()
        self.unreachable_since = self.unreachable_since or now
        limit = float(self.settings["runpod.unreachable_s"])
        if now - self.unreachable_since > min(limit, 10) and self.account is not None and self.ready:
            try:
                if self.account.pod(run["pod_id"]) is None:
                    return self.fail(run, gone(run))
            except RunPodError:
                pass
        if now - self.unreachable_since > limit:
            return self.fail(run, f"{why} for {limit:.0f}s; the pod was terminated")
        return True

    def fail(self, run: dict, message: str) -> bool:
        self.error(run, message, self.resume_hint(run))
        return self.end_pod(run, 1)

    def error(self, run: dict, message: str, hint: str | None) -> None:
        """Why the run fails: an ``error`` event (the run's reason) and the log line saying it."""
        self.emit(run, POD, level="ERROR", message=message + (f" ({hint})" if hint else ""))
        self.emit(run, ERROR, message=message, kind="runpod", **({"hint": hint} if hint else {}))

    def resume_hint(self, run: dict) -> str | None:
        checkpoints = Path(run["storage_path"]) / "checkpoints"
        if checkpoints.is_dir() and any(checkpoints.iterdir()):
            return f"what was fetched is kept; go on from its last checkpoint: ffui runs resume {run['id']}"
        return None

    def end_pod(self, run: dict, code: int | None) -> bool:
        """Terminate the pod, record it, and report the worker ended."""
        cost = self.final_cost(run)
        if self.account is not None and run.get("pod_id"):
            try:
                self.account.terminate(run["pod_id"])
            except RunPodError as exc:
                self.emit(run, WARNING, message=f"could not terminate pod {run['pod_id']} ({exc}); "
                                                "ffui pods terminate --orphans will")
        self.save_state(run, terminated=True, exit_code=code)
        self.emit(run, POD, stage="terminated", message=f"pod {run.get('pod_id')} terminated",
                  **({"cost": cost} if cost is not None else {}))
        self.exit_code, self.ended = code, True
        return False

    def final_cost(self, run: dict) -> float | None:
        """What the pod cost (asked before it is terminated: a terminated pod has no uptime)."""
        try:
            pod = self.account.pod(run["pod_id"]) if self.account is not None else None
        except RunPodError:
            return None
        if not pod:
            return None
        return round(float(pod.get("costPerHr") or 0) * float(pod.get("uptimeSeconds") or 0) / 3600, 4)

    def set_stage(self, run: dict, stage: str) -> None:
        if stage != self.stage and stage != run.get("pod_stage"):
            self.emit(run, POD, stage=stage, message=f"pod {run['pod_id']}: {stage}")
        self.stage = stage

    def exit_status(self, run: dict) -> int | None:
        return self.exit_code

    def describe(self, run: dict) -> str:
        return f"pod {run.get('pod_id')}"

    def leftovers(self, run: dict) -> bool:
        return run.get("status") == "running" and bool(run.get("pod_id")) and run.get("pod_stage") != "terminated"

    def disk_full(self, run: dict) -> bool:
        return False  # the pod's disk is said by its own error (worker_ended); the local one is fine

    # -- requests -------------------------------------------------------------------------

    def request_stop(self, run: dict) -> None:
        state = self.status.get("state")
        if state in ("installing", "running"):
            self.control(run, "stop")
        elif state != "exited":
            self.abort = "cancelled"  # nothing trains yet (creating, pulling, uploading): end the pod now

    def request_checkpoint(self, run: dict) -> None:
        self.control(run, "checkpoint")

    def kill(self, run: dict) -> None:
        try:
            self.control(run, "kill")
        finally:
            self.abort = self.abort or "killed"

    def control(self, run: dict, what: str) -> None:
        if not run.get("pod_url"):
            return
        try:
            (self.agent or AgentClient(run["pod_url"], run["pod_agent_token"])).control(what)
        except AgentUnreachable:
            pass  # a stop the agent did not get: the cancel's kill comes after its grace

    # -- files ----------------------------------------------------------------------------

    def fetch(self, run: dict) -> None:
        """Append what the pod's train.log and events.jsonl gained to the local files."""
        if self.ended or not self.ready or self.agent is None or self.status.get("state") in (None, "waiting"):
            return
        try:
            self.mirror_log(run)
            self.mirror_events(run)
        except AgentUnreachable:
            pass  # the next poll tries again from the same offsets
        if self.pending_home and (self.worker is None or not self.worker.is_alive()):
            self.worker = threading.Thread(target=self.bring_home, args=(run, False), daemon=True)
            self.worker.start()

    def mirror_log(self, run: dict) -> None:
        local = Path(run["storage_path"]) / "train.log"
        base = int(self.pod_state(run).get("log_base") or 0)
        for _ in range(MIRROR_CHUNKS):
            size = local.stat().st_size if local.exists() else 0
            got = self.agent.read("run/train.log", max(0, size - base))
            if not got or not got[0]:
                return
            append(local, got[0])

    def mirror_events(self, run: dict) -> None:
        run_dir = Path(run["storage_path"])
        raw = run_dir / "pods" / f"{run['pod_id']}.events.jsonl"
        raw.parent.mkdir(exist_ok=True)
        for _ in range(MIRROR_CHUNKS):
            got = self.agent.read("run/events.jsonl", raw.stat().st_size if raw.exists() else 0)
            if not got or not got[0]:
                break
            append(raw, got[0])
        if raw.exists():
            self.translate(run, raw)

    def translate(self, run: dict, raw: Path) -> None:
        """Append the pod's whole event lines not yet in events.jsonl, its paths made local."""
        local = Path(run["storage_path"]) / "events.jsonl"
        if self.translated is None:
            self.translated = last_pod_line(local, run["pod_id"])
        lines = raw.read_bytes().split(b"\n")[:-1]  # whole lines only
        pod_dir = json.dumps(str(self.status.get("workdir") or POD_WORKDIR) + "/run")[1:-1]
        home_dir = json.dumps(str(run["storage_path"]))[1:-1]
        out = []
        for number, line in enumerate(lines[self.translated:], start=self.translated + 1):
            try:
                event = json.loads(line.decode("utf-8", "replace").replace(pod_dir, home_dir))
            except ValueError:
                continue
            event.update(pod=run["pod_id"], pod_line=number)
            if event.get("type") == CHECKPOINT and event.get("path"):
                self.pending_home.append(f"run/checkpoints/{Path(event['path']).name}")
            out.append(json.dumps(event))
        if out:
            append(local, ("\n".join(out) + "\n").encode())
        self.translated = len(lines)

    def mirror_pending(self, run: dict) -> bool:
        """Is more of the two files left in the pod than is home?"""
        try:
            got = self.agent.read("run/events.jsonl", 1 << 62)
            raw = Path(run["storage_path"]) / "pods" / f"{run['pod_id']}.events.jsonl"
            return bool(got) and got[1] > (raw.stat().st_size if raw.exists() else 0)
        except AgentUnreachable:
            return False

    def bring_home(self, run: dict, final: bool) -> None:
        """Download the checkpoints listed (and, at the end, the adapter and the last checkpoint),
        each into .incoming/ first and moved into place when whole."""
        run_dir = Path(run["storage_path"])
        wanted = list(dict.fromkeys(self.pending_home))
        if final:
            checkpoints = sorted({Path(f["path"]).parts[2] for f in self.agent.tree("run/checkpoints")},
                                 key=lambda n: int(n.rsplit("-", 1)[-1]) if n.rsplit("-", 1)[-1].isdigit() else -1)
            wanted += [f"run/checkpoints/{checkpoints[-1]}"] if checkpoints else []
            wanted.append("run/adapter")
        try:
            for remote in dict.fromkeys(wanted):
                self.download_dir(run_dir, remote)
                if remote in self.pending_home:
                    self.pending_home.remove(remote)
            if final:
                (run_dir / ".home-done").touch()
        except (AgentUnreachable, OSError) as exc:
            self.emit(run, WARNING, message=f"bringing files home from pod {run['pod_id']} failed ({exc}); "
                                            "trying again")

    def download_dir(self, run_dir: Path, remote: str) -> None:
        files = self.agent.tree(remote)
        rel = Path(remote).relative_to("run")
        final = run_dir / rel
        if not files or all((final / Path(f["path"]).relative_to(remote)).is_file() and
                            (final / Path(f["path"]).relative_to(remote)).stat().st_size == f["size"] for f in files):
            return  # nothing there, or home already
        incoming = run_dir / ".incoming" / rel
        for f in files:
            target = incoming / Path(f["path"]).relative_to(remote)
            target.parent.mkdir(parents=True, exist_ok=True)
            while (target.stat().st_size if target.exists() else 0) < f["size"]:
                got = self.agent.read(f["path"], target.stat().st_size if target.exists() else 0)
                if not got or not got[0]:
                    break
                append(target, got[0])
        if final.exists():
            shutil.rmtree(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(incoming, final)

    # -- the end --------------------------------------------------------------------------

    def cleanup(self, run: dict) -> None:
        """The pod was terminated before the outcome; once more for safety (idempotent)."""
        if self.account is not None and run.get("pod_id"):
            try:
                self.account.terminate(run["pod_id"])
            except RunPodError:
                pass  # reconcile's orphan check finds it
        if run.get("pod_id"):
            self.save_state(run, terminated=True)

    def reset(self, run: dict) -> bool:
        state = self.pod_state(run)
        if state and not state.get("terminated"):
            return False
        if state:
            pods = Path(run["storage_path"]) / "pods"
            pods.mkdir(exist_ok=True)
            os.replace(self.pod_file(run), pods / f"{state.get('pod_id')}.json")
        (Path(run["storage_path"]) / ".home-done").unlink(missing_ok=True)
        return True

    # -- the executor's own events ---------------------------------------------------------

    def emit(self, run: dict, event_type: str, **fields: Any) -> None:
        line = json.dumps({"type": event_type, "ts": round(time.time(), 3), **fields}) + "\n"
        append(Path(run["storage_path"]) / "events.jsonl", line.encode())


def gone(run: dict) -> str:
    return (f"pod {run['pod_id']} is gone (terminated outside ffui, by RunPod, or by its agent after "
            "its supervisor was silent for runpod.agent_silence_s)")


def append(path: Path, data: bytes) -> None:
    fd = open_run_file(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def last_pod_line(events: Path, pod_id: str) -> int:
    """The pod line number of the last of ``pod_id``'s events already in ``events``."""
    last = 0
    try:
        with os.fdopen(open_run_file(events), "rb") as fh:
            for line in fh:
                if b'"pod_line"' in line:
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if event.get("pod") == pod_id:
                        last = max(last, int(event.get("pod_line") or 0))
    except OSError:
        return 0
    return last
