"""Campaign runs -> the logged-run long format of the replay simulator (simulator/README.md).

One row per (run, evaluated step): ``run_id``, ``scale``, ``params``, ``step``, ``tokens``,
``w:<domain>`` per training domain, ``m:<metric>`` per metric. Only ``ok`` runs are exported; a
continuation's curve repeats its parent's steps (same mixture, so replay sees consistent points).
``bomix simulator build TABLE`` turns the table into a replay simulator of your own runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from bomix.errors import BomixError
from bomix.runs import RunResult
from bomix.runtable import empty, lead_columns, mcol, wcol, wcols


def runs_to_table(results: Iterable[RunResult], domains: Sequence[str], params: Mapping[str, float] | None = None,
                  tokens_per_step: float | None = None, allow_empty: bool = False) -> pd.DataFrame:
    """Finished runs -> long table.

    Args:
        results: run results (failed and diverged ones are skipped).
        domains: the mixture's domain order.
        params: scale -> parameter count (default: ``info["params"]`` of each result).
        tokens_per_step: training tokens per step (``tokens`` column; omitted when None).
        allow_empty: return an empty table instead of raising when no run finished ok.
    """
    rows = []
    for r in results:
        if not r.ok:
            continue
        n = (params or {}).get(r.spec.scale, r.info.get("params"))
        if n is None:
            raise BomixError(f"run {r.spec.run_id} has no parameter count: pass params={{scale: N}}")
        base = {"run_id": str(r.spec.run_id), "scale": r.spec.scale, "params": float(n)}
        base.update({wcol(d): float(x) for d, x in zip(domains, r.spec.mixture.weights)})
        for i, step in enumerate(r.curve.steps):
            row = dict(base, step=int(step))
            if tokens_per_step:
                row["tokens"] = float(step) * float(tokens_per_step)
            row.update({mcol(m): float(v[i]) for m, v in r.curve.metrics.items()})
            rows.append(row)
    if not rows:
        if allow_empty:
            return empty(domains)
        raise BomixError("no finished (ok) runs to export")
    df = pd.DataFrame(rows)
    lead = lead_columns(bool(tokens_per_step))
    rest = [c for c in df.columns if c not in lead]
    weights = wcols(domains)
    return df[lead + weights + [c for c in rest if c not in weights]]


def export_campaign(directory: str | Path, out: str | Path) -> pd.DataFrame:
    """Export the ok runs of a campaign directory's store to ``out`` (``.csv`` or ``.parquet``)."""
    from bomix.store import StoreReader

    with StoreReader(directory) as store:
        domains = store.get_meta("domains")
        if not domains:
            raise BomixError(f"{store.path} records no domains: is it a campaign store?")
        space = store.get_meta("space") or {}
        results, _, _ = store.load(domains)
    params = {s["name"]: s["params"] for s in space.get("scales", [])}
    df = runs_to_table(results, domains, params, space.get("tokens_per_step"))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        df.to_parquet(out, index=False)
    elif out.suffix == ".csv":
        df.to_csv(out, index=False)
    else:
        raise BomixError(f"--out {out}: use a .csv or .parquet file name")
    return df


def cli_main(argv: list[str]) -> int:
    """``bomix export CAMPAIGN --out runs.csv``: a campaign's ok runs in the logged-run format."""
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="bomix export", description="export a campaign's finished runs in the "
                                 "logged-run format (simulator/README.md), e.g. to build a replay simulator")
    ap.add_argument("campaign", help="campaign directory (with store.sqlite)")
    ap.add_argument("--out", "-o", required=True, help="output .csv or .parquet")
    args = ap.parse_args(argv)
    df = export_campaign(args.campaign, args.out)
    print(json.dumps({"out": str(args.out), "rows": len(df), "runs": int(df["run_id"].nunique())}))
    return 0
