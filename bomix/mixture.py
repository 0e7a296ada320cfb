"""A mixture: ``K`` non-negative weights summing to 1, in the order of ``Space.domains`` (README "Coordinates").

:class:`Mixture` is validated once, on construction; :class:`~bomix.space.Space` builds named ones
(``Space.mixture``) and keeps them inside its bounds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bomix.errors import BomixError

SIMPLEX_TOL = 1e-6


class Mixture:
    """A validated point of the simplex (K non-negative weights summing to 1).

    Validated once on construction (tolerance 1e-6, then renormalised); nothing else re-checks.

    Args:
        weights: ``(K,)`` weights.
        domains: optional domain names, same order as ``weights``.
        renormalize: False keeps the weights bit for bit (still validated: >= 0, sum within 1e-6 of 1),
            for weights read back from a store, so a resumed run trains on exactly the stored floats.
    """

    __slots__ = ("_w", "domains")

    def __init__(self, weights: Sequence[float] | np.ndarray, domains: Sequence[str] | None = None, *,
                 renormalize: bool = True):
        w = np.array(weights, dtype=float).reshape(-1)
        if w.size == 0:
            raise BomixError("a mixture needs at least one weight")
        if not np.all(np.isfinite(w)):
            raise BomixError(f"mixture has non-finite weights {w.tolist()}: give finite numbers")
        if np.any(w < (-SIMPLEX_TOL if renormalize else 0.0)):
            raise BomixError(f"mixture has negative weights {w.round(6).tolist()}: weights must be >= 0")
        total = float(w.sum())
        if abs(total - 1.0) > SIMPLEX_TOL:
            raise BomixError(
                f"mixture weights sum to {total:.6g}, not 1: give weights on the simplex (sum = 1)"
            )
        if renormalize:
            w = np.clip(w, 0.0, None)
            if float(w.sum()) != 1.0:
                w = w / w.sum()
        w.setflags(write=False)
        self._w = w
        if domains is not None:
            domains = tuple(domains)
            if len(domains) != w.size:
                raise BomixError(f"mixture has {w.size} weights but {len(domains)} domain names")
        self.domains = domains

    @property
    def weights(self) -> np.ndarray:
        """``(K,)`` read-only weights."""
        return self._w

    def __len__(self) -> int:
        return int(self._w.size)

    def __iter__(self):
        return iter(self._w.tolist())

    def __getitem__(self, i: int) -> float:
        return float(self._w[i])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mixture) and np.array_equal(self._w, other._w)

    def __hash__(self) -> int:
        return hash(self._w.tobytes())

    def __repr__(self) -> str:
        if self.domains:
            inner = ", ".join(f"{d}={x:.4f}" for d, x in zip(self.domains, self._w))
        else:
            inner = ", ".join(f"{x:.4f}" for x in self._w)
        return f"Mixture({inner})"

    def to_list(self) -> list[float]:
        return [float(x) for x in self._w]

    def to_dict(self) -> dict[str, float]:
        """Domain -> weight (needs domain names)."""
        if self.domains is None:
            raise BomixError("this mixture has no domain names; build it with Space.mixture(...)")
        return {d: float(x) for d, x in zip(self.domains, self._w)}

    @classmethod
    def uniform(cls, domains: Sequence[str]) -> "Mixture":
        k = len(domains)
        return cls(np.full(k, 1.0 / k), domains)
