"""Spec + panel + events -> the design arrays (:class:`ModelData`) -> a PyMC model.

Two steps, each usable alone:

1. :func:`prepare_data` checks the spec against the data and builds every array the model
   uses: the outcome ``y(month, route, group)`` (NaN = not observed, masked out of the
   likelihood), each driver's exposure over the window plus ``max_lag`` months of
   pre-window history, the regime indicators and the common factor. Windows are honest:
   a driver whose data end before the window ends is an error (or, with
   ``data.on_missing = "clip"``, the window is shortened and a note is recorded); months
   before a driver's data start are filled only when the spec says so (``fill_before``)
   and a step regime starts where the data start, so the onset is not credited to the
   driver.
2. :func:`build_model` writes the PyMC model. Series are the ``route x group`` grid (two
   dims, so results always carry named ``route`` and ``group`` coords, also with one
   route). Outcome, exposures, regimes and factor are ``pm.Data`` containers, so a
   compiled model can be refit on new data of the same shape (nutpie ``with_data``).

Model (counts; see ``docs/models.md``)::

    y[t,s] ~ NegBin(mu[t,s], phi[s])        (or Poisson; masked where y is NaN)
    log mu[t,s] = a[s] + trend[t,s] + season[t,s] + sum_r gamma[r,s] R[t,r]
                  + lambda[s] f[t] + sum_d beta[d,s] (w_d * x_d)[t]

with ``(w_d * x_d)[t] = sum_l w_d[l] x_d[t-l]`` and ``sum_l w_d[l] = 1``, so ``beta`` is
the cumulative log-rate effect of one unit of exposure. For ``outcome = "share"`` the same
linear predictor is the log-odds of ``share_group`` in the route total (binomial or
beta-binomial).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from hybridflow.design import drivers as dd
from hybridflow.design.kernels import LagKernel, make_kernel
from hybridflow.errors import InputError, SpecError
from hybridflow.models.spec import (
    AcledDriver,
    Driver,
    EventFilter,
    EventsDriver,
    LossesDriver,
    MilestoneDriver,
    ModelSpec,
    PanelDriver,
    Regime,
    SpikeDriver,
    TerritoryDriver,
    TopK,
    spec_hash,
)
from hybridflow.models.terms import (
    BASELINE_GATE,
    BuildContext,
    Family,
    Term,
    family_named,
    model_terms,
)
from hybridflow.months import format_month, month_range
from hybridflow.numbers import format_number

__all__ = [
    "BASELINE_REPORTED",
    "DriverDesign",
    "ModelBundle",
    "ModelData",
    "build_model",
    "driver_panel_series",
    "events_with_sign",
    "make_driver_kernel",
    "prepare_data",
    "select_driver_events",
    "select_outcome",
]


# --------------------------------------------------------------------------- containers


#: Parameters the convergence gate checks in a model without drivers (the null model),
#: as the baseline terms name them.
BASELINE_REPORTED: tuple[str, ...] = BASELINE_GATE


@dataclass
class DriverDesign:
    """One driver's exposure and what one unit of it means.

    Attributes
    ----------
    exposure
        ``(month,)`` over history + window (the aggregate; for per-event drivers the sum of
        the event columns).
    event_exposure
        ``(month, event)`` for per-event drivers, else None.
    unit
        Plain-words meaning of one unit of exposure (used in effects' attrs).
    """

    name: str
    source: str
    kernel: LagKernel
    exposure: xr.DataArray
    unit: str
    center: float = 0.0
    scale: float = 1.0
    per_event: bool = False
    event_exposure: xr.DataArray | None = None
    first_observed: str = ""
    last_observed: str = ""


@dataclass
class ModelData:
    """Everything :func:`build_model` needs, as plain arrays with named dims."""

    spec: ModelSpec
    months: pd.DatetimeIndex
    history: int
    routes: list[str]
    groups: list[str]
    y: xr.DataArray
    trials: xr.DataArray | None
    drivers: list[DriverDesign]
    regimes: xr.DataArray
    factor: xr.DataArray | None
    regime_sd: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    panel_attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def months_ext(self) -> pd.DatetimeIndex:
        """History months plus the window."""
        return dd.with_history(self.months, self.history)

    @property
    def n_lags(self) -> int:
        return self.history + 1

    @property
    def driver_names(self) -> list[str]:
        return [d.name for d in self.drivers]

    def exposure_matrix(self) -> xr.DataArray:
        """``(driver, month)`` exposures over history + window."""
        if not self.drivers:
            return xr.DataArray(
                np.zeros((0, len(self.months_ext))),
                dims=("driver", "month"),
                coords={"driver": [], "month": self.months_ext},
            )
        return xr.concat([d.exposure for d in self.drivers], dim="driver").assign_coords(
            driver=self.driver_names
        )

    def event_table(self) -> tuple[list[str], list[str], list[str], np.ndarray]:
        """Per-event columns: (labels, event_ids, driver of each, exposure (event, month))."""
        labels: list[str] = []
        ids: list[str] = []
        owners: list[str] = []
        cols: list[np.ndarray] = []
        all_ids = [
            str(e)
            for d in self.drivers
            if d.per_event and d.event_exposure is not None
            for e in d.event_exposure["event"].values
        ]
        for d in self.drivers:
            if not d.per_event or d.event_exposure is None:
                continue
            for e in d.event_exposure["event"].values:
                e = str(e)
                # An id used by two per-event drivers is labelled with its driver too.
                label = e if all_ids.count(e) == 1 else f"{e} [{d.name}]"
                labels.append(label)
                ids.append(e)
                owners.append(d.name)
                cols.append(d.event_exposure.sel(event=e).to_numpy())
        mat = np.vstack(cols) if cols else np.zeros((0, len(self.months_ext)))
        return labels, ids, owners, mat

    def data_hash(self) -> str:
        """sha256 over the arrays the model uses (outcome, exposures, regimes, factor)."""
        h = hashlib.sha256()

        def add(name: str, arr: Any) -> None:
            h.update(name.encode())
            a = np.ascontiguousarray(np.asarray(arr, dtype=float))
            h.update(str(a.shape).encode())
            h.update(a.tobytes())

        h.update("|".join(format_month(m) for m in self.months).encode())
        h.update("|".join(self.routes).encode())
        h.update("|".join(self.groups).encode())
        h.update(str(self.history).encode())
        add("y", self.y.values)
        if self.trials is not None:
            add("trials", self.trials.values)
        add("exposure", self.exposure_matrix().values)
        _, ids, owners, ev = self.event_table()
        h.update("|".join(f"{o}:{i}" for o, i in zip(owners, ids, strict=True)).encode())
        add("events", ev)
        h.update("|".join(map(str, self.regimes["regime"].values)).encode())
        add("regimes", self.regimes.values)
        if self.factor is not None:
            add("factor", self.factor.values)
        return h.hexdigest()


@dataclass
class ModelBundle:
    """A built model plus what later stages need.

    Attributes
    ----------
    model
        The ``pm.Model``.
    data
        The :class:`ModelData` it was built from.
    kernels
        Lag kernel per driver.
    reported_vars
        Variables the diagnostics gate checks (driver effects, their group-level values,
        between-group and between-event sds, kernel parameters).
    data_names
        Names of the ``pm.Data`` containers (for refitting on new data).
    """

    model: pm.Model
    data: ModelData
    kernels: dict[str, LagKernel]
    reported_vars: list[str]
    data_names: list[str]
    constant_data: dict[str, xr.DataArray]


# --------------------------------------------------------------------------- helpers


def make_driver_kernel(driver: Driver) -> LagKernel:
    """The lag kernel a driver spec asks for (fixed when ``kernel.fixed`` is set)."""
    ks = driver.kernel
    try:
        kernel = make_kernel(ks.name, max_lag=ks.max_lag, **ks.options)
        if ks.fixed is not None:
            kernel = kernel.fixed(**ks.fixed)
    except SpecError as exc:
        raise SpecError(f"drivers '{driver.name}'.kernel: {exc}") from None
    return kernel


def select_driver_events(events: pd.DataFrame, flt: EventFilter) -> pd.DataFrame:
    """Apply a spec's event filter: :func:`hybridflow.data.events.filter_events` for the
    catalogue fields, then the border and date-window filters."""
    from hybridflow.data.events import filter_events

    kwargs: dict[str, Any] = {
        "family": flt.family,
        "actor": flt.actor,
        "target": flt.target,
        "kinds": flt.kinds,
        "sectors": flt.sectors,
        "direction": flt.direction,
        "min_confidence": flt.min_confidence,
        "event_ids": flt.event_ids,
        "exclude_ids": flt.exclude_ids,
    }
    df = filter_events(events, **{k: v for k, v in kwargs.items() if v is not None})
    if flt.border:
        want = set(flt.border)
        df = df[df["border"].map(lambda b: bool(want & set(_as_tuple(b))))]
    if flt.start is not None:
        df = df[pd.to_datetime(df["effective_date"]) >= pd.Timestamp(flt.start + "-01")]
    if flt.end is not None:
        end = pd.Timestamp(flt.end + "-01") + pd.offsets.MonthBegin(1)
        df = df[pd.to_datetime(df["effective_date"]) < end]
    return df.reset_index(drop=True)


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(";") if v.strip())
    return tuple(str(v) for v in value)


def events_with_sign(events: pd.DataFrame) -> pd.DataFrame:
    """Add a numeric ``_sign``: relief (``relax``) counts -1, everything else +1."""
    direction = events.get("direction", pd.Series("", index=events.index)).astype(str)
    return events.assign(_sign=np.where(direction.str.strip().str.lower() == "relax", -1.0, 1.0))


def select_outcome(spec: ModelSpec, panel: xr.Dataset) -> xr.DataArray:
    """``detections(month, route, group)`` for the spec's routes and grouping."""
    if "detections" not in panel:
        raise InputError(None, "panel has no 'detections' variable")
    det = panel["detections"]
    if "nationality" in det.dims:
        from hybridflow.data.panel import group_nationalities

        grouping = spec.data.grouping
        if isinstance(grouping, TopK):
            grouped = group_nationalities(
                panel, "top_k", top_k=grouping.top_k, routes=spec.data.routes, since=grouping.since
            )
        elif isinstance(grouping, str) and grouping.endswith(".csv"):
            grouped = group_nationalities(panel, Path(grouping))
        else:
            grouped = group_nationalities(panel, grouping)
        det = grouped["detections"]
    if "group" not in det.dims:
        raise InputError(
            None, f"panel detections need a 'group' or 'nationality' dim; got {det.dims}"
        )
    routes = [str(r) for r in det["route"].values]
    unknown = [r for r in spec.data.routes if r not in routes]
    if unknown:
        raise SpecError(f"data.routes: unknown route(s) {unknown}; routes in the panel: {routes}")
    det = det.sel(route=spec.data.routes)
    return det.transpose("month", "route", "group").astype(float)


def _coverage(values: pd.Series) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    obs = values.dropna()
    if obs.empty:
        return None, None
    return pd.Timestamp(obs.index[0]), pd.Timestamp(obs.index[-1])


def driver_panel_series(panel: xr.Dataset, driver: Driver) -> pd.Series:
    """The raw monthly series behind a continuous/spike/milestone driver."""

    def need(var: str) -> xr.DataArray:
        if var not in panel:
            raise SpecError(
                f"drivers '{driver.name}': panel has no variable {var!r} "
                f"(variables: {sorted(map(str, panel.data_vars))})"
            )
        return panel[var]

    if isinstance(driver, LossesDriver):
        da = need("losses_personnel")
    elif isinstance(driver, AcledDriver):
        da = need("acled_russia")
        types = [str(t) for t in da["acled_event_type"].values]
        if driver.event_type not in types:
            raise SpecError(
                f"drivers '{driver.name}'.event_type: {driver.event_type!r} not in the panel "
                f"(types: {types})"
            )
        da = da.sel(acled_event_type=driver.event_type, drop=True)
    elif isinstance(driver, TerritoryDriver):
        da = need("territory_net_change")
        trackers = [str(t) for t in da["tracker"].values]
        if driver.tracker not in trackers:
            raise SpecError(
                f"drivers '{driver.name}'.tracker: {driver.tracker!r} not in the panel "
                f"(trackers: {trackers})"
            )
        da = da.sel(tracker=driver.tracker, drop=True)
        if driver.sign == "positive":
            da = da.clip(min=0.0)
        elif driver.sign == "negative":
            da = (-da).clip(min=0.0)
    elif isinstance(driver, SpikeDriver | MilestoneDriver):
        da = need(driver.series)
    elif isinstance(driver, PanelDriver):
        da = need(driver.variable)
    else:  # pragma: no cover - events drivers never get here
        raise TypeError(type(driver))
    if da.dims != ("month",):
        raise SpecError(
            f"drivers '{driver.name}': panel variable has dims {da.dims}; a driver needs ('month',)"
        )
    s = da.to_series().astype(float)
    s.index = pd.DatetimeIndex(s.index, name="month")
    return s


def _series_window(
    spec: ModelSpec,
    panel: xr.Dataset,
    outcome: xr.DataArray,
    notes: list[str],
) -> pd.DatetimeIndex:
    """The modelled months: the spec window, checked against every source's coverage.

    Raises SpecError when a source ends inside the window (unless ``on_missing = "clip"``,
    which shortens the window and records a note).
    """
    start, end = spec.start_month, spec.end_month
    pm_months = pd.DatetimeIndex(panel["month"].values)
    if start < pm_months[0] or end > pm_months[-1]:
        raise SpecError(
            f"data window {spec.data.start}..{spec.data.end} is outside the panel's months "
            f"{format_month(pm_months[0])}..{format_month(pm_months[-1])}"
        )
    # Latest month every source covers.
    limits: dict[str, pd.Timestamp] = {}
    obs = outcome.sel(month=slice(start, end)).notnull().any(("route", "group"))
    obs_months = pd.DatetimeIndex(obs["month"].values)[obs.values]
    if len(obs_months) == 0:
        raise SpecError(f"no detections observed in {spec.data.start}..{spec.data.end}")
    if obs_months[0] > start:
        raise SpecError(
            f"data.start {spec.data.start}: detections start only in {format_month(obs_months[0])}"
        )
    limits["detections"] = obs_months[-1]
    for d in spec.drivers:
        if isinstance(d, EventsDriver):
            continue
        s = driver_panel_series(panel, d)
        first, last = _coverage(s)
        if first is None or last is None:
            raise SpecError(f"drivers '{d.name}': its data are empty")
        if first > end:
            raise SpecError(
                f"drivers '{d.name}': data start {format_month(first)}, after the window ends"
            )
        limits[f"driver '{d.name}'"] = last
    if spec.common_factor is not None:
        tot = _factor_raw(spec, panel)
        limits["common_factor"] = _coverage(tot)[1] or start
    binding = {k: v for k, v in limits.items() if v < end}
    if binding:
        new_end = min(binding.values())
        listing = ", ".join(f"{k} ends {format_month(v)}" for k, v in sorted(binding.items()))
        if spec.data.on_missing == "error" or new_end < start:
            raise SpecError(
                f"data.end {spec.data.end} is after the data end: {listing}. Set data.end to "
                f"{format_month(new_end)} or data.on_missing = 'clip' (never imputed silently)"
            )
        msg = f"window clipped from {spec.data.end} to {format_month(new_end)}: {listing}"
        warnings.warn(msg, UserWarning, stacklevel=3)
        notes.append(msg)
        end = new_end
    return month_range(start, end)


def _factor_raw(spec: ModelSpec, panel: xr.Dataset) -> pd.Series:
    assert spec.common_factor is not None
    totals = panel["route_total"]
    routes = [str(r) for r in totals["route"].values]
    unknown = [r for r in spec.common_factor.routes if r not in routes]
    if unknown:
        raise SpecError(f"common_factor.routes: unknown route(s) {unknown}; valid: {routes}")
    clash = set(spec.common_factor.routes) & set(spec.data.routes)
    if clash:
        raise SpecError(
            f"common_factor.routes: {sorted(clash)} is also modelled; control routes must differ"
        )
    tot = totals.sel(route=spec.common_factor.routes).sum(
        "route", min_count=len(spec.common_factor.routes)
    )
    s = tot.to_series().astype(float)
    s.index = pd.DatetimeIndex(s.index, name="month")
    return s


def _check_fill_regime(spec: ModelSpec, driver: Driver, first: pd.Timestamp) -> None:
    """A driver filled before its data start needs a step regime starting there."""
    for r in spec.baseline.regimes:
        if r.source == "dates" and r.shape == "step" and r.start is not None:
            gap = (pd.Timestamp(r.start + "-01") - first).days
            if abs(gap) <= 31:
                return
    raise SpecError(
        f"drivers '{driver.name}': data start {format_month(first)}, after data.start "
        f"{spec.data.start}, and fill_before fills the months before; add a step regime "
        f"starting {format_month(first)} (e.g. the war onset) to baseline.regimes so that "
        "the onset is not attributed to this driver, or move data.start"
    )


def _continuous_design(
    spec: ModelSpec,
    driver: LossesDriver | AcledDriver | TerritoryDriver | PanelDriver,
    series: pd.Series,
    months: pd.DatetimeIndex,
    months_ext: pd.DatetimeIndex,
    kernel: LagKernel,
    notes: list[str],
) -> DriverDesign:
    first, last = _coverage(series)
    assert first is not None and last is not None
    window_obs = months[(months >= first) & (months <= last)]
    inside = series.reindex(window_obs)
    if inside.isna().any():
        gaps = [format_month(m) for m in window_obs[inside.isna().to_numpy()]]
        raise SpecError(
            f"drivers '{driver.name}': data missing inside the window ({', '.join(gaps[:6])}); "
            "never imputed silently: shorten the window"
        )
    fill = driver.fill_before
    if first > months[0]:
        if fill is None:
            raise SpecError(
                f"drivers '{driver.name}': data start {format_month(first)}, after data.start "
                f"{spec.data.start}; set fill_before (e.g. 0 for 'none yet') with a step regime "
                "at the data start, or move data.start"
            )
        if fill == "centre":
            notes.append(
                f"driver '{driver.name}': months before its data start {format_month(first)} "
                "set to the series mean (neutral): its effect is identified from "
                f"{format_month(first)} on"
            )
        else:
            _check_fill_regime(spec, driver, first)
    # Values over history + window. Months before the data take the spec's fill (raw
    # units) or, for "centre" and for unfilled pre-window history, the series' mean over
    # the window (neutral: such months neither add nor remove exposure).
    raw = series.reindex(months_ext)
    before = np.asarray(months_ext < first)
    neutral_fill = fill is None or fill == "centre"
    raw.iloc[np.flatnonzero(before)] = 0.0 if neutral_fill else float(fill)  # type: ignore[arg-type]
    tf = driver.transform
    out = dd.continuous_driver(
        raw,
        months_ext,
        log=tf.log,
        standardise=tf.standardise,
        fill_before=None,
        fill_missing="error",
        reference_months=window_obs,
        name=driver.name,
    )
    values = out.values.copy()
    if neutral_fill and before.any():
        values[before] = values[np.asarray(months_ext.isin(window_obs))].mean()
        if fill is None:
            notes.append(
                f"driver '{driver.name}': {int(before.sum())} pre-window lag-history month(s) "
                f"before its data start {format_month(first)} set to the series mean (neutral)"
            )
    out = out.copy(data=values)
    what = {
        "losses": "monthly Russian personnel losses",
        "acled": f"ACLED '{getattr(driver, 'event_type', '')}' events in Russia per month",
        "territory": f"{getattr(driver, 'tracker', '')} monthly net change in Russian-held area "
        f"({getattr(driver, 'sign', '')} part, km2)",
        "panel": f"panel variable '{getattr(driver, 'variable', '')}'",
    }[driver.source]
    if tf.standardise:
        per = format_number(out.attrs["scale"], 4) + (" on the log1p scale" if tf.log else "")
        unit = f"+1 SD of {what}{' (log1p)' if tf.log else ''} (1 SD = {per})"
    else:
        unit = f"+1 of {what}{' (log1p)' if tf.log else ''}"
    return DriverDesign(
        name=driver.name,
        source=driver.source,
        kernel=kernel,
        exposure=out.rename(driver.name),
        unit=unit,
        center=float(out.attrs["center"]),
        scale=float(out.attrs["scale"]),
        first_observed=format_month(first),
        last_observed=format_month(last),
    )


def _driver_design(
    spec: ModelSpec,
    driver: Driver,
    panel: xr.Dataset,
    events: pd.DataFrame | None,
    months: pd.DatetimeIndex,
    months_ext: pd.DatetimeIndex,
    notes: list[str],
) -> DriverDesign:
    kernel = make_driver_kernel(driver)
    if isinstance(driver, EventsDriver):
        if events is None:
            raise SpecError(f"drivers '{driver.name}': source 'events' needs an events table")
        sel = select_driver_events(events, driver.filter)
        if sel.empty:
            raise SpecError(f"drivers '{driver.name}': the filter matches no events")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ev = dd.event_exposure(
                events_with_sign(sel),
                months_ext,
                shape=driver.shape,
                date_column="effective_date",
                sign_column="_sign",
                per_event=True,
                name=driver.name,
            )
        notes.extend(f"driver '{driver.name}': {w.message}" for w in caught)
        # Events with no exposure in history + window carry no information: drop them.
        active = (ev != 0).any("month")
        ev = ev.isel(event=np.flatnonzero(active.values))
        if ev.sizes["event"] == 0:
            raise SpecError(
                f"drivers '{driver.name}': none of its {len(sel)} events falls in "
                f"{format_month(months_ext[0])}..{format_month(months_ext[-1])}"
            )
        agg = ev.sum("event").rename(driver.name)
        return DriverDesign(
            name=driver.name,
            source="events",
            kernel=kernel,
            exposure=agg,
            unit=f"one event ({driver.shape})",
            per_event=driver.per_event,
            event_exposure=ev if driver.per_event else None,
            first_observed=format_month(months_ext[0]),
            last_observed=format_month(months_ext[-1]),
        )
    series = driver_panel_series(panel, driver)
    if isinstance(driver, SpikeDriver | MilestoneDriver):
        first, last = _coverage(series)
        assert first is not None and last is not None
        obs = series.loc[first:last]
        if obs.isna().any():
            raise SpecError(f"drivers '{driver.name}': series {driver.series!r} has gaps")
        if isinstance(driver, SpikeDriver):
            out = dd.spike_driver(
                obs, months_ext, window=driver.window, k=driver.k, name=driver.name
            )
            unit = f"one spike month ({out.attrs['rule']})"
        else:
            out = dd.milestone_driver(obs, months_ext, step=driver.step, name=driver.name)
            unit = (
                f"one crossing of a multiple of {format_number(driver.step)} cumulative "
                f"{driver.series}"
            )
            if out.attrs.get("crossings"):
                notes.append(f"driver '{driver.name}' crossings: {out.attrs['crossings']}")
        if float(np.abs(out.sel(month=months)).sum()) == 0:
            raise SpecError(f"drivers '{driver.name}': no {driver.source} month inside the window")
        return DriverDesign(
            name=driver.name,
            source=driver.source,
            kernel=kernel,
            exposure=out.rename(driver.name),
            unit=unit,
            first_observed=format_month(first),
            last_observed=format_month(last),
        )
    return _continuous_design(spec, driver, series, months, months_ext, kernel, notes)


def _regime_columns(
    spec: ModelSpec,
    events: pd.DataFrame | None,
    months: pd.DatetimeIndex,
    notes: list[str],
) -> tuple[xr.DataArray, list[float]]:
    cols: list[np.ndarray] = []
    labels: list[str] = []
    sds: list[float] = []
    default_sd = spec.baseline.priors.regime_sd

    def add(label: str, values: np.ndarray, regime: Regime) -> None:
        if np.all(values == values[0]):
            state = "always on" if values[0] else "never on"
            notes.append(
                f"regime '{label}' dropped: {state} in {format_month(months[0])}.."
                f"{format_month(months[-1])} (not identifiable)"
            )
            return
        if any(np.array_equal(values, c) for c in cols):
            notes.append(f"regime '{label}' dropped: identical to an earlier regime column")
            return
        cols.append(values)
        labels.append(label)
        sds.append(regime.prior_sd or default_sd)

    for r in spec.baseline.regimes:
        if r.source == "dates":
            assert r.start is not None
            if r.shape == "pulse":
                values = (months == pd.Timestamp(r.start + "-01")).astype(float)
            else:
                s0, s1 = (
                    pd.Timestamp(r.start + "-01"),
                    months[-1] if r.end is None else pd.Timestamp(r.end + "-01"),
                )
                values = ((months >= s0) & (months <= s1)).astype(float)
            add(r.name, values, r)
        else:
            if events is None:
                raise SpecError(
                    f"baseline.regimes '{r.name}': source 'events' needs an events table"
                )
            assert r.filter is not None
            sel = select_driver_events(events, r.filter)
            if sel.empty:
                raise SpecError(f"baseline.regimes '{r.name}': the filter matches no events")
            ev = dd.event_exposure(
                sel,
                months,
                shape=r.shape,
                date_column="effective_date",
                end_column="end_date",
                sign_column=None,
                per_event=True,
            )
            for e in ev["event"].values:
                add(f"{r.name}[{e}]", (ev.sel(event=e).values != 0).astype(float), r)
    mat = np.column_stack(cols) if cols else np.zeros((len(months), 0))
    da = xr.DataArray(mat, dims=("month", "regime"), coords={"month": months, "regime": labels})
    return da, sds


def prepare_data(
    spec: ModelSpec,
    panel: xr.Dataset,
    events: pd.DataFrame | None = None,
) -> ModelData:
    """Check a spec against the data and build the model's arrays.

    Parameters
    ----------
    spec
        A validated :class:`~hybridflow.models.spec.ModelSpec`.
    panel
        The analysis panel (``hybridflow.data.panel.load_panel()``), with
        ``detections(month, route, nationality)`` (grouped here by ``data.grouping``) or
        already grouped ``detections(month, route, group)``.
    events
        The event catalogue (``hybridflow.data.events.load_events()``); needed when a driver
        or regime has ``source = "events"``.

    Returns
    -------
    ModelData

    Raises
    ------
    SpecError
        The spec asks for something the data cannot honestly give (unknown route, a driver
        whose data end inside the window, an unfilled gap, no events matched...).
    """
    notes: list[str] = []
    outcome = select_outcome(spec, panel)
    months = _series_window(spec, panel, outcome, notes)
    drivers = spec.drivers
    history = max((d.kernel.max_lag for d in drivers), default=0)
    months_ext = dd.with_history(months, history)

    y_all = outcome.sel(month=months)
    routes = [str(r) for r in y_all["route"].values]
    groups = [str(g) for g in y_all["group"].values]
    trials = None
    if spec.data.outcome == "share":
        if spec.data.share_group not in groups:
            raise SpecError(f"data.share_group: {spec.data.share_group!r} not in groups {groups}")
        trials = y_all.sum("group", min_count=1).expand_dims(group=[spec.data.share_group], axis=-1)
        y = y_all.sel(group=[spec.data.share_group])
        y = y.where(trials > 0)
        trials = trials.where(trials > 0)
        groups = [spec.data.share_group]
    else:
        y = y_all
    for r in routes:
        for g in groups:
            if int(y.sel(route=r, group=g).notnull().sum()) == 0:
                raise SpecError(
                    f"series route={r!r}, group={g!r} has no observed month in the window"
                )
    if (y < 0).any():
        raise InputError(None, "detections must be non-negative counts")

    designs = [_driver_design(spec, d, panel, events, months, months_ext, notes) for d in drivers]
    regimes, regime_sd = _regime_columns(spec, events, months, notes)
    factor = None
    if spec.common_factor is not None:
        raw = _factor_raw(spec, panel).reindex(months)
        if raw.isna().any():
            raise SpecError("common_factor: control-route totals missing inside the window")
        logged = np.log1p(raw.to_numpy())
        z = (logged - logged.mean()) / (logged.std() or 1.0)
        factor = xr.DataArray(z, dims=("month",), coords={"month": months}, name="common_factor")
    return ModelData(
        spec=spec,
        months=months,
        history=history,
        routes=routes,
        groups=groups,
        y=y.transpose("month", "route", "group"),
        trials=None if trials is None else trials.transpose("month", "route", "group"),
        drivers=designs,
        regimes=regimes,
        factor=factor,
        regime_sd=regime_sd,
        notes=notes,
        panel_attrs={k: v for k, v in panel.attrs.items() if isinstance(v, str | int | float)},
    )


# --------------------------------------------------------------------------- the model



def _observed_cells(data: ModelData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mask of observed cells and, per observed cell, its flat index into the
    ``(month, route, group)`` grid, its series index and its count."""
    y = data.y.values
    mask = np.isfinite(y)
    if data.trials is not None:
        mask &= np.isfinite(data.trials.values)
    _, r_idx, g_idx = np.nonzero(mask)
    # One flat index into the grid: a single-index gather compiles far faster (numba)
    # than three-array advanced indexing.
    flat_idx = np.flatnonzero(mask.ravel()).astype(np.int64)
    series_idx = (r_idx * len(data.groups) + g_idx).astype(np.int64)
    return mask, flat_idx, series_idx, y[mask].astype(np.int64)


def _gate_vars(terms: list[Term], family: Family, model: pm.Model) -> list[str]:
    """What the convergence gate checks: the driver terms' parameters or, in a model
    without any (the null), the baseline terms' (levels, regimes, dispersion)."""
    reported = [v for t in terms if not t.baseline for v in t.gate_vars]
    if not reported:
        reported = [v for t in terms if t.baseline for v in t.gate_vars] + family.gate_vars
    # Keep only names that exist, in order, once.
    return list(dict.fromkeys(n for n in reported if n in model.named_vars))


def build_model(
    spec: ModelSpec,
    data: ModelData | xr.Dataset,
    events: pd.DataFrame | None = None,
) -> ModelBundle:
    """Build the PyMC model for a spec: the sum of its terms and its likelihood family
    (:mod:`hybridflow.models.terms`).

    Parameters
    ----------
    spec
        The model spec.
    data
        A :class:`ModelData` from :func:`prepare_data`, or a panel Dataset (then
        :func:`prepare_data` is called with ``events``).
    events
        Event catalogue, when ``data`` is a panel.

    Returns
    -------
    ModelBundle
        Coords ``month, route, group`` always; ``driver, lag`` with drivers; ``event`` with
        per-event drivers; ``regime`` with regimes; ``fourier`` with seasonality; ``obs``
        (observed cells). Key variables: ``effect(driver, route, group)`` and
        ``effect_mean(driver)`` (cumulative log-rate effects), ``event_effect(event, route,
        group)``, ``kernel_weights(driver, lag)``, ``log_mu(month, route, group)``.
    """
    if isinstance(data, xr.Dataset):
        data = prepare_data(spec, data, events)
    if data.spec is not spec and spec_hash(data.spec) != spec_hash(spec):
        raise ValueError("data were prepared for a different spec")
    T, R, G = len(data.months), len(data.routes), len(data.groups)
    terms = model_terms(spec, data)
    family = family_named(spec.likelihood.family)
    mask, flat_idx, series_idx, y_obs = _observed_cells(data)
    coords: dict[str, Any] = {
        "month": data.months,
        "route": data.routes,
        "group": data.groups,
        "obs": np.arange(len(y_obs)),
    }
    for term in terms:
        coords.update(term.coords(data))
    constant: dict[str, xr.DataArray] = {}
    data_names: list[str] = []

    def data_var(name: str, value: np.ndarray, dims: tuple[str, ...]) -> Any:
        data_names.append(name)
        return pm.Data(name, value, dims=dims)

    with pm.Model(coords=coords) as model:
        y_data = data_var("y_obs", y_obs, ("obs",))
        cell = data_var("obs_cell", flat_idx, ("obs",))
        series = data_var("obs_series", series_idx, ("obs",))
        ctx = BuildContext(spec, data, model, data_var, constant, mask, {"family": family})
        eta: Any = None
        for term in terms:
            part = term.add_to_model(ctx)
            if part is not None:
                eta = part if eta is None else eta + part
        log_mu = pm.Deterministic("log_mu", eta, dims=("month", "route", "group"))
        family.add_to_model(ctx, log_mu.reshape((T * R * G,))[cell], y_data, series)

    constant["y"] = data.y
    if data.trials is not None:
        constant["trials"] = data.trials
    return ModelBundle(
        model=model,
        data=data,
        kernels={d.name: d.kernel for d in data.drivers},
        reported_vars=_gate_vars(terms, family, model),
        data_names=data_names,
        constant_data=constant,
    )
