"""Pick a backend (unsloth / peft / cpu) and load the base model and tokenizer.

Heavy or GPU-only libraries (torch, transformers, peft, unsloth, bitsandbytes) are imported
inside functions: unsloth raises at import time without a GPU, and unsloth must be
imported before transformers to patch it, so `resolve_backend` runs first.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from ffui.train.config import TrainConfig
from ffui.train.events import UserError


def detect_cuda() -> tuple[bool, bool]:
    """(CUDA usable, bf16 supported)."""
    import torch

    if not torch.cuda.is_available():
        return False, False
    return True, bool(torch.cuda.is_bf16_supported())


def resolve_backend(cfg: TrainConfig, cuda: bool, warn) -> tuple[str, str]:
    """(backend, effective method). Forced choices that cannot work raise UserError."""
    cuda = cuda and cfg.num_gpu != 0  # -1: all visible GPUs
    if cfg.backend == "unsloth":
        if not cuda:
            raise UserError("backend=unsloth needs a CUDA GPU and none is available",
                            "use backend=auto, peft or cpu", kind="backend")
        _import_unsloth(forced=True)
        return "unsloth", cfg.method
    if cfg.backend == "cpu":
        return "cpu", cfg.method  # qlora+cpu is rejected by config validation
    if cfg.method == "qlora":
        if not cuda:
            if cfg.backend == "peft":
                raise UserError("method=qlora needs a CUDA GPU for 4-bit kernels and none is available",
                                "use method=lora, or run on a CUDA machine", kind="backend")
            warn("method=qlora needs a CUDA GPU; training a plain LoRA adapter on the CPU instead")
            return "cpu", "lora"
    if cfg.backend == "auto":
        if not cuda:
            return "cpu", cfg.method
        if _import_unsloth(forced=False):
            return "unsloth", cfg.method
    if cfg.method == "qlora":
        _import_bitsandbytes()
    return "peft", cfg.method


def _import_unsloth(forced: bool) -> bool:
    try:
        import unsloth  # noqa: F401  (patches transformers/peft on import)
    except Exception as e:  # ImportError, or NotImplementedError without a GPU
        if forced:
            raise UserError(f"unsloth is not usable here ({type(e).__name__}: {e})",
                            "pip install unsloth on a CUDA machine, or use backend=peft", kind="backend") from None
        return False
    return True


def _import_bitsandbytes() -> None:
    try:
        import bitsandbytes  # noqa: F401
    except Exception as e:
        raise UserError(f"method=qlora needs bitsandbytes, which is not usable here ({type(e).__name__}: {e})",
                        "pip install bitsandbytes, or use method=lora", kind="backend") from None


# ---- finding the model --------------------------------------------------------------------


def check_base_model(cfg: TrainConfig) -> str:
    """Return what to pass to from_pretrained, or raise a UserError that says what to do."""
    path = Path(cfg.base_model).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise UserError(f"base model directory {path} has no config.json",
                            "point base_model at a Hugging Face model directory", kind="model")
        _check_architecture_known(path)
        return str(path)
    if not cfg.is_hub_id():
        raise UserError(f"base model not found: {cfg.base_model}",
                        "check the path, or build a test model with `python -m ffui.train.tiny DIR`", kind="model")
    if _in_hub_cache(cfg.base_model):
        return cfg.base_model
    if not hub_reachable():
        raise UserError(f"base model {cfg.base_model!r} is not downloaded and the Hugging Face hub is unreachable",
                        f"download it where there is network (huggingface-cli download {cfg.base_model}) "
                        "and set base_model to the local directory", kind="model")
    return cfg.base_model


_NO_REMOTE_CODE_HINT = ("ffui does not run code that comes with a model: use a model of an architecture built "
                        "into transformers, or upgrade transformers with pip install -U transformers if a newer "
                        "release has added this one")


def _check_architecture_known(path: Path) -> None:
    """Refuse, before transformers is asked (it would prompt, or want trust_remote_code), a model
    whose model_type transformers does not know: it needs the code shipped in its repository."""
    import json

    from transformers import CONFIG_MAPPING

    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        raise UserError(f"cannot read {path / 'config.json'}: {str(e).splitlines()[0][:200]}",
                        "point base_model at a Hugging Face model directory", kind="model") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if not isinstance(model_type, str) or model_type in CONFIG_MAPPING:
        return  # no model_type: transformers' own message names what is missing
    if isinstance(config.get("auto_map"), dict):
        raise remote_code_error(str(path), model_type)
    raise UserError(f"base model {path} has model_type {model_type[:60]!r}, which this transformers does not know",
                    "upgrade transformers (pip install -U transformers), or use another model", kind="model")


def remote_code_error(name: str, model_type: str | None = None) -> UserError:
    kind = f" (model_type {model_type[:60]!r} is not built into transformers)" if model_type else ""
    return UserError(f"base model {name} needs code from its repository to load{kind}", _NO_REMOTE_CODE_HINT,
                     kind="model")


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:
        return False


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP probe, so an offline machine fails in seconds, not after a minute of retries."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    t = threading.Thread(target=probe, daemon=True)  # getaddrinfo itself has no timeout
    t.start()
    t.join(timeout + 1)
    return bool(result and result[0])


_SET_TOKEN = "ffui settings set huggingface.token"


def _hub_refusal(name: str, e: BaseException) -> UserError | None:
    """A UserError for a hub that said no (gated, missing or private, bad token), or None.

    transformers raises OSError from huggingface_hub's error, so the cause chain says which."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
    )

    x, http = e, None
    for _ in range(20):
        if x is None or isinstance(x, HfHubHTTPError):
            http = x
            break
        x = x.__cause__ or x.__context__
    if http is None:
        return None
    status = getattr(getattr(http, "response", None), "status_code", None)
    token = bool(os.environ.get("HF_TOKEN"))  # the supervisor passes the stored token this way
    page = f"{os.environ.get('HF_ENDPOINT', 'https://huggingface.co').rstrip('/')}/{name}"
    if isinstance(http, GatedRepoError):
        if token and status == 403:
            return UserError(f"access denied: base model {name!r} is gated and your Hugging Face token has not "
                             "been granted access", f"ask for access on {page}, or set another token with: {_SET_TOKEN}",
                             kind="model")
        return UserError(f"access denied: base model {name!r} is gated and needs a Hugging Face token",
                         f"accept its terms on {page}, then set your token with: {_SET_TOKEN}", kind="model")
    if isinstance(http, RepositoryNotFoundError):
        return UserError(f"base model {name!r} is not on the Hugging Face hub", "check base_model" + (
            "; if it is private, check that your token can read it" if token else
            f"; if it is private, set your token with: {_SET_TOKEN}"), kind="model")
    if status in (401, 403):
        return UserError(f"the hub refused access to base model {name!r} ({status})"
                         + (": the Hugging Face token is invalid or lacks permission" if token else ""),
                         f"set a valid token with: {_SET_TOKEN}", kind="model")
    return None


def _from_pretrained(loader, name: str, what: str, **kwargs):
    try:  # never run a model's own code, and never stop to ask about it
        return loader.from_pretrained(name, **{"trust_remote_code": False, **kwargs})
    except ValueError as e:
        if "trust_remote_code" in str(e):  # a hub model whose config names code in its repository
            raise remote_code_error(name) from None
        raise
    except OSError as e:
        raise _hub_refusal(name, e) or UserError(
            f"cannot load the {what} of {name!r}: {str(e).splitlines()[0]}",
            "check base_model (a model directory with config.json and weights, or a hub id)", kind="model") from None


# ---- loading ------------------------------------------------------------------------------


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    return _from_pretrained(AutoTokenizer, name, "tokenizer")


def load_model(name: str, plan: dict):
    """Base model (+ LoRA) for the peft/cpu backends. plan: build_training_arguments output."""
    import torch
    from transformers import AutoModelForCausalLM

    m = plan["model"]
    kwargs: dict = {"dtype": getattr(torch, m["dtype"])}
    if m["load_in_4bit"]:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=kwargs["dtype"],
        )
        # each rank keeps its own quantized copy on its own GPU
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", 0))}
    model = _from_pretrained(AutoModelForCausalLM, name, "model", **kwargs)
    if m["load_in_4bit"]:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=m["gradient_checkpointing"],
            gradient_checkpointing_kwargs={"use_reentrant": False})
    if plan["lora"] is not None:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(**plan["lora"]))
    return model


def load_unsloth(name: str, plan: dict):
    """(model, tokenizer) through unsloth's FastLanguageModel (CUDA only)."""
    from unsloth import FastLanguageModel

    m, lora = plan["model"], plan["lora"]
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=name, max_seq_length=m["max_seq_len"], dtype=None,
        load_in_4bit=m["load_in_4bit"], full_finetuning=m["method"] == "full",
    )
    if lora is not None:
        model = FastLanguageModel.get_peft_model(
            model, r=lora["r"], lora_alpha=lora["lora_alpha"], lora_dropout=lora["lora_dropout"],
            target_modules=m["unsloth_target_modules"], bias="none", use_rslora=lora["use_rslora"],
            use_gradient_checkpointing="unsloth" if m["gradient_checkpointing"] else False,
            random_state=m["seed"], max_seq_length=m["max_seq_len"],
        )
    return model, tokenizer
