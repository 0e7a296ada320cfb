"""Convert the RegMix logged runs (sail-sg/regmix, MIT) to bomix's logged-run format.

Usage: python simulator/regmix/convert.py [REGMIX_DATA_DIR] [--out simulator/regmix/regmix.csv]

Input: the ``data/*.csv`` files of https://github.com/sail-sg/regmix (commit b004d3a); mixture and loss
files join on ``index``. Output: one row per run (final loss only), run ids ``1M-train-<i>``,
``1M-test-<i>``, ``60M-test-<i>``, ``1B-<i>``; weights ``w:<pile domain>`` renormalised to sum to 1
(the originals are rounded to 1e-3); metrics ``m:<pile domain>`` = that domain's validation loss.

Steps and tokens (RegMix paper and repo): 1M and 60M models train on 1B tokens (1000 steps of
512 x 2048 = 2^20 tokens, the logged step); 1B models on 25B tokens with 2^20-token batches (23842 steps).
Parameter counts are the nominal scale names (1e6, 6e7, 1e9). Also writes ``baselines_1b.csv``: the 1B mixtures
the paper compares (regmix, doremi, human, pile_cc_only from ``mixture_config/config_1b``; weights only).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

TOKENS_PER_STEP = 512 * 2048
SETS = [  # (run-id prefix, scale, params, mixture file, loss file, steps)
    ("1M-train", "1M", 1e6, "train_mixture_1m.csv", "train_pile_loss_1m.csv", 1000),
    ("1M-test", "1M", 1e6, "test_mixture_1m.csv", "test_pile_loss_1m.csv", 1000),
    ("60M-test", "60M", 6e7, "test_mixture_60m.csv", "test_pile_loss_60m.csv", 1000),
    ("1B", "1B", 1e9, "test_mixture_1B.csv", "test_pile_loss_1B.csv", 23842),
]


def convert_set(mix: pd.DataFrame, loss: pd.DataFrame, prefix: str, scale: str, params: float,
                steps: int) -> pd.DataFrame:
    """One RegMix mixture table and its loss table (both indexed by ``index``) -> rows of the logged-run format
    (also used by ``bomix suggest``'s RegMix reader, :mod:`bomix.suggest.readers`)."""
    w = mix.rename(columns=lambda c: "w:" + c.removeprefix("train_the_pile_"))
    w = w.div(w.sum(axis="columns"), axis="index")
    m = loss.rename(columns=lambda c: "m:" + c.removeprefix("metric/the_pile_").removesuffix("_val_loss"))
    df = pd.DataFrame({"run_id": [f"{prefix}-{i}" for i in mix.index], "scale": scale, "params": params,
                       "step": steps, "tokens": float(steps * TOKENS_PER_STEP)}, index=mix.index)
    return pd.concat([df, w, m], axis=1)


def convert(src: Path) -> pd.DataFrame:
    """The RegMix data directory -> a table in the logged-run format."""
    parts = []
    for prefix, scale, params, mix_file, loss_file, steps in SETS:
        mix = pd.read_csv(src / mix_file).set_index("index")
        loss = pd.read_csv(src / loss_file).set_index("index")
        if not mix.index.equals(loss.index):
            raise SystemExit(f"{mix_file} and {loss_file} do not share their index column")
        parts.append(convert_set(mix, loss, prefix, scale, params, steps))
    out = pd.concat(parts, ignore_index=True)
    assert np.allclose(out.filter(like="w:").sum(axis="columns"), 1.0)
    return out


def baselines(src: Path) -> pd.DataFrame:
    """The 1B mixtures the paper compares (``mixture_config/config_1b/*.yaml``): one row per name, ``w:`` columns."""
    import yaml

    rows = []
    for f in sorted((src / "mixture_config" / "config_1b").glob("*.yaml")):
        train = yaml.safe_load(f.read_text())["train"]
        w = {"w:" + k.removeprefix("train_the_pile_"): float(v) for k, v in train.items()}
        total = sum(w.values())
        rows.append({"name": f.stem, **{k: v / total for k, v in w.items()}})
    return pd.DataFrame(rows).fillna(0.0)


def main() -> None:
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", nargs="?", default=str(here.parents[2] / "shared" / "data" / "regmix"))
    p.add_argument("--out", default=str(here / "regmix.csv"))
    args = p.parse_args()
    table = convert(Path(args.src))
    table.to_csv(args.out, index=False, float_format="%.10g")
    print(f"wrote {args.out}: {table['run_id'].nunique()} runs, {table.shape[1]} columns")
    if (Path(args.src) / "mixture_config" / "config_1b").is_dir():
        base_out = Path(args.out).with_name("baselines_1b.csv")
        baselines(Path(args.src)).to_csv(base_out, index=False, float_format="%.10g")
        print(f"wrote {base_out} (the paper's 1B baseline mixtures, no losses)")


if __name__ == "__main__":
    main()
