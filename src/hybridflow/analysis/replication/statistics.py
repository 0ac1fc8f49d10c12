"""The statistics behind the replication: Pearson r, its p-value, autocorrelation, detrending.

With about 40 trending, autocorrelated months, a naive p-value overstates the evidence;
:func:`effective_n` gives Bartlett's effective sample size
``n_eff = n (1 - rho_x rho_y) / (1 + rho_x rho_y)`` from the lag-1 autocorrelations, and
:func:`remove_trend_season` takes a linear trend and month-of-year seasonality out of a
series by ordinary least squares (by Frisch-Waugh-Lovell, the correlation of two such
residual series is the partial correlation given trend and season).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "effective_n",
    "lag1_autocorrelation",
    "pearson",
    "pearson_pvalue",
    "r_r2_consistent",
    "remove_trend_season",
]


def _aligned(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(x, pd.Series) and isinstance(y, pd.Series):
        x, y = x.align(y, join="inner")
    a = np.asarray(x, dtype=float).ravel()
    b = np.asarray(y, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"x and y differ in length ({a.size} vs {b.size})")
    return a, b


def pearson(x: Any, y: Any) -> tuple[float, float, int]:
    """Pearson correlation over the pairs where both values are finite.

    Parameters
    ----------
    x, y
        Equal-length array-likes, or two ``pandas.Series`` (aligned on their index first).

    Returns
    -------
    tuple
        ``(r, r2, n)``: the correlation, its square and the number of pairs used. ``r`` is
        NaN when fewer than three pairs remain or either series is constant.
    """
    a, b = _aligned(x, y)
    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    if n < 3:
        return math.nan, math.nan, n
    da = a[ok] - a[ok].mean()
    db = b[ok] - b[ok].mean()
    den = math.sqrt(float(np.sum(da * da)) * float(np.sum(db * db)))
    if den == 0.0:
        return math.nan, math.nan, n
    r = float(np.clip(np.sum(da * db) / den, -1.0, 1.0))
    return r, r * r, n


def pearson_pvalue(r: float, n: int, *, n_controls: int = 0, n_eff: float | None = None) -> float:
    """Two-sided p-value of a (partial) Pearson r under independence.

    Uses ``t = r sqrt(df / (1 - r^2))`` with ``df = n - 2 - n_controls`` (``n_controls``:
    regressors partialled out of both series, e.g. trend and month dummies). With
    ``n_eff`` (an effective sample size, see :func:`effective_n`) the degrees of freedom
    shrink in proportion, ``df * n_eff / n``. NaN when ``df <= 0`` or ``r`` is NaN.
    """
    df = float(n - 2 - n_controls)
    if n_eff is not None and n > 0:
        df *= n_eff / n
    if not math.isfinite(r) or not math.isfinite(df) or df <= 0:
        return math.nan
    if abs(r) >= 1.0:
        return 0.0
    t = r * math.sqrt(df / (1.0 - r * r))
    return float(2.0 * stats.t.sf(abs(t), df))


def lag1_autocorrelation(x: Any) -> float:
    """Lag-1 autocorrelation ``sum (x_t - m)(x_{t+1} - m) / sum (x_t - m)^2``.

    NaNs split the series: only consecutive finite pairs enter the numerator.
    """
    a = np.asarray(x, dtype=float).ravel()
    fin = np.isfinite(a)
    if fin.sum() < 3:
        return math.nan
    d = a - a[fin].mean()
    den = float(np.sum(d[fin] ** 2))
    pair = fin[:-1] & fin[1:]
    if den == 0.0 or not pair.any():
        return math.nan
    return float(np.sum(d[:-1][pair] * d[1:][pair]) / den)


def effective_n(n: int, rho_x: float, rho_y: float) -> float:
    """Bartlett's effective sample size for the correlation of two AR(1)-like series.

    ``n_eff = n (1 - rho_x rho_y) / (1 + rho_x rho_y)``, clipped to ``[3, n]``; ``n`` when
    either autocorrelation is NaN. Two series that both trend (rho near 1) carry far fewer
    independent months than ``n``.
    """
    if not (math.isfinite(rho_x) and math.isfinite(rho_y)):
        return float(n)
    prod = rho_x * rho_y
    raw = n * (1.0 - prod) / (1.0 + prod)
    return float(min(max(raw, 3.0), n))


def _trend_season_design(index: pd.DatetimeIndex) -> np.ndarray:
    """Intercept, linear trend in months, and a dummy per month-of-year present bar one."""
    t = (index.year - index[0].year) * 12 + (index.month - index[0].month)
    cols = [np.ones(len(index)), np.asarray(t, dtype=float)]
    present = sorted(set(index.month))
    for m in present[1:]:
        cols.append((index.month == m).astype(float))
    return np.column_stack(cols)


def remove_trend_season(series: pd.Series) -> pd.Series:
    """Residuals of a monthly series after an OLS fit of linear trend + month-of-year dummies.

    Parameters
    ----------
    series
        Indexed by month-start Timestamps. NaNs are skipped in the fit and stay NaN.

    Returns
    -------
    pandas.Series
        Same index; the residuals. ``attrs["n_controls"]`` holds the number of regressors
        removed besides the intercept (trend + dummies), for p-value degrees of freedom.
    """
    s = series.astype(float)
    ok = s.notna().to_numpy()
    out = pd.Series(np.nan, index=s.index, name=s.name)
    idx = pd.DatetimeIndex(s.index[ok])
    if len(idx) < 3:
        out.attrs["n_controls"] = 0
        return out
    design = _trend_season_design(idx)
    yv = s.to_numpy()[ok]
    beta, *_ = np.linalg.lstsq(design, yv, rcond=None)
    out.iloc[np.flatnonzero(ok)] = yv - design @ beta
    out.attrs["n_controls"] = int(design.shape[1] - 1)
    return out


def r_r2_consistent(r: float, r2: float, *, r_decimals: int, r2_decimals: int) -> bool:
    """Whether a printed r and a printed r^2 can both be roundings of one correlation.

    The interval of r values that round to the printed r is squared and compared with the
    interval that rounds to the printed r^2; they are consistent when the two overlap.
    """
    hr = 0.5 * 10.0 ** (-r_decimals)
    h2 = 0.5 * 10.0 ** (-r2_decimals)
    lo, hi = abs(r) - hr, abs(r) + hr
    sq_lo = 0.0 if lo <= 0 else lo * lo
    sq_hi = hi * hi
    return sq_lo <= r2 + h2 and r2 - h2 <= sq_hi
