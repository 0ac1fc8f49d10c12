"""Placebo-in-time: is the effect at the real event dates unusual among random datings?

For an events driver (e.g. ``eu_sanctions``) the model is refitted ``n`` times, each time
with that driver's events moved to random months and everything else (outcome, baseline,
regimes, the other drivers) unchanged. If the estimated effect at the real dates is no
larger than many placebo effects, the "effect" is what any set of dates of that size picks
up from the series' own ups and downs (trend, seasonality, shocks the baseline misses).

Re-dating rule
--------------
The events the model uses (those with exposure in the window or its lag history) keep
their number, order, sign (a relief counts -1) and, for steps, their duration; each gets a
new effective month drawn **uniformly without replacement** from the candidate months:
the model window (or the sub-window ``within``) **minus the months that hold a real event
of the driver** (``exclude_observed=True``, the default). Excluding the real months makes
every placebo a genuinely false dating; keeping them lets placebos share events with the
real dating, which pulls the placebo distribution towards the observed effect and makes
the test conservative (``exclude_observed=False`` gives that variant). Draws are without
replacement, so placebo events never share a month even when real ones do (three EU
packages fell in Feb 2022); the day of the month is set to the 1st (exposure is monthly).

Computation
-----------
The model is compiled once (:class:`~hybridflow.inference.refit.Refitter`, once per
worker through :func:`~hybridflow.inference.executor.cached`); each refit swaps only the
``driver_lagged`` container (and ``event_lagged`` for per-event drivers), rebuilt from
the re-dated exposures exactly as :func:`~hybridflow.models.build.build_model` builds them.
The observed effect is refitted with the same sampler settings, so observed and placebo
effects are estimated alike.

``rank_p`` is the share of placebo effects at least as extreme as the observed one in the
hypothesis' direction (``>=`` for ``+``, ``<=`` for ``-``); ``p_upper`` and ``p_lower``
give both tails, ``p_plus1 = (k + 1) / (n + 1)`` the usual permutation p-value.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.analysis.checks._common import (
    REFIT_SAMPLING,
    Direction,
    Headline,
    error_line,
    refit_task,
    run_tasks,
)
from hybridflow.design import drivers as dd
from hybridflow.inference.executor import Executor, Task, TaskResult, spawn_seeds
from hybridflow.inference.sampling import Sampling
from hybridflow.models import components as comp
from hybridflow.models.build import (
    ModelData,
    events_with_sign,
    prepare_data,
    select_driver_events,
)
from hybridflow.models.spec import EventsDriver, ModelSpec
from hybridflow.months import format_month, month_range

__all__ = [
    "PlaceboResult",
    "driver_events",
    "placebo_arrays",
    "placebo_in_time",
    "rank_p_values",
    "redate_events",
]


@dataclass
class PlaceboResult:
    """The observed effect and its placebo-in-time distribution.

    Attributes
    ----------
    driver, direction
        The driver and the hypothesis' direction.
    observed
        Posterior mean of the cumulative percent effect at the real dates.
    observed_p_positive
        Its ``P(effect > 0)``.
    placebo
        ``(n,)`` posterior means of the placebo refits (NaN where a refit failed).
    placebo_p_positive
        ``(n,)`` their ``P(effect > 0)``.
    datings
        ``(n, n_events)`` placebo months (``YYYY-MM``) in event order.
    events
        The re-dated event ids and their real months.
    rank_p, p_upper, p_lower, p_plus1
        See the module docstring; computed over the successful refits.
    n_failed
        Placebo refits that failed (their effect is NaN).
    candidates
        Months a placebo event could get.
    rule
        The re-dating rule in words.
    seconds
        Wall time of the whole check.
    """

    driver: str
    direction: Direction
    observed: float
    observed_p_positive: float
    placebo: np.ndarray
    placebo_p_positive: np.ndarray
    datings: list[list[str]]
    events: pd.DataFrame
    rank_p: float
    p_upper: float
    p_lower: float
    p_plus1: float
    n_failed: int
    candidates: list[str]
    rule: str
    seconds: float = 0.0
    divergences: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refit_seconds: list[float] = field(default_factory=list)
    refit_cpu_seconds: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Number of placebo datings."""
        return int(len(self.placebo))

    def table(self) -> pd.DataFrame:
        """One row per placebo: ``placebo`` index, ``months`` (``;``-joined),
        ``pct_mean``, ``p_positive``, ``ok``, ``divergences``, ``seconds`` and
        ``cpu_seconds`` of the refit."""
        return pd.DataFrame(
            {
                "placebo": np.arange(self.n),
                "months": [";".join(d) for d in self.datings],
                "pct_mean": self.placebo,
                "p_positive": self.placebo_p_positive,
                "ok": np.isfinite(self.placebo),
                "divergences": self.divergences or [0] * self.n,
                "seconds": self.refit_seconds or [np.nan] * self.n,
                "cpu_seconds": self.refit_cpu_seconds or [np.nan] * self.n,
            }
        )

    def summary(self) -> dict[str, Any]:
        """Headline numbers, JSON-serialisable."""
        finite = self.placebo[np.isfinite(self.placebo)]
        return {
            "driver": self.driver,
            "direction": self.direction,
            "n_events": int(len(self.events)),
            "n_placebo": self.n,
            "n_failed": int(self.n_failed),
            "observed_pct_mean": self.observed,
            "observed_p_positive": self.observed_p_positive,
            "placebo_pct_median": float(np.median(finite)) if finite.size else float("nan"),
            "placebo_pct_q05": float(np.quantile(finite, 0.05)) if finite.size else float("nan"),
            "placebo_pct_q95": float(np.quantile(finite, 0.95)) if finite.size else float("nan"),
            "rank_p": self.rank_p,
            "p_upper": self.p_upper,
            "p_lower": self.p_lower,
            "p_plus1": self.p_plus1,
            "rule": self.rule,
            "seconds": self.seconds,
            "refit_seconds_median": _median(self.refit_seconds),
            "refit_cpu_seconds_median": _median(self.refit_cpu_seconds),
        }


def _median(values: list[float]) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


def rank_p_values(
    observed: float, placebo: np.ndarray, direction: Direction = "+"
) -> dict[str, float]:
    """Where the observed effect falls in the placebo distribution.

    Returns
    -------
    dict
        ``p_upper`` = share of placebos ``>= observed``, ``p_lower`` = share ``<=
        observed``, ``rank_p`` = the tail in ``direction`` (upper for ``+``), and
        ``p_plus1 = (k + 1) / (n + 1)`` with ``k`` placebos in that tail. NaN placebos
        (failed refits) are left out; all NaN when none is left.
    """
    if direction not in ("+", "-"):
        raise ValueError(f"direction must be '+' or '-', got {direction!r}")
    p = np.asarray(placebo, dtype=float)
    p = p[np.isfinite(p)]
    if p.size == 0 or not np.isfinite(observed):
        nan = float("nan")
        return {"rank_p": nan, "p_upper": nan, "p_lower": nan, "p_plus1": nan}
    upper = int(np.sum(p >= observed))
    lower = int(np.sum(p <= observed))
    k = upper if direction == "+" else lower
    return {
        "rank_p": k / p.size,
        "p_upper": upper / p.size,
        "p_lower": lower / p.size,
        "p_plus1": (k + 1) / (p.size + 1),
    }


# ---------------------------------------------------------------------------- re-dating


def _events_driver(spec: ModelSpec, driver: str) -> EventsDriver:
    try:
        d = spec.driver(driver)
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None
    if not isinstance(d, EventsDriver):
        raise ValueError(
            f"placebo-in-time re-dates events: driver {driver!r} has source {d.source!r}, "
            "not 'events'"
        )
    return d


def _per_event_exposure(
    d: EventsDriver, events: pd.DataFrame, months_ext: pd.DatetimeIndex
) -> xr.DataArray:
    """``events``' exposure ``(month, event)`` to driver ``d``, as the model builds it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dd.event_exposure(
            events,
            months_ext,
            shape=d.shape,
            date_column="effective_date",
            sign_column="_sign",
            per_event=True,
            name=d.name,
        )


def driver_events(
    spec: ModelSpec, driver: str, events: pd.DataFrame, data: ModelData
) -> pd.DataFrame:
    """The catalogue events a driver uses in the model (exposure in window or history).

    Returns the selected rows (with a numeric ``_sign``) in the order the model uses
    them, plus ``month`` (the effective month).
    """
    d = _events_driver(spec, driver)
    sel = events_with_sign(select_driver_events(events, d.filter))
    ev = _per_event_exposure(d, sel, data.months_ext)
    active = [str(e) for e in ev["event"].values[(ev != 0).any("month").values]]
    out = sel.set_index(sel["event_id"].astype(str)).loc[active].reset_index(drop=True)
    out["month"] = pd.to_datetime(out["effective_date"]).dt.to_period("M").dt.to_timestamp()
    return out


def redate_events(
    events: pd.DataFrame,
    candidates: pd.DatetimeIndex,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """A copy of ``events`` with each event moved to a distinct random candidate month.

    ``effective_date`` and ``start_date`` become the 1st of the new month; a set
    ``end_date`` moves by the same number of months (a step keeps its duration).

    Raises
    ------
    ValueError
        Fewer candidate months than events.
    """
    n = len(events)
    if n > len(candidates):
        raise ValueError(
            f"cannot re-date {n} events without replacement into {len(candidates)} candidate months"
        )
    new = pd.DatetimeIndex(candidates[rng.choice(len(candidates), size=n, replace=False)])
    out = events.copy()
    old = pd.to_datetime(out["effective_date"]).dt.to_period("M")
    shift = np.array(
        [(m.year - o.year) * 12 + (m.month - o.month) for m, o in zip(new, old, strict=True)]
    )
    out["effective_date"] = new
    if "start_date" in out:
        out["start_date"] = new
    if "end_date" in out:
        ends = pd.to_datetime(out["end_date"])
        out["end_date"] = [
            e + pd.DateOffset(months=int(s)) if pd.notna(e) else pd.NaT
            for e, s in zip(ends, shift, strict=True)
        ]
    if "month" in out:
        out["month"] = new
    return out


def candidate_months(
    data: ModelData,
    real_months: pd.DatetimeIndex,
    *,
    within: tuple[str | None, str | None] | None = None,
    exclude_observed: bool = True,
) -> pd.DatetimeIndex:
    """Months a placebo event may be moved to (see the module docstring)."""
    months = data.months
    if within is not None:
        lo = pd.Timestamp(within[0] + "-01") if within[0] else months[0]
        hi = pd.Timestamp(within[1] + "-01") if within[1] else months[-1]
        months = month_range(max(lo, months[0]), min(hi, months[-1]))
    if exclude_observed:
        months = months[~months.isin(real_months)]
    return pd.DatetimeIndex(months)


def placebo_arrays(data: ModelData, driver: str, redated: pd.DataFrame) -> dict[str, np.ndarray]:
    """The ``pm.Data`` values that change when ``driver``'s events are ``redated``.

    ``driver_lagged`` (and ``event_lagged`` for a per-event driver), built as
    :func:`~hybridflow.models.build.build_model` builds them, with every other driver's
    rows unchanged. ``redated`` must hold the same event ids as the model uses.
    """
    spec = data.spec
    d = _events_driver(spec, driver)
    k = data.driver_names.index(driver)
    design = data.drivers[k]
    ev = _per_event_exposure(d, redated.drop(columns=["month"], errors="ignore"), data.months_ext)
    agg = ev.sum("event").rename(driver)
    new_design = dataclasses.replace(
        design,
        exposure=agg.assign_coords(month=design.exposure["month"]),
        event_exposure=(
            ev.sel(event=[str(e) for e in design.event_exposure["event"].values]).assign_coords(
                month=design.event_exposure["month"]
            )
            if design.event_exposure is not None
            else None
        ),
    )
    new_data = dataclasses.replace(
        data, drivers=[new_design if i == k else x for i, x in enumerate(data.drivers)]
    )
    values = {
        "driver_lagged": comp.lag_matrix(
            new_data.exposure_matrix().values, new_data.history, new_data.n_lags
        )
    }
    if design.per_event:
        _, _, _, ev_mat = new_data.event_table()
        values["event_lagged"] = comp.lag_matrix(ev_mat, new_data.history, new_data.n_lags)
    return values


# ---------------------------------------------------------------------------- the check


def _refit_tasks(
    data: ModelData,
    observed: pd.DataFrame,
    redatings: list[pd.DataFrame],
    headline: Headline,
    sampling: Sampling,
    seed: int,
) -> list[Task]:
    """The observed refit (task ``observed``, first of ``spawn_seeds(seed, n + 1)``) and
    one refit per re-dating (``placebo-<i>``, the next seeds)."""
    driver = headline.driver
    seeds = spawn_seeds(seed, len(redatings) + 1)
    observed_values = placebo_arrays(data, driver, observed)
    tasks = [
        Task("observed", refit_task, (data, observed_values, headline, sampling), seed=seeds[0])
    ]
    for i, redated in enumerate(redatings):
        tasks.append(
            Task(
                f"placebo-{i:03d}",
                refit_task,
                (data, placebo_arrays(data, driver, redated), headline, sampling),
                seed=seeds[i + 1],
            )
        )
    return tasks


def _rule(n_events: int, cands: pd.DatetimeIndex, exclude_observed: bool) -> str:
    """The re-dating rule in words."""
    window = f"{format_month(cands[0])}..{format_month(cands[-1])}" if len(cands) else "(none)"
    return (
        f"each of the {n_events} events moved to a distinct month drawn uniformly without "
        f"replacement from {len(cands)} candidate months in {window}"
        + (", excluding the months of the real events" if exclude_observed else "")
        + "; other drivers unchanged"
    )


def _placebo_result(
    headline: Headline,
    results: list[TaskResult],
    sel: pd.DataFrame,
    redatings: list[pd.DataFrame],
    cands: pd.DatetimeIndex,
    exclude_observed: bool,
    t0: float,
) -> PlaceboResult:
    """The check's result from its refits (the observed one first), ``seconds`` counted
    from ``t0``.

    Raises
    ------
    RuntimeError
        The observed refit failed.
    """
    obs, placebos = results[0], results[1:]
    if not obs.ok:
        raise RuntimeError(f"placebo-in-time: the observed refit failed: {error_line(obs)}")
    observed = obs.value
    means = np.array([r.value["mean"] if r.ok else np.nan for r in placebos], dtype=float)
    p_pos = np.array([r.value["p_positive"] if r.ok else np.nan for r in placebos], dtype=float)
    ranks = rank_p_values(observed["mean"], means, headline.direction)
    return PlaceboResult(
        driver=headline.driver,
        direction=headline.direction,
        observed=float(observed["mean"]),
        observed_p_positive=float(observed["p_positive"]),
        placebo=means,
        placebo_p_positive=p_pos,
        datings=[[format_month(m) for m in r["effective_date"]] for r in redatings],
        events=pd.DataFrame(
            {
                "event_id": sel["event_id"].astype(str),
                "month": [format_month(m) for m in pd.DatetimeIndex(sel["month"])],
            }
        ),
        rank_p=ranks["rank_p"],
        p_upper=ranks["p_upper"],
        p_lower=ranks["p_lower"],
        p_plus1=ranks["p_plus1"],
        n_failed=int(sum(not r.ok for r in placebos)),
        candidates=[format_month(m) for m in cands],
        rule=_rule(len(sel), cands, exclude_observed),
        seconds=time.perf_counter() - t0,
        divergences=[int(r.value["divergences"]) if r.ok else -1 for r in placebos],
        errors=[f"{r.key}: {error_line(r)}" for r in placebos if not r.ok],
        refit_seconds=[float(r.value["seconds"]) if r.ok else np.nan for r in placebos],
        refit_cpu_seconds=[
            float(r.value.get("cpu_seconds", np.nan)) if r.ok else np.nan for r in placebos
        ],
    )


def placebo_in_time(
    spec: ModelSpec,
    driver: str,
    panel: xr.Dataset,
    events: pd.DataFrame,
    *,
    n: int = 100,
    seed: int = 0,
    sampling: Sampling = REFIT_SAMPLING,
    direction: Direction = "+",
    group: str | None = None,
    route: str | None = None,
    within: tuple[str | None, str | None] | None = None,
    exclude_observed: bool = True,
    executor: Executor | None = None,
    data: ModelData | None = None,
    progress: bool = False,
) -> PlaceboResult:
    """Placebo-in-time check of an events driver.

    Parameters
    ----------
    spec
        The model spec holding ``driver``.
    driver
        An events driver of ``spec``.
    panel, events
        The panel and the event catalogue the model is fitted on.
    n
        Number of placebo datings (refits).
    seed
        Root seed: the datings and every refit's sampler seed derive from it, so results
        do not depend on the executor.
    sampling
        Sampler settings of every refit, observed and placebo alike (default
        :data:`~hybridflow.analysis.checks._common.REFIT_SAMPLING`: 200 draws after 200
        tuning steps x 2 chains, target acceptance 0.9).
    direction
        The hypothesis' direction: ``rank_p`` is the upper tail for ``+``.
    group, route
        Effect reported: None = the driver's pooled effect (``effect_mean``), else the
        effect in that series.
    within
        ``(start, end)`` months ``YYYY-MM`` (either may be None) restricting where
        placebo events may fall, e.g. ``("2022-02", None)`` for drivers that only exist
        during the war; default the model window.
    exclude_observed
        Leave out the months that hold a real event (default; see the module docstring).
    executor
        Runs the refits (default: serially in this process).
    data
        The prepared model data, if already at hand.

    Returns
    -------
    PlaceboResult
    """
    t0 = time.perf_counter()
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    _events_driver(spec, driver)
    if data is None:
        data = prepare_data(spec, panel, events)
    sel = driver_events(spec, driver, events, data)
    real = pd.DatetimeIndex(sel["month"])
    cands = candidate_months(data, real, within=within, exclude_observed=exclude_observed)
    # Datings use their own stream, independent of the refits' sampler seeds.
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x91ACEB0]))
    redatings = [redate_events(sel, cands, rng) for _ in range(n)]
    headline = Headline(driver, group=group, route=route, direction=direction)
    tasks = _refit_tasks(data, sel, redatings, headline, sampling, seed)
    results = run_tasks(tasks, executor, progress=progress)
    return _placebo_result(headline, results, sel, redatings, cands, exclude_observed, t0)
