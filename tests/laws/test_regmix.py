from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from bomix.errors import BomixError
from bomix.laws import RegMix, design_prior, sample_design

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "regmix"
if not DATA.exists():
    DATA = Path("/work/shared/data/regmix")


def test_linear_law_recovers_optimum_and_design(table_of):
    K = 4
    coef = np.array([[0.3, -0.5, 0.2, 0.1]])
    law = RegMix.from_params(coef, [2.0], metrics=["loss"], domains=[f"d{i}" for i in range(K)])
    prior = design_prior(np.array([4.0, 1.0, 1.0, 1.0]), K)
    assert prior[0] == pytest.approx(2 / 5)  # token share ** 0.5, renormalised
    W = sample_design(64, prior, np.random.default_rng(0))
    np.testing.assert_allclose(W.sum(1), 1.0)
    assert np.all((W == 0) | (W >= 2e-4))
    fit = RegMix.fit(table_of(W, {"loss": law.predict(W)[:, 0]}), kind="linear")
    np.testing.assert_allclose(fit.predict(W), law.predict(W), atol=1e-9)
    # the linear optimum is the vertex of the most negative coefficient
    assert fit.optimum(top_k=1).weights[1] > 0.95
    assert fit.optimum(top_k=1, upper=[1, 0.5, 1, 1]).weights[1] == pytest.approx(0.5, abs=1e-6)
    with pytest.raises(BomixError, match="kind"):
        RegMix.fit(table_of(W, {"loss": W[:, 0]}), kind="xgboost")


def _regmix_table(mix: str, loss: str) -> pd.DataFrame:
    w = pd.read_csv(DATA / mix)
    y = pd.read_csv(DATA / loss)
    assert (w["index"].to_numpy() == y["index"].to_numpy()).all()
    t = pd.DataFrame({"run_id": w["index"].astype(str), "scale": "1M", "params": 1e6, "step": 1000})
    for c in w.columns[1:]:
        t["w:" + c.replace("train_the_pile_", "")] = w[c]
    for c in y.columns[1:]:
        t["m:" + c.replace("metric/the_pile_", "").replace("_val_loss", "")] = y[c]
    return t


@pytest.mark.skipif(not (DATA / "train_mixture_1m.csv").exists(), reason="RegMix data not available")
def test_lightgbm_on_shipped_regmix_data():
    """Fit on the 512 1M-param runs, rank the 256 held-out 1M runs, predict the Pile-CC optimum."""
    train = _regmix_table("train_mixture_1m.csv", "train_pile_loss_1m.csv")
    test = _regmix_table("test_mixture_1m.csv", "test_pile_loss_1m.csv")
    prior = np.array([.1133, .0796, .0039, .1854, .0511, .0160, .1018, .0037, .0665, .0018, .0271, .2369, .0118,
                      .0079, .0080, .0388, .0464])
    law = RegMix.fit(train, metrics=["pile_cc"], prior=prior, seed=0)
    dom = law.domains
    pred = law.predict(test[[f"w:{d}" for d in dom]].to_numpy())[:, 0]
    rho = spearmanr(pred, test["m:pile_cc"]).statistic
    assert rho > 0.9  # the paper reports ~0.97-0.99 rank correlation at 1M
    opt = law.optimum(n_samples=100_000, top_k=128, seed=0).to_dict()
    # the predicted Pile-CC optimum leans on Pile-CC itself, far above its 0.237 token share
    assert opt["pile_cc"] == max(opt.values()) and opt["pile_cc"] > 0.3
    lin = RegMix.fit(train, metrics=["pile_cc"], kind="linear", prior=prior)
    assert spearmanr(lin.predict(test[[f"w:{d}" for d in dom]].to_numpy())[:, 0], test["m:pile_cc"]).statistic > 0.8
