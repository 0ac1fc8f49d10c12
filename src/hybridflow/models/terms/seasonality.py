"""Fourier seasonality terms, keyed by ``baseline.seasonality``.

``season[t, s] = sum_f F[t, f] coef[f, s]`` with calendar-month Fourier features ``F``
(:func:`~hybridflow.models.components.fourier_features`), so any month, fitted or
future, gets its seasonal value from the same draws.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from hybridflow.models import components as comp
from hybridflow.models.terms.base import BuildContext, Design, Draws, Term

__all__ = ["HierarchicalSeasonality", "PooledSeasonality"]


class _Seasonality(Term):
    #: Per-series deviations around the pooled coefficients.
    hierarchical: ClassVar[bool] = False

    def __init__(self, order: int, n_series: int, fixed_dev_sd: float | None = None) -> None:
        super().__init__()
        self.order = order
        # One series cannot deviate from the pooled shape.
        self.with_deviations = self.hierarchical and n_series > 1
        #: The deviations' sd when fixed (``priors.season_dev_prior = "fixed"``), else None.
        self.fixed_dev_sd = fixed_dev_sd

    def __repr__(self) -> str:
        return f"{type(self).__name__}(order={self.order})"

    def coords(self, data: Any) -> dict[str, Any]:
        return {"fourier": comp.fourier_labels(self.order)}

    def add_to_model(self, ctx: BuildContext) -> Any:
        pri = ctx.spec.baseline.priors
        feats = ctx.data_var(
            "fourier_features",
            comp.fourier_features(ctx.data.months, self.order),
            ("month", "fourier"),
        )
        return comp.seasonality(
            "season",
            feats,
            coef_sd=pri.season_sd,
            deviation_sd=pri.season_dev_sd,
            hierarchical=self.with_deviations,
            deviation_prior="halfnormal" if self.fixed_dev_sd is None else "fixed",
        )

    def evaluate(self, draws: Draws, design: Design) -> np.ndarray:
        features = comp.fourier_features(design.months, self.order)
        coef = draws.get("season_coef", "fourier")[:, :, None, None]
        if self.with_deviations:
            tau = (
                draws.get("season_dev_sd")[:, None, None, None]
                if self.fixed_dev_sd is None
                else np.full((draws.n, 1, 1, 1), self.fixed_dev_sd)
            )
            coef = coef + tau * draws.get("season_dev_z", "fourier", "route", "group")
        return np.einsum("tf,sfrg->strg", features, coef)


class HierarchicalSeasonality(_Seasonality):
    """Pooled coefficients plus per-series deviations ``tau * z``."""

    name = "hierarchical"
    hierarchical = True


class PooledSeasonality(_Seasonality):
    """One seasonal shape for every series."""

    name = "pooled"
