"""Baseline building blocks of the model: trend, seasonality, effects with pooling.

Every function here either builds numpy design arrays (no PyMC) or adds variables to the
active ``pm.Model`` and returns a pytensor tensor. Series live on two dims, ``route`` and
``group``; tensors over series have shape ``(..., route, group)`` so they broadcast with
``(month, route, group)``.

All latent structures are non-centred (standard-normal raw variables scaled by their sd),
which removes the funnels that otherwise cause divergences with few series.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

__all__ = [
    "ar1_noise",
    "ar1_trend",
    "interpolation_matrix",
    "knot_positions",
    "fourier_features",
    "GROUP_PRIORS",
    "fourier_labels",
    "lag_matrix",
    "local_level_trend",
    "group_sd_prior",
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


def knot_positions(n_month: int, step: int) -> np.ndarray:
    """Month positions of the trend knots: every ``step`` months, always incl. the last."""
    knots = list(range(0, n_month, step))
    if knots[-1] != n_month - 1:
        knots.append(n_month - 1)
    return np.asarray(knots)


def interpolation_matrix(n_month: int, step: int) -> np.ndarray:
    """``(month, knot)`` weights of piecewise-linear interpolation between the knots."""
    knots = knot_positions(n_month, step)
    B = np.zeros((n_month, len(knots)))
    for t in range(n_month):
        j = int(np.searchsorted(knots, t, side="right")) - 1
        if j >= len(knots) - 1:
            B[t, -1] = 1.0
            continue
        lo, hi = knots[j], knots[j + 1]
        frac = (t - lo) / (hi - lo)
        B[t, j] = 1.0 - frac
        B[t, j + 1] = frac
    return B


def _to_months(name: str, knots_val: TensorVariable, n_month: int, step: int) -> TensorVariable:
    """Interpolate ``(knot, route, group)`` values to ``(month, route, group)``."""
    if step == 1:
        trend = knots_val
    else:
        B = interpolation_matrix(n_month, step)
        trend = pt.tensordot(B, knots_val, axes=[[1], [0]])
    return pm.Deterministic(name, trend, dims=("month", *SERIES_DIMS))


def _ar1_logp_fn(stationary: bool) -> Callable[..., TensorVariable]:
    """log density of ``u[0] ~ N(0, sd0)``, ``u[k] ~ N(rho u[k-1], sigma)`` (time last),
    ``sd0 = sigma / sqrt(1 - rho**2)`` if ``stationary`` else ``sigma``.

    The last parameter only carries the support length (a CustomDist needs it among its
    params)."""

    def logp(
        value: TensorVariable, rho: TensorVariable, sigma: TensorVariable, _: TensorVariable
    ) -> TensorVariable:
        sd0 = sigma / pt.sqrt(1.0 - rho**2) if stationary else sigma
        first = pm.logp(pm.Normal.dist(0.0, sd0), value[..., 0])
        rest = pm.logp(
            pm.Normal.dist(rho[..., None] * value[..., :-1], sigma[..., None]), value[..., 1:]
        ).sum(axis=-1)
        return first + rest

    return logp


def _ar1_random(n_knot: int, stationary: bool = False) -> Callable[..., np.ndarray]:
    """Forward draws of :func:`_ar1_logp_fn`'s process over ``n_knot`` steps."""

    def random(
        rho: np.ndarray,
        sigma: np.ndarray,
        knots: np.ndarray,
        rng: np.random.Generator | None = None,
        size: tuple[int, ...] | None = None,
    ) -> np.ndarray:
        rng = rng if rng is not None else np.random.default_rng()
        batch = np.broadcast_shapes(np.shape(rho), np.shape(sigma), tuple(size or ()))
        rho_b = np.broadcast_to(rho, batch)
        out = np.empty((*batch, n_knot))
        eps = rng.normal(size=out.shape) * np.asarray(sigma)[..., None]
        out[..., 0] = eps[..., 0] / np.sqrt(1.0 - rho_b**2) if stationary else eps[..., 0]
        for k in range(1, n_knot):
            out[..., k] = rho_b * out[..., k - 1] + eps[..., k]
        return out

    return random


def _knot_process(
    name: str,
    n_month: int,
    *,
    step: int,
    rho: TensorVariable,
    sigma: TensorVariable,
    centred: bool,
) -> TensorVariable:
    """The AR(1) / random-walk knot process, interpolated to ``(month, route, group)``."""
    knots = knot_positions(n_month, step)
    K = len(knots)
    model = pm.modelcontext(None)
    if "trend_knot" not in model.coords:
        model.add_coord("trend_knot", knots)
    if centred:
        u_sk = pm.CustomDist(
            f"{name}_u",
            rho,
            sigma,
            np.arange(K, dtype=float),
            logp=_ar1_logp_fn(stationary=False),
            random=_ar1_random(K),
            signature="(),(),(k)->(k)",
            dims=(*SERIES_DIMS, "trend_knot"),
        )
        u = u_sk.transpose(2, 0, 1)
    else:
        z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=("trend_knot", *SERIES_DIMS))
        dist = np.subtract.outer(np.arange(K), np.arange(K)).astype(float)
        lower = dist >= 0
        L = pt.switch(lower, rho ** np.where(lower, dist, 0.0), 0.0)
        u = pt.tensordot(L, sigma[None, :, :] * z, axes=[[1], [0]])
    return _to_months(name, u, n_month, step)


def ar1_trend(
    name: str,
    n_month: int,
    *,
    step: int,
    sigma_scale: float,
    rho_prior: tuple[float, float],
    centred: bool = True,
    sigma_prior: str = "halfnormal",
) -> TensorVariable:
    """AR(1) latent trend per series, shape ``(month, route, group)``.

    The process lives on knots every ``step`` months (``step = 1``: every month) and is
    linearly interpolated in between: ``u[0] ~ N(0, sigma)``, ``u[k] ~ N(rho u[k-1],
    sigma)``, with ``sigma[series] ~ HalfNormal(sigma_scale)`` (``sigma_prior =
    "halfnormal"``) or ``sigma = sigma_scale`` (``"fixed"``, no parameter) and one ``rho ~
    Beta(a, b)`` shared by all series (both per knot step). The first state has sd ``sigma``, not the
    stationary ``sigma / sqrt(1 - rho**2)``: the intercept sets the level, and the
    stationary scaling makes a funnel as ``rho`` approaches 1.

    ``centred`` samples the knot values themselves (best when the counts inform every
    knot, as on the eastern borders); otherwise ``u = L(rho) @ (sigma * z)`` with
    ``z ~ Normal(0, 1)`` and ``L[k, j] = rho**(k - j)`` (best for sparse data).
    """
    rho = pm.Beta(f"{name}_rho", alpha=rho_prior[0], beta=rho_prior[1])
    sigma = _trend_sigma(name, sigma_scale, sigma_prior)
    return _knot_process(name, n_month, step=step, rho=rho, sigma=sigma, centred=centred)


#: ``baseline.priors.trend_prior``: how the trend's innovation sd per series is set.
TREND_PRIORS: tuple[str, ...] = ("fixed", "halfnormal")


def _trend_sigma(name: str, sigma_scale: float, kind: str) -> TensorVariable:
    """The trend's innovation sd per series (:func:`scale_prior` over the series)."""
    model = pm.modelcontext(None)
    shape = tuple(len(model.coords[d]) for d in SERIES_DIMS)
    return scale_prior(f"{name}_sigma", np.full(shape, float(sigma_scale)), kind, SERIES_DIMS,
                       option="trend_prior")


def local_level_trend(
    name: str,
    n_month: int,
    *,
    step: int,
    sigma_scale: float,
    centred: bool = True,
    sigma_prior: str = "halfnormal",
) -> TensorVariable:
    """Random-walk (local level) trend per series: the AR(1) above with ``rho = 1``.

    Knots every ``step`` months, linearly interpolated: ``u[0] ~ N(0, sigma)``,
    ``u[k] ~ N(u[k-1], sigma)``.
    """
    sigma = _trend_sigma(name, sigma_scale, sigma_prior)
    rho = pt.as_tensor_variable(np.float64(1.0))
    return _knot_process(name, n_month, step=step, rho=rho, sigma=sigma, centred=centred)


def ar1_noise(
    name: str,
    n_month: int,
    *,
    sigma_scale: float,
    rho_prior: tuple[float, float],
    centred: bool = False,
) -> TensorVariable:
    """Mean-zero monthly AR(1) noise per series, shape ``(month, route, group)``.

    ``eps[t] = rho eps[t-1] + sigma[s] innovation[t, s]``, started from the stationary
    distribution (``eps[0]`` has sd ``sigma / sqrt(1 - rho**2)``), ``sigma[s] ~
    HalfNormal(sigma_scale)``, one ``rho ~ Beta(a, b)`` shared by the series.

    ``centred`` samples ``eps`` itself (``{name}_eps``, time last; right when the counts
    pin every month's rate); otherwise (non-centred) ``eps = L(rho) @ (sigma * z')`` with
    ``z ~ Normal(0, 1)``, ``L[t, j] = rho**(t - j)`` for ``j <= t`` (no scan; right for
    sparse series).
    """
    model = pm.modelcontext(None)
    rho = pm.Beta(f"{name}_rho", alpha=rho_prior[0], beta=rho_prior[1])
    sigma = pm.HalfNormal(f"{name}_sigma", sigma=sigma_scale, dims=SERIES_DIMS)
    assert len(model.coords["month"]) == n_month
    if centred:
        eps_st = pm.CustomDist(
            f"{name}_eps",
            rho,
            sigma,
            np.arange(n_month, dtype=float),
            logp=_ar1_logp_fn(stationary=True),
            random=_ar1_random(n_month, stationary=True),
            signature="(),(),(t)->(t)",
            dims=(*SERIES_DIMS, "month"),
        )
        return pm.Deterministic(name, eps_st.transpose(2, 0, 1), dims=("month", *SERIES_DIMS))
    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=("month", *SERIES_DIMS))
    dist = np.subtract.outer(np.arange(n_month), np.arange(n_month)).astype(float)
    lower = dist >= 0
    L = pt.switch(lower, rho ** np.where(lower, dist, 0.0), 0.0)
    start = np.zeros(n_month)
    start[0] = 1.0
    # The first innovation carries the stationary sd; the later ones sigma.
    scale = 1.0 + start * (1.0 / pt.sqrt(1.0 - rho**2) - 1.0)
    innovations = sigma[None, :, :] * z * scale[:, None, None]
    eps = pt.tensordot(L, innovations, axes=[[1], [0]])
    return pm.Deterministic(name, eps, dims=("month", *SERIES_DIMS))


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
    deviation_prior: str = "halfnormal",
) -> TensorVariable:
    """Fourier seasonality: pooled coefficients plus (optionally) per-series deviations.

    ``coef[f] ~ Normal(0, coef_sd)``; with ``hierarchical``, ``coef[f, series] = coef[f] +
    tau * z[f, series]``, ``z ~ Normal(0, 1)``, ``tau ~ HalfNormal(deviation_sd)``
    (``deviation_prior = "halfnormal"``) or ``tau = deviation_sd`` (``"fixed"``).

    Returns
    -------
    TensorVariable
        ``(month, route, group)`` (``(month, 1, 1)`` when pooled).
    """
    coef = pm.Normal(f"{name}_coef", 0.0, coef_sd, dims="fourier")
    if hierarchical:
        tau = scale_prior(f"{name}_dev_sd", np.float64(deviation_sd), deviation_prior, (),
                          option="season_dev_prior")
        z = pm.Normal(f"{name}_dev_z", 0.0, 1.0, dims=("fourier", *SERIES_DIMS))
        full = coef[:, None, None] + tau * z
    else:
        full = coef[:, None, None]
    return pt.tensordot(features, full, axes=[[1], [0]])


#: Priors of the between-group sd ``tau_d`` of a partially pooled driver, keyed by
#: ``baseline.priors.group_prior``. ``halfnormal`` (default): ``HalfNormal(group_sd)``, mass
#: down to ``tau = 0`` (complete pooling where the groups agree) and, at the default scale
#: 0.32, as much prior room for a between-group difference beyond +-40% as the effect prior
#: gives one group's effect beyond +40% (about 0.29 each; docs/models.md). ``gamma``: the
#: earlier boundary-avoiding ``Gamma(2, 2 / group_sd)`` (mean ``group_sd``, zero density at
#: 0; Chung et al. 2013), kept to reproduce earlier runs: at its old scale 0.15 it pulled a
#: +40% effect on one of two groups and 0 on the other together (about +21..+26% each).
#: ``fixed``: ``tau_d = group_sd`` (a constant, no parameter): a hierarchical model with a
#: known between-group sd. With two groups the data barely inform ``tau_d`` and its funnel
#: with ``z`` leaves ESS below the gate's 400 in most audit worlds; fixing it at the
#: halfnormal's scale keeps the prior room for the groups to differ (docs/models.md).
GROUP_PRIORS: tuple[str, ...] = ("halfnormal", "fixed", "gamma")


def scale_prior(
    name: str,
    scale: np.ndarray | float,
    kind: str,
    dims: str | tuple[str, ...],
    option: str = "the scale prior",
) -> TensorVariable:
    """A scale parameter (an sd of deviations or innovations), one owner for every term:
    ``halfnormal`` learns it (``HalfNormal(scale)``), ``gamma`` too (``Gamma(2, 2 / scale)``,
    mean ``scale``, zero density at 0), ``fixed`` makes it the constant ``scale`` (no
    parameter: with few series the data barely inform it and its funnel fails the gate).
    ``scale`` has the shape of ``dims`` (``()``: a scalar); ``option`` names the spec
    field in the error for an unknown ``kind``."""
    if kind == "halfnormal":
        return pm.HalfNormal(name, sigma=scale, dims=dims or None)
    if kind == "gamma":
        return pm.Gamma(name, alpha=2.0, beta=2.0 / np.asarray(scale), dims=dims or None)
    if kind == "fixed":
        return pt.as_tensor_variable(np.asarray(scale, dtype=float))
    raise ValueError(f"{option} must be one of {GROUP_PRIORS}, got {kind!r}")


def group_sd_prior(name: str, group_sd: np.ndarray, kind: str, dim: str) -> TensorVariable:
    """The between-group sd per item (``dim``): prior ``kind`` (:data:`GROUP_PRIORS`) at
    scale ``group_sd``."""
    return scale_prior(name, group_sd, kind, dim, option="group_prior")


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
    group_prior: str = "halfnormal",
) -> tuple[TensorVariable, TensorVariable]:
    """Effects per item (driver) and series with per-item pooling, all non-centred.

    For item ``d`` with prior ``Normal(mu_d, sigma_d)`` (``StudentT(nu_d)`` where
    ``nu_d > 0``):

    - ``"partial"``: ``mean_d = mu_d + sigma_d * raw_d``; ``tau_d ~ HalfNormal(group_sd_d)``
      (``group_prior = "gamma"``: ``Gamma(2, 2 / group_sd_d)``; see :data:`GROUP_PRIORS`);
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
        raw_t = pm.StudentT(
            f"{name}_raw_t", nu=np.where(student, prior_nu, 1.0), mu=0.0, sigma=1.0, dims=dim
        )
        raw = pt.where(student, raw_t, raw)
    mean = prior_mu + prior_sigma * raw
    eff = mean[:, None, None]
    if partial.any() or none.any():
        z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=(dim, *SERIES_DIMS))
        scale = prior_sigma * none
        centre = mean * (1.0 - none) + prior_mu * none
        if partial.any():
            tau = group_sd_prior(f"{name}_group_sd", group_sd, group_prior, dim)
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
