"""Find and load campaign directories into one table of recommendations (:func:`load_campaigns`).

A *campaign directory* holds ``summary.json`` (written when the campaign stops) and
``store.sqlite`` (bomix's store, read here read-only with sqlite3 + pandas).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bomix.errors import BomixError
from bomix.layout import STORE_FILE, SUMMARY_FILE, CampaignLayout

GROUP = ["backend", "objective", "policy"]
PROBLEM = ["backend", "objective"]
#: longest config suffix of a policy label
MAX_LABEL = 60

#: columns of :func:`load_campaigns`
COLUMNS = ["campaign", "backend", "objective", "policy", "seed", "budget", "final_cost", "final_regret",
           "stop_reason", "rec", "n_finished", "cost", "regret", "true_value", "extrapolated", "feasible", "hv_regret"]


# ----- discovery and loading ----------------------------------------------------------------------
def find_campaigns(paths: Iterable[str | Path]) -> tuple[list[Path], list[dict]]:
    """Campaign directories under ``paths`` (each a campaign directory or a parent searched recursively).

    Args:
        paths: directories (or a campaign's ``summary.json`` / ``store.sqlite`` file).

    Returns:
        ``(campaigns, skipped)``: finished campaign directories (sorted, no duplicates) and
        ``{"campaign", "reason"}`` entries for directories with a store but no ``summary.json``
        (an interrupted campaign: re-run its command to finish it).

    Raises:
        BomixError: a path does not exist.
    """
    found: set[Path] = set()
    skipped: dict[Path, str] = {}
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise BomixError(f"{p} does not exist: give campaign directories or a folder that contains them")
        if p.is_file():
            if p.name not in (SUMMARY_FILE, STORE_FILE):
                raise BomixError(f"{p} is a file: give a campaign directory (with summary.json and store.sqlite)")
            p = p.parent
        seen: set[Path] = set()  # resolved folders walked: a linked-in campaign counts once, a link cycle ends
        for root, dirs, files in os.walk(p, followlinks=True):
            real = Path(root).resolve()
            if real in seen:
                dirs[:] = []
                continue
            seen.add(real)
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            if SUMMARY_FILE in files:
                found.add(real)
            elif STORE_FILE in files:
                skipped[real] = "no summary.json (interrupted campaign: re-run it to finish)"
    return sorted(found), [{"campaign": str(k), "reason": v} for k, v in sorted(skipped.items())]


def _read_summary(d: Path) -> dict:
    try:
        s = json.loads((d / SUMMARY_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BomixError(f"cannot read {d / SUMMARY_FILE} ({exc}): delete it and re-run that campaign") from None
    if not isinstance(s, dict):
        raise BomixError(f"{d / SUMMARY_FILE} is not a JSON object: delete it and re-run that campaign")
    missing = [k for k in ("policy", "backend", "seed") if k not in s]
    if missing:
        raise BomixError(f"{d / SUMMARY_FILE} lacks {missing}: is it a bomix campaign summary?")
    return s


def _read_store(d: Path) -> tuple[pd.DataFrame, dict]:
    """The recommendations table and the recorded config (``meta.config``, ``{}`` if absent)."""
    from bomix.store import StoreReader

    if not CampaignLayout(d).store.is_file():
        raise BomixError(f"{d} has summary.json but no {STORE_FILE}: cannot build its regret curve")
    with StoreReader(d) as st:
        recs = st.recommendations()
        config = st.get_meta("config", {})
    keep = ["idx", "n_finished", "budget_used", "true_value", "regret"]
    recs = recs[keep + [c for c in ("extrapolated", "feasible") if c in recs.columns]]  # older stores: unknown
    return recs, config if isinstance(config, dict) else {}


_MISSING = "\x00missing"


def _flatten(d: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(d, dict):
        out: dict[str, str] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d if isinstance(d, str) else json.dumps(d, sort_keys=True, default=str)}


def variant_labels(configs: dict[str, dict], policy: str) -> dict[str, str]:
    """Policy labels that tell apart campaigns of one policy name run with different configs.

    Args:
        configs: campaign -> its recorded config (``seed`` and ``hydra`` are ignored).
        policy: the policy name they share.

    Returns:
        campaign -> ``policy`` when all configs agree, else ``policy[key=value,...]`` with the keys
        whose values differ (only the ``policy.*`` ones when they suffice, prefix dropped), e.g.
        ``random[scale=150M]``, cut to :data:`MAX_LABEL` characters.
    """
    flat = {c: {k: v for k, v in _flatten(cfg).items() if k.split(".")[0] not in ("seed", "hydra")}
            for c, cfg in configs.items()}
    keys = sorted({k for f in flat.values() for k in f})
    differ = [k for k in keys if len({f.get(k, _MISSING) for f in flat.values()}) > 1]
    if not differ:
        return {c: policy for c in configs}
    variants = sorted({json.dumps(f, sort_keys=True) for f in flat.values()})
    by_value = [k for k in differ if len({f[k] for f in flat.values() if k in f}) > 1]
    for chosen in ([k for k in by_value if k.startswith("policy.")], by_value, differ):
        if chosen and len({tuple(f.get(k, _MISSING) for k in chosen) for f in flat.values()}) == len(variants):
            break
    labels = {}
    for v in variants:
        f = json.loads(v)
        parts = ",".join(f"{k.removeprefix('policy.')}={f[k]}" for k in chosen if k in f)
        if len(parts) > MAX_LABEL:
            parts = parts[:MAX_LABEL - 3] + "..."
        labels[v] = f"{policy}[{parts}]" if parts else policy
    if len(set(labels.values())) < len(variants):  # cut labels collide: number them
        labels = {v: f"{lab}#{i}" for i, (v, lab) in enumerate(labels.items())}
    return {c: labels[json.dumps(f, sort_keys=True)] for c, f in flat.items()}


def _flags(recs: pd.DataFrame, column: str) -> np.ndarray:
    """A 0/1 column of the recommendations as floats, NaN where unknown (or the whole column, for an older store)."""
    if column not in recs:
        return np.full(len(recs), np.nan)
    return pd.to_numeric(recs[column], errors="coerce").astype(float).to_numpy()


def _float(x: Any) -> float:
    try:
        return float("nan") if x is None else float(x)
    except (TypeError, ValueError):
        return float("nan")


def _hv_regret(summary: dict) -> float:
    """The final hypervolume regret of a trade-off campaign (``summary["pareto"]``, :mod:`bomix.campaign.front`);
    NaN without one."""
    p = summary.get("pareto")
    return _float(p.get("hv_regret")) if isinstance(p, dict) else float("nan")


def load_campaigns(paths: Iterable[str | Path]) -> pd.DataFrame:
    """All recommendations of all finished campaigns under ``paths``, one row each.

    Args:
        paths: campaign directories or parents (e.g. a Hydra multirun folder), searched recursively.

    Returns:
        DataFrame with :data:`COLUMNS`: campaign-level fields (``campaign`` path, ``backend``,
        ``objective``, ``policy``, ``seed``, ``budget``, ``final_cost`` = ``budget_used`` of the
        summary, ``final_regret``, ``stop_reason``) repeated on each of its recommendations
        (``rec`` index, ``n_finished``, ``cost`` = cumulative ``budget_used`` when made,
        ``regret`` (NaN off simulators), ``true_value``, ``extrapolated``: 1.0 when the simulator scored
        it outside its trust region, 0.0 inside, NaN unknown). Sorted by campaign then ``rec``.
        ``policy`` is the policy name, suffixed with the config keys that differ when one
        name was run with several configs (see :func:`variant_labels`); ``policy_name`` is
        the bare name.

    Raises:
        BomixError: no campaign found, or a summary or store cannot be read.
    """
    paths = list(paths)
    dirs, skipped = find_campaigns(paths)
    if not dirs:
        extra = f" ({len(skipped)} interrupted ones without summary.json)" if skipped else ""
        raise BomixError(f"no campaign directory (with summary.json) found under {', '.join(map(str, paths))}"
                         f"{extra}: run campaigns with `bomix run` first")
    frames = []
    configs: dict[str, dict] = {}
    for d in dirs:
        s = _read_summary(d)
        recs, config = _read_store(d)
        configs[str(d)] = config
        budget = _float(s.get("budget"))
        final_cost = _float(s.get("budget_used"))
        if recs.empty:
            skipped.append({"campaign": str(d), "reason": "no recommendations in its store"})
            continue
        try:
            seed = int(s["seed"])
        except (TypeError, ValueError):
            raise BomixError(f"{d / SUMMARY_FILE} has a non-integer seed {s['seed']!r}") from None
        if not math.isfinite(budget):
            budget = float(np.nanmax([final_cost, recs["budget_used"].max()]))
        obj = s.get("objective")
        frame = pd.DataFrame({
            "campaign": str(d),
            "backend": str(s["backend"]),
            "objective": "default" if obj is None else (obj if isinstance(obj, str) else json.dumps(obj, sort_keys=True)),
            "policy": str(s["policy"]),
            "seed": seed,
            "budget": budget,
            "final_cost": final_cost if math.isfinite(final_cost) else float(recs["budget_used"].iloc[-1]),
            "final_regret": _float(s.get("regret")),
            "stop_reason": s.get("stop_reason") or s.get("status"),
            "rec": recs["idx"].astype(int).to_numpy(),
            "n_finished": recs["n_finished"].astype(int).to_numpy(),
            "cost": recs["budget_used"].astype(float).to_numpy(),
            "regret": pd.to_numeric(recs["regret"], errors="coerce").astype(float).to_numpy(),
            "true_value": pd.to_numeric(recs["true_value"], errors="coerce").astype(float).to_numpy(),
            "extrapolated": _flags(recs, "extrapolated"),
            "feasible": _flags(recs, "feasible"),  # meets the outcome constraints in the truth (NaN: none / unknown)
            "hv_regret": _hv_regret(s),  # a trade-off's final hypervolume regret (NaN: none / unknown)
        })
        frames.append(frame)
    if not frames:
        raise BomixError(f"the {len(dirs)} campaign(s) found under {', '.join(map(str, paths))} hold no "
                         "recommendations: did they run?")
    df = pd.concat(frames, ignore_index=True)
    df["policy_name"] = df["policy"]
    labels: dict[str, str] = {}
    for (_, _, policy), g in df.drop_duplicates("campaign").groupby(GROUP, sort=True):
        labels.update(variant_labels({c: configs[c] for c in g["campaign"]}, policy))
    df["policy"] = df["campaign"].map(labels)
    df = df[COLUMNS + ["policy_name"]]
    df.attrs["skipped"] = skipped
    return df
