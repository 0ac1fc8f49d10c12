"""Likelihood families, keyed by ``likelihood.family``: negbin, poisson, binomial,
betabinomial.

A :class:`Family` owns everything about its observation model: the link (and the
intercept's centre on the link scale), the observation node ``y`` in the PyMC model, its
dispersion parameter (the posterior name the PPC and forecasts read, and the gate
checks in a null model), predictive draws in numpy (random, for the PPC; by inversion
with common random numbers, for forecasts) and the log probability of observed counts
(the episode check's log score).
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import pymc as pm
from scipy import stats

from hybridflow.errors import SpecError
from hybridflow.models.terms.base import BuildContext, lookup

__all__ = [
    "FAMILIES",
    "BetaBinomial",
    "Binomial",
    "Family",
    "NegativeBinomial",
    "Poisson",
    "family_named",
    "fit_family",
    "infer_family",
]

# exp(40) ~ 2e17 keeps numpy's Poisson sampler in range when wild prior draws of log_mu
# would overflow; far above any count the model is used for.
_ETA_MAX = 40.0


class Family(ABC):
    """A likelihood family of the outcome ``y``, given the linear predictor ``eta``."""

    name: ClassVar[str] = ""
    #: Posterior name of the dispersion parameter (None: the family has none).
    dispersion: ClassVar[str | None] = None
    #: Counts per group (additive: route totals make sense) or shares of a total.
    counts: ClassVar[bool] = True

    @property
    def gate_vars(self) -> list[str]:
        """Checked by the convergence gate in a model without driver effects."""
        return [self.dispersion] if self.dispersion else []

    # -- link ----------------------------------------------------------------------
    @abstractmethod
    def inverse_link(self, eta: Any) -> Any:
        """Expected count (log link) or share (logit link) of ``eta``."""

    @abstractmethod
    def centre(self, y: np.ndarray, trials: np.ndarray | None) -> np.ndarray:
        """``(route, group)`` link of the mean outcome: where the intercept is centred."""

    # -- model ---------------------------------------------------------------------
    @abstractmethod
    def add_to_model(self, ctx: BuildContext, eta_obs: Any, y_data: Any, series: Any) -> None:
        """Create the observation node ``y`` (dims ``obs``) at ``eta_obs``."""

    def _dispersion_node(self, ctx: BuildContext, series: Any) -> Any:
        """``1 / dispersion_inv_sqrt**2`` per series, gathered to the observed cells."""
        assert self.dispersion is not None
        _, R, G = ctx.shape
        inv = pm.HalfNormal(
            "dispersion_inv_sqrt",
            sigma=ctx.spec.baseline.priors.dispersion_sd,
            dims=("route", "group"),
        )
        value = pm.Deterministic(self.dispersion, 1.0 / inv**2, dims=("route", "group"))
        return value.reshape((R * G,))[series]

    # -- numpy ---------------------------------------------------------------------
    @abstractmethod
    def simulate(
        self,
        eta: np.ndarray,
        rng: np.random.Generator,
        dispersion: np.ndarray | None,
        trials: np.ndarray | None,
    ) -> np.ndarray:
        """Random draws of ``y`` at ``eta`` (float; NaN where the trials are unknown)."""

    def quantile(self, u: np.ndarray, mu: np.ndarray, dispersion: np.ndarray | None) -> np.ndarray:
        """Counts by inversion, ``F^-1(u; mu)`` (forecasts: count families only)."""
        raise SpecError(
            f"forecasts need a count likelihood ({', '.join(count_families())}); "
            f"got {self.name!r}"
        )

    def log_pmf(
        self, y: np.ndarray, eta: np.ndarray, dispersion: np.ndarray | None
    ) -> np.ndarray | None:
        """``log p(y | eta)`` (None where the family does not score counts)."""
        return None

    def _need_dispersion(self, dispersion: np.ndarray | None) -> np.ndarray:
        if dispersion is None:
            raise ValueError(f"{self.name} needs the {self.dispersion}")
        return np.asarray(dispersion, dtype=float)


class _LogLink(Family):
    def inverse_link(self, eta: Any) -> Any:
        return np.exp(eta)

    def centre(self, y: np.ndarray, trials: np.ndarray | None) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.log(np.nanmean(y, axis=0) + 0.5)


class NegativeBinomial(_LogLink):
    """NB2: ``y ~ NegBin(mu, alpha)``, variance ``mu + mu^2 / alpha``, with
    ``alpha = dispersion = 1 / dispersion_inv_sqrt^2`` per series."""

    name = "negbin"
    dispersion = "dispersion"

    def add_to_model(self, ctx: BuildContext, eta_obs: Any, y_data: Any, series: Any) -> None:
        alpha = self._dispersion_node(ctx, series)
        pm.NegativeBinomial("y", mu=pm.math.exp(eta_obs), alpha=alpha, observed=y_data, dims="obs")

    def simulate(
        self,
        eta: np.ndarray,
        rng: np.random.Generator,
        dispersion: np.ndarray | None,
        trials: np.ndarray | None,
    ) -> np.ndarray:
        mu = np.exp(np.clip(eta, -_ETA_MAX, _ETA_MAX))
        alpha = np.broadcast_to(self._need_dispersion(dispersion), eta.shape)
        # Gamma-Poisson mixture: stable for any alpha (numpy's negative_binomial needs p > 0).
        lam = rng.gamma(shape=alpha, scale=mu / alpha)
        return rng.poisson(np.minimum(lam, np.exp(_ETA_MAX))).astype(float)

    def quantile(self, u: np.ndarray, mu: np.ndarray, dispersion: np.ndarray | None) -> np.ndarray:
        d = self._need_dispersion(dispersion)
        alpha = np.broadcast_to(d, np.broadcast_shapes(np.shape(mu), np.shape(d)))
        return np.asarray(stats.nbinom.ppf(u, alpha, alpha / (alpha + mu)), dtype=float)

    def log_pmf(
        self, y: np.ndarray, eta: np.ndarray, dispersion: np.ndarray | None
    ) -> np.ndarray | None:
        alpha = self._need_dispersion(dispersion)
        return np.asarray(stats.nbinom.logpmf(y, alpha, alpha / (alpha + np.exp(eta))))


class Poisson(_LogLink):
    """``y ~ Poisson(mu)``."""

    name = "poisson"

    def add_to_model(self, ctx: BuildContext, eta_obs: Any, y_data: Any, series: Any) -> None:
        pm.Poisson("y", mu=pm.math.exp(eta_obs), observed=y_data, dims="obs")

    def simulate(
        self,
        eta: np.ndarray,
        rng: np.random.Generator,
        dispersion: np.ndarray | None,
        trials: np.ndarray | None,
    ) -> np.ndarray:
        return rng.poisson(np.exp(np.clip(eta, -_ETA_MAX, _ETA_MAX))).astype(float)

    def quantile(self, u: np.ndarray, mu: np.ndarray, dispersion: np.ndarray | None) -> np.ndarray:
        return np.asarray(stats.poisson.ppf(u, mu), dtype=float)

    def log_pmf(
        self, y: np.ndarray, eta: np.ndarray, dispersion: np.ndarray | None
    ) -> np.ndarray | None:
        return np.asarray(stats.poisson.logpmf(y, np.exp(eta)))


class _Share(Family):
    """Logit link: ``y`` of ``n`` trials (the route total), share ``p = sigmoid(eta)``."""

    counts = False

    def inverse_link(self, eta: Any) -> Any:
        return 1.0 / (1.0 + np.exp(-eta))

    def centre(self, y: np.ndarray, trials: np.ndarray | None) -> np.ndarray:
        assert trials is not None
        share = np.nansum(y, axis=0) / np.nansum(trials, axis=0)
        share = np.clip(share, 1e-3, 1 - 1e-3)
        return np.log(share / (1 - share))

    def _trials_node(self, ctx: BuildContext) -> Any:
        assert ctx.data.trials is not None
        n_obs = ctx.data.trials.values[ctx.mask].astype(np.int64)
        return ctx.data_var("n_trials", n_obs, ("obs",))

    def _share_draws(
        self, eta: np.ndarray, rng: np.random.Generator, dispersion: np.ndarray | None
    ) -> np.ndarray:
        return np.asarray(self.inverse_link(eta))

    def simulate(
        self,
        eta: np.ndarray,
        rng: np.random.Generator,
        dispersion: np.ndarray | None,
        trials: np.ndarray | None,
    ) -> np.ndarray:
        if trials is None:
            raise ValueError(f"{self.name} needs the number of trials")
        n = np.broadcast_to(np.asarray(trials, dtype=float), eta.shape)
        known = np.isfinite(n)
        n_int = np.where(known, n, 0).astype(np.int64)
        p = self._share_draws(eta, rng, dispersion)
        out = rng.binomial(n_int, p).astype(float)
        return np.where(known, out, np.nan)


class Binomial(_Share):
    """``y ~ Binomial(n, sigmoid(eta))``."""

    name = "binomial"

    def add_to_model(self, ctx: BuildContext, eta_obs: Any, y_data: Any, series: Any) -> None:
        n_d = self._trials_node(ctx)
        pm.Binomial("y", n=n_d, p=pm.math.sigmoid(eta_obs), observed=y_data, dims="obs")


class BetaBinomial(_Share):
    """``y ~ BetaBinomial(n, p kappa, (1 - p) kappa)`` with concentration ``kappa``
    per series."""

    name = "betabinomial"
    dispersion = "concentration"

    def add_to_model(self, ctx: BuildContext, eta_obs: Any, y_data: Any, series: Any) -> None:
        n_d = self._trials_node(ctx)
        p = pm.math.sigmoid(eta_obs)
        k = self._dispersion_node(ctx, series)
        pm.BetaBinomial("y", n=n_d, alpha=p * k, beta=(1 - p) * k, observed=y_data, dims="obs")

    def _share_draws(
        self, eta: np.ndarray, rng: np.random.Generator, dispersion: np.ndarray | None
    ) -> np.ndarray:
        p = np.asarray(self.inverse_link(eta))
        k = np.broadcast_to(self._need_dispersion(dispersion), eta.shape)
        return rng.beta(np.maximum(p * k, 1e-12), np.maximum((1 - p) * k, 1e-12))


#: Families by the spec's ``likelihood.family`` names.
FAMILIES: dict[str, type[Family]] = {
    cls.name: cls for cls in (NegativeBinomial, Poisson, Binomial, BetaBinomial)
}


def family_named(name: str) -> Family:
    """The family a spec names (``SpecError`` listing the valid names otherwise)."""
    cls: type[Family] = lookup(FAMILIES, str(name), "family")
    return cls()


def count_families() -> list[str]:
    return [n for n, cls in FAMILIES.items() if cls.counts]


def infer_family(variables: Any, has_trials: bool) -> Family:
    """The family of a fit that does not record one: the first whose dispersion
    parameter is among ``variables``, else the one without dispersion that matches
    the outcome (trials: shares)."""
    for cls in FAMILIES.values():
        if cls.dispersion is not None and cls.dispersion in variables:
            return cls()
    for cls in FAMILIES.values():
        if cls.dispersion is None and cls.counts != has_trials:
            return cls()
    raise ValueError("no registered family fits this fit")  # pragma: no cover


def fit_family(attrs: Any, variables: Any, has_trials: bool) -> Family:
    """The family a fit records (posterior attr ``family``), else :func:`infer_family`."""
    name = attrs.get("family")
    if name in FAMILIES:
        return family_named(str(name))
    return infer_family(variables, has_trials)
