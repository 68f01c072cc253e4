"""A rough estimate of a training run's peak GPU memory, in pure Python.

The Train form shows it beside the detected GPUs so an operator can see before launching
that a 7B full fine-tune will not fit in 24 GB. It is an estimate, not a measurement:

- weights:      parameters x bytes per parameter (fp32 4, bf16/fp16 2; qlora: the linear layers
                at ~4.5 bits (nf4 + double-quantised constants), embeddings and head at 2 bytes;
                full fine-tuning keeps fp32 weights, as ffui's trainer does)
- trainable:    LoRA parameters (r x (in + out) per adapted linear layer) or, for full, every
                parameter: fp32 weights + gradients + two AdamW moments = 16 bytes each
                (for full, the fp32 weights are already counted above: 12 more bytes)
- activations:  batch x seq x hidden x layers x bytes x ~18 (attention + MLP intermediates
                with SDPA attention); with gradient checkpointing only each layer's input is
                kept (factor 1) plus one layer's full set
- logits:       batch x seq x vocab x 4 bytes x 2 (fp32 logits and their gradient)
- overhead:     CUDA context, cuBLAS workspace and allocator slack (~0.5 GiB)

The model's shape comes from a local model's ``config.json`` (and, when present, the tensor
shapes in its ``*.safetensors`` headers, which give the exact parameter count); for a hub id
that is not downloaded, from the size in its name (``...-7B``) and typical shapes.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GiB = 1024 ** 3
OVERHEAD_BYTES = int(0.5 * GiB)
ACT_FACTOR = 18          # activation bytes per (token x hidden x layer) / bytes per element
QLORA_BITS = 4.5         # nf4 + quantisation constants (double-quantised)
LINEAR_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

# hidden size and layers of typical decoder models by parameter count (billions)
_TYPICAL = [
    (0.15, 768, 12), (0.5, 896, 24), (1.1, 2048, 22), (1.5, 1536, 28), (2.0, 2048, 24),
    (3.0, 3072, 28), (4.0, 2560, 36), (7.0, 4096, 32), (8.0, 4096, 32), (9.0, 3584, 42),
    (13.0, 5120, 40), (14.0, 5120, 48), (27.0, 4608, 46), (32.0, 5120, 64), (34.0, 8192, 48),
    (70.0, 8192, 80), (72.0, 8192, 80),
]


@dataclass
class ModelShape:
    """What the estimate needs to know about a model."""

    hidden_size: int
    num_layers: int
    vocab_size: int
    intermediate_size: int
    num_heads: int = 0
    num_kv_heads: int = 0
    tie_word_embeddings: bool = False
    params: int = 0                 # every parameter (exact from safetensors, else computed)
    source: str = "config.json"     # config.json | safetensors | name

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads if self.num_heads else self.hidden_size

    @property
    def kv_dim(self) -> int:
        return (self.num_kv_heads or self.num_heads) * self.head_dim if self.num_heads else self.hidden_size

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear layer of one decoder block, by module name."""
        h, i, kv = self.hidden_size, self.intermediate_size, self.kv_dim
        return {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    @property
    def linear_params(self) -> int:
        return self.num_layers * sum(a * b for a, b in self.linear_shapes().values())

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)


@dataclass
class Estimate:
    total_bytes: int
    parts: dict[str, int] = field(default_factory=dict)  # weights, trainable, activations, logits, overhead
    trainable_params: int = 0
    shape: ModelShape | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def total_gib(self) -> float:
        return self.total_bytes / GiB

    def summary(self) -> str:
        """One line: '~12.3 GiB peak GPU memory (estimate: weights 4.1, train state 0.2, ...)'."""
        short = {"weights": "weights", "trainable": "train state", "activations": "activations",
                 "logits": "logits", "overhead": "CUDA"}
        bits = ", ".join(f"{short.get(k, k)} {fmt_gib(v)}" for k, v in self.parts.items())
        return f"~{fmt_gib(self.total_bytes)} GiB peak GPU memory (estimate: {bits})"


def fmt_gib(n: int | float) -> str:
    g = n / GiB
    if g >= 100:
        return f"{g:.0f}"
    if g >= 10:
        return f"{g:.1f}"
    return f"{g:.2f}"


# -- the model's shape -------------------------------------------------------------------------


def _cfg_value(cfg: dict, *keys: str, default: Any = None) -> Any:
    for k in keys:
        if cfg.get(k) is not None:
            return cfg[k]
    text = cfg.get("text_config")  # multimodal wrappers keep the LM's shape here
    if isinstance(text, dict):
        return _cfg_value(text, *keys, default=default)
    return default


def shape_from_config(cfg: dict) -> ModelShape:
    """A ModelShape from a Hugging Face ``config.json`` dict. Raises ValueError if incomplete."""
    hidden = _cfg_value(cfg, "hidden_size", "n_embd", "d_model")
    layers = _cfg_value(cfg, "num_hidden_layers", "n_layer", "num_layers")
    vocab = _cfg_value(cfg, "vocab_size")
    if not (hidden and layers and vocab):
        raise ValueError("config.json lacks hidden_size, num_hidden_layers or vocab_size")
    inter = _cfg_value(cfg, "intermediate_size", "n_inner", "ffn_dim") or 4 * hidden
    heads = _cfg_value(cfg, "num_attention_heads", "n_head", default=0) or 0
    kv = _cfg_value(cfg, "num_key_value_heads", default=heads) or heads
    s = ModelShape(hidden_size=int(hidden), num_layers=int(layers), vocab_size=int(vocab),
                   intermediate_size=int(inter), num_heads=int(heads), num_kv_heads=int(kv),
                   tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)))
    s.params = s.linear_params + s.embedding_params
    return s


def safetensors_params(folder: Path) -> int | None:
    """Parameters counted from the headers of the ``*.safetensors`` files (no tensor is read)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    try:
        for f in files:
            with open(f, "rb") as fh:
                (n,) = struct.unpack("<Q", fh.read(8))
                if n > 100_000_000:
                    return None
                header = json.loads(fh.read(n))
            for name, t in header.items():
                if name != "__metadata__":
                    total += math.prod(t.get("shape") or [1])
    except (OSError, ValueError, struct.error, AttributeError, TypeError):
        return None
    return total


def shape_from_name(name: str) -> ModelShape | None:
    """Typical shape for a name like 'meta-llama/Llama-3.1-8B-Instruct' (size in billions)."""
    m = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)\s*[bB](?![a-zA-Z])", name)
    if not m:
        m2 = re.search(r"(?<![\d.])(\d+)\s*[mM](?![a-zA-Z])", name)
        if not m2:
            return None
        billions = int(m2.group(1)) / 1000
    else:
        billions = float(m.group(1))
    if billions <= 0:
        return None
    _, hidden, layers = min(_TYPICAL, key=lambda t: abs(math.log(t[0] / billions)))
    vocab = 128_256 if billions >= 1 else 151_936
    heads = max(1, hidden // 128)
    # intermediate size chosen so that the total matches the named size
    emb = 2 * vocab * hidden
    attn = layers * (2 * hidden * hidden + 2 * hidden * (hidden // 4))
    inter = max(hidden, int((billions * 1e9 - emb - attn) / (3 * hidden * layers)))
    s = ModelShape(hidden_size=hidden, num_layers=layers, vocab_size=vocab, intermediate_size=inter,
                   num_heads=heads, num_kv_heads=max(1, heads // 4), source="name")
    s.params = int(billions * 1e9)
    return s


def read_model_shape(model: str | Path) -> ModelShape | None:
    """The shape of a local model directory (config.json + safetensors headers), else a guess
    from the name; None when neither works."""
    p = Path(str(model)).expanduser()
    cfg_file = p / "config.json"
    if cfg_file.is_file():
        try:
            s = shape_from_config(json.loads(cfg_file.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return shape_from_name(str(model))
        exact = safetensors_params(p)
        if exact:
            s.params, s.source = exact, "safetensors"
        return s
    return shape_from_name(str(model))


# -- the estimate -------------------------------------------------------------------------------


def lora_params(shape: ModelShape, r: int, target_modules: str | list[str] = "all-linear") -> int:
    shapes = shape.linear_shapes()
    if target_modules == "all-linear" or not target_modules:
        names = list(shapes)
    else:
        names = [n for n in target_modules if n in shapes]
        if not names:  # names we do not know (other architectures): assume the attention ones
            names = ["q_proj", "k_proj", "v_proj", "o_proj"]
    return shape.num_layers * sum(r * (shapes[n][0] + shapes[n][1]) for n in names)


def precision_bytes(precision: str, on_gpu: bool = True) -> int:
    if precision == "fp32" or (precision == "auto" and not on_gpu):
        return 4
    return 2


def estimate_memory(shape: ModelShape, *, method: str = "lora", batch: int = 4, seq_len: int = 2048,
                    precision: str = "auto", lora_r: int = 16,
                    target_modules: str | list[str] = "all-linear",
                    gradient_checkpointing: bool = False) -> Estimate:
    """Peak GPU memory of training ``shape`` with these settings (see the module doc)."""
    act_bytes = precision_bytes(precision)
    params = shape.params or (shape.linear_params + shape.embedding_params)
    notes: list[str] = []
    if method == "full":
        weights = params * 4
        trainable = params
        train_state = params * 12  # fp32 gradients + two AdamW moments
    else:
        if method == "qlora":
            linear = min(shape.linear_params, params)
            weights = int(linear * QLORA_BITS / 8) + (params - linear) * 2
        else:
            weights = params * act_bytes
        trainable = lora_params(shape, lora_r, target_modules)
        train_state = trainable * 16
    tokens = max(1, batch) * max(1, seq_len)
    if gradient_checkpointing:
        activations = tokens * shape.hidden_size * act_bytes * (shape.num_layers + ACT_FACTOR)
    else:
        activations = tokens * shape.hidden_size * act_bytes * shape.num_layers * ACT_FACTOR
    logits = tokens * shape.vocab_size * 4 * 2
    parts = {"weights": int(weights), "trainable": int(train_state), "activations": int(activations),
             "logits": int(logits), "overhead": OVERHEAD_BYTES}
    if shape.source == "name":
        notes.append("model shape guessed from its name (no local config.json)")
    return Estimate(total_bytes=sum(parts.values()), parts=parts, trainable_params=int(trainable),
                    shape=shape, notes=notes)


def compare_with_gpus(est: Estimate, gpus: list[dict], num_gpu: int = 1) -> tuple[str, str]:
    """(verdict, one line) for the detected GPUs: verdict is 'fits', 'tight', 'too-big' or 'cpu'.

    ``gpus``: dicts with ``name`` and ``memory_total`` (bytes), as ffui.gpu reports them.
    With several GPUs each holds a full copy (data parallel), so the smallest one decides.
    """
    if not gpus or num_gpu == 0:
        return "cpu", "no GPU: training runs on the CPU (slow; fine for the tiny test model)"
    used = gpus if num_gpu < 0 else gpus[: max(1, num_gpu)]  # -1: every visible GPU
    smallest = min(int(g.get("memory_total") or 0) for g in used)
    names = ", ".join(sorted({str(g.get("name") or "GPU") for g in used}))
    have = f"{len(used)}x {names} ({fmt_gib(smallest)} GiB each)" if len(used) > 1 else \
        f"{names} ({fmt_gib(smallest)} GiB)"
    ratio = est.total_bytes / smallest if smallest else float("inf")
    if ratio <= 0.85:
        return "fits", f"fits on {have}"
    if ratio <= 1.0:
        return "tight", f"tight on {have}: lower batch or seq length, or enable gradient checkpointing"
    return "too-big", (f"does not fit on {have}: lower batch/seq length, enable gradient checkpointing, "
                       "or use qlora")

