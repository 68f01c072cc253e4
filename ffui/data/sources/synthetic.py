"""Synthetic pairs from documents through an OpenAI-compatible chat endpoint: :class:`SyntheticSource`.

Documents (Markdown, text, HTML; PDF and DOCX are not read yet) are cut into chunks of about
``chunk_words`` words with ``overlap_words`` of overlap, whole lines kept, so code blocks and
paragraphs reach the model as written (HTML through the Stack Exchange source's text that keeps
them). Each chunk is one ``POST {endpoint}/chat/completions`` asking for ``pairs_per_chunk``
question/answer (``qa``) or summary pairs with a JSON schema in ``response_format`` (Ollama and
llama.cpp honour it; vLLM may ignore it), so every answer is validated and asked again up to
``retries`` times; one still invalid is counted (``invalid``), not fatal. At most
``concurrency`` requests are in flight. Each chunk's result is a raw item (its file, page and
chunk number with the pairs) for ``on_thread``; :func:`pairs_from_raw` pairs them again.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..errors import DataError
from .base import Located, Location, RowSource
from .fourchan import PairFilter, PairOptions
from .stackexchange import html_text

TYPES = ("qa", "summary")
READABLE = (".md", ".markdown", ".txt", ".html", ".htm")
SCHEMA = {"type": "object", "required": ["pairs"], "properties": {"pairs": {
    "type": "array", "items": {"type": "object", "required": ["input", "output"],
                               "properties": {"input": {"type": "string"}, "output": {"type": "string"}}}}}}
ASK = {"qa": "Write {n} question and answer pairs that this text answers; input is the question, "
             "output the answer, both complete on their own.",
       "summary": "Write {n} pairs whose input asks to summarise a part of this text and whose "
                  "output is that summary."}


@dataclass(frozen=True)
class SyntheticOptions:
    type: str = "qa"
    filters: PairOptions = PairOptions()

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise DataError(None, None, f"unknown pair type {self.type!r}", f"use one of {', '.join(TYPES)}")

    @property
    def details(self) -> str:
        return f"type={self.type}"


def document_files(paths: Iterable[str]) -> list[Path]:
    """The readable files named, folders searched; one line for a path that is not there."""
    found: list[Path] = []
    for name in paths:
        path = Path(name).expanduser()
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in READABLE and p.is_file())
        elif path.is_file():
            if path.suffix.lower() not in READABLE:
                raise DataError(str(path), None, f"cannot read {path.suffix or 'this'} files yet",
                                f"give {', '.join(READABLE)} files")
            found.append(path)
        else:
            raise DataError(str(path), None, "no such file or folder")
    if not found:
        raise DataError(None, None, "no documents to read", f"give {', '.join(READABLE)} files or folders")
    return found


def document_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    return html_text(text) if path.suffix.lower() in (".html", ".htm") else text


def chunks(text: str, words: int = 400, overlap: int = 50) -> list[str]:
    """``text`` in chunks of about ``words`` words, whole lines, the last ``overlap`` words'
    lines of one repeated at the start of the next."""
    lines = text.splitlines()
    out: list[str] = []
    start = 0
    while start < len(lines):
        end, count = start, 0
        while end < len(lines) and (count < words or end == start):
            count += len(lines[end].split())
            end += 1
        chunk = "\n".join(lines[start:end]).strip()
        if chunk:
            out.append(chunk)
        if end >= len(lines):
            break
        back, kept = end, 0
        while back > start + 1 and kept < overlap:
            back -= 1
            kept += len(lines[back].split())
        start = back if back > start else end
    return out


def valid_pairs(content: str) -> list[dict] | None:
    """The pairs of an answer, or None when it is not the JSON the schema asks for."""
    try:
        data = json.loads(content)
        pairs = data["pairs"]
        if isinstance(pairs, list) and all(isinstance(p.get("input"), str) and isinstance(p.get("output"), str)
                                           and p["input"].strip() and p["output"].strip() for p in pairs):
            return [{"input": p["input"].strip(), "output": p["output"].strip()} for p in pairs]
    except (ValueError, TypeError, KeyError, AttributeError):
        pass
    return None


def pairs_from_raw(items: Iterable[dict], options: SyntheticOptions) -> Iterator[dict]:
    """Kept chunk results as pair records, filtered: no request is made."""
    keep = PairFilter(options.filters)
    for item in items:
        for p in item.get("pairs") or []:
            record = {"input": p["input"], "output": p["output"], "source_url": None,
                      "metadata": {"source": "synthetic", "file": item["file"], "page": item.get("page"),
                                   "chunk": item["chunk"], "model": item.get("model"), "type": item.get("type")}}
            if keep.keep(record):
                yield record


class SyntheticSource(RowSource):
    """Pairs written by ``model`` at ``endpoint`` (``http://127.0.0.1:11434/v1``) from ``paths``."""

    kind = "synthetic"

    def __init__(self, paths: Iterable[str], *, endpoint: str, model: str, options: SyntheticOptions | None = None,
                 pairs_per_chunk: int = 3, concurrency: int = 4, retries: int = 2, chunk_words: int = 400,
                 overlap_words: int = 50, max_pairs: int | None = None, skip_chunks: Iterable[str] = (),
                 on_thread: Callable[[dict], None] | None = None, key: str | None = None,
                 timeout_s: float = 300.0, **_client: Any):
        self.files = document_files(paths)
        super().__init__(f"synthetic {endpoint}", total=max_pairs)
        if not endpoint.startswith(("http://", "https://")):
            raise DataError("synthetic", None, f"{endpoint[:60]!r} is not an endpoint URL",
                            "give one like http://127.0.0.1:11434/v1")
        self.endpoint, self.model = endpoint.rstrip("/"), model
        self.options = options or SyntheticOptions()
        self.pairs_per_chunk, self.concurrency, self.retries = pairs_per_chunk, max(1, concurrency), retries
        self.chunk_words, self.overlap_words = chunk_words, overlap_words
        self.max_pairs, self.skip_chunks, self.on_thread = max_pairs, set(skip_chunks), on_thread
        self.key, self.timeout_s = key, timeout_s
        self.invalid = 0  # chunks whose answers stayed invalid after the retries
        self.requests, self.waited_s = 0, 0.0  # (progress, as a polite client counts them)
        self.filter = PairFilter(self.options.filters)
        self._pool: ThreadPoolExecutor | None = None

    @property
    def source_details(self) -> str:
        return f"sources={len(self.files)}, type={self.options.type}, model={self.model}"

    def where(self, loc: Location) -> str:
        return f"chunk {loc}"

    def _tasks(self) -> list[dict]:
        tasks = []
        for path in self.files:
            for i, text in enumerate(chunks(document_text(path), self.chunk_words, self.overlap_words), 1):
                item_id = f"{path}#{i}"
                if item_id not in self.skip_chunks:
                    tasks.append({"id": item_id, "file": str(path), "page": None, "chunk": i, "text": text})
        return tasks

    def _rows(self) -> Iterator[Located]:
        import httpx2 as httpx

        with httpx.Client(timeout=self.timeout_s, headers=self._headers()) as http:
            self._pool = ThreadPoolExecutor(self.concurrency)
            try:
                for item in self._pool.map(lambda t: self._generate(http, t), self._tasks()):
                    if self.on_thread is not None:
                        self.on_thread(item)
                    for record in pairs_from_raw([item], self.options):
                        if not self.filter.keep(record):
                            continue
                        self.done += 1
                        yield item["id"], record
                        if self.max_pairs is not None and self.done >= self.max_pairs:
                            return
            finally:
                self._pool.shutdown(wait=True, cancel_futures=True)

    def _headers(self) -> dict:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def _generate(self, http, task: dict) -> dict:
        item = {k: v for k, v in task.items() if k != "text"} | {"model": self.model, "type": self.options.type}
        body = {"model": self.model, "temperature": 0.7,
                "messages": [{"role": "system", "content": "You write training data. Answer only with JSON."},
                             {"role": "user", "content": ASK[self.options.type].format(n=self.pairs_per_chunk)
                              + "\n\nText:\n" + task["text"]}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "pairs", "schema": SCHEMA}}}
        for _ in range(self.retries + 1):
            pairs = valid_pairs(self._chat(http, body))
            if pairs is not None:
                return item | {"pairs": pairs}
        self.invalid += 1
        return item | {"pairs": [], "invalid": True}

    def _chat(self, http, body: dict) -> str:
        import httpx2 as httpx

        url = f"{self.endpoint}/chat/completions"
        self.requests += 1  # (from several threads: a progress count, not an exact one)
        try:
            response = http.post(url, json=body)
        except httpx.TimeoutException:
            raise DataError("synthetic", None, f"{self.endpoint} did not answer in {self.timeout_s:.0f} s",
                            "is the model loaded? a smaller model or chunk helps") from None
        except (httpx.NetworkError, OSError):
            raise DataError("synthetic", None, f"the endpoint {self.endpoint} cannot be reached",
                            "is the server (Ollama, vLLM, llama.cpp) running there?") from None
        if response.status_code == 404 and "model" in response.text.lower():
            raise DataError("synthetic", None, f"the endpoint has no model {self.model!r}",
                            f"see {self.endpoint}/models for the ones it has")
        if response.status_code >= 400:
            raise DataError("synthetic", None, f"the endpoint answered {response.status_code}",
                            "check --endpoint (it ends in /v1) and the server's log")
        try:
            return response.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            return ""  # not a chat completion: counted as an invalid answer, asked again
