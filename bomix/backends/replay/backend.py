"""``ReplayBackend``: a simulator built by ``bomix simulator build`` (pool or model mode)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bomix.backends.base import SimulatorBackend
from bomix.backends.replay.model import MetricModel
from bomix.backends.replay.trust import trust_region
from bomix.backends.truth import dense_optimum, trusted_optimum
from bomix.cost import FlopsCost
from bomix.errors import BomixError
from bomix.fidelity import FidelityGrid
from bomix.paths import resolve_data_path
from bomix.objective import Objective
from bomix.proposals import TrustRegion
from bomix.runs import Curve, RunResult, RunSpec
from bomix.runtable import mcol, wcols
from bomix.space import Fidelity, Mixture, Scale, Space

MATCH_TOL = 1e-6
#: the simulator.json layout this module reads (build.py writes it)
FORMAT_VERSION = 2


def resolve_path(path: str | Path) -> Path:
    """An absolute path, else relative to the working directory, else to the bomix checkout or install."""
    return resolve_data_path(path, "simulator.json")


def optimum_key(objective: Objective, fid: Fidelity) -> str:
    """Cache key of an optimum: the objective's metrics, weights and sign (:attr:`Objective.key`), and the fidelity."""
    return f"{objective.key}|{fid}"


class ReplayBackend(SimulatorBackend):
    """Replays logged runs (pool mode) or a regressor fitted on them (model mode).

    Args:
        path: a directory made by ``bomix simulator build`` (absolute, relative to the working directory,
            or relative to the bomix checkout, e.g. ``simulator/regmix/built``).
        noise: observation noise sd added to every metric of a run (model mode; 0 = the model's mean).
        seed: noise stream.
    """

    name = "replay"

    def __init__(self, path: str, noise: float = 0.0, seed: int = 0):
        if not path:
            raise BomixError("backend.path is empty: set backend.path=DIR to a directory built by "
                             "`bomix simulator build TABLE --out DIR`")
        root = resolve_path(path)
        meta_file = root / "simulator.json"
        if not meta_file.is_file():
            raise BomixError(f"no simulator at {root} (missing simulator.json): build one with "
                             "`bomix simulator build TABLE --out DIR` and set backend.path=DIR")
        meta = json.loads(meta_file.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise BomixError(f"{meta_file} has format_version {meta.get('format_version')}, this bomix reads "
                             f"{FORMAT_VERSION}: rebuild it with `bomix simulator build TABLE --out {root}`")
        if not float(noise) >= 0:
            raise BomixError(f"backend.noise must be >= 0, got {noise}")
        self.path, self.meta = str(root), meta
        self.name = str(meta.get("name") or "replay")
        self.mode = meta["mode"]
        self.noise, self.seed = float(noise), int(seed)
        tgt = meta["target"]
        self.space = Space(tuple(meta["domains"]), [Scale(n, p) for n, p in meta["scales"].items()],
                           min_steps=meta["min_steps"], max_steps=meta["max_steps"],
                           target=Fidelity(tgt["scale"], int(tgt["steps"])), step_grid=tuple(meta["step_grid"]),
                           tokens_per_step=meta.get("tokens_per_step"), grid=FidelityGrid.from_dict(meta["grid"]))
        self.cost_model = FlopsCost(self.space, meta.get("tokens_per_step"))
        self.metrics = tuple(meta["metrics"])
        self.default_objective = Objective.from_config(meta.get("objective"), self.metrics)
        self.supports_continuation = True
        self.eval_steps = np.asarray(meta["eval_steps"], dtype=np.int64)
        self._optima: dict[str, tuple[Mixture, float] | None] = {}
        self.trust: TrustRegion | None = None
        if self.mode == "model":
            with np.load(root / "model.npz", allow_pickle=False) as z:
                self.models = {m: MetricModel.from_arrays(z, f"m{j}") for j, m in enumerate(self.metrics)}
            if meta.get("trust"):
                logged = pd.read_csv(root / "runs.csv", dtype={"run_id": str, "scale": str},
                                     usecols=["scale", "step", *wcols(self.space.domains)])
                self.trust = trust_region(logged, self.space.domains, radius=meta["trust"]["radius"])
        elif self.mode == "pool":
            self._load_pool(pd.read_csv(root / "runs.csv", dtype={"run_id": str, "scale": str}))
        else:
            raise BomixError(f"{meta_file}: unknown mode {self.mode!r}")

    # ----- pool ------------------------------------------------------------------------------
    def _load_pool(self, t: pd.DataFrame) -> None:
        wc = wcols(self.space.domains)
        self._runs: dict[str, pd.DataFrame] = {rid: g for rid, g in t.groupby("run_id", sort=False)}
        first = t.groupby("run_id", sort=False).first()
        self._pool_w = {s: (g.index.to_numpy(), g[wc].to_numpy(float)) for s, g in first.groupby("scale")}
        self._cands = []
        for rid, g in self._runs.items():
            m = Mixture(g[wc].iloc[0].to_numpy(float) / g[wc].iloc[0].sum(), self.space.domains)
            self._cands.extend((m, Fidelity(str(g["scale"].iloc[0]), int(s))) for s in g["step"])

    def _find(self, w: np.ndarray, scale: str) -> str | None:
        if scale not in self._pool_w:
            return None
        ids, W = self._pool_w[scale]
        d = np.abs(W - w).max(1)
        i = int(np.argmin(d))
        return str(ids[i]) if d[i] <= MATCH_TOL else None

    def candidates(self) -> list[tuple[Mixture, Fidelity]] | None:
        return list(self._cands) if self.mode == "pool" else None

    def _pool_row(self, w: np.ndarray, fid: Fidelity) -> pd.Series | None:
        rid = self._find(w, fid.scale)
        if rid is None:
            return None
        g = self._runs[rid]
        row = g[g["step"] == fid.steps]
        return None if row.empty else row.iloc[0]

    # ----- model -----------------------------------------------------------------------------
    def predict(self, w: np.ndarray, scale: str | list[str], steps,
                metrics: list[str] | None = None) -> dict[str, np.ndarray]:
        """Model mode: metric name -> ``(n,)`` noiseless predictions for mixtures ``(n, K)``.

        Args:
            w: ``(n, K)`` mixtures (or ``(K,)``).
            scale: one scale name, or ``n`` names.
            steps: scalar or ``(n,)`` steps.
            metrics: metrics to predict (default all).
        """
        if self.mode != "model":
            raise BomixError("predict() needs a model-mode simulator; this one is a pool (logged points only)")
        names = list(metrics or self.metrics)
        unknown = [m for m in names if m not in self.models]
        if unknown:
            raise BomixError(f"unknown metric(s) {unknown}; this simulator models {list(self.metrics)}")
        x = self.space.encode(w, scale, steps)
        return {m: self.models[m].predict(x) for m in names}

    # ----- Backend API -----------------------------------------------------------------------
    def run(self, spec: RunSpec) -> RunResult:
        t0 = time.perf_counter()
        self.space.check_fidelity(spec.fidelity)
        if self.mode == "pool":
            rid = self._find(spec.mixture.weights, spec.scale)
            g = None if rid is None else self._runs[rid]
            if g is None or spec.steps not in set(g["step"].tolist()):
                where = "no logged run of this mixture" if g is None else f"run {rid} was logged at steps " \
                    f"{g['step'].tolist()[:8]}"
                return RunResult(spec, "failed", cost=0.0, wall_time=time.perf_counter() - t0,
                                 error=f"{spec.fidelity} with {spec.mixture} is not in the pool ({where}): a pool "
                                       "simulator answers only logged points (backend.candidates())")
            g = g[g["step"] <= spec.steps]
            curve = Curve(g["step"].to_numpy(), {m: g[mcol(m)].to_numpy(float) for m in self.metrics})
            return RunResult(spec, "ok", curve, cost=self.cost(spec), wall_time=time.perf_counter() - t0,
                             info={"logged_run": rid})
        steps = self.eval_steps[self.eval_steps < spec.steps]
        steps = np.append(steps, spec.steps)
        vals = self.predict(np.broadcast_to(spec.mixture.weights, (steps.size, self.space.k)), spec.scale, steps)
        if self.noise > 0:
            rng = np.random.default_rng([self.seed, 7, int(spec.seed or 0)])
            vals = {m: v + self.noise * rng.standard_normal(v.size) for m, v in vals.items()}
        return RunResult(spec, "ok", Curve(steps, vals), cost=self.cost(spec), wall_time=time.perf_counter() - t0)

    def trust_region(self) -> TrustRegion | None:
        """Model mode: within which TV distance of logged mixtures the answers are trusted (simulator.json)."""
        return self.trust

    def extrapolated(self, mixture: Mixture, fidelity: Fidelity) -> bool | None:
        """True when ``true_value(mixture, fidelity)`` is scored outside the trust region (model mode);
        pool mode: False for a logged point, None otherwise (its true value is NaN)."""
        self.space.check_fidelity(fidelity)
        if self.mode == "pool":
            return False if self._pool_row(mixture.weights, fidelity) is not None else None
        if self.trust is None:
            return None
        return not bool(self.trust.inside(mixture.weights[None], fidelity)[0])

    def true_value(self, mixture: Mixture, fidelity: Fidelity, objective: Objective) -> float:
        """Model mode: the model's mean. Pool mode: the logged value (NaN if the point was not logged).
        A fidelity without logged data is refused (one-line BomixError)."""
        self.space.check_fidelity(fidelity)
        if self.mode == "model":
            return float(self.true_values(mixture.weights[None], fidelity, objective)[0])
        row = self._pool_row(mixture.weights, fidelity)
        return float("nan") if row is None else float(objective({m: row[mcol(m)] for m in self.metrics}))

    def true_values(self, w: np.ndarray, fidelity: Fidelity, objective: Objective) -> np.ndarray:
        """Model mode: one batched prediction (``(n,)`` for ``w (n, K)``); pool mode: :meth:`true_value` per row."""
        if self.mode != "model":
            return super().true_values(w, fidelity, objective)
        self.space.check_fidelity(fidelity)
        return objective.values(self.predict(np.atleast_2d(w), fidelity.scale, fidelity.steps, objective.metrics))

    def optimum(self, objective: Objective, fidelity: Fidelity | None = None) -> tuple[Mixture, float] | None:
        """Model mode: search + SLSQP on the model inside the trust region (the whole simplex without one;
        cached at build time for the default objective). Pool mode: the best logged point (None if none)."""
        fid = self.space.check_fidelity(fidelity or self.space.target)
        key = optimum_key(objective, fid)
        if key not in self._optima:
            cached = self.meta.get("optima", {}).get(key)
            if cached is not None:
                self._optima[key] = (Mixture(cached["mixture"], self.space.domains), float(cached["value"]))
            else:
                self._optima[key] = self._search(objective, fid)
        return self._optima[key]

    def _search(self, objective: Objective, fid: Fidelity) -> tuple[Mixture, float] | None:
        if self.mode == "model":
            f = lambda W: self.true_values(W, fid, objective)  # noqa: E731
            r = None if self.trust is None else self.trust.radius_at(fid)
            if r is not None and fid in self.trust.centres:
                w, v = trusted_optimum(f, self.trust.centres[fid], r, n_random=20000)
            else:
                w, v = dense_optimum(f, self.space.k, n_random=20000)
            return Mixture(w, self.space.domains), float(v)
        best = None
        for m, f in self._cands:
            if f == fid:
                v = self.true_value(m, f, objective)
                if np.isfinite(v) and (best is None or v < best[1]):
                    best = (m, v)
        return best

    def describe(self) -> dict:
        return {"name": self.name, "path": self.path, "mode": self.mode, "noise": self.noise, "seed": self.seed}
