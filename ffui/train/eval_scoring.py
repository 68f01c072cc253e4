"""What an evaluation measures, row by row: held-out token loss, exact match, ROUGE-L, and an
optional LLM judge. The trainer uses ``token_losses``/``heldout_metrics`` too, so a run's
held-out perplexity and an evaluation's are the same number.

Perplexity is exp of the mean loss over every trained token of every row (the assistant's
tokens; label -100 elsewhere), not the mean of per-row perplexities: a long answer weighs as
many tokens as it has, as in the usual definition.
"""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.request

from ffui.train.data import IGNORE, Collator
from ffui.train.events import UserError


def token_losses(model, examples: list[dict], pad_id: int, batch_size: int = 8) -> list[tuple[float, int]]:
    """(summed negative log-likelihood, token count) of each example over its trained tokens."""
    import torch

    device = next(model.parameters()).device
    collate = Collator(pad_id)
    out: list[tuple[float, int]] = []
    for start in range(0, len(examples), batch_size):
        batch = collate([{"input_ids": e["input_ids"], "labels": e["labels"]} for e in examples[start:start + batch_size]])
        labels = batch["labels"][:, 1:].to(device)
        with torch.inference_mode():
            logits = model(input_ids=batch["input_ids"].to(device),
                           attention_mask=batch["attention_mask"].to(device)).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE, reduction="none")
        trained = labels != IGNORE
        out += [(float(s), int(n)) for s, n in zip((nll * trained).sum(1), trained.sum(1))]
    return out


def perplexity(loss: float | None) -> float | None:
    if loss is None:
        return None
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")


def heldout_metrics(losses: list[tuple[float, int]]) -> dict:
    """Loss (mean over all trained tokens) and perplexity of a set of rows."""
    tokens = sum(n for _, n in losses)
    loss = sum(s for s, _ in losses) / tokens if tokens else None
    return {"heldout_loss": loss, "heldout_perplexity": perplexity(loss), "heldout_tokens": tokens}


def normalise(text: str) -> str:
    return " ".join((text or "").split())


def exact_match(answer: str, reference: str) -> float:
    """1.0 when the answer is the reference, spaces and line breaks aside."""
    return float(normalise(answer) == normalise(reference))


class RougeL:
    """ROUGE-L F-measure through Google's rouge-score (the reference ROUGE-1.5.5 port)."""

    def __init__(self) -> None:
        try:
            from rouge_score import rouge_scorer
        except ImportError:
            raise UserError("the rouge_l metric needs the rouge-score package, which is not installed",
                            "pip install 'ffui[train]', or leave rouge_l out of --metrics", kind="config") from None
        self.scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)

    def __call__(self, answer: str, reference: str) -> float:
        return float(self.scorer.score(reference or "", answer or "")["rougeL"].fmeasure)


JUDGE_SYSTEM = ("You grade answers against a reference answer. Reply with one integer from 1 (wrong) to 10 "
                "(as good as the reference), and nothing else.")


class Judge:
    """An LLM judge behind any OpenAI-compatible chat completions endpoint (Ollama, vLLM,
    llama.cpp's server): a score from 1 to 10 per answer, reported as score/10."""

    def __init__(self, url: str, model: str, key: str | None = None, timeout_s: float = 120.0) -> None:
        base = url.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else base + "/chat/completions"
        self.model, self.key, self.timeout_s = model, key, timeout_s

    def __call__(self, prompt: str, reference: str, answer: str) -> float | None:
        body = {"model": self.model, "temperature": 0, "messages": [
            {"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": f"Question:\n{prompt}\n\nReference answer:\n{reference}\n\n"
                                        f"Answer to grade:\n{answer}\n\nScore (1-10):"}]}
        reply = self._post(body)
        try:
            text = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise UserError(f"the judge at {self.url} answered without choices[0].message.content",
                            "point eval.judge_url at an OpenAI-compatible server (.../v1)", kind="config") from None
        found = re.search(r"\d+", text or "")
        return min(10, max(1, int(found.group()))) / 10 if found else None

    def _post(self, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.key:  # in a header only: never in the URL, the log or an argument
            headers["Authorization"] = f"Bearer {self.key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                return json.loads(resp.read().decode("utf-8") or "{}")
        except urllib.error.HTTPError as e:
            hint = ("set the key: ffui settings set eval.judge_key KEY" if e.code in (401, 403)
                    else f"check that the server serves the model {self.model!r} (setting eval.judge_model)")
            raise UserError(f"the judge at {self.url} refused the request (HTTP {e.code})", hint, kind="config") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise UserError(f"the judge at {self.url} cannot be reached ({reason})",
                            "start the server, or fix the setting eval.judge_url", kind="config") from None
        except ValueError:
            raise UserError(f"the judge at {self.url} did not answer JSON",
                            "point eval.judge_url at an OpenAI-compatible server (.../v1)", kind="config") from None
