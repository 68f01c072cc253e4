"""README cards for what ffui publishes (a model repo, a dataset repo), written from what ffui
knows: the base model, the dataset, the hyperparameters, the metrics, evaluation results, and
the ffui version. The YAML header holds only what the hub validates (a ``base_model`` only when
it is a hub id: a local path there would be refused)."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version

HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
CARD_SETTINGS = ("method", "learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
                 "gradient_accumulation_steps", "lora_r", "lora_alpha", "lora_dropout", "target_modules",
                 "max_seq_len", "precision", "packing", "completion_only_loss", "seed")
CARD_METRICS = ("first_loss", "final_loss", "eval_loss", "best_eval_loss", "steps", "epochs", "runtime_s")


def ffui_version() -> str:
    try:
        return version("ffui")
    except PackageNotFoundError:
        return "unknown"


def _yaml_list(key: str, values: list[str]) -> list[str]:
    return [f"{key}:"] + [f"- {v}" for v in values] if values else []


def model_card(repo_id: str, run: dict, dataset: str, merged: bool, evaluations: list[dict] = ()) -> str:
    base = run.get("base_model") or "?"
    hp = run.get("hp") or {}
    method = hp.get("method", "lora")
    final = (run.get("metrics") or {}).get("final") or {}
    header = ["---", f"library_name: {'transformers' if merged else 'peft'}"]
    if HUB_ID.fullmatch(base):
        header.append(f"base_model: {base}")
    header += _yaml_list("tags", ["ffui", method, "text-generation"] + ([] if merged else ["peft"]))
    header += ["pipeline_tag: text-generation", "---", ""]
    what = f"the {method} fine-tune merged into `{base}`" if merged else f"a {method} adapter for `{base}`"
    lines = [f"# {repo_id.split('/')[-1]}", "",
             f"{what[0].upper()}{what[1:]}, trained with ffui {ffui_version()} "
             f"on the dataset `{dataset}` (run {run['id']}, {run['name']!r}).", "",
             "## Training settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {_cell(hp[k])} |" for k in CARD_SETTINGS if hp.get(k) is not None]
    lines += ["", "## Results", ""]
    shown = [k for k in CARD_METRICS if final.get(k) is not None]
    lines += (["| metric | value |", "|---|---|"] + [f"| {k} | {_cell(final[k])} |" for k in shown]) if shown \
        else ["The run recorded no metrics."]
    lines += ["", "## Evaluation", ""] + _evaluations(evaluations)
    lines += ["", "## Use", "", "```python", *_usage(repo_id, base, merged), "```", ""]
    return "\n".join(header + lines)


def _evaluations(evaluations) -> list[str]:
    if not evaluations:
        return ["No evaluation job was run for this model."]
    out = ["| evaluation | metric | value |", "|---|---|---|"]
    for ev in evaluations:
        for k, v in sorted((ev.get("metrics") or {}).items()):
            out.append(f"| {ev.get('name') or ev.get('id')} | {k} | {_cell(v)} |")
    return out


def _usage(repo_id: str, base: str, merged: bool) -> list[str]:
    if merged:
        return ["from transformers import AutoModelForCausalLM, AutoTokenizer", "",
                f'model = AutoModelForCausalLM.from_pretrained("{repo_id}")',
                f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")']
    return ["from peft import AutoPeftModelForCausalLM", "from transformers import AutoTokenizer", "",
            f'model = AutoPeftModelForCausalLM.from_pretrained("{repo_id}")  # loads its base, {base}',
            f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")']


def dataset_card(repo_id: str, name: str, rows: int, fmt: str, description: str | None = None) -> str:
    header = ["---", "configs:", "- config_name: default", "  data_files:", "  - split: train",
              "    path: data/train-*.parquet", "tags:", "- ffui", "---", ""]
    lines = [f"# {repo_id.split('/')[-1]}", "",
             f"The dataset `{name}`: {rows:,} rows ({fmt}), published with ffui "
             f"{ffui_version()}.", ""]
    if description:
        lines += [description, ""]
    lines += ["```python", "from datasets import load_dataset", "", f'ds = load_dataset("{repo_id}", split="train")',
              "```", ""]
    return "\n".join(header + lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")[:80]
