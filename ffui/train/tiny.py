"""Build a tiny, randomly initialised causal LM that loads like a real hub model.

Tests and benchmarks cannot reach the Hugging Face hub, so they train this instead: a
2-layer llama/qwen2 model with a byte-level BPE tokenizer trained on a bundled text, saved
in Hugging Face format (config.json, model.safetensors, tokenizer.json, chat template).

    python -m ffui.train.tiny DIR [--arch llama|qwen2] [--text FILE] [--vocab-size N]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

SAMPLE_TEXT = Path(__file__).parent / "samples" / "tiny_corpus.txt"
ARCHES = ("llama", "qwen2")

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]

# One line per turn: a role marker, the content, eos. add_generation_prompt opens an
# assistant turn, so generation starts exactly where training's assistant content started.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def _train_tokenizer(text: str, vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS, UNK, *ROLE_TOKENS],
        # every byte is in the alphabet, so any text (including non-ASCII) tokenizes
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(text.splitlines(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=ROLE_TOKENS,
        chat_template=CHAT_TEMPLATE,
        model_max_length=1024,
        clean_up_tokenization_spaces=False,
    )


def _model_config(arch: str, tokenizer, hidden: int, layers: int):
    from transformers import LlamaConfig, Qwen2Config

    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        # Larger than the usual 0.02: with a frozen random lm_head at 0.02, LoRA can barely move
        # the logits and tests could not see a model learn. At 0.15 the start is still near
        # uniform (loss ~ ln(vocab)) and a LoRA adapter memorises a small dataset in ~30 steps.
        initializer_range=0.15,
    )
    if arch == "llama":
        return LlamaConfig(**common)
    return Qwen2Config(**common)


def build_tiny_model(
    out_dir: str | Path,
    arch: str = "llama",
    text: str | None = None,
    vocab_size: int = 1024,
    seed: int = 0,
    hidden_size: int = 64,
    num_layers: int = 2,
) -> Path:
    """Write a tiny model + tokenizer to out_dir and return its path.

    text: training text for the tokenizer (default: the bundled sample corpus).
    """
    if arch not in ARCHES:
        raise ValueError(f"arch must be one of {', '.join(ARCHES)}, got {arch!r}")
    # a one-shard save needs no progress bar on the terminal (read when huggingface_hub loads)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import torch
    from transformers import AutoModelForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if text is None:
        text = SAMPLE_TEXT.read_text(encoding="utf-8")
    tokenizer = _train_tokenizer(text, vocab_size)
    torch.manual_seed(seed)
    config = _model_config(arch, tokenizer, hidden_size, num_layers)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ffui.train.tiny", description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir")
    p.add_argument("--arch", choices=ARCHES, default="llama")
    p.add_argument("--text", help="text file to train the tokenizer on (default: bundled sample)")
    p.add_argument("--vocab-size", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    text = Path(a.text).read_text(encoding="utf-8") if a.text else None
    path = build_tiny_model(a.out_dir, arch=a.arch, text=text, vocab_size=a.vocab_size, seed=a.seed)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
