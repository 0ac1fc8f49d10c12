"""Scenario designs: a model's design arrays over the fitted months plus the future.

Months up to a forecast origin hold exactly the fit's design (checked); after it they
follow a scenario (:mod:`hybridflow.analysis.scenario`): catalogue events cut at the
origin plus the scenario's events, continuous drivers held at their origin value or set
to the scenario's levels, derived drivers recomputed by their rule (each driver's kind
says how: :mod:`hybridflow.models.terms.drivers`), regimes as their definitions date
them (one that begins after the origin stays off), the common factor held at its origin
value. :mod:`hybridflow.analysis.forecast` evaluates the model's terms on these designs;
real-time backtests refit the model on them.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.analysis.scenario import (
    Level,
    Scenario,
    resolve_month,
    scenario_events_frame,
)
from hybridflow.design import drivers as dd
from hybridflow.errors import SpecError
from hybridflow.models import components as comp
from hybridflow.models.build import ModelData, prepare_data, select_driver_events
from hybridflow.models.terms import Design
from hybridflow.models.terms.drivers import (
    DriverKind,
    FutureContext,
    check_same_upto,
    driver_kind,
)
from hybridflow.months import format_month

__all__ = ["ScenarioDesign", "future_months", "scenario_design"]

_ONE_MONTH = pd.DateOffset(months=1)


def _month_index(months: Sequence[Any] | pd.DatetimeIndex) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.DatetimeIndex(list(months)).as_unit("ns"), name="month")


def future_months(last: pd.Timestamp, n: int) -> pd.DatetimeIndex:
    """The ``n`` months after ``last``."""
    return pd.date_range(last + _ONE_MONTH, periods=n, freq="MS").as_unit("ns").rename("month")


@dataclass
class ScenarioDesign:
    """A model's design arrays under a scenario, over the fitted months plus the future.

    Months up to ``origin`` hold exactly the fit's design; months after it follow the
    scenario (:func:`scenario_design`).

    Attributes
    ----------
    months
        The model's months, extended by the forecast months (if any).
    history
        Pre-window months in ``exposure`` (the longest ``max_lag``).
    exposure
        ``(driver, month)`` over ``history`` earlier months plus ``months``.
    event_exposure
        ``(event, month)`` likewise, for per-event drivers: the fit's event columns first,
        then the scenario's new events (``new_events``).
    event_driver
        The driver each event column belongs to.
    regimes
        ``(month, regime)`` with the fit's regime columns.
    factor
        ``(month,)`` common factor or None.
    notes
        What the scenario did, and anything it asked for that this model cannot do.
    """

    scenario: Scenario
    origin: pd.Timestamp
    months: pd.DatetimeIndex
    history: int
    exposure: xr.DataArray
    event_exposure: xr.DataArray
    event_driver: list[str]
    new_events: list[str]
    regimes: xr.DataArray
    factor: xr.DataArray | None
    notes: list[str] = field(default_factory=list)

    @property
    def months_ext(self) -> pd.DatetimeIndex:
        return dd.with_history(self.months, self.history)

    def terms_design(self, data: ModelData, seed: int = 0) -> Design:
        """The design as the model terms evaluate it (:class:`~hybridflow.models.terms.Design`);
        ``seed`` fixes the deviations of the scenario's new per-event columns."""
        return Design(
            months=self.months,
            history=self.history,
            drivers=tuple(data.driver_names),
            per_event=np.array([d.per_event for d in data.drivers], dtype=bool),
            exposure=self.exposure.values,
            events=tuple(str(e) for e in self.event_exposure["event"].values),
            event_driver=tuple(self.event_driver),
            event_exposure=self.event_exposure.values,
            regimes=tuple(str(r) for r in self.regimes["regime"].values),
            regime_design=self.regimes.values,
            factor=None if self.factor is None else self.factor.values,
            new_events=len(self.new_events),
            seed=seed,
        )

    def model_values(self, n_lags: int, months: pd.DatetimeIndex) -> dict[str, np.ndarray]:
        """``pm.Data`` values of the design restricted to the model's ``months``.

        For :class:`~hybridflow.inference.refit.Refitter`: ``driver_lagged``,
        ``event_lagged`` (fit events only), ``regime_design`` and ``common_factor``,
        whichever the model has. Raises if the scenario adds events (that changes the
        model's structure).
        """
        if self.new_events:
            raise ValueError("a design with new per-event columns does not fit the compiled model")
        n = len(months)
        if not self.months[:n].equals(months):
            raise ValueError("months do not match the design")
        out: dict[str, np.ndarray] = {}
        ext_n = self.history + n
        if self.exposure.sizes["driver"]:
            out["driver_lagged"] = comp.lag_matrix(
                self.exposure.values[:, :ext_n], self.history, n_lags
            )
        if self.event_exposure.sizes["event"]:
            out["event_lagged"] = comp.lag_matrix(
                self.event_exposure.values[:, :ext_n], self.history, n_lags
            )
        if self.regimes.sizes["regime"]:
            out["regime_design"] = self.regimes.values[:n]
        if self.factor is not None:
            out["common_factor"] = self.factor.values[:n]
        return out


def _placeholder_panel(
    panel: xr.Dataset, routes: list[str], months: pd.DatetimeIndex, after: pd.Timestamp
) -> xr.Dataset:
    """The panel covering ``months``, with zero detections standing in after ``after``.

    Only the design (exposures, regimes) of the forecast months is taken from a
    ``prepare_data`` run on this panel; the placeholder counts are never used (the
    window check needs an outcome in every month).
    """
    pm_months = pd.DatetimeIndex(panel["month"].values)
    full = pm_months.union(months)
    p = panel.reindex(month=full) if len(full) > len(pm_months) else panel.copy()
    det = p["detections"]
    mask = p["month"].isin(np.asarray(months[months > after])) & p["route"].isin(routes)
    p["detections"] = det.where(~mask, det.fillna(0.0))
    return p


def _events_before(events: pd.DataFrame | None, origin: pd.Timestamp) -> pd.DataFrame | None:
    """Catalogue events dated up to the end of the origin month (undated rows kept)."""
    if events is None:
        return None
    eff = pd.to_datetime(events["effective_date"])
    keep = eff.isna() | (eff < origin + _ONE_MONTH)
    out = events.loc[keep.to_numpy()].reset_index(drop=True)
    out.attrs = dict(events.attrs)
    return out


def _resolve_from(
    level: Level | Any, first: pd.Timestamp, scenario: Scenario, what: str
) -> pd.Timestamp:
    m0 = resolve_month(level.from_, first)
    if m0 < first:
        raise SpecError(
            f"scenario '{scenario.name}': {what} starts {m0:%Y-%m}, before the first forecast "
            f"month {first:%Y-%m}"
        )
    return m0


def _sorted_levels(levels: list[Level], first: pd.Timestamp) -> list[Level]:
    return sorted(levels, key=lambda lv: resolve_month(lv.from_, first))


def _driver_levels(
    name: str, kinds: dict[str, DriverKind], scenario: Scenario, first: pd.Timestamp
) -> list[tuple[pd.Timestamp, Any, str]]:
    """The scenario's levels for one driver, ``(from month, value, named driver)`` by
    month. A derived driver (spike, milestone) also takes levels given for its series or
    for a sibling driver on the same series (e.g. 'losses' for a losses spike driver)."""
    kind = kinds[name]
    levels = [lv for lv in scenario.levels if lv.driver == name]
    if not levels and kind.derived:
        levels = [lv for lv in scenario.levels if lv.driver == kind.level_series]
        if not levels:
            siblings = {
                n
                for n, k in kinds.items()
                if n != name and not k.derived and k.level_series == kind.level_series
            }
            levels = [lv for lv in scenario.levels if lv.driver in siblings]
    return [
        (resolve_month(lv.from_, first), lv.value, lv.driver)
        for lv in _sorted_levels(levels, first)
    ]


def scenario_design(
    data: ModelData,
    panel: xr.Dataset,
    events: pd.DataFrame | None,
    scenario: Scenario | None = None,
    *,
    origin: pd.Timestamp | str | None = None,
    future: int = 0,
) -> ScenarioDesign:
    """The design of a model under a scenario after ``origin``.

    Parameters
    ----------
    data
        The fit's :class:`~hybridflow.models.build.ModelData`.
    panel, events
        The panel and catalogue the fit used.
    scenario
        The scenario (default: the baseline).
    origin
        The last month whose design is taken as observed (default: the last fitted
        month). Months after it follow the scenario: for a forecast they lie beyond the
        window (``future`` > 0); in a real-time backtest they are inside it.
    future
        Months to add after the window.

    Returns
    -------
    ScenarioDesign
        Months up to ``origin`` reproduce the fit's design exactly (checked).

    Notes
    -----
    Baseline after the origin: no new catalogue events (steps already in force continue
    to their catalogue end dates); continuous drivers held at their value in the origin
    month; spike and milestone drivers recomputed from their series held at its origin
    value; regimes as their definitions date them, except that a regime that begins
    after the origin is unknown at the origin and stays off; a common factor is held at
    its origin value.
    """
    spec = data.spec
    scenario = scenario or Scenario.baseline()
    origin, months_all = _design_months(data.months, origin, future)
    ext = dd.with_history(months_all, data.history)
    first = origin + _ONE_MONTH
    notes: list[str] = []
    tag = f"scenario '{scenario.name}'"

    kinds = {d.name: driver_kind(d) for d in spec.drivers}
    _check_levels(data, kinds, scenario, first, notes)

    ev_drivers = [d for d in spec.drivers if kinds[d.name].uses_events]
    event_regimes = [r for r in spec.baseline.regimes if r.source == "events"]
    data_ev: ModelData | None = None
    if ev_drivers or spec.baseline.regimes:
        data_ev = _events_design(data, panel, events, scenario, origin, months_all, notes)
    elif scenario.events:
        notes.append(f"{tag}: events ignored: model '{spec.name}' has no event drivers")

    ctx = FutureContext(spec, panel, origin, ext, scenario.name, [], data_ev, notes)
    exposure = _driver_rows(data, kinds, scenario, ctx)
    event_exposure, out_owner, new_labels = _event_columns(data, data_ev, ctx, months_all)
    regimes = _regimes_future(data, data_ev, scenario, origin, months_all, notes)
    factor = _factor_future(data, origin, months_all, notes)
    if scenario.events and event_regimes and not ev_drivers:
        notes.append(f"{tag}: events only change event-defined regimes of '{spec.name}'")
    return ScenarioDesign(
        scenario=scenario,
        origin=origin,
        months=months_all,
        history=data.history,
        exposure=exposure,
        event_exposure=event_exposure,
        event_driver=out_owner,
        new_events=new_labels,
        regimes=regimes,
        factor=factor,
        notes=notes,
    )


def _factor_future(
    data: ModelData, origin: pd.Timestamp, months_all: pd.DatetimeIndex, notes: list[str]
) -> xr.DataArray | None:
    """The common factor over ``months_all``, held at its origin value after it."""
    if data.factor is None:
        return None
    f = data.factor.reindex(month=months_all).values
    f = np.where(np.asarray(months_all > origin), float(data.factor.sel(month=origin)), f)
    notes.append("common factor held at its value in the origin month")
    return xr.DataArray(f, dims=("month",), coords={"month": months_all})


def _design_months(
    months: pd.DatetimeIndex, origin: pd.Timestamp | str | None, future: int
) -> tuple[pd.Timestamp, pd.DatetimeIndex]:
    """The origin (default: the last fitted month) and the fitted plus future months."""
    origin = months[-1] if origin is None else pd.Timestamp(str(origin)[:7] + "-01")
    if origin not in months:
        raise ValueError(f"origin {format_month(origin)} is not a month of the model window")
    months_all = _month_index(
        months
        if future <= 0
        else pd.DatetimeIndex(months.append(future_months(months[-1], future)))
    )
    return origin, months_all


def _check_levels(
    data: ModelData,
    kinds: dict[str, DriverKind],
    scenario: Scenario,
    first: pd.Timestamp,
    notes: list[str],
) -> None:
    """Every level names a driver (or a driver's series) and starts in the forecast."""
    names = data.driver_names
    series_names = {k.level_series for k in kinds.values() if k.level_series is not None}
    for lv in scenario.levels:
        if lv.driver not in names and lv.driver not in series_names:
            notes.append(
                f"scenario '{scenario.name}': level for '{lv.driver}' ignored: model "
                f"'{data.spec.name}' has no such driver (drivers: {', '.join(names) or 'none'})"
            )
        _resolve_from(lv, first, scenario, f"level '{lv.driver}'")


def _driver_rows(
    data: ModelData, kinds: dict[str, DriverKind], scenario: Scenario, ctx: FutureContext
) -> xr.DataArray:
    """``(driver, month)`` exposures over ``ctx.ext``, each extended by its kind."""
    first = ctx.origin + _ONE_MONTH
    rows: list[np.ndarray] = []
    for d in data.drivers:
        ctx_d = dataclasses.replace(ctx, levels=_driver_levels(d.name, kinds, scenario, first))
        rows.append(kinds[d.name].future(d, d.exposure.reindex(month=ctx.ext).values, ctx_d))
    return xr.DataArray(
        np.vstack(rows) if rows else np.zeros((0, len(ctx.ext))),
        dims=("driver", "month"),
        coords={"driver": data.driver_names, "month": ctx.ext},
    )


def _event_columns(
    data: ModelData, data_ev: ModelData | None, ctx: FutureContext, months_all: pd.DatetimeIndex
) -> tuple[xr.DataArray, list[str], list[str]]:
    """Per-event columns over ``ctx.ext``: the fit's, then the scenario's new events.

    Returns the ``(event, month)`` exposures, the driver of each column and the labels
    of the new ones."""
    ext, after = ctx.ext, ctx.after
    labels, ids, owners, mat = data.event_table()
    fit_ev = [np.concatenate([r, np.zeros(len(ext) - len(r))]) for r in np.asarray(mat, float)]
    new_labels: list[str] = []
    out_rows: list[np.ndarray] = []
    out_owner = list(owners)
    if labels:
        assert data_ev is not None
        l2, i2, o2, m2 = data_ev.event_table()
        ext_ev = dd.with_history(months_all, data_ev.history)
        pos = {(o, i): k for k, (o, i) in enumerate(zip(o2, i2, strict=True))}

        def aligned(k: int) -> np.ndarray:
            da = xr.DataArray(m2[k], dims=("month",), coords={"month": ext_ev})
            return da.reindex(month=ext, fill_value=0.0).values

        for j, (o, i) in enumerate(zip(owners, ids, strict=True)):
            new_v = aligned(pos[(o, i)]) if (o, i) in pos else np.zeros(len(ext))
            check_same_upto(fit_ev[j], new_v, ext, ctx.origin, f"event '{labels[j]}'")
            out_rows.append(np.where(after, new_v, fit_ev[j]))
        for k, (o, i) in enumerate(zip(o2, i2, strict=True)):
            if (o, i) in set(zip(owners, ids, strict=True)):
                continue
            if not i.startswith("scenario:"):
                ctx.notes.append(f"event '{i}' of driver '{o}' is not in the fit: ignored")
                continue
            label = i if sum(1 for x in i2 if x == i) == 1 else f"{i} [{o}]"
            new_labels.append(label)
            out_owner.append(o)
            out_rows.append(np.where(after, aligned(k), 0.0))
    event_exposure = xr.DataArray(
        np.vstack(out_rows) if out_rows else np.zeros((0, len(ext))),
        dims=("event", "month"),
        coords={"event": list(labels) + new_labels, "month": ext},
    )
    return event_exposure, out_owner, new_labels


def _events_design(
    data: ModelData,
    panel: xr.Dataset,
    events: pd.DataFrame | None,
    scenario: Scenario,
    origin: pd.Timestamp,
    months_all: pd.DatetimeIndex,
    notes: list[str],
) -> ModelData:
    """``prepare_data`` on the event drivers and regimes, with the catalogue cut at the
    origin and the scenario's events added, over the extended window."""
    spec = data.spec
    first = origin + _ONE_MONTH
    ev_drivers = [d for d in spec.drivers if driver_kind(d).uses_events]
    spec_ev = spec.model_copy(
        update={
            "drivers": ev_drivers,
            "common_factor": None,
            "data": spec.data.model_copy(update={"end": format_month(months_all[-1])}),
        }
    )
    catalogue = _events_before(events, origin)
    n_future_events = 0
    if scenario.events:
        frame = scenario_events_frame(scenario, first, horizon_end=months_all[-1])
        n_future_events = len(frame)
        if len(frame) < len(scenario.events):
            notes.append(
                f"scenario '{scenario.name}': {len(scenario.events) - len(frame)} event(s) dated "
                f"after {format_month(months_all[-1])} cannot change these months: left out"
            )
        if catalogue is None:
            catalogue = frame
        elif len(frame):
            attrs = dict(catalogue.attrs)
            catalogue = pd.concat([catalogue, frame], ignore_index=True)
            catalogue.attrs = attrs
    panel_ph = (
        _placeholder_panel(panel, data.routes, months_all, data.months[-1])
        if months_all[-1] > data.months[-1]
        else panel
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data_ev = prepare_data(spec_ev, panel_ph, catalogue)
    if n_future_events and ev_drivers:
        frame = scenario_events_frame(scenario, first, horizon_end=months_all[-1])
        hit: set[str] = set()
        for d in ev_drivers:
            flt = driver_kind(d).event_filter
            hit.update(str(e) for e in select_driver_events(frame, flt)["event_id"])
        unmatched = [str(e) for e in frame["event_id"] if str(e) not in hit]
        if unmatched:
            notes.append(
                f"scenario '{scenario.name}': {', '.join(unmatched)} match(es) no driver filter of "
                f"model '{spec.name}' (event drivers: {', '.join(d.name for d in ev_drivers)})"
            )
    return data_ev


def _regimes_future(
    data: ModelData,
    data_ev: ModelData | None,
    scenario: Scenario,
    origin: pd.Timestamp,
    months_all: pd.DatetimeIndex,
    notes: list[str],
) -> xr.DataArray:
    labels = [str(r) for r in data.regimes["regime"].values]
    fit = data.regimes.reindex(month=months_all).values
    after = np.asarray(months_all > origin)
    cols = np.where(after[:, None], 0.0, fit) if labels else np.zeros((len(months_all), 0))
    if labels:
        assert data_ev is not None
        ev_labels = [str(r) for r in data_ev.regimes["regime"].values]
        for j, lab in enumerate(labels):
            if lab in ev_labels:
                new = (
                    data_ev.regimes.sel(regime=lab).reindex(month=months_all, fill_value=0.0).values
                )
                check_same_upto(fit[:, j], new, months_all, origin, f"regime '{lab}'")
                cols[:, j] = np.where(after, new, fit[:, j])
            past = fit[~after, j]
            if after.any() and not np.any(past != 0) and np.any(cols[after, j] != 0):
                # Begins after the origin: unknown at the origin (a real-time forecaster
                # could not have known the break was coming).
                cols[after, j] = 0.0
                notes.append(
                    f"regime '{lab}' begins after {format_month(origin)}: unknown then, left off"
                )
    first = origin + _ONE_MONTH
    spec_names = {r.name for r in data.spec.baseline.regimes}
    for sw in sorted(scenario.regimes, key=lambda s: resolve_month(s.from_, first)):
        m0 = _resolve_from(sw, first, scenario, f"regime '{sw.name}'")
        targets = [
            j for j, lab in enumerate(labels) if lab == sw.name or lab.startswith(sw.name + "[")
        ]
        if not targets:
            why = (
                "it was dropped from this fit (constant over the window)"
                if sw.name in spec_names
                else f"the model has no such regime (regimes: {', '.join(labels) or 'none'})"
            )
            notes.append(f"scenario '{scenario.name}': regime switch '{sw.name}' ignored: {why}")
            continue
        sel = after & np.asarray(months_all >= m0)
        for j in targets:
            cols[sel, j] = 1.0 if sw.state == "on" else 0.0
    return xr.DataArray(
        cols, dims=("month", "regime"), coords={"month": months_all, "regime": labels}
    )
