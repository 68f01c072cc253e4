"""Which settings are secrets, and the values no log line may show.

Settings (``ffui.db.settings``) say which keys are secret and register the values stored
under them; the log writers (``ffui.db.logs``) redact every registered value. Both import
this module, so neither imports the other.
"""

from __future__ import annotations

import threading

# Known secrets, plus any key whose last part names a credential.
SECRET_KEYS = {"huggingface.token", "hf.token", "runpod.api_key", "openai.api_key", "proxy.password",
               "sources.stackexchange.key", "sources.synthetic.api_key"}
_SECRET_SUFFIXES = ("token", "api_key", "apikey", "secret", "password", "key_secret")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def is_secret_key(key: str) -> bool:
    last = key.lower().rsplit(".", 1)[-1]
    return key.lower() in SECRET_KEYS or last.endswith(_SECRET_SUFFIXES)


def mask_secret(value: str | None) -> str:
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:3] + "*" * 6 + value[-2:]


def register_secret(value: str | None) -> None:
    """Remember a secret value so that no log line written from this process shows it."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def has_secrets() -> bool:
    return bool(_secrets)


def redact(text: str | None) -> str | None:
    if not text or not _secrets:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return text
