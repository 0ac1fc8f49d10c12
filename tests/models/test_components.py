"""Baseline building blocks: design arrays, the trend's density, and pooling across groups."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import stats

from hybridflow.design.kernels import convolve_numpy
from hybridflow.inference.fit import fit_spec
from hybridflow.inference.posterior import hdi_over_draws
from hybridflow.inference.sampling import Sampling
from hybridflow.models import components as comp
from hybridflow.models.build import prepare_data
from hybridflow.models.spec import parse_spec
from tests.models.synthetic import make_events, make_panel, simulate_group_effects


def test_fourier_features_follow_the_calendar_month() -> None:
    months = pd.date_range("2019-07-01", periods=30, freq="MS")
    f = comp.fourier_features(months, 2)
    assert f.shape == (30, 4)
    assert comp.fourier_labels(2) == ["sin1", "cos1", "sin2", "cos2"]
    np.testing.assert_allclose(f[:18], f[12:30])  # same month of year, same values
    jan = np.flatnonzero(months.month == 1)[0]
    np.testing.assert_allclose(f[jan], [0.0, 1.0, 0.0, 1.0], atol=1e-12)
    assert comp.fourier_features(months, 0).shape == (30, 0)


@pytest.mark.parametrize(("n", "step"), [(10, 1), (105, 6), (112, 6), (13, 12)])
def test_interpolation_matrix_is_piecewise_linear_through_the_knots(n: int, step: int) -> None:
    B = comp.interpolation_matrix(n, step)
    knots = comp.knot_positions(n, step)
    assert knots[0] == 0 and knots[-1] == n - 1
    np.testing.assert_allclose(B.sum(axis=1), 1.0)
    np.testing.assert_allclose(B[knots], np.eye(len(knots)))
    values = np.random.default_rng(0).normal(size=len(knots))
    np.testing.assert_allclose(B @ values, np.interp(np.arange(n), knots, values))


def test_lag_matrix_reproduces_the_causal_convolution() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 40))
    w = np.array([0.5, 0.25, 0.15, 0.1])
    history = 5
    lagged = comp.lag_matrix(x, history, len(w))
    assert lagged.shape == (3, 35, 4)
    for d in range(3):
        np.testing.assert_allclose(lagged[d] @ w, convolve_numpy(x[d], w, history=history))
    # With less history than lags, months before the data count as zero exposure.
    short = comp.lag_matrix(x[:1], 1, 4)
    np.testing.assert_allclose(short[0] @ w, convolve_numpy(x[0], w, history=1))


@pytest.mark.parametrize("stationary", [False, True])
def test_centred_ar1_density_matches_the_recursion(stationary: bool) -> None:
    rho, sigma = 0.7, np.array([[0.3, 0.5]])
    u = np.random.default_rng(2).normal(size=(1, 2, 6))
    lp = comp._ar1_logp_fn(stationary)(
        pm.math.constant(u),
        pm.math.constant(rho),
        pm.math.constant(sigma),
        pm.math.constant(np.arange(6.0)),
    ).eval()
    sd0 = sigma / np.sqrt(1 - rho**2) if stationary else sigma
    expected = stats.norm.logpdf(u[..., 0], 0, sd0) + stats.norm.logpdf(
        u[..., 1:], rho * u[..., :-1], sigma[..., None]
    ).sum(-1)
    np.testing.assert_allclose(lp, expected)


def test_ar1_random_draws_have_the_stationary_recursion() -> None:
    draw = comp._ar1_random(200)(
        np.float64(0.5),
        np.full((1, 1), 0.2),
        np.arange(200.0),
        rng=np.random.default_rng(3),
        size=(1, 1),
    )
    assert draw.shape == (1, 1, 200)
    resid = draw[0, 0, 1:] - 0.5 * draw[0, 0, :-1]
    assert resid.std() == pytest.approx(0.2, rel=0.15)


def test_the_default_pooling_prior_lets_two_groups_differ(seed_shift: int) -> None:
    # Issue 12: a known +40% effect on Others and none on UkrRussBel must be recovered
    # within both groups' 90% intervals, not pulled together by the between-group prior
    # (the earlier Gamma(2, 2/0.15) had too little mass for a difference this size).
    spec = parse_spec({
        "name": "two_groups",
        "data": {"start": "2016-01", "end": "2024-12"},
        "baseline": {"trend": "none", "fourier_order": 0},
        "drivers": [{"name": "ev", "source": "events", "filter": {"family": "sanctions"},
                     "kernel": {"name": "geometric", "max_lag": 3, "fixed": {"decay": 0.5}}}],
    })
    assert spec.baseline.priors.group_prior == "fixed"
    months = pd.date_range("2016-01", "2024-09", freq="MS")
    rng = np.random.default_rng(11)
    picks = np.sort(rng.choice(len(months), size=24, replace=False))
    events = make_events([f"{months[i]:%Y-%m}-15" for i in picks])
    panel = make_panel("2015-01", "2025-04", seed=11)
    truth = {"Others": np.log(1.4), "UkrRussBel": 0.0}
    panel = simulate_group_effects(prepare_data(spec, panel, events), panel,
                                   effects={"ev": truth},
                                   levels={"Others": 300.0, "UkrRussBel": 300.0},
                                   dispersion=30.0, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_spec(spec, panel, events, sampling=Sampling(draws=300, tune=300, chains=2),
                       seed=4 + seed_shift, log_likelihood=False)
    effect = res.idata["posterior"]["effect"].sel(driver="ev", route="Eastern Borders Route")
    low, high = hdi_over_draws(effect, 0.9)
    for group, value in truth.items():
        lo, hi = float(low.sel(group=group)), float(high.sel(group=group))
        assert lo <= value <= hi, f"{group}: truth {value:.3f} outside 90% HDI [{lo:.3f}, {hi:.3f}]"
    assert float(low.sel(group="Others")) > 0  # the Others effect is found, not pooled away


def test_group_sd_prior_gives_a_group_difference_the_room_of_an_effect() -> None:
    # The default's a-priori argument (docs/models.md, "Priors"): under HalfNormal(0.32) a
    # difference between two groups' effects beyond log(1.4) is as probable as one
    # group's effect beyond log(1.4) under the default effect prior Normal(0, 0.32).
    priors = parse_spec({"name": "m"}).baseline.priors
    n, big = 40_000, np.log(1.4)
    z = np.random.default_rng(5).normal(size=(n, 2))
    p_diff = {}
    for kind in comp.GROUP_PRIORS:
        scale = 0.15 if kind == "gamma" else priors.group_sd  # 0.15: gamma's old default
        with pm.Model(coords={"driver": ["d"]}):
            tau = comp.group_sd_prior("tau", np.array([scale]), kind, "driver")
        draws = pm.draw(tau, draws=n, random_seed=6)[:, 0]
        p_diff[kind] = float(np.mean(np.abs(draws * (z[:, 0] - z[:, 1])) > big))
    p_effect = 2 * stats.norm.sf(big / 0.32)
    assert p_diff["halfnormal"] == pytest.approx(p_effect, abs=0.02)
    assert p_diff["gamma"] < 0.6 * p_effect  # the old prior's much smaller room
    assert p_diff["fixed"] > p_effect  # a known sd at the scale: no mass near tau = 0
    with pytest.raises(ValueError, match="group_prior must be one of"), pm.Model(
        coords={"driver": ["d"]}
    ):
        comp.group_sd_prior("tau", np.array([0.3]), "halfcauchy", "driver")


@pytest.mark.filterwarnings("ignore:Numba will use object mode")
def test_centred_ar1_noise_is_stationary_and_matches_its_density() -> None:
    # Centred AR(1) noise at fixed rho and sigma: forward draws stationary with marginal sd
    # sigma / sqrt(1 - rho^2) in every month (the first included) and lag-1 correlation
    # rho; its log density is the AR(1)'s (first month stationary, then the innovations).
    rho, sigma, T = 0.6, 0.3, 12
    with pm.Model(coords={"month": range(T), "route": ["r"], "group": ["g"]}) as model:
        comp.ar1_noise("noise", T, sigma_scale=0.3, rho_prior=(2.0, 2.0), centred=True)
    fixed = pm.do(model, {"noise_rho": rho, "noise_sigma": np.full((1, 1), sigma)})
    eps = pm.draw(fixed["noise"], draws=20000, random_seed=1)[:, :, 0, 0]
    np.testing.assert_allclose(eps.std(axis=0), sigma / np.sqrt(1 - rho**2), rtol=0.04)
    assert np.corrcoef(eps[:, 5], eps[:, 6])[0, 1] == pytest.approx(rho, abs=0.03)
    value = np.random.default_rng(2).normal(size=(1, 1, T))
    logp = fixed.compile_logp(vars=[fixed["noise_eps"]], sum=True)({"noise_eps": value})
    e = value[0, 0]
    expected = stats.norm.logpdf(e[0], 0, sigma / np.sqrt(1 - rho**2)) + stats.norm.logpdf(
        e[1:], rho * e[:-1], sigma
    ).sum()
    assert logp == pytest.approx(expected, rel=1e-8)
