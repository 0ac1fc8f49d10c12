"""Month-level noise on the log rate, keyed by ``baseline.noise``: ``ar1`` or ``none``.

The negative binomial makes months independent given the (slow, knot) trend; real
monthly counts are not: a month above its expectation is followed by others. Left out,
that autocorrelation narrows every interval and lets a driver that peaks in a few
months explain a run of high months. :class:`AR1Noise` adds a per-series monthly AR(1)
``eps[t, s]`` (mean zero, stationary; centred or non-centred by
``baseline.noise_parametrisation``: :func:`~hybridflow.models.components.ar1_noise`). In
numpy the centred noise is read from its draws and the non-centred one rebuilt from the
same ``z``, ``sigma`` and ``rho`` by the recursion ``eps[t] = rho eps[t-1] + sigma z[t]``
(no ``(month, month)`` matrix per draw); past the fit it continues with the same draws
of ``rho`` and ``sigma`` (:func:`~hybridflow.models.terms.trend.continue_knots` on
monthly knots), so forecasts carry its uncertainty.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hybridflow.models import components as comp
from hybridflow.models.terms.base import BuildContext, Design, Draws, Term
from hybridflow.models.terms.trend import continue_knots

__all__ = ["NOISES", "AR1Noise"]


class AR1Noise(Term):
    """``noise(month, route, group)``: ``noise_rho ~ Beta(priors.noise_rho)``,
    ``noise_sigma[s] ~ HalfNormal(priors.noise_sd)``; centred: ``noise_eps(route, group,
    month)`` the AR(1) itself, else ``noise_z ~ Normal(0, 1)`` its innovations."""

    name = "ar1"

    def __init__(self, n_month: int, centred: bool = False) -> None:
        super().__init__()
        self.n_month = n_month
        self.centred = centred

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_month={self.n_month}, centred={self.centred})"

    def add_to_model(self, ctx: BuildContext) -> Any:
        pri = ctx.spec.baseline.priors
        self.gate_vars = ["noise_sigma", "noise_rho"]
        return comp.ar1_noise(
            "noise",
            self.n_month,
            sigma_scale=pri.noise_sd,
            rho_prior=pri.noise_rho,
            centred=self.centred,
        )

    def evaluate(self, draws: Draws, design: Design) -> np.ndarray:
        if design.n_months != self.n_month:
            raise ValueError(
                f"the noise is defined on the {self.n_month} fitted months, not "
                f"{design.n_months}; use extend() for months after the fit"
            )
        if self.centred:
            return draws.get("noise_eps", "month", "route", "group")
        z = draws.get("noise_z", "month", "route", "group")
        sigma = draws.get("noise_sigma", "route", "group")
        rho = draws.get("noise_rho")[:, None, None]
        eps = np.empty_like(z)
        eps[:, 0] = sigma * z[:, 0] / np.sqrt(1.0 - rho**2)
        for t in range(1, z.shape[1]):
            eps[:, t] = rho * eps[:, t - 1] + sigma * z[:, t]
        return eps

    def extend(
        self, draws: Draws, design: Design, horizon: int, rng: np.random.Generator
    ) -> np.ndarray:
        last = self.evaluate(draws, Design(months=design.months[: self.n_month]))[:, -1]
        sigma = draws.get("noise_sigma", "route", "group")
        return continue_knots(last, draws.get("noise_rho"), sigma, 1, horizon, rng)


#: Noise terms by ``baseline.noise`` (``"none"``: no term).
NOISES: dict[str, type[Term]] = {AR1Noise.name: AR1Noise}
