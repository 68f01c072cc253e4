"""The UI's side of the inference worker (``python -m ffui.train.infer``): asyncio, light.

    worker = InferenceWorker(log_path=home / "training_outputs" / ".inference.log")
    await worker.start()
    await worker.load("/models/tiny", "/runs/x/adapter")
    async for event in worker.generate([{"role": "user", "content": "hi"}], temperature=0):
        if "token" in event: show(event["token"])
        else: done(event)            # {"done": True, "text", "tokens", "tokens_per_s", ...}
    await worker.stop()

Errors the worker reports (a missing model, a bad adapter) raise :class:`InferenceError`, a
JobError, so the UI shows its one line. The worker's protocol is described in
ffui.train.infer. This module never imports torch or transformers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any, AsyncIterator

from ffui.jobs.errors import JobError

WORKER_MODULE = "ffui.train.infer"


class InferenceError(JobError):
    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message + (f" ({hint})" if hint else ""))


class InferenceWorker:
    """One worker process; requests are answered in order."""

    def __init__(self, *, python: str | None = None, log_path: str | os.PathLike | None = None,
                 env: dict | None = None, ready_timeout: float = 60.0):
        self.python = python or sys.executable
        self.log_path = Path(log_path) if log_path else None
        self.env = env
        self.ready_timeout = ready_timeout
        self.proc: asyncio.subprocess.Process | None = None
        self.loaded: dict | None = None
        self._ids = itertools.count(1)
        self._queues: dict[Any, asyncio.Queue] = {}
        self._reader: asyncio.Task | None = None
        self._ready: asyncio.Future | None = None
        self._lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self) -> None:
        """Start the worker (if not running) and wait for its ready line."""
        if self.running:
            return
        stderr: Any = asyncio.subprocess.DEVNULL
        log = None
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(self.log_path, "ab")
            stderr = log
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        env["HF_HUB_OFFLINE"] = "1"  # the worker never reaches the hub
        try:
            self.proc = await asyncio.create_subprocess_exec(
                self.python, "-m", WORKER_MODULE, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=stderr, env=env, start_new_session=True,
                limit=2 ** 24)
        except OSError as e:
            raise InferenceError(f"cannot start the inference worker: {e.strerror or e}") from None
        finally:
            if log is not None:
                log.close()
        self.loaded = None
        self._ready = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), self.ready_timeout)
        except asyncio.TimeoutError:
            await self.stop()
            raise InferenceError("the inference worker did not start in time",
                                 f"see {self.log_path}" if self.log_path else None) from None

    async def _read(self) -> None:
        assert self.proc and self.proc.stdout
        try:
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    break
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if msg.get("ready") and self._ready and not self._ready.done():
                    self._ready.set_result(msg)
                    continue
                q = self._queues.get(msg.get("id"))
                if q is not None:
                    q.put_nowait(msg)
        finally:
            gone = {"error": "the inference worker stopped",
                    "hint": f"see {self.log_path}" if self.log_path else "start it again"}
            if self._ready and not self._ready.done():
                self._ready.set_result(None)
            for rid, q in list(self._queues.items()):
                q.put_nowait({"id": rid, **gone, "_gone": True})

    async def _send(self, obj: dict) -> None:
        if not self.running or self.proc.stdin is None:
            raise InferenceError("the inference worker is not running", "start it again")
        try:
            self.proc.stdin.write((json.dumps(obj) + "\n").encode("utf-8"))
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise InferenceError("the inference worker stopped",
                                 f"see {self.log_path}" if self.log_path else None) from None

    def _open(self) -> tuple[int, asyncio.Queue]:
        rid = next(self._ids)
        q: asyncio.Queue = asyncio.Queue()
        self._queues[rid] = q
        return rid, q

    async def load(self, base_model: str, adapter_path: str | None = None) -> dict:
        """Load a base model (and adapter); returns the worker's reply. Raises InferenceError."""
        await self.start()
        rid, q = self._open()
        try:
            await self._send({"id": rid, "op": "load", "base_model": base_model, "adapter_path": adapter_path})
            msg = await q.get()
        finally:
            self._queues.pop(rid, None)
        if "error" in msg:
            self.loaded = None
            raise InferenceError(msg["error"], msg.get("hint"))
        self.loaded = msg
        return msg

    async def generate(self, messages: list[dict], *, temperature: float = 0.7, top_p: float = 0.9,
                       max_new_tokens: int = 256, system: str | None = None, use_adapter: bool = True,
                       seed: int | None = None) -> AsyncIterator[dict]:
        """Stream ``{"token": str}`` events, then one ``{"done": True, "text", ...}``.

        Leaving the loop early (or cancelling the task) cancels the generation in the worker.
        """
        await self.start()
        rid, q = self._open()
        req = {"id": rid, "op": "generate", "messages": messages, "temperature": temperature,
               "top_p": top_p, "max_new_tokens": max_new_tokens, "system": system or None,
               "use_adapter": use_adapter}
        if seed is not None:
            req["seed"] = seed
        finished = False
        try:
            await self._send(req)
            while True:
                msg = await q.get()
                if "error" in msg:
                    finished = True
                    raise InferenceError(msg["error"], msg.get("hint"))
                if msg.get("done"):
                    finished = True
                    yield msg
                    return
                yield msg
        finally:
            if not finished and self.running:
                try:
                    await self._send({"id": rid, "op": "cancel"})
                except InferenceError:
                    pass
                # the worker still answers with done; drop it when it comes
                asyncio.get_running_loop().call_later(30, self._queues.pop, rid, None)
            else:
                self._queues.pop(rid, None)

    async def cancel_all(self) -> None:
        for rid in list(self._queues):
            try:
                await self._send({"id": rid, "op": "cancel"})
            except InferenceError:
                return

    async def stop(self, timeout: float = 3.0) -> None:
        """Stop the worker: close its stdin (it exits), then SIGTERM, then SIGKILL."""
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            try:
                if proc.stdin is not None and not proc.stdin.is_closing():
                    proc.stdin.write(b'{"id": 0, "op": "shutdown"}\n')
                    proc.stdin.close()
            except (BrokenPipeError, ConnectionResetError, RuntimeError):
                pass
            for sig in ("terminate", "kill"):
                try:
                    await asyncio.wait_for(proc.wait(), timeout)
                    break
                except asyncio.TimeoutError:
                    try:
                        getattr(proc, sig)()
                    except ProcessLookupError:
                        break
            else:
                await proc.wait()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 2)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._reader.cancel()
            self._reader = None
        self.loaded = None
        self.proc = None

    def kill_now(self) -> None:
        """Synchronous last resort (e.g. at interpreter exit): SIGKILL the worker."""
        if self.proc is not None and self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
