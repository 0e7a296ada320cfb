"""Which keys of a run config define a campaign's results (checked when a campaign directory is resumed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

#: Keys (dotted prefixes) that do NOT change a campaign's results, so changing them between a run
#: and its resumption is allowed. Everything else (seed, problem, backend, policy, ...) defines the
#: campaign, and a resume with another value is refused (naming the keys) unless ``force=true``.
#:   budget              raising it extends the campaign (below what was spent is refused)
#:   max_runs, stop_regret, max_wall_time   stop conditions: where the campaign stops, not its runs
#:   batch_size          how many runs are in flight: it changes which runs are asked NEXT, never the
#:                       meaning of the ones already made (the store records every spec before it is
#:                       dispatched); with batch_size > 1 completion order is not reproducible anyway
#:   executor            where runs execute (inline, processes, Slurm, Ray)
#:   threads             torch threads of the campaign's process: like batch_size, another count changes the
#:                       rounding of later decisions (so which runs come next), never the runs already made
#:   progress, log_level, force, hydra      display and control
#:   logger              where progress is logged (TensorBoard, W&B), never what a run computes
#:   backend.delay       the synthetic backend's artificial sleep per run
#:   backend.checkpoint_dir   where trainer checkpoints live (follows the campaign directory)
OPERATIONAL_KEYS = (
    "budget", "max_runs", "stop_regret", "max_wall_time", "batch_size", "executor", "progress",
    "log_level", "force", "hydra", "backend.delay", "backend.checkpoint_dir", "logger", "threads",
)


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, Mapping) and d:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def _operational(key: str) -> bool:
    return any(key == p or key.startswith(p + ".") for p in OPERATIONAL_KEYS)


def fingerprint(cfg: DictConfig | Mapping) -> dict:
    """The part of a run config that defines a campaign's results (checked on resume).

    Leaves out :data:`OPERATIONAL_KEYS` (budget, stop conditions, batch size, executor, display, ...).
    """
    d = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    flat = {k: v for k, v in _flatten(d).items() if not _operational(k)}
    out: dict = {}
    for key, v in flat.items():
        node = out
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = v
    return out


def normalized(x: Any) -> Any:
    """``x`` with every integer number as a float (``alpha=1`` and ``alpha: 1.0`` are one config)."""
    if isinstance(x, Mapping):
        return {k: normalized(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [normalized(v) for v in x]
    if isinstance(x, int) and not isinstance(x, bool):
        return float(x)
    return x


def config_diff(old: Mapping, new: Mapping, limit: int = 6) -> str:
    """``"seed: 0 -> 7, policy.alpha: 1.0 -> 2.0"``: the result-defining keys that differ ("" when none).

    A key that one config lacks and the other sets to null is the same config (an option added to a
    component with a null default does not change a campaign made before it existed)."""
    a, b = _flatten(dict(old)), _flatten(dict(new))
    keys = sorted(k for k in set(a) | set(b)
                  if normalized(a.get(k)) != normalized(b.get(k)) and not _operational(k))
    parts = [f"{k}: {a.get(k, '<unset>')} -> {b.get(k, '<unset>')}" for k in keys[:limit]]
    if len(keys) > limit:
        parts.append(f"... {len(keys) - limit} more")
    return ", ".join(parts)
