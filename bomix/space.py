"""The search space: domains, the fidelity ladder, constraints, sampling and GP coordinates.

Coordinates (README "Coordinates"): a mixture ``w`` is ``K`` non-negative floats summing to 1 in the order
of ``Space.domains`` (:class:`~bomix.mixture.Mixture`); a fidelity is ``(scale, steps)`` with the scale a
named rung of a ladder (:class:`~bomix.fidelity.Fidelity`, :class:`~bomix.fidelity.Scale`).
The GP sees ``X = [w_1..w_K, s, t]`` where

    s = log(N / N_min) / log(N_target / N_min),   t = log(T / T_min) / log(T_target / T_min),

both in ``[0, 1]`` and the target fidelity at ``(1, 1)``.

``Mixture``, ``Scale`` and ``Fidelity`` live in :mod:`bomix.mixture` and :mod:`bomix.fidelity`; they are
re-exported here, so ``from bomix.space import Fidelity, Mixture, Scale, Space`` keeps working.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bomix.errors import BomixError
from bomix.fidelity import Fidelity, FidelityGrid, Scale
from bomix.mixture import SIMPLEX_TOL, Mixture

__all__ = ["SIMPLEX_TOL", "Fidelity", "FidelityGrid", "Mixture", "Scale", "Space"]


@dataclass
class Space:
    """Owns domains, the fidelity ladder, constraints, sampling and GP encode/decode.

    Args:
        domains: training-domain names (the mixture order).
        scales: the ladder, any order (sorted by parameter count here).
        min_steps / max_steps: the step range a run may ask for.
        target: the target fidelity; default (largest scale, ``max_steps``).
        step_grid: step counts policies choose from (default: ``{min, max/4, max/2, max}``).
        lower / upper: per-domain weight bounds (dict domain -> bound, or sequence).
        tokens: per-domain token counts available (for ``proportional`` and the repetition cap).
        max_epochs: repetition cap: domain i may get at most ``max_epochs * tokens_i`` tokens.
        tokens_per_step: training tokens per step (batch x context), for the cap and FLOPs.
        grid: the fidelities the backend answers (:class:`~bomix.fidelity.FidelityGrid`); when set,
            ``fidelity_grid()`` is its points (not ``scales x step_grid``) and ``check_fidelity`` refuses
            every other fidelity (replay simulators: only logged fidelities are honest).
    """

    domains: tuple[str, ...]
    scales: tuple[Scale, ...]
    min_steps: int
    max_steps: int
    target: Fidelity | None = None
    step_grid: tuple[int, ...] | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    tokens: np.ndarray | None = None
    max_epochs: float | None = None
    tokens_per_step: float | None = None
    grid: FidelityGrid | None = None
    _scale_by_name: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.domains = tuple(str(d) for d in self.domains)
        if len(self.domains) < 2:
            raise BomixError(f"a space needs >= 2 domains, got {list(self.domains)}")
        if len(set(self.domains)) != len(self.domains):
            raise BomixError(f"duplicate domain names in {list(self.domains)}")
        if any(not d.strip() for d in self.domains):
            raise BomixError(f"an empty domain name in {list(self.domains)}: name every domain")
        scales = [s if isinstance(s, Scale) else Scale(**s) for s in self.scales]
        if not scales:
            raise BomixError("a space needs at least one model scale")
        self.scales = tuple(sorted(scales, key=lambda s: s.params))
        self._scale_by_name = {s.name: s for s in self.scales}
        if len(self._scale_by_name) != len(self.scales):
            raise BomixError("duplicate scale names in the ladder")
        if any(s.params <= 0 for s in self.scales):
            raise BomixError("every scale needs params > 0")
        self.min_steps, self.max_steps = int(self.min_steps), int(self.max_steps)
        if not 0 < self.min_steps <= self.max_steps:
            raise BomixError(f"need 0 < min_steps <= max_steps, got {self.min_steps}, {self.max_steps}")
        if self.target is None:
            self.target = Fidelity(self.scales[-1].name, self.max_steps)
        elif not isinstance(self.target, Fidelity):
            self.target = Fidelity(str(self.target[0]), int(self.target[1]))
        if self.grid is not None and not isinstance(self.grid, FidelityGrid):
            self.grid = FidelityGrid.from_dict(self.grid)
        if self.grid is not None:
            for s, t in self.grid.points:
                self._check_range(Fidelity(s, t))
            if (self.target.scale, self.target.steps) not in self.grid.points:
                raise BomixError(f"the target {self.target} is not a point of the "
                                 f"fidelity grid {self.grid.explain()}")
        self.check_fidelity(self.target)
        if self.step_grid is None and self.grid is not None:
            self.step_grid = tuple(sorted({t for _, t in self.grid.points}))
        elif self.step_grid is None:
            grid = {self.min_steps, self.max_steps, self.max_steps // 2, self.max_steps // 4}
            self.step_grid = tuple(sorted(g for g in grid if self.min_steps <= g <= self.max_steps))
        else:
            self.step_grid = tuple(sorted({int(g) for g in self.step_grid}))
            for g in self.step_grid:
                self._check_range(Fidelity(self.target.scale, g))
        k = len(self.domains)
        self.lower = self._vector(self.lower, 0.0, "lower")
        self.upper = self._vector(self.upper, 1.0, "upper")
        if np.any(self.lower > self.upper):
            raise BomixError("a lower weight bound exceeds its upper bound: fix problem.lower/upper")
        if self.lower.sum() > 1 + SIMPLEX_TOL or self.upper.sum() < 1 - SIMPLEX_TOL:
            raise BomixError(
                f"weight bounds leave no mixture (sum lower={self.lower.sum():.3g}, "
                f"sum upper={self.upper.sum():.3g}): need sum(lower) <= 1 <= sum(upper)"
            )
        if self.tokens is not None:
            self.tokens = self._vector(self.tokens, None, "tokens")
            if np.any(self.tokens <= 0):
                raise BomixError("every domain needs a positive token count")
        assert self.lower.shape == (k,)

    def _vector(self, value, default, what: str) -> np.ndarray:
        k = len(self.domains)
        if value is None:
            return np.full(k, default, dtype=float)
        if isinstance(value, Mapping):
            unknown = set(value) - set(self.domains)
            if unknown:
                raise BomixError(f"unknown domain(s) {sorted(unknown)} in {what}; known: {list(self.domains)}")
            if default is None and set(value) != set(self.domains):
                raise BomixError(f"{what} needs a value for every domain {list(self.domains)}")
            return np.array([float(value.get(d, default)) for d in self.domains])
        arr = np.asarray(value, dtype=float).reshape(-1)
        if arr.size != k:
            raise BomixError(f"{what} has {arr.size} values but the space has {k} domains")
        return arr

    # ----- basic accessors -------------------------------------------------------------------
    @property
    def k(self) -> int:
        return len(self.domains)

    @property
    def dim(self) -> int:
        """GP input dimension ``K + 2``."""
        return self.k + 2

    def scale(self, name: str) -> Scale:
        try:
            return self._scale_by_name[name]
        except KeyError:
            raise BomixError(
                f"unknown scale {name!r}: the ladder has {[s.name for s in self.scales]}"
            ) from None

    @property
    def scale_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.scales)

    def _check_range(self, fid: Fidelity) -> Fidelity:
        self.scale(fid.scale)
        if not self.min_steps <= fid.steps <= self.max_steps:
            raise BomixError(
                f"steps={fid.steps} outside the ladder's range [{self.min_steps}, {self.max_steps}]"
            )
        return fid

    def check_fidelity(self, fid: Fidelity) -> Fidelity:
        """``fid`` if the backend answers it (known scale, step range, and the grid when there is one)."""
        self._check_range(fid)
        if self.grid is not None:
            self.grid.check(fid.scale, fid.steps)
        return fid

    def allows(self, fid: Fidelity) -> bool:
        """True when :meth:`check_fidelity` would accept ``fid``."""
        try:
            self.check_fidelity(fid)
        except BomixError:
            return False
        return True

    def fidelity_grid(self) -> list[Fidelity]:
        """Every (scale, step) pair of the discrete grid policies choose from (the honest grid when set)."""
        if self.grid is not None:
            order = {s.name: i for i, s in enumerate(self.scales)}
            return [Fidelity(s, t) for s, t in sorted(self.grid.points, key=lambda p: (order[p[0]], p[1]))]
        return [Fidelity(s.name, t) for s in self.scales for t in self.step_grid]

    # ----- mixtures --------------------------------------------------------------------------
    def mixture(self, value: Mixture | Mapping[str, float] | Sequence[float]) -> Mixture:
        """Build a named, validated mixture from a dict (domain -> weight), a list or a Mixture."""
        if isinstance(value, Mixture):
            if value.domains is not None and tuple(value.domains) != self.domains:
                raise BomixError(f"mixture domains {value.domains} differ from the space's {self.domains}")
            return Mixture(value.weights, self.domains)
        if isinstance(value, Mapping):
            unknown = set(value) - set(self.domains)
            if unknown:
                raise BomixError(f"unknown domain(s) {sorted(unknown)}; known: {list(self.domains)}")
            return Mixture([float(value.get(d, 0.0)) for d in self.domains], self.domains)
        w = np.asarray(value, dtype=float).reshape(-1)
        if w.size != self.k:
            raise BomixError(f"mixture has {w.size} weights but the space has {self.k} domains")
        return Mixture(w, self.domains)

    def upper_at(self, fid: Fidelity | None = None) -> np.ndarray:
        """``(K,)`` upper bounds including the repetition cap of a run at ``fid``."""
        up = self.upper.copy()
        if fid is not None and self.max_epochs and self.tokens is not None and self.tokens_per_step:
            run_tokens = fid.steps * self.tokens_per_step
            up = np.minimum(up, self.max_epochs * self.tokens / run_tokens)
        return up

    def feasible(self, w: np.ndarray, fid: Fidelity | None = None, tol: float = 1e-6) -> np.ndarray:
        """``(n, K) -> (n,)`` bool: inside bounds (and the repetition cap at ``fid``)."""
        w = np.atleast_2d(w)
        up = self.upper_at(fid)
        return (
            np.all(w >= self.lower - tol, axis=-1)
            & np.all(w <= up + tol, axis=-1)
            & (np.abs(w.sum(-1) - 1) < 1e-5)
        )

    def check_mixture(self, m: Mixture, fid: Fidelity | None = None) -> None:
        if not self.feasible(m.weights, fid)[0]:
            raise BomixError(
                f"{m} violates the space's bounds lower={self.lower.round(4).tolist()}, "
                f"upper={self.upper_at(fid).round(4).tolist()}: choose a mixture inside them"
            )

    def has_bounds(self, fid: Fidelity | None = None) -> bool:
        up = self.upper_at(fid)
        return bool(np.any(self.lower > 0) or np.any(up < 1 - (self.lower.sum() - self.lower)))

    def center(self, fid: Fidelity | None = None) -> Mixture:
        """Uniform mixture projected onto the bounds (the uniform mixture when it is feasible)."""
        return Mixture(self.project(np.full(self.k, 1.0 / self.k), fid)[0], self.domains)

    def project(self, w: np.ndarray, fid: Fidelity | None = None) -> np.ndarray:
        """Euclidean projection of ``(n, K)`` points onto {lower <= w <= upper, sum w = 1}.

        Bisection on the shift ``tau`` of ``clip(w - tau, lower, upper)``; exact to 1e-12.
        """
        lo, up = self.lower, self.upper_at(fid)
        if lo.sum() > 1 + 1e-9 or up.sum() < 1 - 1e-9:
            raise BomixError("the repetition cap leaves no feasible mixture at this fidelity")
        return _project(np.atleast_2d(np.asarray(w, dtype=float)), lo, up)

    def sample(
        self,
        n: int,
        rng: np.random.Generator,
        alpha: float | Sequence[float] = 1.0,
        fid: Fidelity | None = None,
    ) -> np.ndarray:
        """Draw ``(n, K)`` mixtures inside the bounds, never by rejection.

        Without active upper bounds: ``lower + (1 - sum lower) * Dirichlet(alpha)`` (exact).
        With upper bounds: hit-and-run on the bounded simplex polytope, started from the projected
        centre and thinned (uniform in the limit; ``alpha`` is then ignored).
        """
        alpha_v = np.broadcast_to(np.asarray(alpha, dtype=float), (self.k,))
        lo, up = self.lower, self.upper_at(fid)
        free = 1.0 - lo.sum()
        if np.all(up >= lo + free - 1e-12):
            return lo + free * rng.dirichlet(alpha_v, size=n)
        return self._hit_and_run(n, rng, lo, up)

    def _hit_and_run(self, n: int, rng: np.random.Generator, lo, up, thin: int = 20) -> np.ndarray:
        x = _project(np.full((1, self.k), 1.0 / self.k), lo, up)[0]
        out = np.empty((n, self.k))
        for i in range(n * thin + 50):
            d = rng.standard_normal(self.k)
            d -= d.mean()  # stay on sum = 1
            d /= np.linalg.norm(d) + 1e-300
            with np.errstate(divide="ignore", invalid="ignore"):
                t1 = (lo - x) / d
                t2 = (up - x) / d
            tmin = np.max(np.where(d != 0, np.minimum(t1, t2), -np.inf))
            tmax = np.min(np.where(d != 0, np.maximum(t1, t2), np.inf))
            x = np.clip(x + rng.uniform(tmin, tmax) * d, lo, up)
            j = i - 50
            if j >= 0 and j % thin == 0:
                out[j // thin] = x
        return out

    # ----- GP coordinates --------------------------------------------------------------------
    def scale_coord(self, scale: str) -> float:
        """``s = log(N/N_min)/log(N_target/N_min)`` (1.0 when the ladder has one rung)."""
        n = self.scale(scale).params
        n_min = self.scales[0].params
        n_t = self.scale(self.target.scale).params
        if n_t <= n_min:
            return 1.0
        return math.log(n / n_min) / math.log(n_t / n_min)

    def step_coord(self, steps: float) -> float:
        """``t = log(T/T_min)/log(T_target/T_min)`` (1.0 when min_steps == target steps)."""
        if self.target.steps <= self.min_steps:
            return 1.0
        return math.log(steps / self.min_steps) / math.log(self.target.steps / self.min_steps)

    def log_ratios(self) -> np.ndarray:
        """``(2,)``: ``log(N_target / N_min)`` and ``log(T_target / T_min)``, the spans of ``s`` and ``t`` (0 for an
        axis with a single rung)."""
        n_min, n_t = self.scales[0].params, self.scale(self.target.scale).params
        return np.log([max(n_t / n_min, 1.0), max(self.target.steps / self.min_steps, 1.0)])

    def fidelity_coords(self, fids: Sequence[Fidelity]) -> np.ndarray:
        """``(m, 2)`` GP coordinates ``[s, t]`` of each fidelity: the one place fixed-fidelity columns are
        built (``bomix.acquisition.fixed`` appends them to mixtures; snapping to a grid compares them)."""
        return np.array([[self.scale_coord(f.scale), self.step_coord(f.steps)] for f in fids], dtype=float)

    def encode(self, w: np.ndarray, scale: str | Iterable[str], steps) -> np.ndarray:
        """Mixtures ``(n, K)`` (or ``(K,)``) + fidelities -> GP inputs ``(n, K + 2)``."""
        w = np.atleast_2d(np.asarray(w, dtype=float))
        n = w.shape[0]
        scales = [scale] * n if isinstance(scale, str) else list(scale)
        steps_arr = np.broadcast_to(np.asarray(steps, dtype=float), (n,))
        s = np.array([self.scale_coord(sc) for sc in scales])
        t = np.array([self.step_coord(x) for x in steps_arr])
        return np.column_stack([w, s, t])

    def decode(self, x: np.ndarray) -> list[tuple[Mixture, Fidelity]]:
        """GP inputs ``(n, K + 2)`` -> (mixture, fidelity) snapped to the ladder and step range (and to an
        answered fidelity when the space has a grid)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        s_coords = np.array([self.scale_coord(s.name) for s in self.scales])
        out = []
        for row in x:
            w = self.project(np.clip(row[: self.k], 0, None))[0]
            scale = self.scales[int(np.argmin(np.abs(s_coords - row[self.k])))].name
            if self.target.steps <= self.min_steps:
                steps = self.target.steps
            else:
                steps = self.min_steps * (self.target.steps / self.min_steps) ** row[self.k + 1]
            steps = int(np.clip(round(steps), self.min_steps, self.max_steps))
            if self.grid is not None and not self.grid.allows(scale, steps):
                near = self.grid.nearest_steps(scale, steps)
                if near is None:  # no answered step at this scale: the nearest grid point in (s, t)
                    pts = self.fidelity_grid()
                    c = self.fidelity_coords(pts)
                    f = pts[int(np.argmin(np.abs(c - row[self.k:self.k + 2]).sum(1)))]
                    scale, near = f.scale, f.steps
                steps = near
            out.append((Mixture(w, self.domains), Fidelity(scale, steps)))
        return out

    def describe(self) -> dict:
        """JSON-friendly description (stored with every campaign)."""
        return {
            "domains": list(self.domains),
            "scales": [{"name": s.name, "params": s.params} for s in self.scales],
            "min_steps": self.min_steps,
            "max_steps": self.max_steps,
            "target": {"scale": self.target.scale, "steps": self.target.steps},
            "step_grid": list(self.step_grid),
            "lower": self.lower.tolist(),
            "upper": self.upper.tolist(),
            "tokens": None if self.tokens is None else self.tokens.tolist(),
            "max_epochs": self.max_epochs,
            "tokens_per_step": self.tokens_per_step,
            **({"grid": self.grid.to_dict()} if self.grid is not None else {}),
        }

    def with_constraints(
        self,
        lower=None,
        upper=None,
        max_epochs: float | None = None,
        tokens=None,
        target: Fidelity | None = None,
        step_grid: Sequence[int] | None = None,
    ) -> "Space":
        """A copy with problem-level constraints applied (None keeps the current value)."""
        return Space(
            domains=self.domains,
            scales=self.scales,
            min_steps=self.min_steps,
            max_steps=self.max_steps,
            target=target or self.target,
            step_grid=tuple(step_grid) if step_grid else self.step_grid,
            lower=self.lower if lower is None else lower,
            upper=self.upper if upper is None else upper,
            tokens=self.tokens if tokens is None else tokens,
            max_epochs=self.max_epochs if max_epochs is None else max_epochs,
            tokens_per_step=self.tokens_per_step,
            grid=self.grid,
        )


def _project(w: np.ndarray, lo: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Euclidean projection of ``(n, K)`` rows onto {lo <= w <= up, sum w = 1} (bisection on the shift)."""
    a = (w - up).min(axis=1) - 1.0
    b = (w - lo).max(axis=1) + 1.0
    for _ in range(100):
        mid = 0.5 * (a + b)
        big = np.clip(w - mid[:, None], lo, up).sum(axis=1) > 1
        a = np.where(big, mid, a)
        b = np.where(big, b, mid)
    return np.clip(w - 0.5 * (a + b)[:, None], lo, up)
