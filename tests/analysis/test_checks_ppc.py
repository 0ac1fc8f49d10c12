"""Predictive checks: simulation from the likelihood, coverage, randomised PIT, bands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hybridflow.analysis.checks.ppc import (
    TOTAL,
    pit_values,
    posterior_predictive,
    predictive_bands,
    predictive_check,
    predictive_coverage,
    prior_predictive,
    simulate_counts,
    with_route_totals,
)
from hybridflow.inference.posterior import Posterior, make_posterior

MONTHS = pd.date_range("2016-01-01", periods=120, freq="MS")
ROUTES = ["Eastern Borders Route"]
GROUPS = ["UkrRussBel", "Others"]


def _ppd(y_rep: np.ndarray, y: np.ndarray, family: str = "negbin") -> xr.Dataset:
    return xr.Dataset(
        {
            "y_rep": (("sample", "month", "route", "group"), y_rep),
            "y": (("month", "route", "group"), y),
        },
        coords={
            "sample": np.arange(y_rep.shape[0]),
            "month": MONTHS[: y.shape[0]],
            "route": ROUTES,
            "group": GROUPS[: y.shape[2]],
        },
        attrs={"family": family, "kind": "posterior"},
    )


def _nb(
    rng: np.random.Generator, mu: np.ndarray, alpha: float, size: tuple[int, ...]
) -> np.ndarray:
    return rng.poisson(rng.gamma(alpha, mu / alpha, size=size)).astype(float)


def test_negbin_simulation_has_the_pymc_mean_and_variance() -> None:
    rng = np.random.default_rng(0)
    eta = np.full(200_000, np.log(50.0))
    y = simulate_counts("negbin", eta, rng, dispersion=np.array(5.0))
    assert y.mean() == pytest.approx(50.0, rel=0.01)
    # PyMC's NegativeBinomial(mu, alpha): variance mu + mu^2 / alpha = 550.
    assert y.var() == pytest.approx(550.0, rel=0.03)
    p = simulate_counts("poisson", eta, rng)
    assert p.var() == pytest.approx(50.0, rel=0.03)


def test_binomial_simulation_respects_trials_and_leaves_unknown_nan() -> None:
    rng = np.random.default_rng(1)
    trials = np.array([10.0, np.nan, 0.0, 1000.0])
    y = simulate_counts("binomial", np.zeros((5000, 4)), rng, trials=trials[None])
    assert np.all(y[:, 0] <= 10)
    assert np.isnan(y[:, 1]).all()
    assert np.all(y[:, 2] == 0)
    assert y[:, 3].mean() == pytest.approx(500, rel=0.01)
    with pytest.raises(ValueError, match="unknown family"):
        simulate_counts("gaussian", np.zeros(3), rng)


def test_calibrated_predictions_cover_at_nominal_rates_with_flat_pit() -> None:
    rng = np.random.default_rng(2)
    T, S = 120, 1000
    mu = np.exp(np.log(200.0) + 0.5 * np.sin(np.arange(T) / 5.0))[:, None, None] * np.ones(
        (1, 1, 2)
    )
    y = _nb(rng, mu, 20.0, mu.shape)
    y_rep = _nb(rng, mu[None], 20.0, (S, *mu.shape))
    table = predictive_coverage(_ppd(y_rep, y))
    allrow = table[table["route"] == "(all)"].iloc[0]
    assert allrow["n_obs"] == 240
    assert allrow["cover50"] == pytest.approx(0.5, abs=0.08)
    assert allrow["cover90"] == pytest.approx(0.9, abs=0.05)
    assert allrow["cover50_pit"] == pytest.approx(0.5, abs=0.08)
    assert allrow["pit_ks_p"] > 0.01
    assert list(table["group"][:2]) == GROUPS


def test_overconfident_predictions_have_low_coverage_and_u_shaped_pit() -> None:
    rng = np.random.default_rng(3)
    T, S = 120, 1000
    mu = np.full((T, 1, 2), 200.0)
    y = _nb(rng, mu, 5.0, mu.shape)  # strongly over-dispersed truth
    y_rep = rng.poisson(mu[None] * np.ones((S, 1, 1, 1))).astype(float)  # Poisson model
    table = predictive_coverage(_ppd(y_rep, y))
    allrow = table[table["route"] == "(all)"].iloc[0]
    assert allrow["cover50"] < 0.25
    assert allrow["cover90"] < 0.5
    assert allrow["pit_ks_p"] < 1e-6
    pit = pit_values(_ppd(y_rep, y)).values.ravel()
    # U shape: most PIT values in the outer tenths.
    assert np.mean((pit < 0.1) | (pit > 0.9)) > 0.5


def test_coverage_and_pit_use_observed_cells_only() -> None:
    rng = np.random.default_rng(4)
    mu = np.full((24, 1, 2), 30.0)
    y = _nb(rng, mu, 10.0, mu.shape)
    y[:6, 0, 0] = np.nan  # six unobserved months in one series
    y_rep = _nb(rng, mu[None], 10.0, (400, *mu.shape))
    ppd = _ppd(y_rep, y)
    table = predictive_coverage(ppd)
    assert table.set_index("group").loc["UkrRussBel", "n_obs"] == 18
    assert table.set_index("group").loc["Others", "n_obs"] == 24
    assert table.set_index("group").loc["(all)", "n_obs"] == 42
    pit = pit_values(ppd)
    assert pit.isnull().sum() == 6
    assert bool(pit.sel(group="UkrRussBel").isel(month=slice(0, 6)).isnull().all())
    # Bands exist for every cell, observed or not.
    bands = predictive_bands(ppd)
    assert bands.dims == ("quantile", "month", "route", "group")
    assert bool(bands.notnull().all())


def test_randomised_pit_is_uniform_for_small_discrete_counts() -> None:
    # With tiny counts most mass sits on 0-2: a plain PIT would be lumpy, the randomised
    # one is exactly uniform under calibration.
    rng = np.random.default_rng(5)
    mu = np.full((120, 1, 2), 0.8)
    y = rng.poisson(mu).astype(float)
    y_rep = rng.poisson(mu[None] * np.ones((2000, 1, 1, 1))).astype(float)
    pit = pit_values(_ppd(y_rep, y, family="poisson"), seed=1).values.ravel()
    counts, _ = np.histogram(pit, bins=4, range=(0, 1))
    assert counts.min() > 35  # 240 values, 60 expected per bin
    table = predictive_coverage(_ppd(y_rep, y, family="poisson"))
    allrow = table.iloc[-1]
    # Closed intervals over-cover with ties; the tie-randomised coverage does not.
    assert allrow["cover50"] > 0.6
    assert allrow["cover50_pit"] == pytest.approx(0.5, abs=0.1)


def test_pit_equals_arviz_pit_with_equal_weights() -> None:
    """ArviZ computes the same randomised PIT, ``P(y_rep < y) + U * P(y_rep = y)``, inside
    its LOO-PIT: with equal weights (no leave-one-out reweighting) and the same uniforms,
    the numbers agree to rounding. Ours stays because it also covers route totals and
    unobserved cells, which have no pointwise log-likelihood for PSIS weights; LOO-PIT
    (ArviZ's ``loo_pit``) is a different quantity (see docs)."""
    from arviz_stats.base import array_stats

    rng = np.random.default_rng(8)
    mu = np.full((30, 1, 2), 3.0)  # small counts: many ties, so the uniforms matter
    y = rng.poisson(mu).astype(float)
    y_rep = rng.poisson(mu[None] * np.ones((500, 1, 1, 1))).astype(float)
    ours = pit_values(_ppd(y_rep, y, family="poisson"), seed=4).values
    draws = np.moveaxis(y_rep, 0, -1)[..., None, :]  # (..., chain=1, draw)
    lib = array_stats.loo_pit(
        draws, y.ravel(), np.zeros_like(draws), chain_axis=-2, draw_axis=-1, random_state=4
    )
    np.testing.assert_allclose(np.asarray(lib).reshape(y.shape), ours, rtol=0, atol=1e-12)


def test_bands_are_ordered_quantiles_matching_numpy() -> None:
    rng = np.random.default_rng(6)
    y_rep = rng.poisson(50, size=(500, 12, 1, 2)).astype(float)
    ppd = _ppd(y_rep, np.full((12, 1, 2), 50.0))
    bands = predictive_bands(ppd)
    assert list(bands["quantile"].values) == [0.05, 0.25, 0.5, 0.75, 0.95]
    assert bool((bands.diff("quantile") >= 0).all())
    expect = np.quantile(y_rep[:, 3, 0, 1], 0.75, method="inverted_cdf")
    assert float(bands.sel(quantile=0.75).isel(month=3, route=0, group=1)) == expect


def test_route_totals_sum_groups_and_need_every_group() -> None:
    rng = np.random.default_rng(7)
    y_rep = rng.poisson(10, size=(50, 12, 1, 2)).astype(float)
    y = rng.poisson(10, size=(12, 1, 2)).astype(float)
    y[0, 0, 1] = np.nan
    out = with_route_totals(_ppd(y_rep, y))
    assert list(out["group"].values) == [*GROUPS, TOTAL]
    np.testing.assert_array_equal(out["y_rep"].sel(group=TOTAL).values, y_rep.sum(axis=-1))
    assert np.isnan(out["y"].sel(group=TOTAL).values[0, 0])
    assert out["y"].sel(group=TOTAL).values[1, 0] == y[1, 0].sum()
    check = predictive_check(_ppd(y_rep, y), totals=True)
    # The "(all)" row pools the groups, not the total.
    assert check.coverage.iloc[-1]["n_obs"] == 23
    assert TOTAL in set(check.coverage["group"])
    with pytest.raises(ValueError, match="not shares"):
        with_route_totals(_ppd(y_rep, y, family="binomial"))


def _idata(log_mu: np.ndarray, dispersion: np.ndarray, y: np.ndarray) -> Posterior:
    coords = {
        "chain": [0, 1],
        "draw": np.arange(log_mu.shape[1]),
        "month": MONTHS[: y.shape[0]],
        "route": ROUTES,
        "group": GROUPS,
    }
    post = xr.Dataset(
        {
            "log_mu": (("chain", "draw", "month", "route", "group"), log_mu),
            "dispersion": (("chain", "draw", "route", "group"), dispersion),
        },
        coords=coords,
    )
    cd = xr.Dataset(
        {"y": (("month", "route", "group"), y)},
        coords={k: coords[k] for k in ("month", "route", "group")},
    )
    return make_posterior({"posterior": post, "constant_data": cd})


def test_posterior_predictive_draws_every_cell_from_the_fit() -> None:
    T = 36
    log_mu = np.broadcast_to(np.log([20.0, 400.0]), (2, 100, T, 1, 2)).copy()
    disp = np.full((2, 100, 1, 2), 1e6)  # ~Poisson
    y = np.full((T, 1, 2), np.nan)
    y[-12:] = 20.0
    ppd = posterior_predictive(_idata(log_mu, disp, y), n_draws=150, seed=3, keep_parameters=True)
    assert ppd.sizes["sample"] == 150
    assert ppd.attrs["family"] == "negbin" and ppd.attrs["kind"] == "posterior"
    assert bool(ppd["y_rep"].notnull().all())  # unobserved months simulated too
    means = ppd["y_rep"].mean(("sample", "month", "route"))
    assert float(means.sel(group="UkrRussBel")) == pytest.approx(20, rel=0.03)
    assert float(means.sel(group="Others")) == pytest.approx(400, rel=0.01)
    assert "log_mu" in ppd and "dispersion" in ppd
    same = posterior_predictive(_idata(log_mu, disp, y), n_draws=150, seed=3)
    np.testing.assert_array_equal(same["y_rep"].values, ppd["y_rep"].values)


def test_prior_predictive_covers_the_data_widely() -> None:
    from tests.analysis._checks_sim import sim_events, sim_panel, sim_spec

    ppd = prior_predictive(sim_spec(), sim_panel(), sim_events(), n_draws=200, seed=4)
    assert ppd.attrs["kind"] == "prior" and ppd.attrs["family"] == "negbin"
    assert ppd["y_rep"].dims == ("sample", "month", "route", "group")
    assert ppd.sizes["sample"] == 200 and ppd.sizes["month"] == 72
    assert list(ppd["group"].values) == ["UkrRussBel", "Others"]
    table = predictive_coverage(ppd)
    assert (table["kind"] == "prior").all()
    # Priors are wide: nearly every observed count is inside the 90% prior interval, and
    # the prior interval is far wider than the counts' own spread.
    assert table.iloc[-1]["cover90"] > 0.9
    bands = predictive_bands(ppd)
    width = (bands.sel(quantile=0.95) - bands.sel(quantile=0.05)).median()
    assert float(width) > 3 * float(ppd["y"].std())
