"""The sweeper's config (``hydra/sweeper=bomix``), registered in Hydra's ConfigStore on import."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class OverrideKeys:
    """Where each part of a bomix run goes in *your* config (None = not passed).

    ``mixture`` is a key pattern with ``{domain}`` (one override per domain, e.g. ``data.weights.{domain}``);
    with ``problem`` phases it must also contain ``{phase}`` (e.g. ``data.phases.{phase}.weights.{domain}``) and
    ``phase_start`` (a pattern with ``{phase}``) receives each phase's first step; the others are plain keys
    (``resume_from`` / ``resume_step``: the run whose checkpoint at that step to start from, with ``continuation``). A key naming a config group of your app (``model``, ``model/backbone``: Hydra
    lists options for it) gets a group override ``model=base`` (``+model=base`` when the group is not in your
    defaults list), its values checked against the group's options; any other key gets ``++key=value``
    (added when your config lacks the key).
    """

    mixture: str = "data.weights.{domain}"
    scale: Optional[str] = "model.size"
    params: Optional[str] = None
    steps: Optional[str] = "trainer.max_steps"
    seed: Optional[str] = None
    run_id: Optional[str] = None
    resume_from: Optional[str] = None
    resume_step: Optional[str] = None
    phase_start: Optional[str] = None


@dataclass
class BomixSweeperConf:
    """Study settings (see :class:`bomix.study.config.StudyConfig`) plus how jobs are batched.

    Attributes:
        study_dir: the study directory (default: the sweep directory; use a stable one to resume).
        domains / ladder / steps / objective / policy / seed / continuation / constraints / phases / objectives /
            preference: the study (outcome constraints: see :mod:`bomix.constraints`, the task then returns a dict
            with their metrics too; phases: a schedule of mixtures per run, see :mod:`bomix.phases`; objectives and
            preference: a trade-off, see :mod:`bomix.tradeoff`, the study reports its Pareto set and ``pareto.png``).
        budget: compute budget in target-run equivalents.
        batch_size: jobs handed to the launcher at once (the policy sees the others as pending).
        metric: when the task returns a dict, the key (or keys, for a multi-metric objective) to read;
            a returned float is the objective's metric.
        keys: where the trial's mixture and fidelity go in your config.
    """

    _target_: str = "hydra_plugins.bomix_sweeper.bomix_sweeper.BomixSweeper"
    study_dir: Optional[str] = "${hydra.sweep.dir}"
    domains: List[str] = field(default_factory=list)
    ladder: Dict[str, float] = field(default_factory=dict)
    steps: List[int] = field(default_factory=list)
    objective: Any = None
    policy: Any = "mfbo"
    budget: float = 1.0
    seed: int = 0
    continuation: bool = False
    batch_size: int = 1
    keys: OverrideKeys = field(default_factory=OverrideKeys)
    constraints: Any = None
    phases: Any = None
    objectives: Any = None
    preference: Any = None


ConfigStore.instance().store(group="hydra/sweeper", name="bomix", node=BomixSweeperConf, provider="bomix_sweeper")
