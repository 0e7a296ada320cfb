"""Online mixing inside a Lightning loop: a tiny random bigram LM trained on CPU for 30 steps with DoReMi and
ODM choosing the mixture of three synthetic domains (easy: a repeated token; medium: counting mod V; hard:
uniform random tokens, irreducible loss ln V), through :class:`BomixLightningCallback`."""

from __future__ import annotations

import importlib
import math
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning.pytorch")

from mixing_helpers import B, DOMAINS, STEPS, T, V, assert_simplex, domain_data  # noqa: E402
from bomix.errors import BomixError  # noqa: E402
from bomix.extras import MissingExtra  # noqa: E402
from bomix.integrations import MixedIterableDataset  # noqa: E402
from bomix.integrations.lightning import BomixLightningCallback  # noqa: E402


# Lightning's advice (num_workers, IterableDataset with __len__) and torch's pytree deprecation under Lightning
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


class Bigram(torch.nn.Module):
    """Next-token logits from the current token: enough to learn the easy and medium domains."""

    def __init__(self):
        super().__init__()
        self.emb, self.head = torch.nn.Embedding(V, 32), torch.nn.Linear(32, V)

    def forward(self, input_ids):
        return self.head(torch.tanh(self.emb(input_ids)))


class LM(L.LightningModule):
    """``via="model"``: training_step calls ``self.model`` (hook module="model"); ``via="self"``: ``self(batch)``,
    whose forward returns ``{"logits": ...}`` (the callback's default hooks the LightningModule)."""

    def __init__(self, via: str = "model"):
        super().__init__()
        torch.manual_seed(0)
        self.model, self.via = Bigram(), via

    def forward(self, batch):
        return {"logits": self.model(batch["input_ids"])}

    def training_step(self, batch, batch_idx):
        ids = batch["input_ids"]
        logits = self.model(ids) if self.via == "model" else self(batch)["logits"]
        return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=5e-2)


def train(controller, seed: int = 0, steps: int = STEPS, accumulation: int = 1, via: str = "model",
          module: str | None = "model"):
    torch.set_num_threads(1)
    ds = MixedIterableDataset(domain_data(), controller, steps=steps, examples_per_step=B, seed=seed)
    cb = BomixLightningCallback(ds, module=module)
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accumulate_grad_batches=accumulation,
                        callbacks=[cb])
    loader = torch.utils.data.DataLoader(ds, batch_size=B // accumulation)
    trainer.fit(LM(via), train_dataloaders=loader)
    return ds, trainer


def assert_drawn_from_recorded_weights(ds):
    """Every step's rows came from the weights then in force (the dataset's seeded plan), and the loss of a
    domain is there exactly when it was drawn."""
    for row in ds.history:
        w = np.asarray(row["weights"])
        assert_simplex(w)
        plan = np.random.default_rng([ds.seed, row["step"], 0xB0A1]).choice(ds.k, size=ds.per_step, p=w / w.sum())
        assert np.array_equal(np.bincount(plan, minlength=ds.k) * (T - 1), row["token_counts"])
        assert (np.asarray(row["token_counts"]) > 0).tolist() == np.isfinite(row["train_losses"]).tolist()


def test_doremi_in_lightning_upweights_largest_excess_and_is_reproducible():
    ref = {"source": "curve", "steps": [STEPS], "losses": [[0.0, 0.0, math.log(V)]]}
    cfg = {"kind": "doremi", "reference": ref}
    ds, trainer = train(cfg)
    assert trainer.global_step == STEPS and ds.observed == STEPS and ds.max_lag <= 1
    w = ds.weights
    assert_simplex(w)
    assert_drawn_from_recorded_weights(ds)
    used = np.array([row["weights"] for row in ds.history])
    assert np.allclose(used[0], 1 / 3) and not np.allclose(used[-1], 1 / 3)   # later steps drew from new weights
    assert int(np.argmin(w)) == DOMAINS.index("hard")                          # irreducible: no excess
    assert w[DOMAINS.index("hard")] < 0.05 < 1 / 3 < w.max()
    logged = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("mix/")}
    assert set(logged) == {f"mix/{d}" for d in DOMAINS} and np.allclose([logged[f"mix/{d}"] for d in DOMAINS], w,
                                                                         atol=1e-6)
    ds2, _ = train(cfg)
    assert [r["weights"] for r in ds2.history] == [r["weights"] for r in ds.history]
    assert np.array_equal(ds2.weights, w)


def test_odm_in_lightning_hooking_the_lightning_module_upweights_highest_loss_domain():
    ds, _ = train({"kind": "odm", "params": {"mode": "mixed", "warmup": 0}}, via="self", module=None)
    ctrl = ds.controller
    w = ds.weights
    assert_simplex(w)
    assert_drawn_from_recorded_weights(ds)
    assert np.all(w >= ctrl.eps(ctrl.t) - 1e-12) and ctrl.t == STEPS
    assert list(np.argsort(w)) == list(np.argsort(ctrl.R))   # pi follows the rewards (EMA of the train losses)
    assert int(np.argmax(w)) == DOMAINS.index("hard")      # ODM's known bias: the irreducible loss wins
    assert w.min() < 1 / 3 < w[DOMAINS.index("hard")]


def test_gradient_accumulation_observes_whole_steps():
    ds, trainer = train({"kind": "odm", "params": {"warmup": 0}}, steps=6, accumulation=2)
    assert trainer.global_step == 6 and ds.observed == 6
    assert_drawn_from_recorded_weights(ds)
    for row in ds.history:
        assert sum(row["token_counts"]) == B * (T - 1)   # both micro-batches of the step
        assert sum(c > 0 for c in row["token_counts"]) == 1  # ODM bandit: one domain per step


@pytest.mark.parametrize("kwargs, match", [
    ({"via": "model", "module": None}, "saw no training forward of the LightningModule"),
    ({"module": "nope"}, "no submodule 'nope'"),
    ({"accumulation": 2, "steps": 2, "batch": B}, "draws 8 examples per step but the step's forwards"),
])
def test_misuse_is_one_line_bomix_error(kwargs, match):
    torch.set_num_threads(1)
    acc, batch = kwargs.get("accumulation", 1), kwargs.get("batch", B)
    ds = MixedIterableDataset(domain_data(), "odm", steps=kwargs.get("steps", 2), examples_per_step=B)
    trainer = L.Trainer(max_steps=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accumulate_grad_batches=acc,
                        callbacks=[BomixLightningCallback(ds, module=kwargs.get("module", "model"))])
    with pytest.raises(BomixError, match=match) as info:
        trainer.fit(LM(kwargs.get("via", "model")), train_dataloaders=torch.utils.data.DataLoader(ds, batch_size=batch))
    assert "\n" not in str(info.value)


def test_missing_lightning_fails_in_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)   # import lightning.pytorch -> ImportError
    monkeypatch.delitem(sys.modules, "bomix.integrations.lightning")
    with pytest.raises(MissingExtra, match=r"needs lightning: pip install 'bomix\[lightning\]'") as info:
        importlib.import_module("bomix.integrations.lightning")
    assert "\n" not in str(info.value)
