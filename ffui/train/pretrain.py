"""objective=pretrain: raw text, no chat template, every token trained.

A document longer than max_seq_len is split into chunks of max_seq_len tokens (none of it is
thrown away), and the chunks are packed into rows (ffui.train.data.pack_examples, positions
restarting per chunk, so chunks do not attend to each other).
"""

from __future__ import annotations

from ffui.train import data
from ffui.train.events import UserError


def document_text(rec: data.Record) -> str:
    """The text of a record for pretraining (a text row's); other rows are refused, not guessed at."""
    d = rec.data
    if isinstance(d.get("text"), str) and d["text"]:
        return d["text"]
    raise UserError(f"{rec.source} line {rec.line}: objective=pretrain trains on plain text, and this row has "
                    f"no 'text' (keys: {', '.join(sorted(d))[:120]})",
                    "import a text dataset (.txt/.md files, or a text column), or use objective=sft", kind="dataset")


def split_document(ids: list[int], max_len: int) -> list[list[int]]:
    """Chunks of at most max_len tokens; a last piece of one token has nothing to predict and goes."""
    chunks = [ids[i:i + max_len] for i in range(0, len(ids), max_len)]
    return [c for c in chunks if len(c) > 1]


def tokenize_documents(records: list[data.Record], tokenizer, max_len: int) -> tuple[list[dict], data.DataStats, int]:
    """(packed rows, stats, documents that were split). Each document is bos + text + eos."""
    texts = [document_text(r) for r in records]
    bos, eos = data._specials(tokenizer)
    stats, split, chunks = data.DataStats(), 0, []
    for ids in _token_ids(tokenizer, texts):
        ids = list(bos) + ids + ([eos] if eos is not None else [])
        pieces = split_document(ids, max_len)
        split += len(pieces) > 1
        if not pieces:
            stats.dropped += 1
            continue
        chunks += [{"input_ids": p, "labels": list(p)} for p in pieces]
        stats.examples += 1
        stats.tokens += sum(len(p) for p in pieces)
        stats.max_len = max(stats.max_len, max(len(p) for p in pieces))
    if not chunks:
        raise UserError(f"no text to train on in {len(records)} rows", "check the dataset's text", kind="dataset")
    rows = data.pack_examples(chunks, max_len)
    stats.rows = len(rows)
    return rows, stats, split


def _token_ids(tokenizer, texts: list[str]) -> list[list[int]]:
    """Whole documents, however long: the tokenizer's "longer than the maximum sequence length"
    warning is for text fed to the model as one sequence, and these are split first."""
    limit = tokenizer.model_max_length
    tokenizer.model_max_length = 10**30
    try:
        return tokenizer(texts, add_special_tokens=False)["input_ids"]
    finally:
        tokenizer.model_max_length = limit
