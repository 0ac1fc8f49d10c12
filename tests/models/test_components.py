"""Baseline building blocks: design arrays and the trend's density."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import stats

from hybridflow.design.kernels import convolve_numpy
from hybridflow.models import components as comp


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


def test_centred_ar1_density_matches_the_recursion() -> None:
    rho, sigma = 0.7, np.array([[0.3, 0.5]])
    u = np.random.default_rng(2).normal(size=(1, 2, 6))
    lp = comp._ar1_logp(
        pm.math.constant(u),
        pm.math.constant(rho),
        pm.math.constant(sigma),
        pm.math.constant(np.arange(6.0)),
    ).eval()
    expected = stats.norm.logpdf(u[..., 0], 0, sigma) + stats.norm.logpdf(
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
