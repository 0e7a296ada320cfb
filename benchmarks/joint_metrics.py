"""Model the metrics, or their aggregate? Held-out prediction of a many-metric objective (issue 24 item 1).

An objective over many metrics is affine in them (``bomix.objective.Objective.coefficients``), so it can be
predicted three ways, all exact GPs over the mixture (BoTorch, Matern 5/2 ARD, inferred noise, standardised):

- ``scalar``: one GP on the aggregate itself (what ``mfbo`` does today);
- ``independent``: one GP per metric (each its own noise level), aggregated (mean ``offset + c . mu``, variance
  ``sum c_m^2 var_m``);
- ``multitask``: a low-rank multi-task GP over the metrics (``KroneckerMultiTaskGP``, rank 2: the metrics'
  correlation is learnt), aggregated with their covariance.

Judged on held-out mixtures: RMSE of the aggregate, mean negative log predictive density (NLPD), Spearman rank
correlation and the regret of the held-out mixture with the best predicted aggregate. Two problems:

- ``synthetic``: ``problem=synthetic_tasks``'s objective (12 downstream-like tasks + loss:target, normalised
  against the uniform mixture; conf/problem/synthetic_tasks.yaml) on the synthetic backend (K = 5, noise 0.01,
  hetero 1, its noise on the tasks included) at the target fidelity; truth = the simulator's noiseless values
  on 500 held-out mixtures; a seed = a problem instance and a draw.
- ``regmix``: RegMix's logged 1M runs (simulator/regmix/regmix.csv, MIT, 17 domains) with its 13 validation
  losses, aggregated as the mean relative change against each loss's median over the runs; the held-out runs'
  own logged values are the truth (they carry the runs' noise); a seed = a random split.

    python benchmarks/joint_metrics.py                  # 10 seeds, both problems
    python benchmarks/joint_metrics.py --seeds 3 --problems regmix --n 64

Writes benchmarks/results/joint_metrics/{summary.json, joint_metrics.png}.

Measured (2026-12-06, the default command, 10 seeds; medians at 32 / 64 / 128 training runs): one GP per metric
predicts the aggregate better on both problems. RegMix: RMSE 0.045 / 0.032 / 0.024 vs 0.061 / 0.049 / 0.042 for one
GP of the aggregate (best on 10/10 seeds at every size), Spearman 0.78 / 0.90 / 0.94 vs 0.50 / 0.65 / 0.75, pick
regret 0.007 / 0.002 / 0.003 vs 0.035 / 0.015 / 0.016. Synthetic: Spearman 0.86 / 0.94 / 0.96 vs 0.72 / 0.87 / 0.89,
best RMSE on 8 / 9 / 10 of 10 seeds, but a worse NLPD (2.6-9.6 vs -0.9-2.3: the per-metric sds are too small where
a perplexity task explodes at corner mixtures; the RMSE's max column shows those held-out corners) and a mixed pick
regret (0.004 / 0.006 / 0.003 vs 0.005 / 0.003 / 0.026). The multi-task (Kronecker, rank 2) model is opt-in
(``--models multitask``): one seed at 32 runs took 200-300 s per fit and predicted worse than both.
It costs 13 fits instead of one (7-62 s vs 0.6-2.4 s per fit here, on 2 loaded cores).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from botorch.acquisition.objective import ScalarizedPosteriorTransform
from botorch.fit import fit_gpytorch_mll
from botorch.models import KroneckerMultiTaskGP, ModelListGP, SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood, SumMarginalLogLikelihood
from scipy.stats import norm, spearmanr

from bomix.objective import Objective

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "joint_metrics"
MODELS = ("scalar", "independent", "multitask")


def synthetic_data(seed: int, n: int, n_test: int = 500):
    """``(W, M, Wt, truth_aggregate, objective)`` on the synthetic backend with 12 tasks."""
    from omegaconf import OmegaConf

    from bomix.backends.synthetic import SyntheticBackend
    from bomix.runs import RunSpec
    from bomix.space import Mixture

    cfg = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "problem" / "synthetic_tasks.yaml"))
    b = SyntheticBackend(k=5, tasks=12, noise=0.01, hetero=1.0, seed=seed)
    obj = Objective.from_config(cfg["objective"], b.metrics, b.default_objective)
    rng = np.random.default_rng([seed, n])
    t = b.space.target
    W = np.vstack([b.space.sample(n - n // 2, rng, 1.0), b.space.sample(n // 2, rng, 0.3)])
    runs = [b.run(RunSpec(Mixture(w, b.space.domains), t.scale, t.steps, seed=i)) for i, w in enumerate(W)]
    M = np.array([[r.curve.metrics[m][-1] for m in obj.metrics] for r in runs])
    Wt = np.vstack([b.space.sample(n_test // 2, rng, 1.0), b.space.sample(n_test - n_test // 2, rng, 0.3)])
    return W, M, Wt, b.true_values(Wt, t, obj), obj


def regmix_data(seed: int, n: int):
    """The same from RegMix's logged 1M runs: a random split, the held-out runs' logged aggregate as truth."""
    import pandas as pd

    d = pd.read_csv(ROOT / "simulator" / "regmix" / "regmix.csv")
    d = d[d["scale"] == "1M"].reset_index(drop=True)
    wcols = [c for c in d.columns if c.startswith("w:")]
    mcols = [c for c in d.columns if c.startswith("m:")]
    ref = {c: float(d[c].median()) for c in mcols}
    obj = Objective.from_config({"weights": {c: 1.0 for c in mcols}, "reference": ref}, mcols, None)
    order = np.random.default_rng(seed).permutation(len(d))
    tr, te = order[:n], order[n:]
    W, M = d[wcols].to_numpy(float), d[obj.metrics].to_numpy(float)
    return W[tr], M[tr], W[te], obj.values({m: M[te, j] for j, m in enumerate(obj.metrics)}), obj


def fit_predict(kind: str, W: np.ndarray, M: np.ndarray, Wt: np.ndarray, obj: Objective, seed: int):
    """``(mean, sd)`` of the aggregate at ``Wt`` (observation noise included) and the fit's seconds."""
    coef, offset = obj.coefficients()
    c = torch.tensor([coef[m] for m in obj.metrics], dtype=torch.double)
    X = torch.tensor(W, dtype=torch.double)
    Y = torch.tensor(M, dtype=torch.double)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    if kind == "scalar":
        y = (Y @ c + offset)[:, None]
        model = SingleTaskGP(X, y, outcome_transform=Standardize(m=1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        transform = None
    elif kind == "independent":
        model = ModelListGP(*[SingleTaskGP(X, Y[:, j:j + 1], outcome_transform=Standardize(m=1))
                              for j in range(Y.shape[1])])
        fit_gpytorch_mll(SumMarginalLogLikelihood(model.likelihood, model))
        transform = ScalarizedPosteriorTransform(weights=c, offset=offset)
    else:
        mean, std = Y.mean(0), Y.std(0)  # standardised by hand: the posterior's covariance is read below
        model = KroneckerMultiTaskGP(X, (Y - mean) / std, rank=2, outcome_transform=None)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        transform = ScalarizedPosteriorTransform(weights=c, offset=offset)
    fit_s = time.perf_counter() - t0
    mus, sds = [], []
    with torch.no_grad():
        for i in range(0, len(Wt), 50):
            xt = torch.tensor(Wt[i:i + 50], dtype=torch.double)
            if kind == "multitask":  # no posterior transforms here: aggregate each point's (M, M) covariance
                mvn = model.posterior(xt, observation_noise=True).distribution
                n, m = xt.shape[0], len(c)
                cov = mvn.covariance_matrix
                cov = (cov.reshape(n, m, n, m) if mvn._interleaved else
                       cov.reshape(m, n, m, n).permute(1, 0, 3, 2))
                blocks = cov[torch.arange(n), :, torch.arange(n), :]  # (n, M, M)
                cs = c * std  # the aggregate in standardised units: offset + (mean + std * z) . c
                mus.append(((mvn.mean * std + mean) @ c + offset).numpy())
                sds.append(torch.einsum("m,nmk,k->n", cs, blocks, cs).clamp_min(1e-12).sqrt().numpy())
                continue
            post = model.posterior(xt, observation_noise=True, posterior_transform=transform)
            mus.append(post.mean.reshape(-1).numpy())
            sds.append(post.variance.reshape(-1).clamp_min(1e-12).sqrt().numpy())
    return np.concatenate(mus), np.concatenate(sds), fit_s


def scores(mu: np.ndarray, sd: np.ndarray, truth: np.ndarray) -> dict:
    best = int(np.argmin(mu))
    return {"rmse": float(np.sqrt(np.mean((mu - truth) ** 2))), "nlpd": float(-np.mean(norm.logpdf(truth, mu, sd))),
            "spearman": float(spearmanr(mu, truth).statistic), "pick_regret": float(truth[best] - truth.min())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--problems", nargs="+", default=["synthetic", "regmix"])
    ap.add_argument("--n", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--models", nargs="+", default=["scalar", "independent"], choices=MODELS,
                    help="multitask is opt-in: its Kronecker fit took 200-300 s per fit at n=32 on 2 loaded cores")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for problem in args.problems:
        for n in args.n:
            for seed in range(args.seeds):
                W, M, Wt, truth, obj = (synthetic_data if problem == "synthetic" else regmix_data)(seed, n)
                row = {"problem": problem, "n": n, "seed": seed, "n_metrics": M.shape[1]}
                for kind in args.models:
                    mu, sd, fit_s = fit_predict(kind, W, M, Wt, obj, seed)
                    row.update({f"{kind}:{q}": v for q, v in {**scores(mu, sd, truth), "fit_s": fit_s}.items()})
                rows.append(row)
                print(f"{problem} n={n} seed={seed} " + "  ".join(
                    f"{k}: rmse {row[f'{k}:rmse']:.4f} rho {row[f'{k}:spearman']:.3f} pick {row[f'{k}:pick_regret']:.4f}"
                    for k in args.models), flush=True)
    summary = {"command": "python benchmarks/joint_metrics.py " + " ".join(
        f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in vars(args).items()),
        "medians": {}, "rows": rows}
    print(f"\nmedians over {args.seeds} seeds [min-max]")
    for problem in args.problems:
        for n in args.n:
            sub = [r for r in rows if r["problem"] == problem and r["n"] == n]
            key = f"{problem}@{n}"
            summary["medians"][key] = {}
            for k in args.models:
                med = {q: float(np.median([r[f"{k}:{q}"] for r in sub]))
                       for q in ("rmse", "nlpd", "spearman", "pick_regret", "fit_s")}
                wins = sum(r[f"{k}:rmse"] <= min(r[f"{o}:rmse"] for o in args.models) for r in sub)
                lo, hi = min(r[f"{k}:rmse"] for r in sub), max(r[f"{k}:rmse"] for r in sub)
                summary["medians"][key][k] = {**med, "rmse_range": [lo, hi], "best_rmse_seeds": wins}
                print(f"{key:14s} {k:11s} rmse {med['rmse']:.4f} [{lo:.4f}-{hi:.4f}]  nlpd {med['nlpd']:7.2f}  "
                      f"spearman {med['spearman']:.3f}  pick regret {med['pick_regret']:.4f}  fit {med['fit_s']:.1f} s  "
                      f"best rmse in {wins}/{len(sub)}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "summary.json").write_text(json.dumps(summary, indent=1))
    plot(summary, args)


def plot(summary: dict, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(args.problems), 2, figsize=(9, 3.4 * len(args.problems)), squeeze=False)
    for row, problem in zip(axes, args.problems):
        for ax, q, label in zip(row, ("rmse", "spearman"), ("held-out RMSE of the aggregate", "Spearman")):
            for k in args.models:
                ax.plot(args.n, [summary["medians"][f"{problem}@{n}"][k][q] for n in args.n], "o-", label=k)
            ax.set_title(f"{problem}: {label}", fontsize=10)
            ax.set_xlabel("training runs")
            ax.set_xscale("log")
            ax.minorticks_off()
            ax.set_xticks(args.n, [str(n) for n in args.n])
        row[0].legend()
    fig.suptitle(f"Many-metric objectives: model the aggregate or the metrics? (medians, {args.seeds} seeds)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT / "joint_metrics.png", dpi=110)


if __name__ == "__main__":
    main()
