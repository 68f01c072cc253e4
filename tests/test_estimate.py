"""The peak-memory estimate and the training presets (pure Python, no torch)."""

import json
import struct

import pytest

from ffui.jobs.estimate import (
    GiB,
    compare_with_gpus,
    estimate_memory,
    read_model_shape,
    shape_from_name,
)
from ffui.jobs.presets import PRESET_ORDER, preset_values

LLAMA_7B = {"hidden_size": 4096, "num_hidden_layers": 32, "vocab_size": 32000, "intermediate_size": 11008,
            "num_attention_heads": 32, "num_key_value_heads": 32, "tie_word_embeddings": False}


def write_model(folder, cfg, tensors=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg))
    if tensors:
        header = json.dumps({n: {"dtype": "BF16", "shape": s, "data_offsets": [0, 0]} for n, s in tensors.items()})
        raw = header.encode()
        (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw)
    return folder


def test_a_7b_lora_in_bf16_is_about_its_weights_plus_activations(tmp_path):
    shape = read_model_shape(write_model(tmp_path / "llama7b", LLAMA_7B))
    assert shape.source == "config.json"
    assert 6.5e9 < shape.params < 6.9e9  # Llama-2-7B has 6.74B parameters
    est = estimate_memory(shape, method="lora", batch=1, seq_len=512, precision="bf16", lora_r=16)
    assert 12.5 < est.parts["weights"] / GiB < 13
    assert 35e6 < est.trainable_params < 45e6  # LoRA r16 on every linear layer of a 7B: ~40M
    assert "GiB peak GPU memory (estimate" in est.summary()


def test_the_method_batch_and_sequence_move_the_estimate_the_right_way(tmp_path):
    shape = read_model_shape(write_model(tmp_path / "m", LLAMA_7B))
    kw = dict(batch=2, seq_len=1024, precision="bf16")
    full = estimate_memory(shape, method="full", **kw).total_bytes
    lora = estimate_memory(shape, method="lora", **kw).total_bytes
    qlora = estimate_memory(shape, method="qlora", **kw).total_bytes
    assert qlora < lora < full
    assert full > 100 * GiB  # full fine-tuning a 7B with AdamW: 16 bytes per parameter
    bigger = estimate_memory(shape, method="lora", batch=8, seq_len=1024, precision="bf16").total_bytes
    longer = estimate_memory(shape, method="lora", batch=2, seq_len=4096, precision="bf16").total_bytes
    ckpt = estimate_memory(shape, method="lora", gradient_checkpointing=True, **kw).total_bytes
    assert bigger > lora and longer > lora and ckpt < lora


def test_safetensors_headers_give_the_exact_parameter_count(tmp_path):
    tiny = {"hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 1000, "intermediate_size": 128,
            "num_attention_heads": 4, "num_key_value_heads": 2}
    folder = write_model(tmp_path / "tiny", tiny, {"a": [1000, 64], "b": [64, 64], "c": [7]})
    shape = read_model_shape(folder)
    assert shape.source == "safetensors" and shape.params == 1000 * 64 + 64 * 64 + 7


def test_a_hub_id_that_is_not_downloaded_is_guessed_from_its_name():
    shape = read_model_shape("meta-llama/Llama-3.1-8B-Instruct")
    assert shape.source == "name" and shape.params == 8e9 and shape.hidden_size == 4096
    est = estimate_memory(shape, method="lora", batch=1, seq_len=256)
    assert any("guessed" in n for n in est.notes)
    assert shape_from_name("Qwen/Qwen2.5-0.5B").hidden_size == 896
    assert shape_from_name("org/some-model") is None


def test_the_estimate_is_compared_with_the_detected_gpus(tmp_path):
    shape = read_model_shape(write_model(tmp_path / "m", LLAMA_7B))
    est = estimate_memory(shape, method="lora", batch=1, seq_len=512, precision="bf16")
    assert compare_with_gpus(est, [])[0] == "cpu"
    assert "no GPU: training runs on the CPU" in compare_with_gpus(est, [])[1]
    assert compare_with_gpus(est, [{"name": "A100", "memory_total": 80 * GiB}])[0] == "fits"
    verdict, line = compare_with_gpus(est, [{"name": "T4", "memory_total": 8 * GiB}])
    assert verdict == "too-big" and "does not fit on T4" in line
    two = [{"name": "L4", "memory_total": 24 * GiB}, {"name": "L4", "memory_total": 24 * GiB}]
    assert "2x L4" in compare_with_gpus(est, two, num_gpu=2)[1]


@pytest.mark.parametrize("name", PRESET_ORDER)
def test_every_preset_is_a_valid_config(name):
    from ffui.train.config import TrainConfig

    values, about = preset_values(name, gpus=[])
    TrainConfig.from_dict({**values, "base_model": "/m"})
    assert about


def test_auto_follows_the_gpu_memory():
    assert preset_values("auto", [])[0]["num_gpu"] == 0
    small, about = preset_values("auto", [{"memory_total": 16 * GiB}])
    assert small["method"] == "qlora" and "qlora" in about
    big, about = preset_values("auto", [{"memory_total": 80 * GiB}])
    assert big["lora_r"] == 64 and about.startswith("quality")
