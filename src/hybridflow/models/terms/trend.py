"""Latent trend terms, keyed by ``baseline.trend``: ``ar1``, ``local_level``, ``none``.

The process lives on knots every ``trend_step`` months (the last knot is the last
fitted month) and is linear in between (:func:`~hybridflow.models.components.ar1_trend`).
In numpy the knots are rebuilt from the parameters: sampled directly (centred), or
``u = L(rho) @ (sigma * z)`` (non-centred). Past the fit the process continues with
the same draws of ``rho`` (1 for a local level) and ``sigma``: new knots every
``trend_step`` months, ``u[k] = rho u[k-1] + sigma eps``, linear in between, so the
forecast's uncertainty grows with the horizon. With ``priors.trend_prior = "fixed"``
``sigma`` is the constant ``priors.trend_sd`` (no parameter; the term supplies it).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from hybridflow.models import components as comp
from hybridflow.models.terms.base import BuildContext, Design, Draws, Term

__all__ = ["AR1Trend", "LocalLevelTrend", "NoTrend", "continue_knots"]


class _KnotTrend(Term):
    """A knot process over the ``n_month`` fitted months (``trend(month, route, group)``)."""

    #: True when ``rho`` is learned (AR(1)); a local level has ``rho = 1``.
    has_rho: ClassVar[bool] = True

    def __init__(
        self, n_month: int, step: int, centred: bool, fixed_sigma: float | None = None
    ) -> None:
        super().__init__()
        self.n_month, self.step, self.centred = n_month, step, centred
        #: The innovation sd when it is fixed (``priors.trend_prior = "fixed"``), else None.
        self.fixed_sigma = fixed_sigma

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(step={self.step}, centred={self.centred}, "
            f"fixed_sigma={self.fixed_sigma})"
        )

    def _sigma_prior(self) -> str:
        return "halfnormal" if self.fixed_sigma is None else "fixed"

    def _sigma(self, draws: Draws, series_shape: tuple[int, int]) -> np.ndarray:
        """``(sample, route, group)`` draws of the innovation sd (constant when fixed)."""
        if self.fixed_sigma is None:
            return draws.get("trend_sigma", "route", "group")
        return np.full((draws.n, *series_shape), self.fixed_sigma)

    def _rho(self, draws: Draws) -> np.ndarray:
        """``(sample,)`` draws of rho."""
        return draws.get("trend_rho") if self.has_rho else np.ones(draws.n)

    def knots(self, draws: Draws) -> np.ndarray:
        """Knot values ``(sample, knot, route, group)`` from the parameters."""
        if self.centred:
            return np.moveaxis(draws.get("trend_u", "route", "group", "trend_knot"), -1, 1)
        z = draws.get("trend_z", "trend_knot", "route", "group")
        sigma = self._sigma(draws, z.shape[2:])
        K = z.shape[1]
        dist = np.subtract.outer(np.arange(K), np.arange(K)).astype(float)
        lower = dist >= 0
        rho = self._rho(draws)[:, None, None]
        L = np.where(lower, rho ** np.where(lower, dist, 0.0), 0.0)
        return np.einsum("skj,sjrg->skrg", L, sigma[:, None] * z)

    def evaluate(self, draws: Draws, design: Design) -> np.ndarray:
        if design.n_months != self.n_month:
            raise ValueError(
                f"the trend is defined on the {self.n_month} fitted months, not "
                f"{design.n_months}; use extend() for months after the fit"
            )
        u = self.knots(draws)
        if self.step == 1:
            return u
        B = comp.interpolation_matrix(self.n_month, self.step)
        return np.einsum("tk,skrg->strg", B, u)

    def extend(
        self, draws: Draws, design: Design, horizon: int, rng: np.random.Generator
    ) -> np.ndarray:
        return self.continue_from(draws, self.knots(draws)[:, -1], horizon, rng)

    def continue_from(
        self, draws: Draws, last: np.ndarray, horizon: int, rng: np.random.Generator
    ) -> np.ndarray:
        """``(sample, horizon, route, group)``: the process continued from ``last``
        ``(sample, route, group)``, its value in the last fitted month (a knot)."""
        sigma = self._sigma(draws, last.shape[1:])
        return continue_knots(last, self._rho(draws), sigma, self.step, horizon, rng)


class AR1Trend(_KnotTrend):
    """AR(1) trend: ``trend_rho ~ Beta``, ``trend_sigma[s]`` fixed or ``~ HalfNormal``."""

    name = "ar1"

    def add_to_model(self, ctx: BuildContext) -> Any:
        pri = ctx.spec.baseline.priors
        return comp.ar1_trend(
            "trend",
            self.n_month,
            step=self.step,
            sigma_scale=pri.trend_sd,
            rho_prior=pri.ar_rho,
            centred=self.centred,
            sigma_prior=self._sigma_prior(),
        )


class LocalLevelTrend(_KnotTrend):
    """Random-walk trend: the AR(1) with ``rho = 1``."""

    name = "local_level"
    has_rho = False

    def add_to_model(self, ctx: BuildContext) -> Any:
        return comp.local_level_trend(
            "trend",
            self.n_month,
            step=self.step,
            sigma_scale=ctx.spec.baseline.priors.trend_sd,
            centred=self.centred,
            sigma_prior=self._sigma_prior(),
        )


class NoTrend(Term):
    """``trend = "none"``: no latent trend (nothing added, zero everywhere)."""

    name = "none"

    def __init__(
        self, n_month: int = 0, step: int = 1, centred: bool = True,
        fixed_sigma: float | None = None,
    ) -> None:
        super().__init__()

    def add_to_model(self, ctx: BuildContext) -> Any:
        return None

    def evaluate(self, draws: Draws, design: Design) -> np.ndarray:
        return np.zeros((draws.n, 1, 1, 1))

    def extend(
        self, draws: Draws, design: Design, horizon: int, rng: np.random.Generator
    ) -> np.ndarray:
        return np.zeros((draws.n, 1, 1, 1))


def continue_knots(
    last: np.ndarray,
    rho: np.ndarray,
    sigma: np.ndarray,
    step: int,
    horizon: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Continue a knot process ``horizon`` months past its last knot ``last``.

    Parameters
    ----------
    last
        ``(sample, route, group)`` value at the last fitted month (a knot).
    rho, sigma
        ``(sample,)`` and ``(sample, route, group)`` draws.

    Returns
    -------
    numpy.ndarray
        ``(sample, horizon, route, group)``.
    """
    S, R, G = last.shape
    rho = np.asarray(rho, dtype=float).reshape(S, 1, 1)
    n_knots = math.ceil(horizon / step)
    eps = rng.standard_normal((n_knots, S, R, G))
    knots = [last]
    for k in range(n_knots):
        knots.append(rho * knots[-1] + sigma * eps[k])
    out = np.empty((S, horizon, R, G))
    for j in range(1, horizon + 1):
        a, frac = divmod(j, step)
        f = frac / step
        out[:, j - 1] = knots[a] if f == 0 else (1.0 - f) * knots[a] + f * knots[a + 1]
    return out
