"""Baseline building blocks of the model: trend, seasonality, effects with pooling.

Every function here either builds numpy design arrays (no PyMC) or adds variables to the
active ``pm.Model`` and returns a pytensor tensor. Series live on two dims, ``route`` and
``group``; tensors over series have shape ``(..., route, group)`` so they broadcast with
``(month, route, group)``.

All latent structures are non-centred (standard-normal raw variables scaled by their sd),
which removes the funnels that otherwise cause divergences with few series.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

__all__ = [
    "ar1_trend",
    "fourier_features",
    "fourier_labels",
    "lag_matrix",
    "local_level_trend",
    "pooled_effects",
    "seasonality",
]

SERIES_DIMS: tuple[str, str] = ("route", "group")


# --------------------------------------------------------------------------- numpy designs


def fourier_labels(order: int) -> list[str]:
    """Coordinate labels of the Fourier terms: ``sin1, cos1, sin2, cos2, ...``."""
    return [f"{kind}{k}" for k in range(1, order + 1) for kind in ("sin", "cos")]


def fourier_features(months: pd.DatetimeIndex, order: int) -> np.ndarray:
    """Month-of-year Fourier terms, shape ``(month, 2 * order)``.

    Uses the calendar month (not the position in the window), so the same month of every
    year gets the same seasonal value whatever the window.
    """
    m = np.asarray(pd.DatetimeIndex(months).month, dtype=float) - 1.0
    cols = []
    for k in range(1, order + 1):
        angle = 2.0 * np.pi * k * m / 12.0
        cols.extend([np.sin(angle), np.cos(angle)])
    if not cols:
        return np.zeros((len(m), 0))
    return np.column_stack(cols)


def lag_matrix(x_ext: np.ndarray, history: int, n_lags: int) -> np.ndarray:
    """Lagged copies of an exposure: ``out[..., t, l] = x_ext[..., history + t - l]``.

    Parameters
    ----------
    x_ext
        Exposure over ``history`` months before the window plus the window, last axis
        ``month``. Months before ``x_ext`` begins count as zero.
    history
        Number of leading pre-window months in ``x_ext``.
    n_lags
        ``max_lag + 1``.

    Returns
    -------
    numpy.ndarray
        Shape ``(..., n_month, n_lags)`` with ``n_month = x_ext.shape[-1] - history``.
    """
    x_ext = np.asarray(x_ext, dtype=float)
    n_month = x_ext.shape[-1] - history
    out = np.zeros((*x_ext.shape[:-1], n_month, n_lags))
    for lag in range(n_lags):
        lo = history - lag
        if lo >= 0:
            out[..., :, lag] = x_ext[..., lo : lo + n_month]
        else:
            # Only the part of the window that has a source month this far back.
            out[..., -lo:, lag] = x_ext[..., : n_month + lo]
    return out


# --------------------------------------------------------------------------- model pieces


def ar1_trend(
    name: str,
    n_month: int,
    *,
    sigma_scale: float,
    rho_prior: tuple[float, float],
) -> TensorVariable:
    """Stationary AR(1) latent trend per series, non-centred, shape ``(month, route, group)``.

    ``trend[0] = sigma / sqrt(1 - rho**2) * z[0]``, ``trend[t] = rho * trend[t-1] +
    sigma * z[t]``, with ``z ~ Normal(0, 1)``, ``sigma[series] ~ HalfNormal(sigma_scale)``
    and one ``rho ~ Beta(a, b)`` shared by all series. Written as ``L(rho) @ (sigma * z)``
    with ``L[t, k] = rho**(t - k)`` for ``k <= t``: a dense ``(month, month)`` product is
    cheaper to differentiate than a scan for a few hundred months.
    """
    rho = pm.Beta(f"{name}_rho", alpha=rho_prior[0], beta=rho_prior[1])
    sigma = pm.HalfNormal(f"{name}_sigma", sigma=sigma_scale, dims=SERIES_DIMS)
    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=("month", *SERIES_DIMS))
    dist = np.subtract.outer(np.arange(n_month), np.arange(n_month)).astype(float)
    lower = dist >= 0
    L = pt.switch(lower, rho ** np.where(lower, dist, 0.0), 0.0)
    innov = sigma[None, :, :] * z
    # Stationary start: the first state has the AR(1)'s marginal sd.
    innov = pt.set_subtensor(innov[0], innov[0] / pt.sqrt(1.0 - rho**2))
    trend = pt.tensordot(L, innov, axes=[[1], [0]])
    return pm.Deterministic(name, trend, dims=("month", *SERIES_DIMS))


def local_level_trend(name: str, n_month: int, *, sigma_scale: float) -> TensorVariable:
    """Random-walk (local level) trend per series, non-centred, zero in the first month.

    ``trend[0] = 0``, ``trend[t] = trend[t-1] + sigma * z[t]``; the series intercept is
    therefore the level in the window's first month.
    """
    sigma = pm.HalfNormal(f"{name}_sigma", sigma=sigma_scale, dims=SERIES_DIMS)
    z = pm.Normal(f"{name}_z", 0.0, 1.0, shape=(n_month - 1, *_series_shape()))
    steps = sigma[None, :, :] * z
    trend = pt.concatenate([pt.zeros_like(steps[:1]), pt.cumsum(steps, axis=0)], axis=0)
    return pm.Deterministic(name, trend, dims=("month", *SERIES_DIMS))


def _series_shape() -> tuple[int, int]:
    model = pm.modelcontext(None)
    return (len(model.coords["route"]), len(model.coords["group"]))


def seasonality(
    name: str,
    features: TensorVariable,
    *,
    coef_sd: float,
    deviation_sd: float,
    hierarchical: bool,
) -> TensorVariable:
    """Fourier seasonality: pooled coefficients plus (optionally) per-series deviations.

    ``coef[f] ~ Normal(0, coef_sd)``; with ``hierarchical``, ``coef[f, series] = coef[f] +
    tau * z[f, series]``, ``tau ~ HalfNormal(deviation_sd)``, ``z ~ Normal(0, 1)``.

    Returns
    -------
    TensorVariable
        ``(month, route, group)`` (``(month, 1, 1)`` when pooled).
    """
    coef = pm.Normal(f"{name}_coef", 0.0, coef_sd, dims="fourier")
    if hierarchical:
        tau = pm.HalfNormal(f"{name}_dev_sd", sigma=deviation_sd)
        z = pm.Normal(f"{name}_dev_z", 0.0, 1.0, dims=("fourier", *SERIES_DIMS))
        full = coef[:, None, None] + tau * z
    else:
        full = coef[:, None, None]
    return pt.tensordot(features, full, axes=[[1], [0]])


def pooled_effects(
    name: str,
    *,
    labels: Sequence[str],
    prior_mu: np.ndarray,
    prior_sigma: np.ndarray,
    prior_nu: np.ndarray,
    pooling: Sequence[str],
    group_sd: np.ndarray,
    dim: str,
) -> tuple[TensorVariable, TensorVariable]:
    """Effects per item (driver) and series with per-item pooling, all non-centred.

    For item ``d`` with prior ``Normal(mu_d, sigma_d)`` (``StudentT(nu_d)`` where
    ``nu_d > 0``):

    - ``"partial"``: ``mean_d = mu_d + sigma_d * raw_d``; ``tau_d ~ HalfNormal(group_sd_d)``;
      ``effect[d, s] = mean_d + tau_d * z[d, s]``;
    - ``"complete"``: ``effect[d, s] = mean_d`` for every series;
    - ``"none"``: ``effect[d, s] = mu_d + sigma_d * z[d, s]`` independently per series, and
      ``mean_d`` is reported as the average of the series' effects.

    The arithmetic is written with constant 0/1 masks rather than indexing: elementwise
    graphs compile much faster with the numba backend. Raw variables an item does not use
    (e.g. ``z`` of a complete-pooling item) keep their standard-normal prior and cost
    nothing to sample.

    Returns
    -------
    mean, effect
        Deterministics ``{name}_mean`` (``dim``) and ``{name}`` (``dim, route, group``).
    """
    pooling = list(pooling)
    partial = np.array([p == "partial" for p in pooling], dtype=float)
    none = np.array([p == "none" for p in pooling], dtype=float)
    student = prior_nu > 0
    raw = pm.Normal(f"{name}_raw", 0.0, 1.0, dims=dim)
    if student.any():
        raw_t = pm.StudentT(f"{name}_raw_t", nu=np.where(student, prior_nu, 1.0), mu=0.0, sigma=1.0, dims=dim)
        raw = pt.where(student, raw_t, raw)
    mean = prior_mu + prior_sigma * raw
    eff = mean[:, None, None]
    if partial.any() or none.any():
        z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=(dim, *SERIES_DIMS))
        scale = prior_sigma * none
        centre = mean * (1.0 - none) + prior_mu * none
        if partial.any():
            tau = pm.HalfNormal(f"{name}_group_sd", sigma=group_sd, dims=dim)
            scale = scale + tau * partial
        eff = centre[:, None, None] + scale[:, None, None] * z
        if none.any():
            # "none" has no population mean: report the average over series instead.
            mean = pt.where(none > 0, eff.mean(axis=(1, 2)), mean)
    R, G = _series_shape()
    eff = eff * np.ones((1, R, G))
    mean_det = pm.Deterministic(f"{name}_mean", mean, dims=dim)
    eff_det = pm.Deterministic(name, eff, dims=(dim, *SERIES_DIMS))
    return mean_det, eff_det
