"""The replication's statistics: Pearson r, p-values, autocorrelation, detrending."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hybridflow.analysis.replication import (
    effective_n,
    lag1_autocorrelation,
    pearson,
    pearson_pvalue,
    r_r2_consistent,
    remove_trend_season,
)


def test_pearson_equals_numpy_and_r2_is_its_square() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    y = 0.6 * x + rng.normal(size=50)
    r, r2, n = pearson(x, y)
    assert n == 50
    assert r == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    assert r2 == pytest.approx(r * r, abs=1e-15)


def test_pearson_drops_incomplete_pairs_and_aligns_series() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=30)
    y = rng.normal(size=30)
    x[3] = np.nan
    y[10] = np.inf
    keep = np.ones(30, bool)
    keep[[3, 10]] = False
    r, _, n = pearson(x, y)
    assert n == 28
    assert r == pytest.approx(np.corrcoef(x[keep], y[keep])[0, 1], abs=1e-12)
    # Series are aligned on their index, not by position.
    sx = pd.Series([1.0, 2.0, 3.0, 4.0], index=[0, 1, 2, 3])
    sy = pd.Series([4.0, 3.0, 2.0, 1.0, 100.0], index=[3, 2, 1, 0, 9])
    assert pearson(sx, sy)[0] == pytest.approx(1.0)


def test_pearson_degenerate_cases_are_nan() -> None:
    assert math.isnan(pearson([1.0, 2.0], [3.0, 4.0])[0])
    assert math.isnan(pearson([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0])[0])
    with pytest.raises(ValueError, match="differ in length"):
        pearson([1.0, 2.0, 3.0], [1.0, 2.0])


def test_pvalue_equals_scipy_pearsonr() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    y = 0.3 * x + rng.normal(size=40)
    r, _, n = pearson(x, y)
    assert pearson_pvalue(r, n) == pytest.approx(stats.pearsonr(x, y).pvalue, rel=1e-9)


def test_partial_correlation_pvalue_equals_ols_coefficient_test() -> None:
    """Frisch-Waugh-Lovell: residual r with df n-2-k gives the OLS t-test of x."""
    sm = pytest.importorskip("statsmodels.api")
    months = pd.date_range("2022-02-01", periods=42, freq="MS")
    rng = np.random.default_rng(4)
    t = np.arange(42.0)
    season = np.sin(2 * np.pi * months.month / 12)
    x = pd.Series(5 + 0.2 * t + season + rng.normal(size=42), index=months)
    y = pd.Series(1 + 0.1 * t + 2 * season + 0.4 * x + rng.normal(size=42), index=months)
    rx, ry = remove_trend_season(x), remove_trend_season(y)
    k = rx.attrs["n_controls"]
    assert k == 12  # trend + 11 month dummies
    r, _, n = pearson(rx, ry)
    dummies = pd.get_dummies(months.month, drop_first=True).to_numpy(dtype=float)
    design = sm.add_constant(np.column_stack([x.to_numpy(), t, dummies]))
    fit = sm.OLS(y.to_numpy(), design).fit()
    assert pearson_pvalue(r, n, n_controls=k) == pytest.approx(fit.pvalues[1], rel=1e-6)


def test_effective_n_bartlett() -> None:
    assert effective_n(40, 0.0, 0.5) == 40
    assert effective_n(40, 0.5, 0.5) == pytest.approx(40 * 0.75 / 1.25)
    assert effective_n(40, 0.99, 0.99) == 3.0  # clipped
    assert effective_n(40, math.nan, 0.5) == 40
    # Fewer effective months: a larger p-value for the same r.
    assert pearson_pvalue(0.4, 40, n_eff=10) > pearson_pvalue(0.4, 40)


def test_lag1_autocorrelation() -> None:
    sm = pytest.importorskip("statsmodels.tsa.stattools")
    rng = np.random.default_rng(5)
    x = rng.normal(size=60).cumsum()
    assert lag1_autocorrelation(x) == pytest.approx(sm.acf(x, nlags=1)[1], rel=1e-9)
    assert lag1_autocorrelation(np.tile([1.0, -1.0], 20)) < -0.9
    assert lag1_autocorrelation(np.arange(50.0)) > 0.9


def test_remove_trend_season_clears_trend_and_season_and_keeps_nans() -> None:
    months = pd.date_range("2020-01-01", periods=48, freq="MS")
    pattern = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8], float)
    s = pd.Series(10 + 0.7 * np.arange(48) + pattern[months.month - 1], index=months)
    s.iloc[7] = np.nan
    res = remove_trend_season(s)
    assert np.isnan(res.iloc[7])
    assert np.nanmax(np.abs(res.to_numpy())) < 1e-9
    assert res.attrs["n_controls"] == 12


def test_r_r2_consistency() -> None:
    assert r_r2_consistent(0.5, 0.26, r_decimals=1, r2_decimals=2)
    assert r_r2_consistent(0.17, 0.03, r_decimals=2, r2_decimals=2)
    assert not r_r2_consistent(-0.8, 0.007, r_decimals=1, r2_decimals=3)
    assert r_r2_consistent(-0.8, 0.64, r_decimals=1, r2_decimals=2)


def test_random_walks_correlate_in_levels_not_in_differences() -> None:
    """Spurious regression: independent random walks, 41 months, 300 fixed-seed pairs."""
    rng = np.random.default_rng(20250101)
    levels, diffs = [], []
    for _ in range(300):
        a = rng.normal(size=41).cumsum()
        b = rng.normal(size=41).cumsum()
        levels.append(abs(pearson(a, b)[0]))
        diffs.append(abs(pearson(np.diff(a), np.diff(b))[0]))
    assert np.median(levels) > 0.3
    assert np.median(diffs) < 0.15
    assert np.mean(np.array(levels) > 0.5) > 0.2  # many |r| > 0.5 from nothing at all
    assert np.mean(np.array(diffs) > 0.5) < 0.01
