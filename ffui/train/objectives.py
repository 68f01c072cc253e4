"""Preference objectives (dpo, orpo, simpo, kto) through TRL's own trainers.

ffui does the run around them (config, events, control, checkpoints, the adapter): the
trainer, its loss, its tokenization of prompt/chosen/rejected and its metrics
(rewards/chosen, rewards/rejected, rewards/margins, rewards/accuracies) are TRL's.
trl is imported inside functions: this module is read by the runner before torch loads.
"""

from __future__ import annotations

from dataclasses import dataclass

from ffui.train import preference
from ffui.train.events import UserError


@dataclass(frozen=True)
class TrlTrainer:
    module: str
    config: str
    trainer: str
    # keys of the TRL config this objective sets beyond the shared ones
    extra: tuple[tuple[str, object], ...] = ()
    tokens_counted: bool = True  # its batches have input_ids, so transformers counts tokens seen


# ORPO and CPO (whose simpo loss is SimPO) live in trl.experimental in trl 1.x; their
# batches hold chosen_input_ids/rejected_input_ids, not input_ids.
TRAINERS = {
    "dpo": TrlTrainer("trl", "DPOConfig", "DPOTrainer"),
    "kto": TrlTrainer("trl", "KTOConfig", "KTOTrainer"),
    "orpo": TrlTrainer("trl.experimental.orpo", "ORPOConfig", "ORPOTrainer", tokens_counted=False),
    "simpo": TrlTrainer("trl.experimental.cpo", "CPOConfig", "CPOTrainer",
                        extra=(("loss_type", "simpo"), ("cpo_alpha", 0.0)), tokens_counted=False),
}


def preference_rows(records, objective: str) -> list[dict]:
    """Every record as TRL's prompt/chosen/rejected (or prompt/completion/label) row, in one
    form for the whole set (TRL reads the first row to tell text from conversations)."""
    paired = objective in preference.PAIRED_OBJECTIVES
    rows = []
    for rec in records:
        row = preference.preference_row(rec.data)
        if row is None:
            raise _not_preference(rec, objective)
        try:
            norm = preference.normalise_preference(row)
        except preference.PreferenceError as e:
            raise UserError(f"{rec.source} line {rec.line}: {e}", _shape_hint(objective), kind="dataset") from None
        if preference.is_paired(norm) != paired:
            raise _wrong_kind(rec, objective, paired)
        rows.append(norm)
    if len({isinstance(r["prompt"], str) for r in rows}) > 1:
        rows = [preference.as_conversational(r) for r in rows]
    return rows


def _not_preference(rec, objective: str) -> UserError:
    what = "chosen and rejected replies" if objective in preference.PAIRED_OBJECTIVES else \
        "a completion with a label (true/false)"
    return UserError(f"{rec.source} line {rec.line}: objective={objective} needs {what}, and this row has none",
                     "import preference data (see docs/datasets.md, Preference data), or use objective=sft",
                     kind="dataset")


def _wrong_kind(rec, objective: str, paired: bool) -> UserError:
    if paired:
        return UserError(f"{rec.source} line {rec.line}: this is KTO data (one completion with a label), "
                         f"not chosen/rejected pairs", "use --set objective=kto", kind="dataset")
    return UserError(f"{rec.source} line {rec.line}: this is paired preference data (chosen/rejected), "
                     "not KTO's labelled completions", "use --set objective=dpo (or orpo)", kind="dataset")


def _shape_hint(objective: str) -> str:
    if objective == "kto":
        return 'rows need {"prompt", "completion", "label": true|false} (see docs/datasets.md)'
    return 'rows need {"prompt", "chosen", "rejected"} or full chosen/rejected conversations (see docs/datasets.md)'


def to_dataset(rows: list[dict]):
    """A datasets.Dataset of the rows; labels stay booleans, message lists stay lists."""
    from datasets import Dataset, disable_progress_bars

    disable_progress_bars()  # line-oriented logs: TRL's tokenizing bars would fill train.log with \r
    return Dataset.from_list(rows)


def trl_config(objective: str, plan: dict):
    """The TRL config for ``objective``: the run's TrainingArguments plus the objective's own keys."""
    import importlib

    spec = TRAINERS[objective]
    _quiet_experimental()
    targs = dict(plan["training_args"])
    targs.pop("train_sampling_strategy")  # lengths are TRL's to know; KTO needs its sequential default
    if objective != "kto":
        targs["train_sampling_strategy"] = "random"
    if not spec.tokens_counted:
        targs["include_num_input_tokens_seen"] = False
    config_cls = getattr(importlib.import_module(spec.module), spec.config)
    return config_cls(**targs, beta=plan["objective"]["beta"], max_length=plan["model"]["max_seq_len"],
                      **dict(spec.extra))


def _quiet_experimental() -> None:
    """trl.experimental warns on import that its API may change: ffui pins what it calls, and
    the warning would open every orpo/simpo train.log."""
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def build_trainer(model, tokenizer, plan: dict, train_rows, eval_rows, callbacks):
    """TRL's trainer for ``objective``. ``model`` is the base (TRL adds the LoRA from the plan and
    uses the base, adapter off, as the reference), or an already adapted model (unsloth)."""
    import importlib

    objective = plan["objective"]["objective"]
    spec = TRAINERS[objective]
    trainer_cls = getattr(importlib.import_module(spec.module), spec.trainer)
    peft_config = None
    if plan["lora"] is not None and not hasattr(model, "peft_config"):
        from peft import LoraConfig

        peft_config = LoraConfig(**plan["lora"])
    try:
        return trainer_cls(
            model=model, args=trl_config(objective, plan), train_dataset=to_dataset(train_rows),
            eval_dataset=to_dataset(eval_rows) if eval_rows else None, processing_class=tokenizer,
            callbacks=callbacks, peft_config=peft_config,
        )
    except ValueError as e:  # TRL checks its settings against each other and the data when it starts
        raise UserError(f"TRL's {spec.trainer} refused this run: {str(e).splitlines()[0][:300]}",
                        "change the setting it names (ffui configs keys lists them)", kind="config") from None


def drop_reference_adapter(model) -> None:
    """TRL copies an adapter the model already had into a frozen "ref" one: save only the trained one."""
    if "ref" in (getattr(model, "peft_config", None) or {}):
        model.delete_adapter("ref")
