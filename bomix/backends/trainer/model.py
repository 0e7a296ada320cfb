"""Llama-architecture causal LMs built from config only, and the ladders of scales.

A ladder maps a scale name to the shape of one model (``hidden_size``, ``num_hidden_layers``,
``num_attention_heads``, ``intermediate_size``, optional ``num_key_value_heads``). Names are
labels; the parameter count used for costs and GP coordinates is computed exactly from the shape
and the vocabulary (:func:`count_params`; input and output embeddings are tied).
"""

from __future__ import annotations

from collections.abc import Mapping

from bomix.errors import BomixError

#: CPU ladder, ~0.2M..5M parameters with a 4096-token vocabulary.
CPU_LADDER: dict[str, dict[str, int]] = {
    "0.2M": {"hidden_size": 40, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 112},
    "0.5M": {"hidden_size": 80, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 224},
    "1M": {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 384},
    "2M": {"hidden_size": 192, "num_hidden_layers": 3, "num_attention_heads": 6, "intermediate_size": 512},
    "5M": {"hidden_size": 256, "num_hidden_layers": 5, "num_attention_heads": 8, "intermediate_size": 704},
}

#: GPU ladder like the MFMS seed paper's (d_model 256..2048), ~20M..1B with a ~50k vocabulary.
GPU_LADDER: dict[str, dict[str, int]] = {
    "20M": {"hidden_size": 256, "num_hidden_layers": 8, "num_attention_heads": 4, "intermediate_size": 768},
    "60M": {"hidden_size": 512, "num_hidden_layers": 8, "num_attention_heads": 8, "intermediate_size": 1536},
    "150M": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 2048},
    "300M": {"hidden_size": 1024, "num_hidden_layers": 16, "num_attention_heads": 16, "intermediate_size": 2816},
    "500M": {"hidden_size": 1280, "num_hidden_layers": 18, "num_attention_heads": 20, "intermediate_size": 3456},
    "700M": {"hidden_size": 1536, "num_hidden_layers": 18, "num_attention_heads": 24, "intermediate_size": 4096},
    "1B": {"hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 16, "intermediate_size": 5632},
}

LADDERS = {"cpu": CPU_LADDER, "gpu": GPU_LADDER}
SHAPE_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")


def resolve_ladder(ladder: str | Mapping[str, Mapping[str, int]] | None) -> dict[str, dict[str, int]]:
    """A preset name (``cpu`` / ``gpu``), a mapping name -> shape, or None (``cpu``) -> validated ladder."""
    if ladder is None:
        ladder = "cpu"
    if isinstance(ladder, str):
        if ladder not in LADDERS:
            raise BomixError(f"unknown ladder {ladder!r}: use one of {list(LADDERS)} or a mapping name -> shape")
        return {k: dict(v) for k, v in LADDERS[ladder].items()}
    out = {}
    for name, shape in dict(ladder).items():
        shape = {k: int(v) for k, v in dict(shape).items()}
        missing = [k for k in SHAPE_KEYS if k not in shape]
        if missing:
            raise BomixError(f"ladder scale {name!r} lacks {missing}: give {list(SHAPE_KEYS)}")
        if shape["hidden_size"] % shape["num_attention_heads"]:
            raise BomixError(f"ladder scale {name!r}: hidden_size must be a multiple of num_attention_heads")
        kv = shape.get("num_key_value_heads", shape["num_attention_heads"])
        if shape["num_attention_heads"] % kv:
            raise BomixError(f"ladder scale {name!r}: num_attention_heads must be a multiple of num_key_value_heads")
        out[str(name)] = shape
    if not out:
        raise BomixError("the ladder is empty: give at least one scale")
    return out


def count_params(shape: Mapping[str, int], vocab_size: int, embeddings: bool = True) -> int:
    """Exact parameter count of :func:`build_model` (tied embeddings, no biases).

    Per layer: ``q, o: d x d``; ``k, v: d x (kv x head_dim)``; MLP ``3 x d x ff``; two RMSNorms.
    """
    d, n_layers, heads, ff = (int(shape[k]) for k in SHAPE_KEYS)
    kv = int(shape.get("num_key_value_heads", heads))
    kv_dim = kv * (d // heads)
    per_layer = 2 * d * d + 2 * d * kv_dim + 3 * d * ff + 2 * d
    return n_layers * per_layer + d + (vocab_size * d if embeddings else 0)


def build_config(shape: Mapping[str, int], vocab_size: int, context: int, *, eos_id: int | None = None,
                 pad_id: int | None = None, attn_implementation: str = "sdpa"):
    """The ``LlamaConfig`` of one ladder scale."""
    from transformers import LlamaConfig

    shape = dict(shape)
    return LlamaConfig(
        vocab_size=int(vocab_size),
        hidden_size=shape["hidden_size"],
        intermediate_size=shape["intermediate_size"],
        num_hidden_layers=shape["num_hidden_layers"],
        num_attention_heads=shape["num_attention_heads"],
        num_key_value_heads=shape.get("num_key_value_heads", shape["num_attention_heads"]),
        max_position_embeddings=int(context),
        tie_word_embeddings=True,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        attn_implementation=attn_implementation,
    )


def build_model(shape: Mapping[str, int], vocab_size: int, context: int, seed: int, **kw):
    """A freshly initialised ``LlamaForCausalLM`` (weights drawn from ``seed``)."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(int(seed))
    return LlamaForCausalLM(build_config(shape, vocab_size, context, **kw))
