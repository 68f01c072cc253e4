"""`python -m ffui.train.infer`: the Playground's inference worker.

The UI process never imports torch or transformers; it starts this worker and talks to it in
JSON lines (one object per line) over the worker's stdin and stdout:

requests (stdin), each with an ``id`` chosen by the client:
    {"id": 1, "op": "load", "base_model": "/models/x", "adapter_path": "/runs/y/adapter" | null}
    {"id": 2, "op": "generate", "messages": [{"role": "user", "content": "hi"}],
     "temperature": 0.7, "top_p": 0.9, "max_new_tokens": 256, "system": "..." | null,
     "use_adapter": true, "seed": 0 (optional)}
    {"id": 2, "op": "cancel"}            stop generation request 2 at its next token
    {"id": 3, "op": "shutdown"}

replies (stdout):
    {"id": null, "ready": true, "pid": 123}                       once, at start
    {"id": 1, "loaded": true, "base_model": ..., "adapter_path": ..., "device": "cpu", "warning": ...}
    {"id": 2, "token": "Hel"}  ...                                 streamed text pieces
    {"id": 2, "done": true, "text": "Hello", "tokens": 5, "tokens_per_s": 41.2, "cancelled": false}
    {"id": N, "error": "one line", "hint": "what to do"}           any request that failed

The worker exits when its stdin closes (the app went away), on ``shutdown``, or when its
parent dies (Linux: PR_SET_PDEATHSIG). It never reaches the network: models load with
``local_files_only`` (a hub id must already be in the local cache).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

_out_lock = threading.Lock()
_stdout = sys.stdout


def send(obj: dict) -> None:
    line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    with _out_lock:
        _stdout.write(line + "\n")
        _stdout.flush()


class WorkerError(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Engine:
    """The loaded model (and adapter) and generation."""

    def __init__(self) -> None:
        self.model = None
        self.tokenizer = None
        self.base_model: str | None = None
        self.adapter_path: str | None = None
        self.device = "cpu"

    # -- loading -----------------------------------------------------------------------------

    def load(self, base_model: str, adapter_path: str | None) -> dict:
        if not base_model or not str(base_model).strip():
            raise WorkerError("no base model given", "pick a base model first")
        base = str(base_model).strip()
        path = Path(base).expanduser()
        if path.exists():
            if not (path / "config.json").is_file():
                raise WorkerError(f"base model {base} has no config.json",
                                  "pick a Hugging Face model directory")
            base = str(path)
        elif base.startswith(("/", ".", "~")) or base.count("/") > 1:
            raise WorkerError(f"base model not found: {base}",
                              "check the path (ffui model tiny DIR builds a test model)")
        adapter = None
        if adapter_path:
            ap = Path(str(adapter_path)).expanduser()
            if not ap.exists():
                raise WorkerError(f"adapter not found: {adapter_path}",
                                  "pick an adapter of a completed run")
            if not (ap / "adapter_config.json").is_file():
                raise WorkerError(f"{adapter_path} is not a LoRA adapter (no adapter_config.json)",
                                  "pick a run's adapter/ folder")
            adapter = str(ap)
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError as e:
            raise WorkerError(f"inference needs torch and transformers ({e.name} is missing)",
                              "pip install 'ffui[train]'") from None
        hf_logging.set_verbosity_error()
        self.model = self.tokenizer = None
        cuda = torch.cuda.is_available()
        self.device = "cuda" if cuda else "cpu"
        if not cuda:
            torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # leave a core for the UI
        dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
        try:
            tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype, local_files_only=True)
        except OSError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if not path.exists():
                raise WorkerError(f"base model {base!r} is not downloaded ({first[:160]})",
                                  f"download it where there is network (huggingface-cli download {base}) "
                                  "and pick the local directory") from None
            raise WorkerError(f"cannot load base model {base}: {first[:200]}",
                              "pick a model directory with config.json, weights and a tokenizer") from None
        warning = None
        if adapter:
            try:
                from peft import PeftModel
            except ImportError:
                raise WorkerError("adapters need peft, which is not installed",
                                  "pip install 'ffui[train]'") from None
            try:
                model = PeftModel.from_pretrained(model, adapter)
            except Exception as e:  # peft raises ValueError/RuntimeError/KeyError for mismatches
                raise WorkerError(f"cannot apply adapter {adapter} to {base}: "
                                  f"{str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__}",
                                  "pick the base model the adapter was trained on") from None
            try:
                cfg = json.loads((Path(adapter) / "adapter_config.json").read_text(encoding="utf-8"))
                trained_on = cfg.get("base_model_name_or_path")
                if trained_on and Path(str(trained_on)).name != Path(base).name:
                    warning = f"the adapter was trained on {trained_on}, not {base}"
            except (OSError, ValueError):
                pass
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        model.to(self.device)
        model.eval()
        self.model, self.tokenizer = model, tok
        self.base_model, self.adapter_path = base, adapter
        out = {"loaded": True, "base_model": base, "adapter_path": adapter, "device": self.device}
        if warning:
            out["warning"] = warning
        return out

    # -- generation --------------------------------------------------------------------------

    def prompt_ids(self, messages: list[dict], system: str | None):
        msgs = [{"role": str(m.get("role", "user")), "content": str(m.get("content", ""))}
                for m in messages]
        if system and not any(m["role"] == "system" for m in msgs):
            msgs.insert(0, {"role": "system", "content": system})
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            enc = tok(text, return_tensors="pt", add_special_tokens=False)
        else:  # a base model without a chat template: a plain transcript
            text = "".join(f"{m['role']}: {m['content']}\n" for m in msgs) + "assistant:"
            enc = tok(text, return_tensors="pt")
        return enc["input_ids"].to(self.device), enc.get("attention_mask").to(self.device)

    def generate(self, rid: Any, req: dict, cancel: threading.Event) -> dict:
        if self.model is None:
            raise WorkerError("no model loaded", "load a base model first")
        messages = req.get("messages") or []
        if not isinstance(messages, list) or not messages:
            raise WorkerError("nothing to answer: the conversation is empty", "type a message")
        use_adapter = bool(req.get("use_adapter", True))
        if use_adapter and self.adapter_path is None:
            use_adapter = False  # no adapter loaded: the base model answers
        try:
            temperature = float(req.get("temperature", 0.7))
            top_p = float(req.get("top_p", 0.9))
            max_new = int(req.get("max_new_tokens", 256))
        except (TypeError, ValueError):
            raise WorkerError("temperature, top_p and max_new_tokens must be numbers") from None
        if not (0 < top_p <= 1) or temperature < 0 or max_new < 1:
            raise WorkerError("bad generation settings",
                              "temperature >= 0, 0 < top_p <= 1, max_new_tokens >= 1")
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        if req.get("seed") is not None:
            torch.manual_seed(int(req["seed"]))
        ids, mask = self.prompt_ids(messages, req.get("system"))
        streamer = _LineStreamer(rid, self.tokenizer)

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kw):
                return cancel.is_set() or _exiting.is_set()

        kwargs: dict = dict(input_ids=ids, attention_mask=mask, max_new_tokens=max_new, streamer=streamer,
                            stopping_criteria=StoppingCriteriaList([_Stop()]),
                            pad_token_id=self.tokenizer.pad_token_id)
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        t0 = time.perf_counter()
        with torch.inference_mode():
            if use_adapter or self.adapter_path is None:
                self.model.generate(**kwargs)
            else:
                with self.model.disable_adapter():
                    self.model.generate(**kwargs)
        dt = max(time.perf_counter() - t0, 1e-6)
        text = streamer.flush()
        return {"done": True, "text": text, "tokens": streamer.count,
                "tokens_per_s": round(streamer.count / dt, 1), "cancelled": cancel.is_set(),
                "adapter": use_adapter}


class _LineStreamer:
    """transformers' streamer interface (put/end): decode new tokens and send the new text."""

    def __init__(self, rid: Any, tokenizer) -> None:
        self.rid = rid
        self.tok = tokenizer
        self.ids: list[int] = []
        self.sent = 0
        self.count = 0
        self.prompt_seen = False
        self.eos = set(_as_list(getattr(tokenizer, "eos_token_id", None)))

    def put(self, value) -> None:
        if not self.prompt_seen:  # the first call carries the prompt
            self.prompt_seen = True
            return
        new = [int(t) for t in value.reshape(-1).tolist()]
        self.count += len(new)
        self.ids.extend(t for t in new if t not in self.eos)
        text = self.tok.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # half a multi-byte character: wait for the rest
            return
        if len(text) > self.sent:
            send({"id": self.rid, "token": text[self.sent:]})
            self.sent = len(text)

    def end(self) -> None:
        pass

    def flush(self) -> str:
        text = self.tok.decode(self.ids, skip_special_tokens=True)
        if len(text) > self.sent:
            send({"id": self.rid, "token": text[self.sent:]})
            self.sent = len(text)
        return text


def _as_list(v) -> list[int]:
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


_exiting = threading.Event()


def _reader(requests: "queue.Queue[dict | None]", cancels: dict[Any, threading.Event]) -> None:
    """Read stdin: cancels act at once (generation runs in the main thread), the rest queue up."""
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError
        except ValueError:
            send({"id": None, "error": f"not a JSON object: {line[:80]}", "hint": "send one JSON object per line"})
            continue
        if req.get("op") == "cancel":
            ev = cancels.setdefault(req.get("id"), threading.Event())
            ev.set()
            continue
        if req.get("op") == "generate":
            cancels.setdefault(req.get("id"), threading.Event())
        requests.put(req)
        if req.get("op") == "shutdown":
            break
    _exiting.set()
    requests.put(None)


def serve() -> int:
    _die_with_parent()
    signal.signal(signal.SIGTERM, lambda *_: (_exiting.set(), os._exit(0)))
    engine = Engine()
    requests: queue.Queue = queue.Queue()
    cancels: dict[Any, threading.Event] = {}
    threading.Thread(target=_reader, args=(requests, cancels), daemon=True).start()
    send({"id": None, "ready": True, "pid": os.getpid()})
    while True:
        req = requests.get()
        if req is None or req.get("op") == "shutdown":
            return 0
        rid = req.get("id")
        op = req.get("op")
        try:
            if op == "load":
                send({"id": rid, **engine.load(req.get("base_model") or "", req.get("adapter_path"))})
            elif op == "generate":
                ev = cancels.get(rid) or threading.Event()
                try:
                    send({"id": rid, **engine.generate(rid, req, ev)})
                finally:
                    cancels.pop(rid, None)
            else:
                send({"id": rid, "error": f"unknown op {op!r}", "hint": "use load, generate, cancel or shutdown"})
        except WorkerError as e:
            send({"id": rid, "error": e.message, "hint": e.hint})
        except MemoryError:
            send({"id": rid, "error": "out of memory", "hint": "use a smaller model or fewer max_new_tokens"})
        except Exception as e:  # a bug: one line for the UI, the traceback on stderr
            traceback.print_exc(file=sys.stderr)
            msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
            if "out of memory" in msg.lower():
                send({"id": rid, "error": "out of memory", "hint": "use a smaller model or fewer max_new_tokens"})
            else:
                send({"id": rid, "error": f"internal error: {type(e).__name__}: {msg}",
                      "hint": "see the inference worker's log"})


def main(argv: list[str] | None = None) -> int:
    # our protocol owns stdout: anything a library prints goes to stderr instead
    global _stdout
    _stdout = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return serve()


if __name__ == "__main__":
    sys.exit(main())
