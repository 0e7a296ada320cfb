"""Earlier stores read into a new campaign: their ok runs' checkpoints, mapped into the new domain order.

Design: the old stores are re-read (read-only, :class:`bomix.store.StoreReader`) every time a campaign starts or
resumes; nothing is copied into the new store. The new store holds only the runs this campaign ran and charged,
so budget accounting, resume checks and ``bomix bench`` are unchanged, a kill/resume can neither duplicate nor
charge a reused run, and the reuse (config and counts) is recorded in the new store's config and meta. Nothing in an
old store is executed: specs and curves are read through the store's checked readers.

Each reused checkpoint keeps its old run's (scale, step) when the new ladder has that scale name and the step is
within the new step range; otherwise it is dropped and counted. The objective is the new campaign's, evaluated on
the old curves (an old store without its metrics is refused in one line).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bomix.errors import BomixError
from bomix.layout import STORE_FILE, CampaignLayout
from bomix.history import Observations
from bomix.objective import Objective
from bomix.space import Space
from bomix.warmstart.mapping import WarmStartConfig

log = logging.getLogger("bomix.warmstart")
#: weight below this on removed domains counts as none
REMOVED_TOL = 1e-9
#: task ids of reused observations: mapped exactly, or renormalised after dropping removed domains' weight
TASK_MAPPED, TASK_REMOVED = 1, 2
TASK_NAMES = {TASK_MAPPED: "mapped", TASK_REMOVED: "removed-renormalised"}


@dataclass
class Reused:
    """Old runs' observations in the new space.

    Attributes:
        obs: every reused checkpoint (``w`` in the new domain order; run ids prefixed by their store's index).
        task: ``(n,)`` :data:`TASK_MAPPED` or :data:`TASK_REMOVED` per observation.
        n_runs: reused runs per directory.
        dropped: reason -> runs not reused.
        n_checkpoints_dropped: checkpoints of reused runs outside the new step range.
        fingerprint: a hash of the reused data (a resume says when the old stores changed).
    """

    obs: Observations
    task: np.ndarray
    n_runs: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    n_checkpoints_dropped: int = 0
    fingerprint: str = ""

    @property
    def n_reused(self) -> int:
        return int(sum(self.n_runs.values()))

    def tasks(self) -> dict[str, int]:
        """Task name -> reused runs in it."""
        out: Counter = Counter()
        for t in (TASK_MAPPED, TASK_REMOVED):
            ids = set(self.obs.run_ids[self.task == t])
            if ids:
                out[TASK_NAMES[t]] = len(ids)
        return dict(out)

    def report(self) -> dict:
        """What ``summary.json`` says under ``warm_start``."""
        return {"n_reused": self.n_reused, "runs_per_dir": dict(self.n_runs), "tasks": self.tasks(),
                "dropped": dict(self.dropped), "n_checkpoints_dropped": int(self.n_checkpoints_dropped),
                "n_observations": len(self.obs), "how": "another task of the GP (a prior mean with a learned "
                "coefficient per task); never charged", "fingerprint": self.fingerprint}


def load_reused(cfg: WarmStartConfig, space: Space, objective: Objective) -> Reused:
    """Read ``cfg.dirs``' stores and map their ok runs into ``space`` (see the module docstring).

    Raises:
        BomixError: one line: a directory without a store, a store without a domain list, a wrong mapping
            (:meth:`WarmStartConfig.matrix`), or an objective the old runs lack metrics for.
    """
    from bomix.store import StoreReader

    cols: dict[str, list] = {k: [] for k in ("w", "scales", "steps", "y", "run_ids", "final", "task")}
    n_runs: dict[str, int] = {}
    dropped: Counter = Counter()
    n_ck_dropped = 0
    scales = set(space.scale_names)
    for si, d in enumerate(cfg.dirs):
        if not CampaignLayout(Path(d)).store.is_file():
            raise BomixError(f"warm_start: no campaign store in {d} (no {STORE_FILE}): give the directory of an "
                             "earlier campaign or study")
        reader = StoreReader(d)
        try:
            old = reader.get_meta("domains")
            if not isinstance(old, list) or not old or not all(isinstance(x, str) for x in old):
                raise BomixError(f"warm_start: the store in {d} records no domain list: it cannot be mapped")
            M, removed = cfg.matrix(old, space.domains, where=d)
            results, _, _ = reader.load(old)
        finally:
            reader.close()
        n_runs[d] = 0
        for r in results:
            if not r.ok:
                dropped["not ok"] += 1
                continue
            if r.spec.scale not in scales:
                dropped[f"scale {r.spec.scale} not in the new ladder"] += 1
                continue
            missing = [m for m, _ in objective.weights if m not in r.curve.metrics]
            if missing:
                raise BomixError(f"warm_start: run {r.spec.run_id} in {d} has no metric {missing[0]} that the "
                                 f"objective {objective.name} needs: reuse stores with the same metrics")
            w_old = np.asarray(r.spec.mixture.weights, dtype=float)
            gone = float(w_old[removed].sum())
            task = TASK_MAPPED
            if gone > REMOVED_TOL:
                if cfg.removed == "drop":
                    dropped["weight on a removed domain (removed: drop)"] += 1
                    continue
                if gone > cfg.removed_max:
                    dropped[f"over {cfg.removed_max:g} of its weight on removed domains"] += 1
                    continue
                task = TASK_REMOVED
            w = M @ w_old
            w = w / w.sum()
            y = objective.on_curve(r.curve)
            steps = r.curve.steps
            ok = np.isfinite(y)
            inside = ok & (steps <= space.max_steps)
            n_ck_dropped += int((ok & ~inside).sum())
            idx = np.nonzero(inside)[0]
            if idx.size == 0:
                dropped["no checkpoint within the new step range"] += 1
                continue
            n_runs[d] += 1
            for i in idx:
                cols["w"].append(w)
                cols["scales"].append(r.spec.scale)
                cols["steps"].append(int(steps[i]))
                cols["y"].append(float(y[i]))
                cols["run_ids"].append(f"ws{si}:{r.spec.run_id}")
                cols["final"].append(bool(i == idx[-1]))
                cols["task"].append(task)
    obs = Observations(w=np.array(cols["w"], dtype=float).reshape(-1, space.k),
                       scales=np.array(cols["scales"], dtype=object),
                       steps=np.array(cols["steps"], dtype=np.int64), y=np.array(cols["y"], dtype=float),
                       run_ids=np.array(cols["run_ids"], dtype=object), final=np.array(cols["final"], dtype=bool))
    h = hashlib.sha256()
    for a in (obs.w, obs.steps, obs.y):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update("|".join(map(str, obs.scales)).encode())
    reused = Reused(obs, np.array(cols["task"], dtype=np.int64), n_runs, dict(dropped), n_ck_dropped,
                    h.hexdigest()[:16])
    log.info("warm start: reused %d runs (%d observations) from %s; dropped %s", reused.n_reused, len(obs),
             ", ".join(cfg.dirs), dict(dropped) or "none")
    return reused
