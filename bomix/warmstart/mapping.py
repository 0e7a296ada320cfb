"""A declared domain mapping from an earlier campaign's domain list to the new one, as a linear map.

Old mixtures ``w_old (K_old,)`` become new ones ``w_new = M @ w_old`` with ``M`` ``(K_new, K_old)``:

- kept (same name in both lists) or ``rename: {old: new}``: the old weight moves to the new column;
- ``split: {old: {part: share, ...}}``: the old weight is spread over the parts by their token shares
  (non-negative, summing to 1);
- ``merge: {new: [old, ...]}``: the old weights add up in the new column;
- ``add: [new, ...]``: new domains no old run trained on (weight 0 in every old run);
- ``remove: [old, ...]``: old domains with no place in the new list (their column of ``M`` is zero); an old
  run with weight on them is kept renormalised as a separate task (``removed: keep``) or dropped
  (``removed: drop``), see :mod:`bomix.warmstart.reuse`.

Every old domain must be placed (kept, renamed, split, merged or removed) and every new domain must receive
weight or be added: a mapping that forgets one is refused, as is one that names an unknown domain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bomix.errors import BomixError

#: tolerance of a split's share sum
SHARE_TOL = 1e-6
#: what happens to an old run with weight on a removed domain
REMOVED = ("keep", "drop")
KEYS = ("dirs", "rename", "split", "merge", "add", "remove", "removed", "removed_max")


@dataclass(frozen=True)
class WarmStartConfig:
    """Earlier campaign stores to reuse and how their domains map onto this campaign's.

    Attributes:
        dirs: campaign (or study) directories whose ``store.sqlite`` is read, read-only.
        rename: old name -> new name.
        split: old name -> {new part: token share} (shares >= 0 summing to 1).
        merge: new name -> [old names].
        add: new domains absent from the old runs (weight 0 there).
        remove: old domains absent from the new list.
        removed: ``keep`` (old runs with weight on a removed domain form a separate task, renormalised over the
            kept domains) or ``drop`` (such runs are not reused).
        removed_max: with ``keep``: runs with more than this fraction of their weight on removed domains are
            dropped all the same (they say little about the new space).
    """

    dirs: tuple[str, ...] = ()
    rename: Mapping[str, str] = field(default_factory=dict)
    split: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    merge: Mapping[str, Sequence[str]] = field(default_factory=dict)
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    removed: str = "keep"
    removed_max: float = 0.5

    @classmethod
    def parse(cls, value) -> "WarmStartConfig | None":
        """From the ``warm_start`` option: None / empty (off), a directory or a list of them (same domains), or a
        mapping of :data:`KEYS`. Raises a one-line :class:`BomixError` on a malformed value."""
        if value is None or value is False or (isinstance(value, (list, tuple, str)) and not value):
            return None
        if isinstance(value, WarmStartConfig):
            return value
        if isinstance(value, str):
            value = {"dirs": [value]}
        elif isinstance(value, (list, tuple)):
            value = {"dirs": list(value)}
        if not isinstance(value, Mapping):
            raise BomixError(f"warm_start must be a directory, a list of directories or a mapping with keys "
                             f"{', '.join(KEYS)}; got {type(value).__name__}")
        bad = [str(k) for k in value if k not in KEYS]
        if bad:
            raise BomixError(f"warm_start: unknown key(s) {', '.join(bad)}: valid keys are {', '.join(KEYS)}")
        dirs = value.get("dirs") or []
        dirs = [dirs] if isinstance(dirs, str) else dirs
        if not isinstance(dirs, (list, tuple)) or not dirs or not all(isinstance(d, str) and d for d in dirs):
            raise BomixError("warm_start.dirs must list the earlier campaign directories to reuse, e.g. "
                             "warm_start.dirs=[runs/old]")
        removed = value.get("removed", "keep")
        if removed not in REMOVED:
            raise BomixError(f"warm_start.removed must be one of {', '.join(REMOVED)}, got {removed!r}")
        try:
            removed_max = float(value.get("removed_max", 0.5))
        except (TypeError, ValueError):
            removed_max = float("nan")
        if not 0.0 <= removed_max < 1.0:
            raise BomixError(f"warm_start.removed_max must be in [0, 1), got {value.get('removed_max')!r}")
        return cls(dirs=tuple(dirs), rename=_str_map(value.get("rename"), "rename"),
                   split=_split_map(value.get("split")), merge=_merge_map(value.get("merge")),
                   add=_names(value.get("add"), "add"), remove=_names(value.get("remove"), "remove"),
                   removed=removed, removed_max=removed_max)

    def to_dict(self) -> dict:
        """Plain data (recorded in the campaign's config)."""
        return {"dirs": list(self.dirs), "rename": dict(self.rename),
                "split": {k: dict(v) for k, v in self.split.items()},
                "merge": {k: list(v) for k, v in self.merge.items()}, "add": list(self.add),
                "remove": list(self.remove), "removed": self.removed, "removed_max": self.removed_max}

    def matrix(self, old: Sequence[str], new: Sequence[str], where: str = "") -> tuple[np.ndarray, np.ndarray]:
        """``(M (K_new, K_old), removed (K_old,) bool)``: the linear map of mixtures and the removed old domains.

        Raises:
            BomixError: one line: an unknown domain, shares that do not sum to 1, a domain mapped twice, an old
                domain with no place, or a new domain that receives nothing and is not added.
        """
        old, new = list(old), list(new)
        at = f" ({where})" if where else ""
        oi, ni = {d: i for i, d in enumerate(old)}, {d: i for i, d in enumerate(new)}
        M = np.zeros((len(new), len(old)))
        placed: dict[str, str] = {}

        def place(o: str, how: str) -> None:
            if o not in oi:
                raise BomixError(f"warm_start.{how}: unknown old domain {o!r}{at}: the old domains are {old}")
            if o in placed:
                raise BomixError(f"warm_start: old domain {o!r} is mapped twice ({placed[o]} and {how}): "
                                 "give each old domain one rule")
            placed[o] = how

        def target(n: str, how: str) -> int:
            if n not in ni:
                raise BomixError(f"warm_start.{how}: unknown new domain {n!r}: the new domains are {new}")
            return ni[n]

        for o, n in self.rename.items():
            place(o, "rename")
            M[target(n, "rename"), oi[o]] += 1.0
        for o, parts in self.split.items():
            place(o, "split")
            total = sum(parts.values())
            if abs(total - 1.0) > SHARE_TOL:
                raise BomixError(f"warm_start.split.{o}: the shares sum to {total:.6g}, not 1: give each part its "
                                 "share of the old domain's tokens")
            for n, share in parts.items():
                M[target(n, f"split.{o}"), oi[o]] += share
        for n, olds in self.merge.items():
            j = target(n, "merge")
            for o in olds:
                place(o, "merge")
                M[j, oi[o]] += 1.0
        removed = np.zeros(len(old), dtype=bool)
        for o in self.remove:
            place(o, "remove")
            removed[oi[o]] = True
        for o in old:
            if o not in placed:
                if o not in ni:
                    raise BomixError(f"warm_start: old domain {o!r}{at} is not in the new domain list {new}: map it "
                                     "(warm_start.rename / split / merge) or list it in warm_start.remove")
                M[ni[o], oi[o]] += 1.0
        for n in self.add:
            if M[target(n, "add")].any():
                raise BomixError(f"warm_start.add: new domain {n!r} also receives old weight: remove it from add")
        for n in new:
            if not M[ni[n]].any() and n not in self.add:
                raise BomixError(f"warm_start: new domain {n!r} receives no old domain's weight{at}: list it in "
                                 "warm_start.add (weight 0 in the old runs) or map an old domain onto it")
        return M, removed


def _names(v, key: str) -> tuple[str, ...]:
    if v is None:
        return ()
    v = [v] if isinstance(v, str) else v
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
        raise BomixError(f"warm_start.{key} must be a list of domain names, got {v!r}")
    return tuple(v)


def _str_map(v, key: str) -> dict[str, str]:
    if v is None:
        return {}
    if not isinstance(v, Mapping) or not all(isinstance(a, str) and isinstance(b, str) for a, b in v.items()):
        raise BomixError(f"warm_start.{key} must map old domain names to new ones, e.g. {{web: web_v2}}")
    return dict(v)


def _split_map(v) -> dict[str, dict[str, float]]:
    if v is None:
        return {}
    if not isinstance(v, Mapping):
        raise BomixError("warm_start.split must map an old domain to {part: share}, e.g. {code: {py: 0.6, js: 0.4}}")
    out: dict[str, dict[str, float]] = {}
    for o, parts in v.items():
        if not isinstance(parts, Mapping) or len(parts) < 2:
            raise BomixError(f"warm_start.split.{o} must map two or more new parts to their token shares, "
                             "e.g. {py: 0.6, js: 0.4}")
        shares = {}
        for n, s in parts.items():
            try:
                x = float(s)
            except (TypeError, ValueError):
                x = float("nan")
            if not np.isfinite(x) or x < 0:
                raise BomixError(f"warm_start.split.{o}.{n}: a share must be a number >= 0, got {s!r}")
            shares[str(n)] = x
        out[str(o)] = shares
    return out


def _merge_map(v) -> dict[str, list[str]]:
    if v is None:
        return {}
    if not isinstance(v, Mapping) or not all(
            isinstance(olds, (list, tuple)) and len(olds) >= 2 and all(isinstance(o, str) for o in olds)
            for olds in v.values()):
        raise BomixError("warm_start.merge must map a new domain to two or more old ones, e.g. {web: [cc, c4]}")
    return {str(n): list(olds) for n, olds in v.items()}
