"""Shared pieces of the checks: headline effects, sampling, executor tasks, the refit gate.

Every check reports its verdict per hypothesis as a :class:`CheckOutcome`.

Checks that refit a model many times hand their work to an executor
(:mod:`hybridflow.inference.executor`) as :class:`~hybridflow.inference.executor.Task`
objects. The task functions live here, at module level, so worker processes can import them
by reference. Every task receives a :class:`~hybridflow.models.build.ModelData` (a few tens
of kB pickled) rather than the panel, and returns a small dict of numbers, never a whole
posterior.

Gated refits
------------
Every refit and fit a check uses passes through the convergence gate of the headline fits
(:func:`hybridflow.inference.diagnostics.check_convergence` over
:func:`hybridflow.inference.fit.gate_vars`: R-hat <= 1.01, bulk and tail ESS >= 400, no
divergence). A refit that fails it is counted (``n_failed``) and left out; a check whose
usable refits are too few (:func:`enough_usable`) reports that it did not run, never that
it passed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
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

#: A check runs only when at least this share of its requested refits passed the gate...
MIN_USABLE_SHARE = 0.8
#: ...and, for a permutation p-value, at least this many did: with ``n`` placebos the
#: smallest possible ``p = (k + 1) / (n + 1)`` is ``1 / (n + 1)``; ``n = 19`` is the least
#: that can reach 0.05.
MIN_PERMUTATIONS = 19


@dataclass(frozen=True)
class CheckOutcome:
    """What one check says about one hypothesis, for the grades.

    Attributes
    ----------
    check
        ``"placebo"``, ``"lead"``, ``"controls"`` or ``"sensitivity"``.
    hypothesis
        The hypothesis id (``""`` when the check was called outside a study).
    ran
        False when the check could not give a verdict (too few usable refits, the observed
        refit failed the gate, not applicable): it then neither passes nor fails.
    passed
        The verdict when it ran, else None.
    n_requested, n_used, n_failed
        Refits (or fits) asked for, passing the gate and used, and failed (an error or the
        gate); ``n_used + n_failed == n_requested``.
    statistic
        The check's statistic (placebo: the observed studentised effect; lead: the largest
        same-signed lead effect over the real one; controls: the largest
        ``P(either sign)``; sensitivity: the share of usable variants with the headline's
        sign). NaN when none.
    p_value
        Placebo: ``(k + 1) / (n + 1)`` in the claimed direction; NaN for the others.
    reason
        One line saying why it passed, failed or did not run.
    """

    check: str
    hypothesis: str
    ran: bool
    passed: bool | None
    n_requested: int
    n_used: int
    n_failed: int
    statistic: float = float("nan")
    p_value: float = float("nan")
    reason: str = ""

    def __post_init__(self) -> None:
        if self.ran != (self.passed is not None):
            raise ValueError("a check that ran has a verdict (passed True/False), else None")

    def to_dict(self) -> dict[str, Any]:
        """The fields as a flat dict (a table row)."""
        return asdict(self)

    def to_columns(self) -> dict[str, Any]:
        """The fields as ``outcome_<field>`` columns, to ride along in a check's table."""
        return {f"outcome_{k}": v for k, v in self.to_dict().items()}

    @classmethod
    def from_columns(cls, row: Mapping[str, Any]) -> CheckOutcome:
        """Read back :meth:`to_columns` (other keys of ``row`` are ignored)."""
        return cls.from_dict({k[len("outcome_"):]: v for k, v in row.items()
                              if str(k).startswith("outcome_")})  # fmt: skip

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> CheckOutcome:
        """Read back a :meth:`to_dict` row (e.g. from a CSV: NaN/empty ``passed`` is None)."""
        passed = row.get("passed")
        if passed is None or (isinstance(passed, float) and math.isnan(passed)) or passed == "":
            verdict: bool | None = None
        else:
            verdict = str(passed).lower() in ("true", "1", "1.0")
        return cls(
            check=str(row["check"]), hypothesis=str(row.get("hypothesis", "") or ""),
            ran=str(row["ran"]).lower() in ("true", "1", "1.0"), passed=verdict,
            n_requested=int(row["n_requested"]), n_used=int(row["n_used"]),
            n_failed=int(row["n_failed"]), statistic=float(row.get("statistic", math.nan)),
            p_value=float(row.get("p_value", math.nan)), reason=str(row.get("reason", "")),
        )  # fmt: skip


def did_not_run(
    check: str, hypothesis: str, reason: str, *, n_requested: int = 0, n_used: int = 0
) -> CheckOutcome:
    """The outcome of a check that gave no verdict."""
    return CheckOutcome(
        check, hypothesis, False, None, n_requested, n_used, n_requested - n_used, reason=reason
    )


def enough_usable(n_used: int, n_requested: int, *, permutation: bool) -> str:
    """Why a check with ``n_used`` of ``n_requested`` usable refits cannot run (``""``: it
    can): fewer than :data:`MIN_USABLE_SHARE` of them, or, for a permutation test, fewer
    than :data:`MIN_PERMUTATIONS`."""
    if n_requested <= 0:
        return "no refit was requested"
    if n_used < MIN_USABLE_SHARE * n_requested:
        return (
            f"only {n_used} of {n_requested} refits passed the convergence gate "
            f"(needs {MIN_USABLE_SHARE:.0%})"
        )
    if permutation and n_used < MIN_PERMUTATIONS:
        return (
            f"only {n_used} usable placebo refits (needs {MIN_PERMUTATIONS}: fewer cannot "
            "give p <= 0.05)"
        )
    return ""


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


def studentised(values: np.ndarray) -> float:
    """Posterior mean over posterior sd of effect draws (NaN for fewer than 2 draws or a
    zero sd): the placebo statistic, comparable across refits whose posteriors differ in
    width."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return float("nan")
    sd = float(np.std(v, ddof=1))
    return float(np.mean(v)) / sd if sd > 0 else float("nan")


#: The region of practical equivalence of a percent effect (as the grades use: +-10%).
ROPE_PCT = 10.0


def summarise_draws(
    values: np.ndarray, *, direction: Direction = "+", hdi_prob: float = 0.9,
    rope: float = ROPE_PCT,
) -> dict[str, float]:
    """Mean, sd, HDI, ``P(>0)``, ``P(direction)``, ``P(either sign)`` (the larger of
    ``P(>0)`` and ``P(<0)``), ``P(|effect| > rope)`` and the studentised effect ``z`` of
    percent-effect draws."""
    lo, hi = hdi_bounds(values, hdi_prob)
    v = np.asarray(values, dtype=float)
    nan = float("nan")
    return {
        "mean": float(np.mean(v)) if v.size else nan,
        "sd": float(np.std(v, ddof=1)) if v.size > 1 else nan,
        "low": lo,
        "high": hi,
        "p_positive": float(np.mean(v > 0)) if v.size else nan,
        "p_direction": p_direction(v, direction),
        "p_either": float(max(np.mean(v > 0), np.mean(v < 0))) if v.size else nan,
        "p_outside_rope": float(np.mean(np.abs(v) > rope)) if v.size else nan,
        "z": studentised(v),
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
        "mean": nan, "sd": nan, "low": nan, "high": nan, "p_direction": nan,
        "p_positive": nan, "p_either": nan, "p_outside_rope": nan, "z": nan,
        "converged": False, "divergences": -1, "seconds": nan, "note": note,
    }  # fmt: skip


def fit_row(
    result: TaskResult, driver: str, *, direction: Direction, hdi_prob: float
) -> dict[str, Any]:
    """The estimate columns of a table row from a :func:`fit_task` result: the summary of
    ``driver``'s draws (:func:`summarise_draws`), ``converged``, ``divergences``,
    ``seconds`` and ``note`` (the builder's notes, and the gate's first failing line when
    the fit did not pass it); a failed fit gives :func:`no_estimate_row` with ``fit
    failed: <error>``."""
    if not result.ok:
        return no_estimate_row(f"fit failed: {error_line(result)}")
    value = result.value
    summary = summarise_draws(value["draws"][driver], direction=direction, hdi_prob=hdi_prob)
    notes = list(value["notes"])
    if not value["converged"]:
        notes.insert(0, f"failed the convergence gate: {value.get('failing', '')}")
    return summary | {
        "converged": bool(value["converged"]),
        "divergences": int(value["divergences"]),
        "seconds": float(value["seconds"]),
        "note": "; ".join(notes),
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

    Returns the headline's posterior mean, sd, studentised effect ``z`` and ``P(>0)``, the
    convergence gate of the headline fits (``converged``, ``divergences``, ``failing``: its
    first failing line), and the task's wall and CPU seconds (CPU over all of this
    process's threads).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    from hybridflow.inference.refit import cached_refitter

    refitter = cached_refitter(data, sampling.sampler)
    idata = refitter.refit(dict(values), sampling, seed=seed)
    draws = headline_draws(idata, headline)
    report = gate(idata, refitter.bundle)
    return {
        "mean": float(np.mean(draws)),
        "sd": float(np.std(draws, ddof=1)),
        "z": studentised(draws),
        "p_positive": float(np.mean(draws > 0)),
        "converged": bool(report.converged),
        "failing": report.failing[0] if report.failing else "",
        "divergences": n_divergences(idata),
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
    }


def gate(idata: Posterior, bundle: Any) -> Any:
    """The headline fits' convergence gate on a (re)fit of ``bundle``
    (a :class:`~hybridflow.inference.diagnostics.DiagnosticsReport`)."""
    import warnings

    from hybridflow.inference.diagnostics import check_convergence
    from hybridflow.inference.fit import gate_vars

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few draws make arviz warn; the gate reports it
        return check_convergence(idata, gate_vars(bundle))


def usable(result: TaskResult) -> bool:
    """A task that ran and whose (re)fit passed the convergence gate."""
    return bool(result.ok and result.value.get("converged", False))


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
        "failing": report.failing[0] if report.failing else "",
        "divergences": int(report.n_divergences),
        "max_rhat": float(report.max_rhat),
        "notes": list(data.notes),
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
    }
