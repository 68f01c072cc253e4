"""The settings ffui knows: each key's meaning, whether it is a secret, and what a value must be.

``ffui settings set`` refuses a key that is not here (with a did-you-mean, as an unknown
training key is refused), so a typo is not stored silently; ``ffui settings list`` shows every
known key with its meaning. A setting read by new code is added here, in one place.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Callable

PROXY_URL = re.compile(r"^(https?|socks5h?)://[^\s/]+(:\d+)?/?$")


@dataclass(frozen=True)
class SettingKey:
    key: str
    meaning: str  # short enough for one line of `ffui settings list` at 80 columns
    secret: bool = False
    check: Callable[[str], str | None] | None = None  # a problem with a value, or None


def _whole_number(minimum: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if not re.fullmatch(r"\s*\d+\s*", value) or int(value) < minimum:
            return f"must be a whole number >= {minimum}, got {value!r}"
        return None
    return check


def _seconds(value: str) -> str | None:
    try:
        ok = float(value) >= 0
    except ValueError:
        ok = False
    return None if ok else f"must be a number of seconds >= 0, got {value!r}"


def _proxy_url(value: str) -> str | None:
    if PROXY_URL.match(value.strip()):
        return None
    return f"must be a URL like http://proxy.example:3128, got {value[:40]!r}"


def _http_url(value: str) -> str | None:
    if re.match(r"^https?://[^\s/]+(/\S*)?$", value.strip()):
        return None
    return f"must be a URL like https://a.4cdn.org, got {value[:40]!r}"


def _dollars(value: str) -> str | None:
    try:
        ok = float(value) > 0
    except ValueError:
        ok = False
    return None if ok else f"must be a positive number of dollars, got {value[:20]!r}"


def _pod_url(value: str) -> str | None:
    if re.match(r"^https?://\S+$", value.strip()) and "{pod_id}" in value and "{port}" in value:
        return None
    return f"must be a URL naming {{pod_id}} and {{port}}, got {value[:40]!r}"


KNOWN: dict[str, SettingKey] = {s.key: s for s in (
    SettingKey("huggingface.token", "Hugging Face token (gated or private models, data)", secret=True),
    SettingKey("runpod.api_key", "RunPod API key (training on RunPod pods)", secret=True),
    SettingKey("runpod.gpu", "default RunPod GPU type (NVIDIA A40)"),
    SettingKey("runpod.cloud", "default RunPod cloud: secure, community or all",
               check=lambda v: None if v.lower() in ("secure", "community", "all") else
               f"must be secure, community or all, got {v[:20]!r}"),
    SettingKey("runpod.max_cost", "default --max-cost of a RunPod run, in dollars", check=_dollars),
    SettingKey("runpod.image", "the pods' container image (a RunPod PyTorch one)"),
    SettingKey("runpod.proxy_url", "URL of a pod's port ({pod_id}, {port})", check=_pod_url),
    SettingKey("runpod.start_deadline_s", "seconds a pod's image may take to start (1200)", check=_seconds),
    SettingKey("runpod.unreachable_s", "seconds an unanswering pod agent fails a run (300)", check=_seconds),
    SettingKey("runpod.capacity_backoff_s", "seconds between rounds of GPU types (20)", check=_seconds),
    SettingKey("runpod.capacity_rounds", "rounds through the GPU list before failing (3)",
               check=_whole_number(1)),
    SettingKey("runpod.cost_poll_s", "seconds between asks of a pod's cost (15)", check=_seconds),
    SettingKey("runpod.agent_silence_s", "a pod ends itself after its supervisor is silent (3600)",
               check=_seconds),
    SettingKey("runpod.max_hours", "a pod ends itself after this many hours (72)", check=_seconds),
    SettingKey("runpod.disk_gb", "a pod's container disk in GB (40)", check=_whole_number(5)),
    SettingKey("proxy.https", "HTTPS proxy for hub downloads and RunPod", check=_proxy_url),
    SettingKey("proxy.http", "HTTP proxy for hub downloads and RunPod", check=_proxy_url),
    SettingKey("proxy.no_proxy", "hosts reached without the proxy (a, b, ...)"),
    SettingKey("sources.contact", "your e-mail or URL, sent in scrapers' User-Agent"),
    SettingKey("sources.4chan.api_url", "4chan API base URL (https://a.4cdn.org)",
               check=_http_url),
    SettingKey("sources.reddit.api_url", "Reddit JSON base URL (https://www.reddit.com)",
               check=_http_url),
    SettingKey("sources.stackexchange.api_url", "Stack Exchange API (https://api.stackexchange.com/2.3)",
               check=_http_url),
    SettingKey("sources.stackexchange.key", "Stack Exchange API key (10,000 requests a day)",
               secret=True),
    SettingKey("sources.synthetic.api_key", "API key of ffui synth's endpoint (synth --key-from-settings)",
               secret=True),
    SettingKey("ui.theme", "UI colours: dark, light or a Textual theme (nord)"),
    # checked against the UI's bindings by the settings command (ffui.cli.keys.check_keymap)
    SettingKey("ui.keymap", "JSON of binding id to key (ffui keys lists ids)"),
    SettingKey("wandb.api_key", "Weights & Biases API key (runs with report_to wandb)", secret=True),
    SettingKey("wandb.project", "W&B project of runs that report there (ffui)"),
    SettingKey("wandb.entity", "W&B team or user of runs that report there"),
    SettingKey("mlflow.tracking_uri", "MLflow server of runs with report_to mlflow"),
    SettingKey("mlflow.tracking_token", "MLflow server token", secret=True),
    SettingKey("mlflow.experiment", "MLflow experiment of runs that report there (ffui)"),
    SettingKey("export.llama_cpp_dir", "llama.cpp checkout for GGUF export (convert_hf_to_gguf.py)"),
    SettingKey("jobs.max_concurrent", "runs at once (default: 1 per GPU, 1 on a CPU)",
               check=_whole_number(1)),
    SettingKey("jobs.cancel_grace_s", "seconds a cancel waits for a checkpoint (30)",
               check=_seconds),
    # the LLM judge of evaluations (ffui eval --metrics ...,judge): any OpenAI-compatible server
    SettingKey("eval.judge_url", "LLM judge: OpenAI-compatible URL (http://host:11434/v1)",
               check=_http_url),
    SettingKey("eval.judge_model", "LLM judge: the model the server serves"),
    SettingKey("eval.judge_api_key", "LLM judge: API key (if the server wants one)", secret=True),
)}


def unknown_key_problem(key: str) -> str | None:
    """One line saying ``key`` is not a setting (with the closest known one), or None if it is."""
    if key in KNOWN:
        return None
    close = difflib.get_close_matches(key, list(KNOWN), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else "ffui settings list shows every setting"
    return f"{key!r} is not a setting ffui uses ({hint}); nothing was changed"


def value_problem(key: str, value: str) -> str | None:
    """One line saying what is wrong with ``value`` for ``key``, or None."""
    spec = KNOWN.get(key)
    problem = spec.check(value) if spec and spec.check and value != "" else None
    return f"{key} {problem}; nothing was changed" if problem else None
