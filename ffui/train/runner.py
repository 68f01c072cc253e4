"""Train one run directory: config.json + dataset.jsonl in, events/adapter/checkpoints out.

`main(run_dir)` never lets an exception escape as a bare traceback: every failure becomes
an `error` event with a message and a hint, and a distinct exit code (ffui.train.events).
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import time
import traceback
import warnings
from pathlib import Path

from ffui.train.config import ConfigError, TrainConfig
from ffui.train.control import Control
from ffui.train.distributed import is_main_rank
from ffui.train.events import (EXIT_INTERRUPTED, EXIT_OK, EXIT_USER, EventWriter, NonFiniteLoss,
                               OutOfMemory, TrainerError, UserError)
from ffui.train.plan import build_training_arguments


def main(run_dir: str | Path, job=None) -> int:
    """Run ``job(run_dir, events, control)`` (default: train) with every failure an event.

    Other workers of the run-directory protocol (ffui.train.export) pass their own ``job``.
    """
    # transformers calling its own deprecated alias; noise at the top of every train.log
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    run_dir = Path(run_dir).resolve()
    if not (run_dir / "config.json").is_file():  # nowhere sensible to write events: say so and leave
        print(f"error: {run_dir} has no config.json (give the run directory ffui created)", flush=True)
        return EXIT_USER
    events = EventWriter(run_dir / "events.jsonl", enabled=is_main_rank())
    control = Control(run_dir)
    control.install_signal_handlers()
    try:
        return (job or train)(run_dir, events, control)
    except TrainerError as e:
        return _fail(events, e)
    except KeyboardInterrupt:  # a second Ctrl-C: no checkpoint, leave now
        print("interrupted", flush=True)
        events.emit("stopped", step=None, checkpoint=None)
        return EXIT_INTERRUPTED
    except Exception as e:
        if _is_disk_full(e):
            return _fail(events, UserError(
                f"the disk is full: {str(e).splitlines()[0][:200]}",
                "free some space (a lower save_total_limit keeps fewer checkpoints), then resume the run "
                "from its last checkpoint", kind="disk"))
        if _is_oom(e):
            return _fail(events, OutOfMemory(
                f"out of memory: {str(e).splitlines()[0][:200]}",
                "lower per_device_train_batch_size or max_seq_len, set gradient_checkpointing=true, "
                "or use method=qlora"))
        traceback.print_exc()
        return _fail(events, TrainerError(
            f"internal error: {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}",
            "this is a bug in ffui; train.log has the traceback", kind="internal"))
    finally:
        events.close()


def worker_main(argv: list[str], job, prog: str) -> int:
    """``python -m PROG RUN_DIR`` for a worker other than the trainer: the run's lock first (as
    the trainer takes it), private files, then ``main(RUN_DIR, job)``."""
    from ffui.paths import keep_files_private
    from ffui.train import worker_lock

    if len(argv) != 1:
        print(f"usage: python -m {prog} RUN_DIR", flush=True)
        return EXIT_USER
    if Path(argv[0]).is_dir() and worker_lock.hold(argv[0]) is None:
        print(f"error: another worker already runs in {argv[0]}; this one did nothing", flush=True)
        return worker_lock.EXIT_LOCKED
    keep_files_private()
    return main(argv[0], job)


def _fail(events: EventWriter, e: TrainerError) -> int:
    try:
        print(f"error: {e.message}" + (f" ({e.hint})" if e.hint else ""), flush=True)
        events.error(e.message, e.hint, kind=e.kind, exit_code=e.exit_code)
    except OSError:  # a full disk takes the log and the event too; the exit code still tells
        pass
    return e.exit_code


def _is_disk_full(e: BaseException) -> bool:
    """ENOSPC, also as torch.save reports it (a RuntimeError from its stream writer)."""
    while e is not None:
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return True
        text = str(e).lower()
        if "no space left on device" in text or ("pytorchstreamwriter" in text and "write failed" in text):
            return True
        e = e.__cause__ or e.__context__
    return False


def _is_oom(e: BaseException) -> bool:
    text = str(e).lower()
    return type(e).__name__ == "OutOfMemoryError" or "out of memory" in text or "can't allocate memory" in text


def load_config(run_dir: Path) -> TrainConfig:
    try:
        return TrainConfig.load(run_dir / "config.json")
    except ConfigError as e:
        raise UserError(f"config.json: {e}", "fix the listed keys in the run's config", kind="config") from None


def train(run_dir: Path, events: EventWriter, control: Control) -> int:
    from ffui.train import backends, tracking

    started = time.time()
    cfg, train_recs, eval_recs = _read_inputs(run_dir)  # user errors here cost no heavy import
    model_name = backends.check_base_model(cfg)
    cuda, bf16 = backends.detect_cuda()
    backend, method = backends.resolve_backend(cfg, cuda, events.warning)
    cfg = dataclasses.replace(cfg, backend=backend, method=method)
    plan = build_training_arguments(cfg, output_dir=run_dir / "checkpoints", backend=backend, cuda=cuda,
                                    bf16_supported=bf16, has_eval=bool(eval_recs))
    plan["run"]["resume_from_checkpoint"] = _resume_path(cfg, run_dir)
    targs = plan["training_args"]
    targs["report_to"] = tracking.prepare(targs["report_to"], run_dir, events.warning)
    if cfg.prompt_template is not None and cfg.objective != "sft":
        events.warning(f"prompt_template is for objective=sft; objective={cfg.objective} reads the rows as they are")
    if cfg.early_stopping_patience and not eval_recs:
        events.warning("early_stopping_patience needs an eval set (eval_split or eval.jsonl); ignoring it")

    from transformers import set_seed
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # line-oriented logs
    set_seed(cfg.seed)  # LoRA init and dropout
    model, tokenizer, train_rows, eval_rows, stats = _load_and_tokenize(model_name, plan, cfg.objective, train_recs,
                                                                        eval_recs, events)
    if cfg.packing and cfg.objective == "sft":
        _scale_packed_batch(plan, stats, len(train_recs), events)
    if control.stop_requested:
        control.stop_handled()
        events.emit("stopped", step=0, checkpoint=None)
        return EXIT_OK
    start_fields = {
        "backend": backend, "device": _device(backend, cuda), "config": cfg.to_dict(),
        "precision": plan["model"]["precision"],
        "data": {**dataclasses.asdict(stats), "train_examples": len(train_recs), "eval_examples": len(eval_recs)},
    }
    trainer, callback = _build_trainer(model, tokenizer, plan, train_rows, eval_rows, events, control,
                                       start_fields)
    resume = plan["run"]["resume_from_checkpoint"]
    if resume and _checkpoint_is_final(resume):
        _adopt_final_checkpoint(trainer, callback, resume)
    else:
        trainer.train(resume_from_checkpoint=resume)
    return _finish(run_dir, cfg, trainer, callback, events, control, started)


def _checkpoint_is_final(path: str) -> bool:
    """A checkpoint saved at the run's last step: resuming would train one step past the end."""
    try:
        state = json.loads((Path(path) / "trainer_state.json").read_text(encoding="utf-8"))
        return 0 < int(state.get("max_steps") or 0) <= int(state.get("global_step") or 0)
    except (OSError, ValueError, TypeError):
        return False


def _adopt_final_checkpoint(trainer, callback, path: str) -> None:
    """Finish a run whose last checkpoint already holds every step (it was stopped or
    crashed after its final step): load those weights and save them as the result."""
    from transformers import TrainerState

    trainer._load_from_checkpoint(path)
    trainer.state = TrainerState.load_from_json(str(Path(path) / "trainer_state.json"))
    callback.on_train_begin(trainer.args, trainer.state, trainer.control)
    callback.events.say(f"{Path(path).name} already holds all {trainer.state.max_steps} steps: "
                        "saving it as the result without training further")


def _read_inputs(run_dir: Path):
    """Config and records, split into train/eval, with every record's shape checked."""
    from ffui.train import data

    cfg = load_config(run_dir)
    if cfg.num_gpu == 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch initialises CUDA
    records = data.read_records(run_dir / "dataset.jsonl")
    eval_path = run_dir / "eval.jsonl"
    eval_records = data.read_records(eval_path) if eval_path.exists() else None
    check_records(cfg, records + (eval_records or []))
    train_recs, eval_recs = data.split_records(records, eval_records, data.DataSettings(
        eval_split=cfg.eval_split, seed=cfg.seed))
    return cfg, train_recs, eval_recs


def check_records(cfg: TrainConfig, records) -> None:
    """Every record fits the objective, before anything heavy loads (also ``ffui data render``'s check)."""
    from ffui.train import data, objectives, preference, pretrain

    if cfg.objective in objectives.TRAINERS:
        objectives.preference_rows(records, cfg.objective)
    elif cfg.objective == "pretrain":
        for rec in records:
            pretrain.document_text(rec)
    else:
        for rec in records:
            refusal = preference.sft_refusal(rec.data)
            if refusal:
                raise UserError(f"{rec.where}: {refusal}", kind="dataset")
            data.record_kind(rec, cfg.prompt_template is not None, cfg.drop_media)


def _load_and_tokenize(model_name: str, plan: dict, objective: str, train_recs, eval_recs, events: EventWriter):
    """Tokenize before loading the model where possible: a bad record should not wait for 14 GB."""
    from ffui.train import backends, data, objectives

    settings = data.DataSettings(**plan["data"])
    model = None
    if plan["model"]["backend"] == "unsloth":  # unsloth hands out its own (patched) tokenizer
        model, tokenizer = backends.load_unsloth(model_name, plan)
    else:
        tokenizer = backends.load_tokenizer(model_name)
    if objective in objectives.TRAINERS:
        train_rows, eval_rows, stats = _preference_rows(train_recs, eval_recs, tokenizer, settings, objective, events)
    elif objective == "pretrain":
        train_rows, eval_rows, stats = _pretrain_rows(train_recs, eval_recs, tokenizer, settings, events)
    else:
        data.prepare_tokenizer(tokenizer, settings, events.warning)
        data.warn_tool_fallbacks(train_recs + eval_recs, settings, events.warning)
        train_rows, stats = _tokenize(train_recs, tokenizer, settings, events, "training")
        eval_rows, _ = _tokenize(eval_recs, tokenizer, dataclasses.replace(settings, packing=False), events, "eval")
    if model is None:  # TRL's trainers add the LoRA themselves (and use the bare base as the reference)
        model = backends.load_model(model_name, {**plan, "lora": None} if objective in objectives.TRAINERS else plan)
    return model, tokenizer, train_rows, eval_rows, stats


def _preference_rows(train_recs, eval_recs, tokenizer, settings, objective: str, events: EventWriter):
    """TRL's rows (TRL tokenizes them); the chat template only matters for conversation rows."""
    from ffui.train import data, objectives

    train_rows = objectives.preference_rows(train_recs, objective)
    eval_rows = objectives.preference_rows(eval_recs, objective) if eval_recs else []
    chat = not isinstance(train_rows[0]["prompt"], str)
    data.prepare_tokenizer(tokenizer, settings, events.warning if chat else (lambda _message: None))
    form = "conversations (chat template applied)" if chat else "text (no chat template)"
    print(f"training data: {len(train_rows)} {objective} examples as {form}", flush=True)
    return train_rows, eval_rows, data.DataStats(examples=len(train_rows), rows=len(train_rows))


def _pretrain_rows(train_recs, eval_recs, tokenizer, settings, events: EventWriter):
    from ffui.train import data, pretrain

    data.prepare_tokenizer(tokenizer, settings, lambda _message: None)  # pad token; no chat template is used
    out = []
    for recs, what in ((train_recs, "training"), (eval_recs, "eval")):
        if not recs:
            out.append([])
            continue
        rows, stats, split = pretrain.tokenize_documents(recs, tokenizer, settings.max_seq_len)
        if split:
            events.warning(f"{split} of {len(recs)} {what} documents were longer than max_seq_len="
                           f"{settings.max_seq_len} tokens and were split into chunks (none of the text is cut)")
        print(f"{what} data: {len(recs)} documents, {stats.tokens} tokens in {stats.rows} packed rows "
              f"of up to {settings.max_seq_len}", flush=True)
        out.append(rows)
        if what == "training":
            train_stats = stats
    return out[0], out[1], train_stats


def _tokenize(recs, tokenizer, settings, events: EventWriter, what: str):
    from ffui.train import data

    if not recs:
        return [], data.DataStats()
    rows, stats = data.tokenize_records(recs, tokenizer, settings)
    if stats.truncated:
        events.warning(f"{stats.truncated} of {len(recs)} {what} examples were longer than "
                       f"max_seq_len={settings.max_seq_len} tokens and were truncated")
    if stats.empty_replies:
        events.warning(f"{stats.empty_replies} of {len(recs)} {what} examples have an empty assistant reply and "
                       "were left out (set keep_empty_replies=true to train them)")
    if stats.dropped:
        events.warning(f"{stats.dropped} {what} examples had nothing left to train on after truncation "
                       "and were skipped")
    if not rows:
        raise UserError(f"no usable {what} examples (all {len(recs)} were skipped)",
                        "raise max_seq_len or shorten the prompts", kind="dataset")
    if settings.packing:
        rows = data.pack_examples(rows, settings.max_seq_len)
    stats.rows = len(rows)
    events.say(data.summary_line(what, len(recs), stats, settings.max_seq_len, settings.packing))
    return rows, stats


def _scale_packed_batch(plan: dict, stats, examples: int, events: EventWriter) -> None:
    """Packed rows hold several examples: count the batch in examples, not rows, so packing
    keeps the tokens per optimizer step (and the number of steps) of unpacked training."""
    from ffui.train import data

    targs = plan["training_args"]
    batch = targs["per_device_train_batch_size"]
    examples = stats.examples or examples
    events.say(data.packed_batch_note(examples, stats.rows, batch))
    targs["per_device_train_batch_size"] = data.packed_batch_size(examples, stats.rows, batch)


def _build_trainer(model, tokenizer, plan, train_rows, eval_rows, events, control, start_fields):
    from transformers import EarlyStoppingCallback, PrinterCallback, TrainingArguments

    from ffui.train import objectives
    from ffui.train.callback import EventCallback
    from ffui.train.data import Collator
    from ffui.train.trainer import FfuiTrainer

    if plan["model"]["backend"] == "unsloth":
        plan["training_args"]["activation_checkpointing"] = False  # unsloth applied its own checkpointing
    callback = EventCallback(events, control, start_fields, plan["run"]["stop_on_nan"])
    callbacks = [callback]
    if plan["run"]["early_stopping_patience"] and eval_rows:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=plan["run"]["early_stopping_patience"]))
    if plan["objective"]["objective"] in objectives.TRAINERS:
        trainer = objectives.build_trainer(model, tokenizer, plan, train_rows, eval_rows, callbacks)
        trainer.remove_callback(PrinterCallback)
        return trainer, callback
    targs = dict(plan["training_args"], label_names=["labels"])
    trainer = FfuiTrainer(
        model=model,
        args=TrainingArguments(**targs),
        data_collator=Collator(tokenizer.pad_token_id, plan["data"]["pad_to_multiple_of"]),
        train_dataset=train_rows,
        eval_dataset=eval_rows or None,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # it prints raw log dicts; our step lines replace them
    return trainer, callback


def _finish(run_dir, cfg, trainer, callback, events, control, started) -> int:
    from ffui.train import objectives

    step = trainer.state.global_step
    if callback.nan_step is not None:
        raise NonFiniteLoss(f"loss became NaN/inf at step {callback.nan_step}; training stopped",
                            "lower learning_rate, keep max_grad_norm > 0, or use precision=bf16/fp32 instead of fp16")
    if callback.stopping and step >= trainer.state.max_steps > 0:
        control.stop_handled()  # the stop came at the last step: the run is complete, not cancelled
        events.say(f"stop requested at the last step ({step}); finishing the run")
    elif callback.stopping:
        control.stop_handled()
        events.emit("stopped", step=step, checkpoint=callback.last_checkpoint)
        events.say(f"stopped at step {step}; resume from {callback.last_checkpoint}")
        return EXIT_OK
    out_dir = run_dir / ("model" if cfg.method == "full" else "adapter")
    objectives.drop_reference_adapter(trainer.model)
    trainer.save_model(str(out_dir))  # adapter only for peft models; the processing class too
    metrics = {**_metrics(trainer, callback, started), **_heldout(trainer)}
    if is_main_rank():
        tmp = run_dir / "metrics.json.tmp"
        tmp.write_text(json.dumps(metrics, indent=2))
        tmp.replace(run_dir / "metrics.json")
    events.emit("done", adapter_path=str(out_dir), metrics=metrics)
    early = " (early stopping: eval_loss stopped improving)" if metrics["stopped_early"] else ""
    events.say(f"done: {step}/{trainer.state.max_steps} steps{early}, loss {_fmt(metrics['first_loss'])} -> "
               f"{_fmt(metrics['final_loss'])}, saved {out_dir}")
    return EXIT_OK


def _fmt(x) -> str:
    return "?" if x is None else f"{x:.4f}"


def _metrics(trainer, callback, started: float) -> dict:
    state = trainer.state
    losses = callback.losses
    runtime = time.time() - started
    return {
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "steps": state.global_step,
        "stopped_early": state.global_step < state.max_steps,  # early stopping (a user stop is not "done")
        "epochs": round(state.epoch or 0.0, 4),
        "eval_loss": (callback.last_eval or {}).get("eval_loss"),
        "best_eval_loss": state.best_metric,
        "tokens_seen": state.num_input_tokens_seen,
        "runtime_s": round(runtime, 2),
    }


def _heldout(trainer) -> dict:
    """Held-out loss and perplexity of the finished model over every trained token of the eval
    rows (exp of the mean token loss, as ``ffui eval`` computes it); none without eval rows."""
    rows = trainer.eval_dataset
    if not rows:
        return {}
    from ffui.train.eval_scoring import heldout_metrics, token_losses

    model, was_training = trainer.model, trainer.model.training
    model.eval()
    try:
        return heldout_metrics(token_losses(model, list(rows), trainer.processing_class.pad_token_id,
                                            trainer.args.per_device_eval_batch_size))
    finally:
        model.train(was_training)


def _resume_path(cfg: TrainConfig, run_dir: Path) -> str | None:
    want = cfg.resume_from_checkpoint
    if not want:
        return None
    if want == "last":
        found = sorted((run_dir / "checkpoints").glob("checkpoint-*"),
                       key=lambda p: int(p.name.rsplit("-", 1)[-1]) if p.name.rsplit("-", 1)[-1].isdigit() else -1)
        if not found:
            raise UserError("resume_from_checkpoint='last' but this run has no checkpoints yet",
                            "start without resume_from_checkpoint", kind="config")
        return str(found[-1])
    path = Path(want).expanduser()
    if not (path / "trainer_state.json").exists():
        raise UserError(f"resume_from_checkpoint: {want} is not a trainer checkpoint (no trainer_state.json)",
                        "point it at a checkpoints/checkpoint-N directory of an earlier run", kind="config")
    return str(path)


def _device(backend: str, cuda: bool) -> str:
    if backend == "cpu" or not cuda:
        return "cpu"
    import torch

    return f"cuda ({torch.cuda.get_device_name(0)}, {torch.cuda.device_count()} visible)"
