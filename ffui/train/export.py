"""`python -m ffui.train.export RUN_DIR`: export a trained run (the ``export`` job kind's worker).

RUN_DIR is the export job's own directory; its config.json (written by ffui.jobs.kinds.export)
names the trained run's adapter, its training config, and what to make:

  adapter only (merged: false)  the adapter folder with its tokenizer, copied to ``out``
  merged (merged: true)         the base model reloaded in 16-bit (never 4-bit, also for a QLoRA
                                run: merging into quantized weights loses accuracy), its embeddings
                                resized first when the run's tokenizer has more tokens, the adapter
                                merged in with peft's merge_and_unload, saved as sharded safetensors
                                with the tokenizer and its chat template; then loaded back with
                                plain transformers and asked a few of the run's own prompts, greedy,
                                which must give the adapter's own answers (else the export fails)
  gguf: q8_0|f16|bf16           then llama.cpp's convert_hf_to_gguf.py, from the checkout the
                                ``export.llama_cpp_dir`` setting names (no maintained package
                                ships that converter: docs/export.md)

The result is written to ``out`` + ".partial" and renamed at the end, so a failed or cancelled
export leaves no half-written model where the user looks for one. Events (ffui.events): one
step per phase for progress, ``done`` with ``export_path`` (and ``gguf_path``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from itertools import takewhile
from pathlib import Path

from ffui.events import DONE, START, STEP, STOPPED
from ffui.train.control import Control
from ffui.train.events import EXIT_OK, EventWriter, UserError

CHECK_PROMPTS = 3       # prompts of the run's own dataset asked of the adapter and the export
CHECK_NEW_TOKENS = 24   # greedy tokens compared per prompt
DTYPES = {"bf16": "bfloat16", "fp16": "float16"}
GGUF_TYPES = ("q8_0", "f16", "bf16")
CONVERTER = "convert_hf_to_gguf.py"


class Stopped(Exception):
    """A stop request arrived between two phases."""


def gguf_problem(llama_cpp_dir: str | None) -> str | None:
    """What is missing for a GGUF export, as one line, or None (the CLI asks before queueing)."""
    if not llama_cpp_dir:
        return ("GGUF export needs llama.cpp's converter, which no maintained Python package ships: "
                "git clone https://github.com/ggml-org/llama.cpp, pip install -r llama.cpp/requirements.txt, "
                "then ffui settings set export.llama_cpp_dir /path/to/llama.cpp")
    if not (Path(llama_cpp_dir).expanduser() / CONVERTER).is_file():
        return (f"export.llama_cpp_dir is {llama_cpp_dir}, which has no {CONVERTER}: point it at a llama.cpp "
                "checkout (git clone https://github.com/ggml-org/llama.cpp)")
    return None


class Exporter:
    def __init__(self, run_dir: Path, spec: dict, events: EventWriter, control: Control):
        self.run_dir, self.spec, self.events, self.control = run_dir, spec, events, control
        self.out = Path(spec["out"])
        self.partial = self.out.with_name(self.out.name + ".partial")
        self.merged = bool(spec.get("merged"))
        self.gguf = spec.get("gguf")
        self.phases = (4 if self.merged else 1) + bool(self.gguf)
        self.phase = 0

    def log(self, text: str) -> None:
        print(text, flush=True)

    def advance(self, what: str) -> None:
        """One phase done: progress for the row, and a stop request honoured here."""
        self.phase += 1
        self.log(what)
        self.events.emit(STEP, step=self.phase, total=self.phases, loss=None, eta_s=None)
        self.control.poll()
        if self.control.stop_requested:
            raise Stopped

    def run(self) -> dict:
        if self.out.exists():
            raise UserError(f"{self.out} already exists", "choose another --out, or remove it first", kind="config")
        shutil.rmtree(self.partial, ignore_errors=True)
        self.events.emit(START, backend="export", device="cpu", precision=self.spec.get("dtype"), config=self.spec,
                         total_steps=self.phases, resumed_from_step=None, data={})
        try:
            result = self.export_merged() if self.merged else self.export_adapter()
            if self.gguf:
                result["gguf_path"] = str(self.out / Path(self.convert_gguf()).name)
            self.partial.rename(self.out)
        except BaseException:
            shutil.rmtree(self.partial, ignore_errors=True)
            raise
        return {"export_path": str(self.out), **result}

    # -- adapter only -----------------------------------------------------------------------

    def export_adapter(self) -> dict:
        adapter = Path(self.spec["adapter_path"])
        shutil.copytree(adapter, self.partial, symlinks=False)
        if not (self.partial / "tokenizer_config.json").exists():  # older runs saved the adapter alone
            from ffui.train.backends import load_tokenizer

            load_tokenizer(self.spec["base_model"]).save_pretrained(self.partial)
        self.advance(f"copied the adapter {adapter} with its tokenizer")
        return {"merged": False, "files": sorted(p.name for p in self.partial.iterdir())}

    # -- merged -----------------------------------------------------------------------------

    def export_merged(self) -> dict:
        import torch
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # line-oriented logs, as the trainer's

        dtype = getattr(torch, DTYPES[self.spec.get("dtype") or "bf16"])
        tokenizer, model = self.load_adapted(dtype)
        prompts = self.check_prompts(tokenizer)
        expected = [self.answer(model, tokenizer, p) for p in prompts]
        self.advance(f"asked the adapter {len(prompts)} of the run's prompts (greedy, {CHECK_NEW_TOKENS} tokens)")
        if hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()
        model.save_pretrained(self.partial, safe_serialization=True,
                              max_shard_size=self.spec.get("max_shard_size") or "2GB")
        tokenizer.save_pretrained(self.partial)
        del model
        self.advance(f"merged and saved {self.spec.get('dtype') or 'bf16'} safetensors to {self.out}")
        got = self.answers_of_export(dtype, prompts)
        self.compare(prompts, expected, got)
        self.advance(f"the exported model answers all {len(prompts)} check prompts as the adapter did")
        return {"merged": True, "dtype": self.spec.get("dtype") or "bf16",
                "check": [{"prompt": p, "answer": a} for p, a in zip(prompts, got)],
                "files": sorted(p.name for p in self.partial.iterdir())}

    def load_adapted(self, dtype):
        from transformers import AutoModelForCausalLM

        from ffui.train import backends

        adapter = Path(self.spec["adapter_path"])
        is_adapter = (adapter / "adapter_config.json").is_file()
        source = adapter if (adapter / "tokenizer_config.json").exists() else self.spec["base_model"]
        tokenizer = backends.load_tokenizer(str(source))
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        if self.spec.get("method") == "qlora":
            self.log("a QLoRA run: its base is reloaded in 16-bit, not 4-bit, to merge without losing accuracy")
        weights = self.spec["base_model"] if is_adapter else str(adapter)  # a full fine-tune is its own model
        model = backends._from_pretrained(AutoModelForCausalLM, weights, "model", dtype=dtype)
        embeddings = model.get_input_embeddings().num_embeddings
        if is_adapter and len(tokenizer) > embeddings:
            self.log(f"the run added tokens: resizing the base's embeddings {embeddings} -> {len(tokenizer)}")
            model.resize_token_embeddings(len(tokenizer))
        if is_adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter))
        model.to(self.device()).eval()
        self.advance(f"loaded {weights} in {self.spec.get('dtype') or 'bf16'}" + (f" with the adapter {adapter}"
                                                                                  if is_adapter else ""))
        return tokenizer, model

    def device(self) -> str:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def check_prompts(self, tokenizer) -> list[str]:
        """The prompt part (all before the first trained text) of the run's first examples,
        rendered exactly as the trainer rendered them (its template, its chat template)."""
        from ffui.train import data
        from ffui.train.config import TrainConfig
        from ffui.train.plan import build_training_arguments

        cfg = TrainConfig.from_dict(self.spec["train_config"])
        settings = data.DataSettings(**build_training_arguments(cfg)["data"])
        data.prepare_tokenizer(tokenizer, settings, lambda message: None)
        prompts = []
        dataset = Path(self.spec["dataset_path"])
        records = data.read_records(dataset) if dataset.is_file() else []
        for rec in records[:CHECK_PROMPTS]:
            segments, _ = data.render_segments(rec, tokenizer, settings)
            prompt = "".join(text for text, trained in takewhile(lambda s: not s[1], segments))
            prompts.append(prompt or segments[0][0][:40])
        return prompts or ["Hello"]

    def answer(self, model, tokenizer, prompt: str) -> str:
        import torch

        enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=CHECK_NEW_TOKENS, do_sample=False, num_beams=1,
                                 pad_token_id=tokenizer.pad_token_id)
        return tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)

    def answers_of_export(self, dtype, prompts: list[str]) -> list[str]:
        """The saved folder loaded as anyone would: plain transformers, no peft."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.partial)
        model = AutoModelForCausalLM.from_pretrained(self.partial, dtype=dtype).to(self.device()).eval()
        return [self.answer(model, tokenizer, p) for p in prompts]

    def compare(self, prompts: list[str], expected: list[str], got: list[str]) -> None:
        for prompt, want, have in zip(prompts, expected, got):
            if want != have:
                raise UserError(
                    f"the exported model answers differently from the adapter: to {prompt[-60:]!r} the adapter "
                    f"said {want[:60]!r}, the export {have[:60]!r}",
                    "nothing was exported; try --dtype fp16 or bf16 (the other one), or export the adapter "
                    "without --merged", kind="export")

    # -- GGUF -------------------------------------------------------------------------------

    def convert_gguf(self) -> Path:
        llama = self.spec.get("llama_cpp_dir")
        problem = gguf_problem(llama)
        if problem:
            raise UserError(problem, "or export without --gguf", kind="config")
        target = self.partial / f"{self.out.name}-{self.gguf}.gguf"
        cmd = [sys.executable, str(Path(llama).expanduser() / CONVERTER), str(self.partial),
               "--outfile", str(target), "--outtype", self.gguf]
        self.log("converting to GGUF: " + " ".join(cmd))
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0 or not target.is_file():
            last = (proc.stdout.strip().splitlines() or ["no output"])[-1][:200]
            raise UserError(f"llama.cpp's {CONVERTER} failed (exit {proc.returncode}): {last}",
                            "its requirements: pip install -r llama.cpp/requirements.txt; the model's "
                            "architecture must be one llama.cpp supports", kind="export")
        self.advance(f"wrote {target.name} ({target.stat().st_size // 1024} KiB)")
        return target


def export_job(run_dir: Path, events: EventWriter, control: Control) -> int:
    spec = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["export"]
    exporter = Exporter(run_dir, spec, events, control)
    try:
        result = exporter.run()
    except Stopped:
        control.stop_handled()
        events.emit(STOPPED, step=exporter.phase, checkpoint=None)
        print(f"stopped: nothing was exported to {exporter.out}", flush=True)
        return EXIT_OK
    events.emit(DONE, adapter_path=None, export_path=result["export_path"], metrics=result)
    print(f"done: exported to {result['export_path']}", flush=True)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    from ffui.train.runner import worker_main

    return worker_main(sys.argv[1:] if argv is None else argv, export_job, "ffui.train.export")


if __name__ == "__main__":
    sys.exit(main())
