"""Shared pieces of the checks: headline effects, default sampling, executor tasks.

Checks that refit a model many times hand their work to an executor
(:mod:`hybridflow.inference.executor`) as :class:`~hybridflow.inference.executor.Task`
objects. The task functions live here, at module level, so worker processes can import them
by reference. Every task receives a :class:`~hybridflow.models.build.ModelData` (a few tens
of kB pickled) rather than the panel, and returns a small dict of numbers, never a whole
posterior.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from hybridflow.inference.executor import (
    Executor,
    SerialExecutor,
    Task,
    TaskResult,
)
from hybridflow.inference.posterior import (
    Posterior,
    fit_group,
    hdi_bounds,
    n_divergences,
)
from hybridflow.inference.sampling import Sampling
from hybridflow.models.build import ModelData

Direction = Literal["+", "-"]


#: Sampling of the many refits of placebo-in-time and negative controls (small: many fits).
REFIT_SAMPLING = Sampling(draws=200, tune=200, chains=2, target_accept=0.9)
#: Sampling of the few fits of the sensitivity grid and the episode check.
VARIANT_SAMPLING = Sampling(draws=500, tune=500, chains=2, target_accept=0.9)


@dataclass(frozen=True)
class Headline:
    """Which effect a check reports: a driver's pooled effect, or one series' effect.

    Attributes
    ----------
    driver
        The driver name.
    group, route
        ``group=None``: the driver's population mean across series (``effect_mean``).
        Otherwise the effect in ``(route, group)``; ``route=None`` means the model's only
        route.
    direction
        The direction the hypothesis predicts (``"+"`` raises detections).
    """

    driver: str
    group: str | None = None
    route: str | None = None
    direction: Direction = "+"

    def __post_init__(self) -> None:
        if self.direction not in ("+", "-"):
            raise ValueError(f"direction must be '+' or '-', got {self.direction!r}")


def percent(log_effect: Any) -> Any:
    """Log-rate effect -> percent change, ``100 * (exp(x) - 1)``."""
    return 100.0 * np.expm1(log_effect)


def headline_draws(idata: Posterior, headline: Headline) -> np.ndarray:
    """Posterior draws (flattened over chain and draw) of a headline percent effect.

    Raises
    ------
    KeyError
        The fit has no such driver, route or group.
    """
    post = fit_group(idata, "posterior")
    if "effect_mean" not in post:
        raise KeyError("the fit has no drivers (no 'effect_mean' in the posterior)")
    drivers = [str(d) for d in post["driver"].values]
    if headline.driver not in drivers:
        raise KeyError(f"no driver {headline.driver!r} in the fit; drivers: {drivers}")
    if headline.group is None:
        da = post["effect_mean"].sel(driver=headline.driver)
    else:
        routes = [str(r) for r in post["route"].values]
        groups = [str(g) for g in post["group"].values]
        route = headline.route
        if route is None:
            if len(routes) != 1:
                raise KeyError(f"the fit has several routes {routes}; name the headline's route")
            route = routes[0]
        if route not in routes:
            raise KeyError(f"no route {route!r} in the fit; routes: {routes}")
        if headline.group not in groups:
            raise KeyError(f"no group {headline.group!r} in the fit; groups: {groups}")
        da = post["effect"].sel(driver=headline.driver, route=route, group=headline.group)
    return np.asarray(percent(da.values), dtype=float).reshape(-1)


def p_direction(values: np.ndarray, direction: Direction) -> float:
    """P(effect has the predicted sign): share of draws > 0 (``+``) or < 0 (``-``)."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return float("nan")
    return float(np.mean(v > 0) if direction == "+" else np.mean(v < 0))


def summarise_draws(
    values: np.ndarray, *, direction: Direction = "+", hdi_prob: float = 0.9
) -> dict[str, float]:
    """Mean, HDI, ``P(>0)`` and ``P(direction)`` of percent-effect draws."""
    lo, hi = hdi_bounds(values, hdi_prob)
    v = np.asarray(values, dtype=float)
    return {
        "mean": float(np.mean(v)) if v.size else float("nan"),
        "low": lo,
        "high": hi,
        "p_positive": float(np.mean(v > 0)) if v.size else float("nan"),
        "p_direction": p_direction(v, direction),
    }


# ---------------------------------------------------------------------------- executors


def run_tasks(
    tasks: Sequence[Task], executor: Executor | None, *, progress: bool = False
) -> list[TaskResult]:
    """Run ``tasks`` on ``executor`` (in this process, one by one, when None)."""
    if not tasks:
        return []
    if executor is None:
        with SerialExecutor() as serial:
            return serial.map(tasks, progress=progress)
    return executor.map(tasks, progress=progress)


def error_line(result: TaskResult) -> str:
    """The last line of a failed task's traceback (its ``ExceptionType: message``)."""
    lines = [ln.strip() for ln in (result.error or "").splitlines() if ln.strip()]
    return lines[-1] if lines else "unknown error"


def no_estimate_row(note: str) -> dict[str, Any]:
    """The estimate columns of a table row without an estimate (NaN effect, not converged,
    ``divergences = -1``) and the ``note`` saying why."""
    nan = float("nan")
    return {
        "mean": nan, "low": nan, "high": nan, "p_direction": nan, "p_positive": nan,
        "converged": False, "divergences": -1, "seconds": nan, "note": note,
    }  # fmt: skip


def fit_row(
    result: TaskResult, driver: str, *, direction: Direction, hdi_prob: float
) -> dict[str, Any]:
    """The estimate columns of a table row from a :func:`fit_task` result: the summary of
    ``driver``'s draws (:func:`summarise_draws`), ``converged``, ``divergences``,
    ``seconds`` and ``note`` (the builder's notes); a failed fit gives
    :func:`no_estimate_row` with ``fit failed: <error>``."""
    if not result.ok:
        return no_estimate_row(f"fit failed: {error_line(result)}")
    value = result.value
    summary = summarise_draws(value["draws"][driver], direction=direction, hdi_prob=hdi_prob)
    return summary | {
        "converged": bool(value["converged"]),
        "divergences": int(value["divergences"]),
        "seconds": float(value["seconds"]),
        "note": "; ".join(value["notes"]),
    }


def refit_task(
    data: ModelData,
    values: Mapping[str, np.ndarray],
    headline: Headline,
    sampling: Sampling,
    *,
    seed: int,
) -> dict[str, Any]:
    """Executor task: refit the (cached, compiled) model of ``data`` on new data values.

    Returns the headline's posterior mean and ``P(>0)``, the divergence count, and the
    task's wall and CPU seconds (CPU over all of this process's threads).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    from hybridflow.inference.refit import cached_refitter

    idata = cached_refitter(data, sampling.sampler).refit(dict(values), sampling, seed=seed)
    draws = headline_draws(idata, headline)
    return {
        "mean": float(np.mean(draws)),
        "p_positive": float(np.mean(draws > 0)),
        "divergences": n_divergences(idata),
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
    }


def fit_task(
    data: ModelData,
    drivers: Sequence[str] | None,
    group: str | None,
    route: str | None,
    sampling: Sampling,
    *,
    seed: int,
) -> dict[str, Any]:
    """Executor task: fit one model (:func:`~hybridflow.inference.fit.fit_model`); return
    effect draws.

    Parameters
    ----------
    drivers
        Drivers whose percent-effect draws to return (None: all).
    group, route
        As in :class:`Headline` (None: pooled effects).

    Returns
    -------
    dict
        ``draws`` ({driver: flat percent draws}), ``converged`` (the convergence gate over
        the model's reported variables), ``divergences``, ``max_rhat``, ``notes`` (the
        builder's notes), ``seconds``, ``cpu_seconds``.
    """
    from hybridflow.inference.fit import fit_model

    t0, c0 = time.perf_counter(), time.process_time()
    fit = fit_model(data, sampling, seed=seed, log_likelihood=False)
    idata, report = fit.idata, fit.diagnostics
    names = list(drivers) if drivers is not None else data.driver_names
    out: dict[str, np.ndarray] = {}
    for name in names:
        out[name] = headline_draws(idata, Headline(name, group=group, route=route))
    return {
        "draws": out,
        "converged": bool(report.converged),
        "divergences": int(report.n_divergences),
        "max_rhat": float(report.max_rhat),
        "notes": list(data.notes),
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
    }
