"""The MFMS authors' simulator (Yen et al. 2025): a 3-layer MLP over mixture, model size and step.

The weights are NOT part of bomix (their repository has no licence): they are loaded at run time from a
directory the user gives (``backend.path``), by default ``../shared/data/mfms`` next to the checkout or
``$BOMIX_MFMS_PATH``. Expected files: ``derived/simulator_j8mad2i5_weights.npz`` (numpy form of the
checkpoint) and ``flops_dataset.csv`` (FLOPs per step per scale).

Forward pass: ``x9 = [w_wiki, w_se, w_github, w_arxiv, w_book, size_M, d_model, n_heads, step]``,
``h = ((x9 - mean) / std)[mask]``, three ``relu(h W^T + b)`` layers, ``y = (h W^T + b) * y_std + y_mean``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bomix.backends.base import MetricSimulator
from bomix.cost import TableCost
from bomix.errors import BomixError
from bomix.objective import Objective
from bomix.runs import Curve, RunResult, RunSpec
from bomix.space import Fidelity, Mixture, Scale, Space

DOMAINS = ("wikipedia", "stackexchange", "github", "arxiv", "book")
METRICS = ("train_ce", "ce_commoncrawl", "ce_c4", "ce_wikipedia", "ce_stackexchange", "ce_github", "ce_arxiv",
           "ce_book", "hellaswag", "piqa", "arc_easy")
#: the 7 validation cross-entropies (for the "mean CE" objective)
VALIDATION_CE = METRICS[1:8]
SCALES = {"20M": 20e6, "60M": 60e6, "150M": 150e6, "300M": 300e6, "500M": 500e6, "700M": 700e6, "1B": 1e9}
WEIGHTS_FILE = "derived/simulator_j8mad2i5_weights.npz"
FLOPS_FILE = "flops_dataset.csv"


def default_path() -> Path:
    env = os.environ.get("BOMIX_MFMS_PATH")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "mfms"


class MFMSBackend(MetricSimulator):
    """MFMS simulator over 5 SlimPajama domains, 7 scales 20M..1B, steps 100..19500 (every 100).

    No trust region: ``extrapolated()`` is None ("unknown") for every mixture. The MLP's training runs
    (upstream ``results/data_mixing_runs.pkl``, 472 runs) are not in the data directory, and what is
    there does not locate them: ``norm_X_mean`` / ``norm_X_std`` (per-weight mean ~0.20, sd ~0.15-0.17
    over the training inputs) give no distance to the nearest trained mixture, ``heldout_r2_raw`` is
    per scale only, and ``config.json`` holds training settings. The fidelity range (7 scales,
    steps 100..19500) is the training range, so fidelities are not extrapolated. (The runs file is a
    pickle, which bomix never loads; a trust region would need them converted to the logged-run table.)

    Args:
        path: directory with the MFMS files (see module docstring).
        noise: observation noise sd added to every metric (0 = the deterministic MLP).
        seed: noise stream.
    """

    name = "mfms"
    supports_continuation = True

    def __init__(self, path: str | None = None, noise: float = 0.0, seed: int = 0):
        root = Path(path) if path else default_path()
        wfile, ffile = root / WEIGHTS_FILE, root / FLOPS_FILE
        for f in (wfile, ffile):
            if not f.is_file():
                raise BomixError(
                    f"MFMS simulator file {f} not found: set backend.path=DIR (or $BOMIX_MFMS_PATH) to the "
                    "directory holding derived/ and flops_dataset.csv")
        z = np.load(wfile, allow_pickle=False)
        self._layers = [(z[f"layers_{i}_weight"].astype(np.float64), z[f"layers_{i}_bias"].astype(np.float64))
                        for i in (0, 3, 6, 9)]
        self._x_mean, self._x_std = z["norm_X_mean"], z["norm_X_std"]
        self._y_mean, self._y_std = z["norm_y_mean"], z["norm_y_std"]
        self._mask = z["feature_mask"].astype(bool)
        self.heldout_r2 = pd.DataFrame(z["heldout_r2_raw"], index=list(z["heldout_r2_sizes"]), columns=list(METRICS))
        if self._mask.tolist() != [True] * 6 + [False, False, True]:
            raise BomixError(f"{wfile} has an unexpected feature mask: is it the j8mad2i5 simulator?")
        self.path = str(root)
        self.space = Space(DOMAINS, [Scale(n, p) for n, p in SCALES.items()], min_steps=100, max_steps=19500,
                           target=Fidelity("1B", 19500), step_grid=(6000, 12000, 19500))
        flops = pd.read_csv(ffile)
        per_step = {}
        for scale, g in flops.groupby("model_size"):
            slope = np.polyfit(g["step"].to_numpy(float), g["flops"].to_numpy(float), 1)[0]
            per_step[str(scale)] = float(slope)
        self.cost_model = TableCost(self.space, per_step)
        self.metrics = METRICS
        self.default_objective = Objective.metric("ce_stackexchange")
        self.noise, self.seed = float(noise), int(seed)
        self.eval_every = 100
        self._optima: dict[str, tuple[Mixture, float]] = {}

    # ----- the MLP ---------------------------------------------------------------------------
    def predict(self, w: np.ndarray, size_m: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Noiseless metrics.

        Args:
            w: ``(n, 5)`` mixtures in DOMAINS order.
            size_m: ``(n,)`` (or scalar) model size in millions of parameters.
            steps: ``(n,)`` (or scalar) training steps.

        Returns:
            ``(n, 11)`` metrics in METRICS order.
        """
        w = np.atleast_2d(np.asarray(w, dtype=np.float64))
        n = w.shape[0]
        x = np.empty((n, 7))
        x[:, :5] = w
        x[:, 5] = np.broadcast_to(np.asarray(size_m, dtype=np.float64), (n,))
        x[:, 6] = np.broadcast_to(np.asarray(steps, dtype=np.float64), (n,))
        mean, std = self._x_mean[self._mask], self._x_std[self._mask]
        h = (x - mean) / std
        for W, b in self._layers[:-1]:
            h = np.maximum(h @ W.T + b, 0.0)
        W, b = self._layers[-1]
        return (h @ W.T + b) * self._y_std + self._y_mean

    def metrics_at(self, w: np.ndarray, scale: str, steps) -> dict[str, np.ndarray]:
        """Metric name -> ``(n,)`` noiseless values for mixtures ``(n, 5)`` at one scale."""
        y = self.predict(w, self.space.scale(scale).params / 1e6, steps)
        return {m: y[:, j] for j, m in enumerate(METRICS)}

    # ----- Backend API -----------------------------------------------------------------------
    def run(self, spec: RunSpec) -> RunResult:
        t0 = time.perf_counter()
        self.space.check_fidelity(spec.fidelity)
        steps = np.arange(self.eval_every, spec.steps + 1, self.eval_every)
        if steps.size == 0 or steps[-1] != spec.steps:
            steps = np.append(steps, spec.steps)
        w = np.broadcast_to(spec.mixture.weights, (steps.size, 5))
        y = self.predict(w, self.space.scale(spec.scale).params / 1e6, steps)
        if self.noise > 0:
            rng = np.random.default_rng([self.seed, 11, int(spec.seed or 0)])
            z = rng.standard_normal((self.space.max_steps // self.eval_every + 1, len(METRICS)))
            y = y + self.noise * z[np.minimum(steps // self.eval_every, z.shape[0] - 1)]
        curve = Curve(steps, {m: y[:, j] for j, m in enumerate(METRICS)})
        return RunResult(spec, "ok", curve, cost=self.cost(spec), wall_time=time.perf_counter() - t0)

    def describe(self) -> dict:
        return {"name": self.name, "path": self.path, "noise": self.noise, "seed": self.seed}

