"""Negative-control outcomes: the same drivers on routes they should not affect.

The report's mechanism runs through the EU's land border with Russia and Belarus. Routes
with no such border (the Western Mediterranean and Western African routes by default)
should show no effect of Russian sanctions, losses or strikes. The same model (the graded
hypothesis' own model: same drivers, kernels, priors, baseline, regimes and window) is
fitted to each control route; an "effect" there points to confounding the model does not
remove: shared seasonality, EU-wide trends, or coincidences of timing.

Verdict (:func:`control_outcome`)
---------------------------------
An effect of **either sign** on a control route counts against the hypothesis: a control
route "responding" the other way is as much a sign of confounding as one responding the
same way. A route fails when ``P(either sign) = max(P(>0), P(<0)) >= 0.9``
(:data:`CONTROL_P`); the table also gives ``P(|effect| > 10%)`` (``p_outside_rope``).
Every control fit is gated like a headline fit; a route whose fit fails the gate is not
used, and the check did not run unless at least 80% of the routes are usable
(:func:`~hybridflow.analysis.checks._common.enough_usable`). A share model (``outcome =
"share"``) has no control: the control routes hold no UkrRussBel detections, so the share
of Others there is 1 by construction.

Outcome on a control route
--------------------------
By default (``grouping="total"``) each control route is modelled as one series, its total
detections over all nationalities: the report's UkrRussBel group is zero on these routes
(no such nationals are detected there), so the spec's grouping would leave an all-zero
series that carries no information. With one series the driver effect is a single
coefficient (pooling is moot). ``grouping="spec"`` keeps the spec's grouping instead.
Eastern-border regimes are kept as they are, so the design matrix is the one of the
headline model; a ``common_factor`` built from the control route itself is dropped
(it would be the outcome).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.analysis.checks._common import (
    VARIANT_SAMPLING,
    CheckOutcome,
    Direction,
    did_not_run,
    enough_usable,
    fit_row,
    fit_task,
    run_tasks,
)
from hybridflow.data.panel import group_nationalities
from hybridflow.errors import SpecError
from hybridflow.inference.executor import Executor, Task, spawn_seeds
from hybridflow.inference.sampling import Sampling
from hybridflow.models.build import ModelData, prepare_data
from hybridflow.models.spec import ModelSpec
from hybridflow.months import format_month

__all__ = [
    "CONTROL_COLUMNS",
    "CONTROL_P",
    "CONTROL_ROUTES",
    "TOTAL_GROUP",
    "control_data",
    "control_outcome",
    "control_spec",
    "negative_controls",
    "total_panel",
]

CONTROL_ROUTES = ("Western Mediterranean Route", "Western African Route")
#: Group label of a route modelled as one series.
TOTAL_GROUP = "Total"
#: The columns of :func:`negative_controls`' table.
CONTROL_COLUMNS = [
    "route", "driver", "mean", "sd", "low", "high", "p_positive", "p_direction", "p_either",
    "p_outside_rope", "direction", "converged", "divergences", "grouping", "window",
    "n_months", "seconds", "note",
]  # fmt: skip
#: A control route with ``P(either sign) >= CONTROL_P`` fails the check.
CONTROL_P = 0.9


def total_panel(panel: xr.Dataset, label: str = TOTAL_GROUP) -> xr.Dataset:
    """The panel with detections summed over nationalities: ``detections(month, route,
    group=[label])`` (NaN where no nationality is reported that month)."""
    det = panel["detections"]
    if "nationality" not in det.dims:
        if "group" in det.dims:
            out = panel.copy()
            out["detections"] = (
                det.sum("group", min_count=1).expand_dims(group=[label], axis=-1)
            ).transpose("month", "route", "group")
            return out
        raise SpecError(f"panel detections need a 'nationality' or 'group' dim; got {det.dims}")
    nats = [str(n) for n in det["nationality"].values]
    return group_nationalities(panel, dict.fromkeys(nats, label), other_label=label)


def _check_route(spec: ModelSpec, panel: xr.Dataset, route: str) -> None:
    routes = [str(r) for r in panel["route"].values]
    if route not in routes:
        raise SpecError(f"negative-control route {route!r} is not in the panel; routes: {routes}")
    if route in spec.data.routes:
        raise SpecError(
            f"negative-control route {route!r} is modelled by spec '{spec.name}'; a control "
            "must be a route the hypothesis does not concern"
        )
    det = panel["detections"].sel(route=route)
    other = [d for d in det.dims if d != "month"]
    window = det.sel(month=slice(spec.start_month, spec.end_month))
    observed = window.notnull().any(other) if other else window.notnull()
    if not bool(observed.any()):
        raise SpecError(
            f"negative-control route {route!r} has no detections in {spec.data.start}.."
            f"{spec.data.end}"
        )
    total = float(window.sum())
    if total == 0:
        raise SpecError(
            f"negative-control route {route!r} has zero detections in {spec.data.start}.."
            f"{spec.data.end}: nothing to model"
        )


def control_spec(spec: ModelSpec, route: str) -> ModelSpec:
    """``spec`` with ``data.routes = [route]`` (and a clashing common factor dropped)."""
    changes: dict[str, object] = {"data": {"routes": [route]}}
    if spec.common_factor is not None and route in spec.common_factor.routes:
        changes["common_factor"] = None
    slug = re.sub(r"[^a-z0-9_.-]+", "_", route.lower()).strip("_")
    return spec.with_updates(name=f"{spec.name}.control.{slug}", **changes)


def control_data(
    spec: ModelSpec,
    panel: xr.Dataset,
    events: pd.DataFrame | None,
    route: str,
    *,
    grouping: Literal["total", "spec"] = "total",
) -> ModelData:
    """Check a control route and prepare the control model's data.

    Raises
    ------
    SpecError
        Unknown route, a route the spec already models, or no detections in the window.
    """
    if grouping not in ("total", "spec"):
        raise ValueError(f"grouping must be 'total' or 'spec', got {grouping!r}")
    _check_route(spec, panel, route)
    cspec = control_spec(spec, route)
    source = total_panel(panel) if grouping == "total" else panel
    return prepare_data(cspec, source, events)


def _control_drivers(
    spec: ModelSpec, routes: Sequence[str], drivers: Sequence[str] | None
) -> list[str]:
    """Check the control routes and the drivers to report; the drivers' names.

    Raises
    ------
    SpecError
        A route listed twice, no route, or no driver.
    KeyError
        A driver the spec does not have (the message names the valid ones).
    """
    if len(set(routes)) != len(routes):
        raise SpecError(f"negative-control routes are listed twice: {list(routes)}")
    if not routes:
        raise SpecError("negative_controls needs at least one control route")
    names = list(drivers) if drivers is not None else [d.name for d in spec.drivers]
    if not names:
        raise SpecError(f"spec '{spec.name}' has no drivers to test on control routes")
    for name in names:
        spec.driver(name)  # KeyError naming the valid drivers
    return names


def _route_columns(route: str, data: ModelData, grouping: str) -> dict[str, object]:
    """The columns a control route's rows share: ``route``, ``grouping``, ``window``,
    ``n_months`` (months with any observed count)."""
    return {
        "route": route,
        "grouping": grouping if grouping == "spec" else "route total",
        "window": f"{format_month(data.months[0])}..{format_month(data.months[-1])}",
        "n_months": int(np.isfinite(data.y.values).any(axis=(1, 2)).sum()),
    }


def negative_controls(
    spec: ModelSpec,
    panel: xr.Dataset,
    events: pd.DataFrame | None,
    routes: Sequence[str] = CONTROL_ROUTES,
    *,
    drivers: Sequence[str] | None = None,
    directions: Mapping[str, Direction] | None = None,
    grouping: Literal["total", "spec"] = "total",
    seed: int = 0,
    sampling: Sampling = VARIANT_SAMPLING,
    hdi_prob: float = 0.9,
    executor: Executor | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Fit the spec's drivers to each control route; one row per route x driver.

    Parameters
    ----------
    spec
        The headline model spec (its routes are the treated routes).
    panel, events
        Panel and event catalogue.
    routes
        Control routes (checked before anything is fitted: each must exist in the panel,
        not be modelled by ``spec`` and have detections in the window).
    drivers
        Drivers to report (default all of the spec's).
    directions
        Predicted direction per driver (default ``+``), for ``p_direction``.
    grouping
        ``"total"``: one series per route (default; see the module docstring);
        ``"spec"``: the spec's grouping.
    sampling, seed
        Sampler settings (default
        :data:`~hybridflow.analysis.checks._common.VARIANT_SAMPLING`) and root seed; each
        route is its own model (own compile), run in parallel on ``executor``.
    hdi_prob
        HDI mass for ``low``/``high``.

    Returns
    -------
    pandas.DataFrame
        Columns ``route``, ``driver``, ``mean``, ``low``, ``high`` (percent change per
        unit exposure; pooled over the route's series), ``p_positive``, ``p_direction``,
        ``direction``, ``converged``, ``divergences``, ``grouping``, ``window``,
        ``n_months``, ``note`` (the builder's notes, or the error of a failed fit).
        The expectation is no effect.
    """
    names = _control_drivers(spec, routes, drivers)
    directions = dict(directions or {})
    datas = [control_data(spec, panel, events, r, grouping=grouping) for r in routes]
    seeds = spawn_seeds(seed, len(routes))
    tasks = [
        Task(f"control-{i}", fit_task, (d, names, None, None, sampling), seed=s)
        for i, (d, s) in enumerate(zip(datas, seeds, strict=True))
    ]
    t0 = time.perf_counter()
    results = run_tasks(tasks, executor, progress=progress)
    rows = []
    for route, data, res in zip(routes, datas, results, strict=True):
        columns = _route_columns(route, data, grouping)
        for name in names:
            direction = directions.get(name, "+")
            estimate = fit_row(res, name, direction=direction, hdi_prob=hdi_prob)
            rows.append(columns | {"driver": name, "direction": direction} | estimate)
    table = pd.DataFrame(rows)[CONTROL_COLUMNS]
    table.attrs["seconds"] = time.perf_counter() - t0
    table.attrs["hdi_prob"] = hdi_prob
    return table


def control_outcome(
    table: pd.DataFrame, driver: str, *, hypothesis: str = "", threshold: float = CONTROL_P
) -> CheckOutcome:
    """The verdict for ``driver`` from a :func:`negative_controls` table (module
    docstring): did not run with too few gated route fits, failed when a usable route has
    ``P(either sign) >= threshold``."""
    rows = table[table["driver"] == driver]
    ok = rows[rows["converged"].astype(bool) & rows["mean"].notna()]
    n, n_used = len(rows), len(ok)
    why = enough_usable(n_used, n, permutation=False)
    if why:
        failed = ", ".join(str(r) for r in rows.loc[~rows.index.isin(ok.index), "route"])
        return did_not_run("controls", hypothesis, f"{why}; not usable: {failed}",
                           n_requested=n, n_used=n_used)  # fmt: skip
    worst = ok.iloc[int(np.argmax(ok["p_either"].to_numpy(dtype=float)))]
    p = float(worst["p_either"])
    passed = p < threshold
    reason = (f"{'passed' if passed else 'failed'}: largest P(either sign) {p:.2f} "
              f"({'<' if passed else '>='} {threshold:.2f}) on {worst['route']} "
              f"({float(worst['mean']):+.1f}%)")
    return CheckOutcome("controls", hypothesis, True, passed, n, n_used, n - n_used,
                        statistic=p, reason=reason)  # fmt: skip
