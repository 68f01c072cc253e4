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


KNOWN: dict[str, SettingKey] = {s.key: s for s in (
    SettingKey("huggingface.token", "Hugging Face token (gated or private models, data)", secret=True),
    SettingKey("runpod.api_key", "RunPod API key (training on RunPod pods)", secret=True),
    SettingKey("proxy.https", "HTTPS proxy for hub downloads and RunPod", check=_proxy_url),
    SettingKey("proxy.http", "HTTP proxy for hub downloads and RunPod", check=_proxy_url),
    SettingKey("proxy.no_proxy", "hosts reached without the proxy (a, b, ...)"),
    SettingKey("sources.contact", "your e-mail or URL, sent in scrapers' User-Agent"),
    SettingKey("sources.4chan.api_url", "4chan API base URL (https://a.4cdn.org)",
               check=_http_url),
    SettingKey("ui.theme", "UI colours: dark, light or a Textual theme (nord)"),
    # checked against the UI's bindings by the settings command (ffui.cli.keys.check_keymap)
    SettingKey("ui.keymap", "JSON of binding id to key (ffui keys lists ids)"),
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
