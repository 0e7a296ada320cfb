"""Online mixing inside a user's trainer: a tiny random Llama trained on CPU for 30 steps with DoReMi and
ODM choosing the mixture of three synthetic domains (easy: a repeated token; medium: counting mod V;
hard: uniform random tokens, irreducible loss ln V)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from mixing_helpers import B, DOMAINS, STEPS, T, V, assert_simplex, domain_data  # noqa: E402
from bomix.errors import BomixError  # noqa: E402
from bomix.integrations import MixedIterableDataset, MixtureHook  # noqa: E402
from bomix.online import build_controller  # noqa: E402


def tiny_model():
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                   intermediate_size=64, vocab_size=V, max_position_embeddings=T)
    return transformers.LlamaForCausalLM(cfg)


def train(controller, tmp_path, seed: int = 0, steps: int = STEPS, accumulation: int = 1):
    pytest.importorskip("accelerate", reason="transformers.Trainer needs accelerate (not in the trainer extra)")
    from bomix.integrations.hf import BomixMixtureCallback

    torch.set_num_threads(1)
    ds = MixedIterableDataset(domain_data(labels=True), controller, steps=steps, examples_per_step=B, seed=seed)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), max_steps=steps, per_device_train_batch_size=B // accumulation,
        gradient_accumulation_steps=accumulation, learning_rate=1e-2,
        logging_steps=10, save_strategy="no", report_to=[], use_cpu=True, seed=seed, disable_tqdm=True,
        dataloader_num_workers=0)
    trainer = transformers.Trainer(model=tiny_model(), args=args, train_dataset=ds,
                                   callbacks=[BomixMixtureCallback(ds)])
    trainer.train()
    return ds, trainer


def cumulative_excess(history) -> np.ndarray:
    """DoReMi's lambda carried forward over absent domains, summed over updates (log alpha = eta * this)."""
    lam, total = np.zeros(3), np.zeros(3)
    for row in history:
        ex = np.asarray(row["excess"], dtype=float)
        lam = np.where(np.isfinite(ex), ex, lam)
        total += lam
    return total


def test_doremi_in_trainer_upweights_largest_excess_and_is_reproducible(tmp_path):
    # curve reference: the best achievable losses (0 for the learnable domains, ln V for random tokens)
    ref = {"source": "curve", "steps": [STEPS], "losses": [[0.0, 0.0, math.log(V)]]}
    cfg = {"kind": "doremi", "reference": ref}
    ds, trainer = train(cfg, tmp_path / "a")
    assert ds.observed == STEPS and len(ds.history) == STEPS and ds.max_lag <= 1
    w = ds.weights
    assert_simplex(w)
    for row in ds.history:
        assert_simplex(row["weights"])
    # excess = max(train loss - reference, 0): recompute lambda from the recorded train losses
    ref_loss = np.array(ref["losses"][0])
    rows = [{"excess": np.maximum(np.asarray(r["train_losses"]) - ref_loss, 0.0)} for r in ds.history]
    lam_sum = cumulative_excess(rows)
    # log alpha_T = log alpha_0 + eta * sum_t lambda_t (smoothing aside): same order as the summed excess
    assert int(np.argmax(w)) == int(np.argmax(lam_sum))
    assert int(np.argmin(w)) == int(np.argmin(lam_sum)) == DOMAINS.index("hard")  # irreducible: no excess
    assert w[DOMAINS.index("hard")] < 0.05 < 1 / 3 < w.max()
    logged = [row for row in trainer.state.log_history if "mix/hard" in row]
    assert logged and set(f"mix/{d}" for d in DOMAINS) <= set(logged[-1])
    ds2, _ = train(cfg, tmp_path / "b")
    assert [r["weights"] for r in ds2.history] == [r["weights"] for r in ds.history]
    assert np.array_equal(ds2.weights, w)


def test_odm_in_trainer_upweights_highest_loss_domain(tmp_path):
    ds, _ = train({"kind": "odm", "params": {"mode": "mixed", "warmup": 0}}, tmp_path)
    ctrl = ds.controller
    w = ds.weights
    assert_simplex(w)
    eps = ctrl.eps(ctrl.t)
    assert np.all(w >= eps - 1e-12) and ctrl.t == STEPS
    # pi = (1 - K eps) softmax(eps' R) + eps: the order of the rewards R (EMA of the train losses)
    assert list(np.argsort(w)) == list(np.argsort(ctrl.R))
    assert int(np.argmax(w)) == DOMAINS.index("hard")      # ODM's known bias: the irreducible loss wins
    assert w.min() < 1 / 3 < w[DOMAINS.index("hard")]


def test_trainer_with_gradient_accumulation_observes_whole_steps(tmp_path):
    ds, trainer = train({"kind": "odm", "params": {"warmup": 0}}, tmp_path, steps=6, accumulation=2)
    assert trainer.state.global_step == 6 and ds.observed == 6
    for row in ds.history:
        assert sum(row["token_counts"]) == B * (T - 1)   # both micro-batches of the step
        assert sum(c > 0 for c in row["token_counts"]) == 1  # ODM bandit: one domain per step


@pytest.mark.parametrize("mode", ["mixed", "bandit"])
def test_callback_without_trainer_handles_a_prefetching_loader(mode):
    """The Trainer's call order, by hand (no accelerate needed): the loader draws batch t + 1 before step t
    ends; the callback still credits each row's loss to the domain it was drawn from."""
    from types import SimpleNamespace

    from bomix.integrations.hf import BomixMixtureCallback

    torch.set_num_threads(1)
    ds = MixedIterableDataset(domain_data(labels=True), {"kind": "odm", "params": {"mode": mode, "warmup": 0}}, steps=16,
                              examples_per_step=4, seed=1)
    cb = BomixMixtureCallback(ds)
    model = tiny_model()
    args = SimpleNamespace(per_device_train_batch_size=4, gradient_accumulation_steps=1, world_size=1,
                           dataloader_num_workers=0)
    state = SimpleNamespace(log_history=[{"loss": 1.0, "step": 16}], global_step=16)
    cb.on_train_begin(args, state, None, model=model)
    batches = iter(torch.utils.data.DataLoader(ds, batch_size=4))
    nxt = next(batches)
    for _ in range(16):
        cur, nxt = nxt, next(batches, None)         # prefetch one ahead, as accelerate does
        model.train()
        model(input_ids=cur["input_ids"], labels=cur["labels"]).loss.backward()
        before = ds.controller.R.copy()
        cb.on_step_end(args, state, None)
        drawn = np.asarray(ds.history[-1]["token_counts"]) > 0
        assert np.all(ds.controller.R[drawn] != before[drawn])   # the drawn domains' rewards moved
        if mode == "bandit":
            assert drawn.sum() == 1 and np.all(ds.controller.R[~drawn] == before[~drawn])
    cb.on_train_end(args, state, None)
    assert ds.observed == 16 and ds.max_lag == 1
    for row in ds.history:  # a domain's loss is there exactly when it was drawn in that step
        assert (np.asarray(row["token_counts"]) > 0).tolist() == np.isfinite(row["train_losses"]).tolist()
        assert sum(row["token_counts"]) == 4 * (T - 1)
    logs = {"loss": 1.0}
    cb.on_log(args, state, None, logs=logs)
    assert set(logs) == {"loss", "mix/easy", "mix/medium", "mix/hard"} and "mix/easy" in state.log_history[-1]
    with pytest.raises(BomixError, match="examples per step"):
        cb.on_train_begin(SimpleNamespace(**{**vars(args), "per_device_train_batch_size": 8}), state, None,
                          model=model)


def test_odm_bandit_with_plain_loop_hook():
    """The framework-agnostic hook in a hand-written loop: ODM's bandit draws one domain per step."""
    torch.set_num_threads(1)
    ds = MixedIterableDataset(domain_data(labels=True), {"kind": "odm", "params": {"warmup": 0}}, steps=12,
                              examples_per_step=4, seed=3)
    model = tiny_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    hook = MixtureHook(ds)
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    for batch in loader:
        out = model(input_ids=batch["input_ids"], labels=batch["labels"])
        out.loss.backward()
        opt.step()
        opt.zero_grad()
        hook.accumulate(batch["input_ids"], batch["labels"], out.logits)
        w = hook.flush()
        assert_simplex(w)
    assert ds.observed == 12 and ds.max_lag == 0
    for row in ds.history:
        assert sorted(row["weights"]) == [0.0, 0.0, 1.0]        # one arm per step
        assert sum(c > 0 for c in row["token_counts"]) == 1


def test_same_seed_same_draws_without_training():
    a = MixedIterableDataset(domain_data(labels=True), "odm", steps=5, examples_per_step=4, seed=7)
    b = MixedIterableDataset(domain_data(labels=True), "odm", steps=5, examples_per_step=4, seed=7)
    xa = [x["input_ids"].tolist() for x in a]
    xb = [x["input_ids"].tolist() for x in b]
    assert xa == xb and len(xa) == 20


@pytest.mark.parametrize("make, match", [
    (lambda: MixedIterableDataset(domain_data(labels=True), "nope", steps=5, examples_per_step=4), "unknown controller"),
    (lambda: MixedIterableDataset({}, "odm", steps=5, examples_per_step=4), "at least one domain"),
    (lambda: MixedIterableDataset(domain_data(labels=True), "odm", steps=5, examples_per_step=4, initial=[0.5, 0.5]),
     "3 domains"),
    (lambda: MixedIterableDataset(domain_data(labels=True), build_controller({"kind": "odm"}, ["a", "b"], 0, initial=[.5, .5],
                                                                  steps=5), steps=5, examples_per_step=4),
     "2 domains"),
    (lambda: MixedIterableDataset(domain_data(labels=True), "doremi", steps=5, examples_per_step=4), "reference"),
    (lambda: MixedIterableDataset(domain_data(labels=True), "doge", steps=5, examples_per_step=4), "gradients"),
    (lambda: MixedIterableDataset(domain_data(labels=True), {"kind": "odm", "apply": "reweight"}, steps=5,
                                  examples_per_step=4), "resample"),
    (lambda: MixedIterableDataset(domain_data(labels=True), "odm", steps=5, examples_per_step=4).observe([1.0, 2.0], [1, 1]),
     "3 per-domain"),
    (lambda: MixtureHook(MixedIterableDataset(domain_data(labels=True), {"kind": "doremi", "reference": {
        "source": "model", "run_id": "r"}}, steps=5, examples_per_step=4)), "reference_model"),
])
def test_bad_input_is_one_line_bomix_error(make, match):
    with pytest.raises(BomixError, match=match) as info:
        make()
    assert "\n" not in str(info.value)


def test_observe_shows_the_controller_the_weights_really_drawn_under_lag():
    """ODM bandit, one-step lag, rewards that move pi a lot: each step's reward goes to the arm drawn then."""
    ds = MixedIterableDataset(domain_data(8, labels=True), {"kind": "odm", "params": {"warmup": 0, "alpha": 0.0,
                                                                          "reward_scale": 0.05}},
                              steps=40, examples_per_step=1, seed=5)
    it = iter(ds)
    next(it)
    for t in range(39):
        next(it)                                  # step t + 1 drawn before step t is observed
        d = int(ds.take_domains(1)[0])
        losses, counts = np.full(3, np.nan), np.zeros(3)
        losses[d], counts[d] = 1.0 + d + 0.01 * t, 1.0
        before = ds.controller.R.copy()
        ds.observe(losses, counts)
        assert ds.controller.R[d] != before[d], f"step {t}: the reward of the drawn domain {d} was skipped"
    assert ds.max_lag == 1


def test_doremi_model_reference_and_iterable_domains_with_plain_loop():
    """A frozen reference model forwarded by the hook; domains given as plain iterables (cycled)."""

    class Stream:  # an iterable without __len__/__getitem__
        def __init__(self, rows):
            self.rows = rows

        def __iter__(self):
            return iter(self.rows)

    torch.set_num_threads(1)
    data = {d: Stream(rows[:5]) for d, rows in domain_data(labels=True).items()}
    ds = MixedIterableDataset(data, {"kind": "doremi", "reference": {"source": "model", "run_id": "ref"}},
                              steps=8, examples_per_step=4, seed=2)
    model, reference = tiny_model(), tiny_model()
    torch.manual_seed(1)
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(0.05 * torch.randn_like(p))
    hook = MixtureHook(ds, reference_model=reference)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for batch in torch.utils.data.DataLoader(ds, batch_size=4):
        out = model(input_ids=batch["input_ids"], labels=batch["labels"])
        out.loss.backward()
        opt.step()
        opt.zero_grad()
        hook.step(model, batch)                      # no logits given: a no-grad forward after the update
    assert ds.observed == 8
    for row in ds.history:
        present = np.asarray(row["token_counts"]) > 0
        ex = np.asarray(row["excess"])
        assert np.all(np.isfinite(ex[present])) and np.all(ex[present] >= 0) and np.all(np.isnan(ex[~present]))
    w = ds.weights
    assert_simplex(w)
    total = cumulative_excess(ds.history)            # log alpha_T - log alpha_0 = eta * total (smoothing aside)
    assert list(np.argsort(w)) == list(np.argsort(total)) and not np.allclose(w, 1 / 3)
