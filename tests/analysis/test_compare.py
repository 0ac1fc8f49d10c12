"""PSIS-LOO comparison and stacking on synthetic posteriors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from hybridflow.analysis.compare import ComparisonError, loo_summary, loo_table
from hybridflow.inference.posterior import Posterior, make_posterior

rng = np.random.default_rng(1)
Y = rng.poisson(20, size=60)


def fake_fit(mu_mean: float, y: np.ndarray = Y) -> Posterior:
    """A Poisson 'posterior' for the mean: draws near mu_mean, pointwise log-likelihood."""
    mu = rng.normal(mu_mean, 0.5, size=(2, 200))
    ll = stats.poisson.logpmf(y[None, None, :], mu[..., None])
    return make_posterior(
        {
            "posterior": xr.Dataset({"mu": (("chain", "draw"), mu)}),
            "log_likelihood": xr.Dataset({"y": (("chain", "draw", "obs"), ll)}),
            "observed_data": xr.Dataset({"y": ("obs", y)}),
        }
    )


def test_true_model_wins_and_gets_the_weight() -> None:
    fits = {"null": fake_fit(12.0), "good": fake_fit(float(Y.mean()))}
    table = loo_table(fits, baseline="null")
    assert table.loc["good", "elpd_loo"] > table.loc["null", "elpd_loo"]
    assert table.loc["good", "elpd_diff_vs_baseline"] > 2 * table.loc["good", "se_diff"]
    assert table.loc["null", "elpd_diff_vs_baseline"] == 0
    assert table.loc["good", "stacking_weight"] > 0.9
    assert table["stacking_weight"].sum() == pytest.approx(1.0)
    assert table.loc["good", "rank"] == 1


def test_pareto_k_reported() -> None:
    s = loo_summary(fake_fit(20.0))
    assert s["n_obs"] == 60
    assert 0 <= s["n_pareto_k_bad"] <= 60
    assert np.isfinite(s["pareto_k_max"])


def test_different_observations_refused() -> None:
    other = fake_fit(20.0, y=Y + 1)
    with pytest.raises(ComparisonError, match="different observations"):
        loo_table({"a": fake_fit(20.0), "b": other})


def test_missing_log_likelihood_refused() -> None:
    idata = make_posterior(
        {
            "posterior": xr.Dataset({"mu": (("chain", "draw"), np.zeros((1, 10)))}),
            "observed_data": xr.Dataset({"y": ("obs", Y)}),
        }
    )
    with pytest.raises(ComparisonError, match="log_likelihood"):
        loo_summary(idata)
