"""The evaluation worker: ``python -m ffui.train.evaluate RUN_DIR``.

RUN_DIR/evaluation.json says what to compare (the base model and each adapter, by name), the
metrics, the row limit and the one set of generation settings; RUN_DIR/dataset.jsonl holds
the rows. Every model sees the same prompts, rendered with the same tokenizer and chat
template (the first adapter's run's own), and answers greedily with the same
``max_new_tokens``: differences in the answers are the adapters', not the settings'.

Rows go through in batches; for each batch every model gives its loss over the reply tokens
and (when a text metric is asked) its answers, and the batch's rows are appended to
predictions.jsonl and predictions.csv at once, with the running metrics in metrics.json. A
stopped (cancelled) evaluation keeps every row it finished; run again in the same directory
(resume), it goes on after the last row written.

The protocol (events.jsonl, exit codes, control files, the worker lock) is the trainer's
(docs/events.md): ``start``, a ``step`` per batch (step = rows done), ``done`` with the
metrics of each model.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import sys
import time
import traceback
from pathlib import Path

from ffui.events import DONE, START, STEP, STOPPED
from ffui.train import data
from ffui.train.control import Control
from ffui.train.eval_scoring import Judge, RougeL, exact_match, perplexity, token_losses
from ffui.train.events import EXIT_OK, EXIT_USER, EventWriter, TrainerError, UserError

MODULE = "ffui.train.evaluate"
SPEC_FILE = "evaluation.json"
PREDICTIONS_JSONL = "predictions.jsonl"
PREDICTIONS_CSV = "predictions.csv"
METRICS_FILE = "metrics.json"
JUDGE_KEY_ENV = "FFUI_JUDGE_KEY"  # the judge's API key reaches the worker in its environment only
TEXT_METRICS = ("exact_match", "rouge_l", "judge")


@dataclasses.dataclass
class Case:
    """One dataset row, ready for every model: the prompt's tokens, the reference answer, the
    tokenized example for the loss (None: nothing trained in it)."""

    index: int
    prompt: str  # as a person reads it (the last user turn or the input)
    prompt_ids: list[int] | None
    reference: str | None
    example: dict | None


# -- the job ---------------------------------------------------------------------------------


def main(run_dir: str | Path) -> int:
    run_dir = Path(run_dir).resolve()
    events = EventWriter(run_dir / "events.jsonl")
    control = Control(run_dir)
    control.install_signal_handlers()
    try:
        return evaluate(run_dir, events, control)
    except TrainerError as e:
        return _fail(events, e)
    except Exception as e:
        traceback.print_exc()
        text = str(e).splitlines()[0][:300] if str(e) else ""
        kind = "oom" if "out of memory" in text.lower() else "internal"
        hint = ("lower the batch size (ffui eval --batch-size) or max_new_tokens" if kind == "oom"
                else "this is a bug in ffui; train.log has the traceback")
        return _fail(events, TrainerError(f"{'out of memory' if kind == 'oom' else 'internal error'}: "
                                          f"{type(e).__name__}: {text}", hint, kind=kind))
    finally:
        events.close()


def _fail(events: EventWriter, e: TrainerError) -> int:
    print(f"error: {e.message}" + (f" ({e.hint})" if e.hint else ""), flush=True)
    events.error(e.message, e.hint, kind=e.kind, exit_code=e.exit_code)
    return e.exit_code


def read_spec(run_dir: Path) -> dict:
    try:
        spec = json.loads((run_dir / SPEC_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{SPEC_FILE} cannot be read ({e})", "start the evaluation with ffui eval", kind="config") from None
    if not spec.get("models"):
        raise UserError("the evaluation names no model to evaluate", "give --adapter or --base", kind="config")
    return spec


def evaluate(run_dir: Path, events: EventWriter, control: Control) -> int:
    spec = read_spec(run_dir)
    if int(spec.get("num_gpu") or 0) == 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch initialises CUDA
    metrics = list(spec.get("metrics") or ["loss", "perplexity", "exact_match", "rouge_l"])
    settings = data.DataSettings(**(spec.get("data") or {}))
    records = data.read_records(run_dir / "dataset.jsonl")[: spec.get("limit") or None]
    for rec in records:
        data.record_kind(rec, settings.prompt_template is not None)
    judge = _judge(spec, metrics)
    rouge = RougeL() if "rouge_l" in metrics else None
    models = ModelSet(spec, events)
    cases = [prepare_case(i, rec, models.tokenizer, settings) for i, rec in enumerate(records)]
    writer = PredictionWriter(run_dir, [m["name"] for m in spec["models"]])
    totals = Totals(spec["models"], metrics)
    for row in writer.kept:
        totals.add(row)
    events.emit(START, backend=models.device, device=models.device, config={"metrics": metrics},
                total_steps=len(cases), resumed_from_step=len(writer.kept) or None, data={"rows": len(cases)})
    print(f"evaluating {len(cases)} rows on {', '.join(models.names)} ({models.device})"
          + (f"; {len(writer.kept)} rows already done" if writer.kept else ""), flush=True)
    batch_size = int((spec.get("generation") or {}).get("batch_size") or 8)
    started, done = time.monotonic(), len(writer.kept)
    for start in range(done, len(cases), batch_size):
        control.poll()
        if control.stop_requested:
            control.stop_handled()
            _write_metrics(run_dir, totals, done, len(cases))
            events.emit(STOPPED, step=done, checkpoint=None)
            print(f"stopped after {done} of {len(cases)} rows; they are kept in {PREDICTIONS_JSONL}", flush=True)
            return EXIT_OK
        batch = cases[start:start + batch_size]
        rows = score_batch(batch, models, spec, metrics, rouge, judge)
        writer.write(rows)
        for row in rows:
            totals.add(row)
        done += len(batch)
        _write_metrics(run_dir, totals, done, len(cases))
        rate = (done - len(writer.kept)) / max(time.monotonic() - started, 1e-6)
        events.emit(STEP, step=done, total=len(cases), loss=totals.last_loss(),
                    eta_s=round((len(cases) - done) / rate) if rate > 0 else None)
        print(f"rows {done}/{len(cases)}", flush=True)
    summary = _write_metrics(run_dir, totals, done, len(cases))
    events.emit(DONE, adapter_path=None, metrics=summary)
    for line in summary_lines(summary):
        print(line, flush=True)
    return EXIT_OK


def _judge(spec: dict, metrics: list[str]) -> Judge | None:
    if "judge" not in metrics:
        return None
    cfg = spec.get("judge") or {}
    if not cfg.get("url") or not cfg.get("model"):
        raise UserError("the judge metric needs a judge endpoint",
                        "set eval.judge_url (an OpenAI-compatible .../v1) and eval.judge_model", kind="config")
    return Judge(cfg["url"], cfg["model"], os.environ.get(JUDGE_KEY_ENV))


def _write_metrics(run_dir: Path, totals: "Totals", done: int, total: int) -> dict:
    summary = {"rows": done, "total_rows": total, "models": totals.summary()}
    tmp = run_dir / (METRICS_FILE + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    tmp.replace(run_dir / METRICS_FILE)
    return summary


def summary_lines(summary: dict) -> list[str]:
    lines = []
    for m in summary["models"]:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in m["metrics"].items() if isinstance(v, (int, float)))
        lines.append(f"{m['name']}: {shown or 'no metric'}")
    return lines


# -- the rows --------------------------------------------------------------------------------


def prepare_case(index: int, rec: data.Record, tokenizer, settings: data.DataSettings) -> Case:
    """The prompt the model answers (exactly the tokens training saw before the last reply),
    the reference (that reply) and the example whose trained tokens give the loss."""
    examples, _ = data.tokenize_records([rec], tokenizer, settings)
    kind = data.record_kind(rec, settings.prompt_template is not None)
    if kind == "text":
        return Case(index, rec.data["text"][:200], None, None, examples[0] if examples else None)
    segments, wrap = data.render_segments(rec, tokenizer, dataclasses.replace(settings, completion_only_loss=True))
    last = max(i for i, (_, trainable) in enumerate(segments) if trainable)
    bos, _ = data._specials(tokenizer)
    ids = list(bos) if wrap else []
    for text, _ in segments[:last]:
        ids += tokenizer(text, add_special_tokens=False)["input_ids"]
    return Case(index, _shown_prompt(rec, kind, segments[:last]), ids, _reference(rec, kind, segments[last][0]),
                examples[0] if examples else None)


def _shown_prompt(rec: data.Record, kind: str, before: list[tuple[str, bool]]) -> str:
    if kind == "pair":
        return rec.data["input"]
    if kind == "messages":
        users = [m.get("content") for m in rec.data["messages"]
                 if data.ROLE_ALIASES.get(m.get("role"), m.get("role")) == "user"]
        return str(users[-1]) if users else ""
    return "".join(text for text, _ in before)


def _reference(rec: data.Record, kind: str, last_segment: str) -> str:
    if kind == "pair":
        return rec.data["output"]
    if kind == "messages":
        replies = [m.get("content") for m in rec.data["messages"]
                   if data.ROLE_ALIASES.get(m.get("role"), m.get("role")) == "assistant"]
        return str(replies[-1]) if replies else ""
    return last_segment


def score_batch(batch: list[Case], models: "ModelSet", spec: dict, metrics: list[str], rouge, judge) -> list[dict]:
    """Each row of the batch with every model's answer and scores."""
    gen = spec.get("generation") or {}
    want_text = any(m in metrics for m in TEXT_METRICS)
    rows = [{"row": c.index, "prompt": c.prompt, "reference": c.reference, "models": {}} for c in batch]
    for name in models.names:
        with models.use(name):
            losses = models.losses([c.example for c in batch]) if {"loss", "perplexity"} & set(metrics) else None
            answers = models.generate([c.prompt_ids for c in batch], int(gen.get("max_new_tokens") or 128)) \
                if want_text else [None] * len(batch)
        for i, (case, row) in enumerate(zip(batch, rows)):
            row["models"][name] = _scores(case, answers[i], losses[i] if losses else None, metrics, rouge, judge)
    return rows


def _scores(case: Case, answer: str | None, loss: tuple[float, int] | None, metrics, rouge, judge) -> dict:
    out: dict = {"answer": answer}
    if loss is not None and loss[1]:
        out.update(loss_sum=loss[0], tokens=loss[1], loss=loss[0] / loss[1])
    if answer is not None and case.reference is not None:
        if "exact_match" in metrics:
            out["exact_match"] = exact_match(answer, case.reference)
        if rouge is not None:
            out["rouge_l"] = rouge(answer, case.reference)
        if judge is not None:
            out["judge"] = judge(case.prompt, case.reference, answer)
    return out


# -- the models ------------------------------------------------------------------------------


class ModelSet:
    """The base model loaded once, every adapter loaded onto it by name; ``use(name)`` makes
    one of them (or the bare base) answer."""

    def __init__(self, spec: dict, events: EventWriter) -> None:
        import torch
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        from ffui.train import backends

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self.names = [m["name"] for m in spec["models"]]
        self.adapters = {m["name"]: m.get("adapter_path") for m in spec["models"]}
        cuda = torch.cuda.is_available()
        self.device = "cuda" if cuda else "cpu"
        self.tokenizer = backends.load_tokenizer(spec.get("tokenizer") or spec["base_model"])
        self.tokenizer.padding_side = "left"  # generation continues every prompt from its own end
        data.prepare_tokenizer(self.tokenizer, data.DataSettings(**(spec.get("data") or {})), events.warning)
        dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
        base = backends._from_pretrained(AutoModelForCausalLM, spec["base_model"], "model", dtype=dtype)
        if len(self.tokenizer) > base.get_input_embeddings().weight.shape[0]:
            base.resize_token_embeddings(len(self.tokenizer))  # the run added tokens: before its adapter loads
        self.model = self._with_adapters(base)
        self.model.to(self.device)
        self.model.eval()

    def _with_adapters(self, base):
        paths = [(n, p) for n, p in self.adapters.items() if p]
        if not paths:
            return base
        from peft import PeftModel

        for n, p in paths:
            if not (Path(p) / "adapter_config.json").is_file():
                raise UserError(f"adapter {n}: {p} is not a LoRA adapter (no adapter_config.json)",
                                "evaluate a completed run's adapter/ folder", kind="model")
        model = PeftModel.from_pretrained(base, paths[0][1], adapter_name=self.key(paths[0][0]))
        for n, p in paths[1:]:
            model.load_adapter(p, adapter_name=self.key(n))
        return model

    def key(self, name: str) -> str:
        return f"m{self.names.index(name)}"  # peft adapter names must be identifiers

    @contextlib.contextmanager
    def use(self, name: str):
        if self.adapters.get(name):
            self.model.set_adapter(self.key(name))
            yield
        elif hasattr(self.model, "disable_adapter"):
            with self.model.disable_adapter():
                yield
        else:
            yield

    def losses(self, examples: list[dict | None]) -> list[tuple[float, int]]:
        have = [e for e in examples if e is not None]
        got = iter(token_losses(self.model, have, self.tokenizer.pad_token_id, batch_size=len(have) or 1))
        return [next(got) if e is not None else (0.0, 0) for e in examples]

    def generate(self, prompts: list[list[int] | None], max_new_tokens: int) -> list[str | None]:
        """Greedy answers to a batch of prompts, left-padded into one generate call."""
        import torch

        todo = [p for p in prompts if p]
        if not todo:
            return [None] * len(prompts)
        pad = self.tokenizer.pad_token_id
        longest = max(len(p) for p in todo)
        ids = torch.full((len(todo), longest), pad, dtype=torch.long)
        mask = torch.zeros((len(todo), longest), dtype=torch.long)
        for row, p in enumerate(todo):
            ids[row, longest - len(p):] = torch.tensor(p)
            mask[row, longest - len(p):] = 1
        with torch.inference_mode():
            out = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                      max_new_tokens=max_new_tokens, do_sample=False, temperature=None, top_p=None,
                                      top_k=None, pad_token_id=pad)
        texts = iter(t.strip() for t in self.tokenizer.batch_decode(out[:, longest:], skip_special_tokens=True))
        return [next(texts) if p else None for p in prompts]


# -- what is written -------------------------------------------------------------------------


class PredictionWriter:
    """predictions.jsonl (the whole row) and predictions.csv (a column per model and metric),
    appended and flushed batch by batch. Rows a stopped attempt wrote are ``kept``: the CSV is
    rewritten from them and the next attempt goes on after them."""

    SCORES = ("exact_match", "rouge_l", "loss", "judge")

    def __init__(self, run_dir: Path, names: list[str]) -> None:
        self.names = names
        self.jsonl_path, self.csv_path = run_dir / PREDICTIONS_JSONL, run_dir / PREDICTIONS_CSV
        self.kept = self._read_kept()
        with self.jsonl_path.open("w", encoding="utf-8") as f:  # drops a line cut short by a kill
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in self.kept)
        with self.csv_path.open("w", encoding="utf-8", newline="") as f:
            out = csv.writer(f)
            out.writerow(["row", "prompt", "reference"] + [f"{n} {c}" for n in names for c in ("answer",) + self.SCORES])
            out.writerows(self._csv_row(r) for r in self.kept)

    def _read_kept(self) -> list[dict]:
        kept = []
        try:
            with self.jsonl_path.open(encoding="utf-8") as f:
                for line in f:
                    try:
                        kept.append(json.loads(line))
                    except ValueError:
                        break
        except FileNotFoundError:
            pass
        return kept

    def _csv_row(self, row: dict) -> list:
        cells = [row["row"], row["prompt"], row["reference"]]
        for n in self.names:
            scores = row["models"].get(n) or {}
            cells += [scores.get("answer")] + [scores.get(c) for c in self.SCORES]
        return cells

    def write(self, rows: list[dict]) -> None:
        with self.jsonl_path.open("a", encoding="utf-8") as f:
            f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        with self.csv_path.open("a", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(self._csv_row(r) for r in rows)


class Totals:
    """Running metrics of each model over the rows so far (loss over all trained tokens)."""

    def __init__(self, models: list[dict], metrics: list[str]) -> None:
        self.models = models
        self.metrics = metrics
        self.base = next((m["name"] for m in models if not m.get("adapter_path")), None)
        self.sums = {m["name"]: {"loss_sum": 0.0, "tokens": 0, "rows": 0, "same": 0, "answered": 0,
                                 **{k: 0.0 for k in TEXT_METRICS}, **{k + "_n": 0 for k in TEXT_METRICS}}
                     for m in models}

    def add(self, row: dict) -> None:
        base_answer = (row["models"].get(self.base) or {}).get("answer") if self.base else None
        for name, s in self.sums.items():
            scores = row["models"].get(name) or {}
            s["rows"] += 1
            s["loss_sum"] += scores.get("loss_sum") or 0.0
            s["tokens"] += scores.get("tokens") or 0
            for k in TEXT_METRICS:
                if isinstance(scores.get(k), (int, float)):
                    s[k] += scores[k]
                    s[k + "_n"] += 1
            if base_answer is not None and scores.get("answer") is not None:
                s["answered"] += 1
                s["same"] += same_answer(scores["answer"], base_answer)

    def last_loss(self) -> float | None:
        s = self.sums[self.models[-1]["name"]]
        return s["loss_sum"] / s["tokens"] if s["tokens"] else None

    def summary(self) -> list[dict]:
        out = []
        for m in self.models:
            s = self.sums[m["name"]]
            loss = s["loss_sum"] / s["tokens"] if s["tokens"] else None
            values = {"loss": loss, "perplexity": perplexity(loss),
                      **{k: s[k] / s[k + "_n"] if s[k + "_n"] else None for k in TEXT_METRICS}}
            out.append({"name": m["name"], "adapter_path": m.get("adapter_path"), "rows": s["rows"],
                        "tokens": s["tokens"], "metrics": {k: values[k] for k in self.metrics if k in values},
                        "same_as_base": (s["same"] / s["answered"] if s["answered"] and m["name"] != self.base
                                         else None)})
        return out


def same_answer(answer: str, other: str) -> bool:
    return exact_match(answer, other) == 1.0


def cli(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ffui.train.evaluate RUN_DIR", flush=True)
        return EXIT_USER
    from ffui.paths import keep_files_private
    from ffui.train import worker_lock

    if worker_lock.hold(args[0]) is None:  # first thing: one worker per run directory
        print(f"error: another worker already runs in {args[0]}; this one did nothing", flush=True)
        return worker_lock.EXIT_LOCKED
    keep_files_private()
    return main(args[0])


if __name__ == "__main__":
    sys.exit(cli())
