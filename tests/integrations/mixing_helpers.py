"""Shared pieces of the integration tests: three synthetic domains (easy: a repeated token; medium: counting
mod V; hard: uniform random tokens, irreducible loss ln V) and the simplex check."""

from __future__ import annotations

import math

import numpy as np
import torch

V, T, B, STEPS = 64, 16, 8, 30
DOMAINS = ("easy", "medium", "hard")


def domain_data(n: int = 64, labels: bool = False) -> dict[str, list[dict]]:
    """``n`` sequences of length ``T`` per domain, as ``{"input_ids"}`` rows (with ``labels``, a copy of them)."""
    g = torch.Generator().manual_seed(0)
    start = torch.randint(0, V, (n, 1), generator=g)
    seqs = {"easy": start.repeat(1, T),
            "medium": (start + torch.arange(T)) % V,
            "hard": torch.randint(0, V, (n, T), generator=g)}
    return {d: [{"input_ids": s, **({"labels": s.clone()} if labels else {})} for s in x] for d, x in seqs.items()}


def assert_simplex(w):
    w = np.asarray(w)
    assert np.all(w >= 0) and math.isclose(w.sum(), 1.0, abs_tol=1e-9)
