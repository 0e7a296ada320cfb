"""Ladders: exact parameter counts, validation, seeded initialisation."""

from __future__ import annotations

import pytest
import torch

from bomix.backends.trainer.model import CPU_LADDER, GPU_LADDER, build_model, count_params, resolve_ladder
from bomix.errors import BomixError


@pytest.mark.parametrize("name", list(CPU_LADDER))
def test_count_params_is_exact_on_the_cpu_ladder(name):
    model = build_model(CPU_LADDER[name], 4096, 128, seed=0)
    assert count_params(CPU_LADDER[name], 4096) == sum(p.numel() for p in model.parameters())


def test_cpu_ladder_spans_02_to_5m_and_gpu_ladder_20m_to_1b():
    cpu = [count_params(s, 4096) for s in CPU_LADDER.values()]
    assert cpu == sorted(cpu) and 0.15e6 < cpu[0] < 0.3e6 and 4e6 < cpu[-1] < 6e6
    assert 0.8e6 < count_params(CPU_LADDER["1M"], 4096) < 1.0e6  # the 0.9M benchmark model
    gpu = [count_params(s, 50304) for s in GPU_LADDER.values()]
    assert gpu == sorted(gpu) and 15e6 < gpu[0] < 25e6 and 0.8e9 < gpu[-1] < 1.2e9


def test_grouped_query_attention_count():
    shape = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "intermediate_size": 96}
    model = build_model(shape, 300, 32, seed=0)
    assert count_params(shape, 300) == sum(p.numel() for p in model.parameters())
    assert count_params(shape, 300, embeddings=False) == count_params(shape, 300) - 300 * 64


def test_seeded_initialisation():
    a, b, c = (build_model(CPU_LADDER["0.2M"], 500, 16, seed=s) for s in (1, 1, 2))
    wa, wb, wc = (m.model.embed_tokens.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_ladder_errors():
    assert resolve_ladder(None) == CPU_LADDER
    with pytest.raises(BomixError, match="unknown ladder"):
        resolve_ladder("tpu")
    with pytest.raises(BomixError, match="lacks"):
        resolve_ladder({"x": {"hidden_size": 8}})
    with pytest.raises(BomixError, match="multiple"):
        resolve_ladder({"x": {"hidden_size": 10, "num_hidden_layers": 1, "num_attention_heads": 3,
                              "intermediate_size": 8}})
