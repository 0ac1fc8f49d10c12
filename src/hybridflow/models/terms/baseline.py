"""Baseline terms: per-series intercept, known regime breaks, common factor.

Each is deterministic given its parameters and the design, so it extends into future
months by evaluating the scenario's design there (:meth:`Term.extend`'s default).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from hybridflow.models.terms.base import BuildContext, Design, Draws, Term

__all__ = ["CommonFactor", "Intercept", "Regimes"]


class Intercept(Term):
    """``intercept[s] = centre[s] + intercept_sd * raw[s]``, centred on the data (the
    family's link of the mean count or share, :meth:`Family.centre`)."""

    name = "intercept"

    def add_to_model(self, ctx: BuildContext) -> Any:
        data = ctx.data
        trials = None if data.trials is None else data.trials.values
        centre = ctx.shared["family"].centre(data.y.values, trials)
        centre_d = ctx.data_var("intercept_centre", centre, ("route", "group"))
        a_raw = pm.Normal("intercept_raw", 0.0, 1.0, dims=("route", "group"))
        sd = ctx.spec.baseline.priors.intercept_sd
        intercept = pm.Deterministic(
            "intercept", centre_d + sd * a_raw, dims=("route", "group")
        )
        self.gate_vars = ["intercept"]
        T, R, G = ctx.shape
        return pt.broadcast_to(intercept[None, :, :], (T, R, G))

    def evaluate(self, draws: Draws, design: Design) -> np.ndarray:
        return draws.get("intercept", "route", "group")[:, None]


class Regimes(Term):
    """Known breaks: ``sum_r gamma[r, s] R[t, r]``, independent per-series effects
    ``regime_effect = sd_r * raw`` (breaks hit groups differently), fixed at zero for the
    groups a regime does not apply to (``Regime.groups``: ``ModelData.regime_mask``)."""

    name = "regimes"

    def coords(self, data: Any) -> dict[str, Any]:
        return {"regime": [str(r) for r in data.regimes["regime"].values]}

    def add_to_model(self, ctx: BuildContext) -> Any:
        data = ctx.data
        R_d = ctx.data_var("regime_design", data.regimes.values, ("month", "regime"))
        sd = np.asarray(data.regime_sd, dtype=float)
        g_raw = pm.Normal("regime_raw", 0.0, 1.0, dims=("regime", "route", "group"))
        scale = sd[:, None, None] * data.regime_mask()[:, None, :]
        gamma = pm.Deterministic(
            "regime_effect", scale * g_raw, dims=("regime", "route", "group")
        )
        ctx.constant["regime_design"] = data.regimes
        self.gate_vars = ["regime_effect"]
        return pt.tensordot(R_d, gamma, axes=[[1], [0]])

    def evaluate(self, draws: Draws, design: Design) -> np.ndarray:
        labels = [str(r) for r in draws.post["regime"].values]
        if labels != list(design.regimes):
            raise RuntimeError("regime columns of the design and the posterior differ")
        gamma = draws.get("regime_effect", "regime", "route", "group")
        return np.einsum("tk,skrg->strg", design.regime_design, gamma)


class CommonFactor(Term):
    """``lambda[s] f[t]``: the standardised log total of control routes with a
    per-series loading ``factor_loading ~ Normal(0, priors.factor_sd)``."""

    name = "common_factor"

    def add_to_model(self, ctx: BuildContext) -> Any:
        data = ctx.data
        assert data.factor is not None
        f_d = ctx.data_var("common_factor", data.factor.values, ("month",))
        lam = pm.Normal(
            "factor_loading", 0.0, ctx.spec.baseline.priors.factor_sd, dims=("route", "group")
        )
        ctx.constant["common_factor"] = data.factor
        self.gate_vars = ["factor_loading"]
        return f_d[:, None, None] * lam[None, :, :]

    def evaluate(self, draws: Draws, design: Design) -> np.ndarray:
        if design.factor is None:
            raise RuntimeError("the model has a common factor but the design has none")
        lam = draws.get("factor_loading", "route", "group")
        return design.factor[None, :, None, None] * lam[:, None]
