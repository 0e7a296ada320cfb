"""One reweighted loss on every host: the trainer's loss coefficients and the synthetic simulator's
training progress for the same batch composition agree, and both follow the DoReMi paper's
(``domain``) and code's (``token``) normalisers as written out here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from bomix.backends.synthetic import SyntheticBackend
from bomix.backends.trainer import train as train_mod
from bomix.backends.trainer.backend import TrainerBackend
from bomix.online import CONTROLLERS, Controller, ControllerConfig, Signals
from bomix.online.normalisers import effective_shares
from bomix.runs import RunSpec
from bomix.space import Mixture

from .conftest import TINY_LADDER

SAMPLING = [0.5, 0.25, 0.25]  # a batch of 4 (trainer) or 256 (synthetic) sequences splits 2:1:1 exactly
LW = [0.2, 0.2, 0.6]


class FixedReweight(Controller):
    """Batches from the initial mixture, loss weighted by fixed per-domain weights ``lw``."""

    kind = "fixed_reweight"

    @dataclass(frozen=True)
    class Params:
        lw: tuple = ()
        normaliser: str = "domain"

    def loss_weights(self, step: int) -> np.ndarray:
        return np.asarray(self.p.lw, dtype=float)

    def update(self, step: int, signals: Signals) -> None:
        pass


@pytest.fixture(autouse=True)
def _fixed(monkeypatch):
    monkeypatch.setitem(CONTROLLERS, "fixed_reweight", FixedReweight)


def written_out(n: np.ndarray, normaliser: str) -> np.ndarray:
    """The coefficients of the per-domain mean losses, from the two DoReMi definitions."""
    lw, s = np.asarray(LW), np.asarray(SAMPLING)
    if normaliser == "domain":  # paper: sum_i alpha_i * mean loss of domain i
        return np.where(n > 0, lw, 0.0)
    u = lw / s  # code: per-token weight alpha / sampling weight, normalised over the batch's tokens
    return u * n / (u * n).sum()


def config(normaliser: str) -> ControllerConfig:
    return ControllerConfig("fixed_reweight", apply="reweight", params={"lw": LW, "normaliser": normaliser})


def trainer_coefficients(tiny_data, tmp_path, monkeypatch, normaliser: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(token counts, coefficients)`` the trainer put in its loss at each of 5 steps."""
    seen = []
    real = train_mod.combined_loss

    def spy(sums, counts, coef):
        seen.append((counts.detach().double().numpy().copy(), np.asarray(coef, dtype=float).copy()))
        return real(sums, counts, coef)

    monkeypatch.setattr(train_mod, "combined_loss", spy)
    b = TrainerBackend(str(tiny_data), ladder=TINY_LADDER, min_steps=5, max_steps=10, eval_every=5, batch_size=4,
                       context=16, eval_sequences=4, warmup=2, lr=1e-2, device="cpu",
                       checkpoint_dir=str(tmp_path / normaliser))
    try:
        res = b.run(RunSpec(b.space.mixture(SAMPLING), "s", 5, seed=0, run_id="r", controller=config(normaliser)))
    finally:
        b.close()
    assert res.ok, res.error
    return seen


def synthetic_shares(normaliser: str, steps: int = 100) -> np.ndarray:
    """``(K,)`` effective shares the synthetic simulator trained on, recovered from its noiseless losses
    (identity transfer: domain i's effective tokens are its own)."""
    b = SyntheticBackend(k=3, scales={"20M": 20e6}, min_steps=steps, max_steps=steps, eval_every=steps,
                         batch_size=4, seed=0, law={"T": np.eye(3).tolist()})
    res = b.run(RunSpec(Mixture(SAMPLING), "20M", steps, seed=0, controller=config(normaliser)))
    const, B, bexp = b.law_terms(b.space.scale("20M").params)
    L = np.array([res.curve.final()[f"loss:{d}"] for d in b.space.domains])
    D = (((L - const) / B) ** (-1.0 / bexp) - b.floor) * 1e9
    return D / (steps * b.space.tokens_per_step)


@pytest.mark.parametrize("normaliser", ["domain", "token"])
def test_trainer_and_synthetic_weigh_a_batch_the_same(tiny_data, tmp_path, monkeypatch, normaliser):
    seen = trainer_coefficients(tiny_data, tmp_path, monkeypatch, normaliser)
    assert len(seen) == 5
    for n_tok, coef in seen:
        assert n_tok.sum() == 4 * 16 and np.allclose(n_tok / n_tok.sum(), SAMPLING)  # 2:1:1 sequences
        np.testing.assert_allclose(coef, written_out(n_tok, normaliser), rtol=1e-12)
    shares = synthetic_shares(normaliser)
    np.testing.assert_allclose(shares, effective_shares(seen[0][1]), rtol=1e-6)
    np.testing.assert_allclose(shares, effective_shares(written_out(np.array([2.0, 1.0, 1.0]), normaliser)),
                               rtol=1e-6)

