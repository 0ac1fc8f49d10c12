"""Model terms with one owner each: the linear predictor as a list of :class:`Term`.

``eta = intercept + trend + noise + seasonality + regimes + common factor + driver effects +
per-event effects`` and ``y ~ family(eta)``. Each term writes its piece into the PyMC
model (:meth:`Term.add_to_model`), evaluates it in numpy on draws
(:meth:`Term.evaluate`: effects, counterfactuals, forecasts), carries it into future
months (:meth:`Term.extend`) and names what the convergence gate checks
(:attr:`Term.gate_vars`). The spec selects terms by its own names through registries
(``baseline.trend`` -> :data:`TRENDS`, ``baseline.seasonality`` ->
:data:`SEASONALITIES`, ``baseline.noise`` -> :data:`NOISES`, ``likelihood.family`` ->
:data:`FAMILIES`, a driver's ``source`` -> :data:`DRIVER_KINDS`); an unknown name is a
:class:`~hybridflow.errors.SpecError`.

Usage::

    terms = model_terms(spec, data)                 # the spec's terms, in order
    eta = linear_predictor(terms, Draws(post), Design.of_data(data))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hybridflow.models.terms.base import BuildContext, Design, Draws, Term, lookup
from hybridflow.models.terms.baseline import CommonFactor, Intercept, Regimes
from hybridflow.models.terms.drivers import DRIVER_KINDS, DriverKind, driver_kind
from hybridflow.models.terms.effects import (
    DRIVER_TERMS,
    DriverEffects,
    DriverTerm,
    EventEffects,
    driver_contributions,
)
from hybridflow.models.terms.likelihood import (
    FAMILIES,
    Family,
    family_named,
    fit_family,
    infer_family,
)
from hybridflow.models.terms.noise import NOISES, AR1Noise
from hybridflow.models.terms.seasonality import HierarchicalSeasonality, PooledSeasonality
from hybridflow.models.terms.trend import AR1Trend, LocalLevelTrend, NoTrend

if TYPE_CHECKING:
    from hybridflow.models.data import ModelData
    from hybridflow.models.spec import ModelSpec

__all__ = [
    "DRIVER_KINDS",
    "DRIVER_TERMS",
    "FAMILIES",
    "NOISES",
    "SEASONALITIES",
    "TRENDS",
    "BuildContext",
    "Design",
    "Draws",
    "DriverKind",
    "DriverTerm",
    "Family",
    "Term",
    "driver_contributions",
    "driver_kind",
    "family_named",
    "fit_family",
    "infer_family",
    "linear_predictor",
    "model_terms",
]

#: Trend terms by ``baseline.trend``.
TRENDS: dict[str, type[Term]] = {cls.name: cls for cls in (AR1Trend, LocalLevelTrend, NoTrend)}
#: Seasonality terms by ``baseline.seasonality`` (used when ``fourier_order > 0``).
SEASONALITIES: dict[str, type[Term]] = {
    cls.name: cls for cls in (HierarchicalSeasonality, PooledSeasonality)
}
def model_terms(spec: ModelSpec, data: ModelData) -> list[Term]:
    """The terms of ``spec``'s linear predictor, in the model's order.

    ``data`` (:class:`~hybridflow.models.build.ModelData`) says which data-driven terms
    exist: regimes that survived, a common factor, drivers and per-event columns.
    """
    design = Design.of_data(data)
    base = spec.baseline
    n_series = len(data.routes) * len(data.groups)
    trend_cls: Any = lookup(TRENDS, base.trend, "baseline.trend")
    terms: list[Term] = [
        Intercept(),
        trend_cls(
            design.n_months,
            base.trend_step,
            base.trend_parametrisation == "centred",
            fixed_sigma=base.priors.trend_sd if base.priors.trend_prior == "fixed" else None,
        ),
    ]
    if base.noise != "none":
        noise_cls: Any = lookup(NOISES, base.noise, "baseline.noise")
        terms.append(noise_cls(design.n_months, base.noise_parametrisation == "centred"))
    if base.fourier_order > 0:
        season_cls: Any = lookup(SEASONALITIES, base.seasonality, "baseline.seasonality")
        fixed_dev = (
            base.priors.season_dev_sd if base.priors.season_dev_prior == "fixed" else None
        )
        terms.append(season_cls(base.fourier_order, n_series, fixed_dev_sd=fixed_dev))
    if design.regimes:
        terms.append(Regimes())
    if design.factor is not None:
        terms.append(CommonFactor())
    terms.extend(cls() for cls in DRIVER_TERMS if cls.present(design))
    return terms


def linear_predictor(terms: list[Term], draws: Draws, design: Design) -> np.ndarray:
    """``eta(sample, month, route, group)``: the terms' numpy evaluations summed."""
    R, G = draws.series_shape()
    eta = np.zeros((draws.n, design.n_months, R, G))
    for term in terms:
        eta = eta + term.evaluate(draws, design)
    return eta


__all__ += ["AR1Noise", "CommonFactor", "DriverEffects", "EventEffects", "Intercept", "Regimes"]
