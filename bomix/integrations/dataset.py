"""Online data mixing inside your own training loop: a dataset over per-domain datasets whose mixture
a bomix controller (:mod:`bomix.online`) changes from training signals.

One *step* is one optimiser update of ``examples_per_step`` examples (batch size x gradient accumulation).
The examples of step ``t`` are drawn from ``controller.weights(t)``, as it stands when the first of them
is drawn, with a generator seeded by ``(seed, t)``: the same seed and the same signals give the same
examples. Inside a domain a map-style dataset is read in a seeded random order per epoch, an iterable
one in its own order (restarted when exhausted).

Signals: after each step, :meth:`MixedIterableDataset.observe` takes the per-domain mean train loss and
token counts of that step's batch (and, for DoReMi with ``reference.source = model``, the reference
losses). :meth:`MixedIterableDataset.observe_tokens` computes them from per-token losses: the domain of
every row is known because the dataset remembers, in order, the domain of every example it yielded
(:meth:`take_domains`), so the batch needs no extra column. The Hugging Face callback
(:mod:`bomix.integrations.hf`) and :class:`bomix.integrations.loop.MixtureHook` do this for you.

Prefetching loaders (accelerate's, used by ``transformers.Trainer``) draw the next batch before the
current update ends, so the weights of step ``t`` may reflect signals up to step ``t - 2``:
``max_lag`` counts the steps whose signals were still missing when a step was drawn (0 in a plain loop,
1 under the Trainer; deterministic, so runs stay reproducible). When it observes step ``t`` the controller is shown
the weights step ``t`` was really drawn from (ODM's bandit credits the arm that was drawn).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bomix.controller_config import ControllerConfig
from bomix.errors import BomixError
from bomix.online.base import Controller, Signals
from bomix.online.registry import build_controller

try:  # torch is optional for the numpy core; the class is a torch IterableDataset when it is installed
    from torch.utils.data import IterableDataset as _Base
except ImportError:  # pragma: no cover - torch comes with the trainer extra
    _Base = object


def _controller_config(controller: Any, update_every: int | None) -> ControllerConfig:
    if isinstance(controller, str):
        controller = {"kind": controller}
    cfg = ControllerConfig.from_dict(controller)
    if update_every is not None:
        cfg = ControllerConfig.from_dict({**cfg.to_dict(), "every": update_every})
    if cfg.apply != "resample":
        raise BomixError("integrations support controller.apply=resample only: reweighting needs a custom loss "
                         "(use controller.loss_coefficients in your own loss)")
    return cfg


class MixedIterableDataset(_Base):
    """An endless (or ``steps``-long) stream of examples from per-domain datasets, mixed by a controller.

    Args:
        datasets: ``{domain name: dataset}`` (or a sequence, named ``d0, d1, ...``); each a map-style
            dataset (``__len__`` and ``__getitem__``) or an iterable.
        controller: a controller name (``"doremi"``, ``"odm"``, ...: :data:`bomix.online.CONTROLLERS`), a
            :class:`~bomix.controller_config.ControllerConfig` or its dict (``params``, ``reference``),
            or a built :class:`~bomix.online.base.Controller` over the same domains.
        steps: the training run's number of optimiser steps (the controller's horizon).
        examples_per_step: examples in one optimiser step (per-device batch size x accumulation).
        seed: seeds the draws and the controller.
        initial: ``(K,)`` initial mixture (default uniform).
        update_every: the controller's update interval in steps (overrides ``controller.every``).
        stop: stop after ``steps`` steps (default) or stream forever (False).

    Raises:
        BomixError: no domains, an unknown controller, bad params, a mismatched controller or initial
            mixture, or a controller that needs signals this integration cannot give (validation passes,
            per-domain gradients).
    """

    def __init__(self, datasets: Mapping[str, Any] | Sequence[Any], controller: Any, *, steps: int,
                 examples_per_step: int, seed: int = 0, initial: Sequence[float] | None = None,
                 update_every: int | None = None, stop: bool = True):
        if isinstance(datasets, Mapping):
            names, data = [str(k) for k in datasets], list(datasets.values())
        elif isinstance(datasets, Sequence) and not isinstance(datasets, (str, bytes)):
            names, data = [f"d{i}" for i in range(len(datasets))], list(datasets)
        else:
            raise BomixError("datasets must be a mapping {domain: dataset} or a list of per-domain datasets")
        if not data:
            raise BomixError("MixedIterableDataset needs at least one domain dataset, got none")
        if int(steps) < 1 or int(examples_per_step) < 1:
            raise BomixError(f"steps and examples_per_step must be >= 1, got {steps} and {examples_per_step}")
        self.domains, self.datasets = tuple(names), data
        self.k, self.steps, self.per_step = len(data), int(steps), int(examples_per_step)
        self.seed, self.stop = int(seed), bool(stop)
        if isinstance(controller, Controller):
            if controller.k != self.k:
                raise BomixError(f"the controller has {controller.k} domains, the datasets {self.k}")
            if update_every is not None or controller.apply != "resample":
                raise BomixError("a built controller keeps its own config: set every and apply=resample in it")
            self.controller = controller
        else:
            init = np.full(self.k, 1.0 / self.k) if initial is None else np.asarray(initial, dtype=float)
            if init.shape != (self.k,):
                raise BomixError(f"initial mixture has {init.size} weights for {self.k} domains")
            self.controller = build_controller(_controller_config(controller, update_every), self.domains,
                                               self.seed, initial=init, steps=self.steps)
        for t in range(self.steps):
            want = self.controller.wants(t)
            if want.val or want.grads:
                raise BomixError(f"controller {self.controller.kind!r} needs validation passes or per-domain "
                                 f"gradients: not supported here (use doremi, odm or ado)")
        self.needs_reference = any(self.controller.wants(t).reference for t in range(min(self.steps, 8)))
        self.observed = 0          # steps observed so far
        self.drawn = 0             # examples yielded so far
        self.max_lag = 0
        self.history: list[dict] = []  # one row per observed step: weights in force, losses, counts
        self._pending: deque[int] = deque()  # domains of yielded examples not yet taken by a loss
        self._step_w: dict[int, np.ndarray] = {}
        self._cursor = [0] * self.k
        self._epoch = [0] * self.k
        self._perm: dict[int, np.ndarray] = {}
        self._iters: list[Any] = [None] * self.k

    # ----- weights ---------------------------------------------------------------------------
    @property
    def weights(self) -> np.ndarray:
        """``(K,)`` the method's current mixture (projected; ODM's bandit draws one domain per step from it)."""
        return np.asarray(self.controller.project(self.controller.w), dtype=float).copy()

    def output(self) -> dict:
        """The controller's JSON output (average, final and realised weights, trace)."""
        return self.controller.output()

    # ----- drawing ---------------------------------------------------------------------------
    def _domain_plan(self, t: int) -> np.ndarray:
        w = np.asarray(self.controller.weights(t), dtype=float)
        self._step_w[t] = w.copy()
        self.max_lag = max(self.max_lag, t - self.observed)
        rng = np.random.default_rng([self.seed, t, 0xB0A1])
        return rng.choice(self.k, size=self.per_step, p=w / w.sum())

    def _item(self, d: int):
        ds = self.datasets[d]
        if hasattr(ds, "__getitem__") and hasattr(ds, "__len__"):
            n = len(ds)
            if n == 0:
                raise BomixError(f"domain {self.domains[d]!r} has an empty dataset")
            if self._cursor[d] % n == 0:  # a new epoch: a fresh seeded order
                self._epoch[d] = self._cursor[d] // n
                self._perm[d] = np.random.default_rng([self.seed, d, self._epoch[d], 0xE90C]).permutation(n)
            i = int(self._perm[d][self._cursor[d] % n])
            self._cursor[d] += 1
            return ds[i]
        for _ in range(2):
            if self._iters[d] is None:
                self._iters[d] = iter(ds)
            try:
                return next(self._iters[d])
            except StopIteration:
                self._iters[d] = None
        raise BomixError(f"domain {self.domains[d]!r} has an empty iterable")

    def __iter__(self):
        try:
            from torch.utils.data import get_worker_info
            if get_worker_info() is not None:
                raise BomixError("MixedIterableDataset needs num_workers=0: the controller's weights live in "
                                 "the main process")
        except ImportError:  # pragma: no cover
            pass
        while not self.stop or self.drawn < self.steps * self.per_step:
            t, j = divmod(self.drawn, self.per_step)
            if j == 0:
                self._plan = self._domain_plan(t)
            d = int(self._plan[j])
            item = self._item(d)
            self.drawn += 1
            self._pending.append(d)
            yield item

    def __len__(self) -> int:
        if not self.stop:
            raise TypeError("an endless MixedIterableDataset (stop=False) has no length")
        return self.steps * self.per_step

    # ----- signals ---------------------------------------------------------------------------
    def take_domains(self, n: int) -> np.ndarray:
        """``(n,)`` domain ids of the next ``n`` yielded examples not yet accounted (rows of a batch, in order)."""
        if n > len(self._pending):
            raise BomixError(f"a batch of {n} rows but only {len(self._pending)} examples were drawn: the batch "
                             f"does not come from this dataset (or it was shuffled or used by several loaders)")
        return np.array([self._pending.popleft() for _ in range(n)], dtype=int)

    def observe(self, train_losses: Sequence[float], token_counts: Sequence[float], *,
                ref_losses: Sequence[float] | None = None, excess: Sequence[float] | None = None) -> np.ndarray:
        """Feed the signals of the next unobserved step to the controller; returns the new weights.

        Args:
            train_losses: ``(K,)`` mean token loss of each domain in that step's batch (NaN if absent).
            token_counts: ``(K,)`` tokens (or rows) of each domain in the batch.
            ref_losses: ``(K,)`` a frozen reference model's losses on the same batch (DoReMi, model reference).
            excess: ``(K,)`` DoReMi's per-token clipped excess ``mean max(l - l_ref, 0)`` (preferred to ref_losses).
        """
        tl = np.asarray(train_losses, dtype=float).reshape(-1)
        tc = np.asarray(token_counts, dtype=float).reshape(-1)
        if tl.size != self.k or tc.size != self.k:
            raise BomixError(f"signals need {self.k} per-domain values, got {tl.size} losses and {tc.size} counts")
        if self.needs_reference and ref_losses is None and excess is None:
            raise BomixError(f"controller {self.controller.kind!r} needs reference losses: pass a reference "
                             f"model to the callback or use a curve reference")
        t = self.observed
        sig = Signals(step=t, train_losses=tl, token_counts=tc,
                      ref_losses=None if ref_losses is None else np.asarray(ref_losses, dtype=float),
                      excess=None if excess is None else np.asarray(excess, dtype=float))
        w_used = self._step_w.pop(t, None)
        ctrl = self.controller
        if w_used is None:
            ctrl.observe(t, sig)
        else:  # the controller sees the weights step t was really drawn from, even if it has moved since
            orig = ctrl.sampling
            ctrl.sampling = lambda step, _w=w_used, _o=orig: _w.copy() if step == t else _o(step)
            try:
                ctrl.observe(t, sig)
            finally:
                del ctrl.sampling
        self.history.append({"step": t, "weights": None if w_used is None else w_used.tolist(),
                             "train_losses": tl.tolist(), "token_counts": tc.tolist(),
                             "excess": None if excess is None else np.asarray(excess, dtype=float).tolist()})
        self.observed += 1
        return self.weights

    def observe_tokens(self, token_loss, mask, domains, ref_token_loss=None) -> np.ndarray:
        """Per-domain signals from per-token losses and feed them (:meth:`observe`).

        Args:
            token_loss: ``(B, T)`` per-token loss (tensor or array; ignored where ``mask`` is False).
            mask: ``(B, T)`` bool, the tokens that count.
            domains: ``(B,)`` domain id of each row (:meth:`take_domains`).
            ref_token_loss: ``(B, T)`` a reference model's per-token loss (DoReMi), optional.
        """
        sums, counts, ex = token_sums(token_loss, mask, domains, self.k, ref_token_loss)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
            excess = None if ex is None else np.where(counts > 0, ex / np.maximum(counts, 1), np.nan)
        return self.observe(means, counts, excess=excess)


def token_sums(token_loss, mask, domains, k: int, ref_token_loss=None):
    """``(K,)`` per-domain sums of token losses, token counts and (with a reference) clipped excess sums."""
    def arr(x):
        if hasattr(x, "detach"):
            x = x.detach().float().cpu().numpy()
        return np.asarray(x, dtype=float)

    loss, m, dom = arr(token_loss), arr(mask) > 0, np.asarray(arr(domains), dtype=int).reshape(-1)
    if loss.ndim == 1:
        loss, m = loss[:, None], m[:, None]
    if dom.size != loss.shape[0]:
        raise BomixError(f"{dom.size} domain ids for a batch of {loss.shape[0]} rows")
    row_sum = (loss * m).sum(1)
    row_n = m.sum(1).astype(float)
    sums, counts = np.bincount(dom, row_sum, k), np.bincount(dom, row_n, k)
    ex = None
    if ref_token_loss is not None:
        ex = np.bincount(dom, (np.maximum(loss - arr(ref_token_loss), 0.0) * m).sum(1), k)
    return sums, counts, ex
