"""Datasets on the Hugging Face hub, streamed with ``datasets`` (imported only when one is opened).

A location is the 1-based row number; progress counts rows against the split's size when the hub
says it. The token is handed to ``datasets`` as an argument and kept nowhere else: not in the
source's ``path``, an error line, a URL or the environment.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

from ..errors import DataError
from ..readers import SPLIT_HINT, first_line
from .base import Located, RowSource

_SET_TOKEN = "ffui settings set huggingface.token"
_OFFLINE_HINT = ("no network access to the hub? download the dataset elsewhere and import its "
                 "files or its save_to_disk folder")


class HubSource(RowSource):
    """One split of a hub dataset, streamed. ``rows``: the dataset's iterator, its first row
    already read (opening reads it, so a refused or empty dataset fails at open);
    ``have_token``: whether a token was in play (for how a refusal part way is worded)."""

    kind = "hub"
    columnar = True

    def __init__(self, spec: str, *, rows: Iterator[Any], have_token: bool, split: str,
                 total: int | None = None, splits: list[str] | None = None):
        super().__init__(spec, total=total, split=split, splits=splits)
        self._dataset_rows = rows
        self._have_token = have_token

    def _rows(self) -> Iterator[Located]:
        n = 0
        it = self._dataset_rows
        while True:
            try:
                row = next(it)
            except StopIteration:
                return
            except Exception as e:
                raise _hub_error(self.path, e, self._have_token) or DataError(
                    self.path, f"row {n + 1}", f"reading the hub dataset failed: {first_line(e)}") from None
            n += 1
            self.done = n
            yield n, row


def open_hub(spec: str, split: str | None, token: str | None = None) -> HubSource:
    """The hub dataset ``spec`` (split ``split``, default train), its first row read to know it
    is there and readable. ``token``: for gated or private datasets (None: HF_TOKEN or
    huggingface_hub's own login, if any)."""
    _check_reachable(spec)
    datasets = _import_datasets(spec)
    have_token = _have_token(token)
    hint: str | None = _OFFLINE_HINT
    try:
        ds = datasets.load_dataset(spec, split=split or "train", streaming=True, token=token or None)
        it = iter(ds)
        first = next(it)
    except StopIteration:
        raise DataError(spec, None, "the hub dataset is empty") from None
    except Exception as e:
        if "Bad split" in str(e):
            hint = SPLIT_HINT
        elif not isinstance(e, ConnectionError) and "Connect" not in type(e).__name__:
            hint = None  # not a network problem: the message says what is wrong
        raise _hub_error(spec, e, have_token) or DataError(
            spec, None, f"cannot load the hub dataset: {first_line(e)}", hint) from None

    def rows() -> Iterator[Any]:
        yield first
        yield from it

    total, names = None, None
    try:
        info = ds.info.splits.get(split or "train") if ds.info and ds.info.splits else None
        total = info.num_examples if info else None
        names = list(ds.info.splits) if ds.info and ds.info.splits else None
    except Exception:
        total = None
    return HubSource(spec, rows=rows(), have_token=have_token, split=split or "train",
                     total=total, splits=names)


def _check_reachable(spec: str) -> None:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or \
            os.environ.get("HF_DATASETS_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise DataError(spec, None, "is not a file or folder here, and the hub is switched off "
                        "(HF_HUB_OFFLINE)", _OFFLINE_HINT)
    reason = _hub_unreachable()
    if reason:
        raise DataError(spec, None, f"is not a file or folder here, and the hub cannot be "
                        f"reached ({reason})", _OFFLINE_HINT)


def _import_datasets(spec: str):
    """The ``datasets`` module, quietened (its progress bars and warnings are not ffui's)."""
    try:
        import datasets  # heavy: only here
    except Exception as e:  # pragma: no cover - datasets is an optional dependency
        raise DataError(spec, None, f"loading hub datasets needs the 'datasets' package "
                        f"({first_line(e)})", "pip install datasets, or import a file") from None
    try:
        datasets.logging.set_verbosity_error()
        datasets.disable_progress_bars()
        import huggingface_hub.utils.logging as hf_logging

        hf_logging.set_verbosity_error()
    except Exception:
        pass
    return datasets


def _have_token(token: str | None) -> bool:
    try:
        from huggingface_hub import get_token

        return bool(token or get_token())  # HF_TOKEN or huggingface_hub's own login
    except Exception:
        return bool(token)


def _hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the hub cannot be reached (DNS or TCP to HF_ENDPOINT), or None if it answers."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:
        return f"{host}:{port}: {e.strerror or e}"


def _hub_error(spec: str, e: BaseException, token: bool) -> DataError | None:
    """One line for a hub refusal (gated, missing or private, bad token), or None.

    huggingface_hub's exceptions may sit anywhere in the cause chain. datasets turns gated and
    missing repos into a DatasetNotFoundError that it re-raises ``from None``, cutting the chain,
    so for that one its message is all there is to go on. Without a token the hub answers 401
    both for a gated repo and for one that does not exist (or is private)."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    seen, x = [], e
    while x is not None and len(seen) < 20:
        seen.append(x)
        x = x.__cause__ or x.__context__
    http = next((x for x in seen if isinstance(x, HfHubHTTPError)), None)
    status = getattr(getattr(http, "response", None), "status_code", None)
    text = str(e) if type(e).__name__ == "DatasetNotFoundError" else ""
    page = f"{(os.environ.get('HF_ENDPOINT') or 'https://huggingface.co').rstrip('/')}/datasets/{spec}"
    if isinstance(http, GatedRepoError) or "is a gated dataset" in text:
        if token and (status == 403 or "ask for access" in text):
            return DataError(spec, None, "access denied: the hub dataset is gated and your Hugging "
                             "Face token has not been granted access",
                             f"ask for access on {page}, or set another token with: {_SET_TOKEN}")
        return DataError(spec, None, "access denied: the hub dataset is gated and needs a Hugging "
                         "Face token", f"accept its terms on {page}, then set your token with: "
                         f"{_SET_TOKEN}")
    if isinstance(http, RevisionNotFoundError) or text.startswith("Revision "):
        return DataError(spec, None, "no such revision of the hub dataset")
    if isinstance(http, RepositoryNotFoundError) or "doesn't exist on the Hub" in text:
        return DataError(spec, None, "no such dataset on the hub", "check the id" + (
            "; if it is private, check that your token can read it" if token else
            f"; if it is private, set your Hugging Face token with: {_SET_TOKEN}"))
    if status in (401, 403):
        what = ": the Hugging Face token is invalid or lacks permission" if token else ""
        return DataError(spec, None, f"the hub refused access ({status}){what}",
                         f"set a valid token with: {_SET_TOKEN}")
    return None
