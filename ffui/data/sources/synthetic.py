"""Synthetic pairs from documents through an OpenAI-compatible chat endpoint: :class:`SyntheticSource`.

Documents (Markdown, text, HTML, PDF, DOCX: ffui/data/sources/documents.py reads them, each
part with its page or section) are cut into chunks of about ``chunk_words`` words with
``overlap_words`` of overlap, whole lines kept, so code blocks and paragraphs reach the model as
written; a chunk never spans two pages, so each pair names the page its text is on. Each chunk is one ``POST {endpoint}/chat/completions`` asking for ``pairs_per_chunk``
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
from typing import Any, Callable, Iterable, Iterator

from ..errors import DataError
from .base import Located, Location, RowSource
from .documents import READABLE, document_files, document_parts  # (READABLE, document_files: as before)
from .fourchan import PairFilter, PairOptions

TYPES = ("qa", "cot", "summary")
SCHEMA = {"type": "object", "required": ["pairs"], "properties": {"pairs": {
    "type": "array", "items": {"type": "object", "required": ["input", "output"],
                               "properties": {"input": {"type": "string"}, "output": {"type": "string"}}}}}}
ASK = {"qa": "Write {n} question and answer pairs that this text answers; input is the question, "
             "output the answer, both complete on their own.",
       "cot": "Write {n} pairs whose input is a question this text answers and whose output reasons "
              "step by step from the text before it gives the answer.",
       "summary": "Write {n} pairs whose input asks to summarise a part of this text and whose "
                  "output is that summary."}

JUDGE_SCHEMA = {"type": "object", "required": ["score"],
                "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 10}}}
JUDGE_ASK = ("Score this training pair from 1 (useless or wrong) to 10 (correct, complete, useful), "
             "judging the output as an answer to the input.\n\nInput:\n{input}\n\nOutput:\n{output}")


@dataclass(frozen=True)
class SyntheticOptions:
    """``type``: the pairs asked for; ``judge_threshold``: when set, each pair is scored 1-10
    by a second request and pairs scoring below it are dropped (and counted)."""
    type: str = "qa"
    judge_threshold: int | None = None
    filters: PairOptions = PairOptions()

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise DataError(None, None, f"unknown pair type {self.type!r}", f"use one of {', '.join(TYPES)}")
        if self.judge_threshold is not None and not 1 <= self.judge_threshold <= 10:
            raise DataError(None, None, f"a judge threshold of {self.judge_threshold}?", "give 1 to 10")

    @property
    def details(self) -> str:
        return f"type={self.type}" + (f", judge>={self.judge_threshold}" if self.judge_threshold else "")


def judged_out(pair: dict, options: SyntheticOptions) -> bool:
    """Whether the judge's score (None: unreadable) drops ``pair``; unjudged pairs are kept."""
    if options.judge_threshold is None or "score" not in pair:
        return False
    return pair["score"] is None or pair["score"] < options.judge_threshold


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


OLLAMA_PORT = 11434
OLLAMA_DEFAULT_CONTEXT = 2048  # tokens, unless the model or OLLAMA_CONTEXT_LENGTH says more (newer: 4096)
TOKENS_A_WORD = 1.4  # (English prose under common tokenizers; code runs higher)


def context_warning(endpoint: str, chunk_words: int) -> str | None:
    """One line when chunks may be longer than Ollama's default context, which its OpenAI
    endpoint truncates silently; None elsewhere, or when they fit."""
    from urllib.parse import urlsplit

    try:
        port = urlsplit(endpoint).port
    except ValueError:
        return None
    tokens = int(chunk_words * TOKENS_A_WORD) + 200  # (the instructions around the chunk)
    if port != OLLAMA_PORT or tokens <= OLLAMA_DEFAULT_CONTEXT:
        return None
    return (f"warning: chunks of about {tokens} tokens may be longer than Ollama's default context "
            f"({OLLAMA_DEFAULT_CONTEXT}), which it cuts silently: start it with OLLAMA_CONTEXT_LENGTH=8192 "
            "or give a smaller --chunk-words")


def valid_score(content: str) -> int | None:
    """The judge's score, or None when the answer is not ``{"score": 1..10}``."""
    try:
        score = json.loads(content)["score"]
    except (ValueError, TypeError, KeyError):
        return None
    return score if isinstance(score, int) and not isinstance(score, bool) and 1 <= score <= 10 else None


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
            if judged_out(p, options):
                continue
            record = {"input": p["input"], "output": p["output"], "source_url": None,
                      "metadata": {"source": "synthetic", "file": item["file"], "page": item.get("page"),
                                   "chunk": item["chunk"], "model": item.get("model"), "type": item.get("type")}
                      | {k: item[k] for k in ("section", "paragraph") if k in item}
                      | ({"judge_score": p["score"]} if "score" in p else {})}
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
        self.dropped = 0  # pairs the judge scored below the threshold (or whose score stayed unreadable)
        self.requests, self.waited_s = 0, 0.0  # (progress, as a polite client counts them)
        self.filter = PairFilter(self.options.filters)
        self._pool: ThreadPoolExecutor | None = None

    @property
    def source_details(self) -> str:
        judge = f", judge>={self.options.judge_threshold}" if self.options.judge_threshold else ""
        return f"sources={len(self.files)}, type={self.options.type}, model={self.model}{judge}"

    @property
    def note(self) -> str:
        """What the summary adds: answers that stayed invalid, pairs the judge dropped."""
        parts = [f"{self.invalid} chunks' answers invalid after {self.retries} retries"] if self.invalid else []
        if self.options.judge_threshold:
            parts.append(f"{self.dropped} pairs scored below {self.options.judge_threshold} and dropped")
        return ", ".join(parts)

    def where(self, loc: Location) -> str:
        return f"chunk {loc}"

    def _tasks(self) -> list[dict]:
        tasks = []
        for path in self.files:
            texts = [(where, text) for where, part in document_parts(path)
                     for text in chunks(part, self.chunk_words, self.overlap_words)]
            for i, (where, text) in enumerate(texts, 1):  # (numbered through the file: ids stay as before)
                item_id = f"{path}#{i}"
                if item_id not in self.skip_chunks:
                    tasks.append({"id": item_id, "file": str(path), "page": None, "chunk": i, "text": text} | where)
        return tasks

    def _rows(self) -> Iterator[Located]:
        import httpx2 as httpx

        with httpx.Client(timeout=self.timeout_s, headers=self._headers()) as http:
            self._pool = ThreadPoolExecutor(self.concurrency)
            try:
                for item in self._pool.map(lambda t: self._generate(http, t), self._tasks()):
                    if self.on_thread is not None:
                        self.on_thread(item)
                    self.dropped += sum(judged_out(p, self.options) for p in item["pairs"])
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
                if self.options.judge_threshold is not None:
                    pairs = [p | {"score": self._score(http, p)} for p in pairs]
                return item | {"pairs": pairs}
        self.invalid += 1
        return item | {"pairs": [], "invalid": True}

    def _score(self, http, pair: dict) -> int | None:
        """The judge's 1-10 for ``pair`` (the same model, a second request), asked again when
        the answer is not a score; None after the retries."""
        body = {"model": self.model, "temperature": 0.0,
                "messages": [{"role": "system", "content": "You grade training data. Answer only with JSON."},
                             {"role": "user", "content": JUDGE_ASK.format(**pair)}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "score", "schema": JUDGE_SCHEMA}}}
        for _ in range(self.retries + 1):
            score = valid_score(self._chat(http, body))
            if score is not None:
                return score
        return None

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
