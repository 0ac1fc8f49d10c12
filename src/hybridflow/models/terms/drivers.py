"""Driver kinds, keyed by a driver's ``source``: how its exposure is made and extended.

The driver-effect terms (:mod:`hybridflow.models.terms.effects`) multiply exposures by
kernels and effects; *what* the exposure is depends on the driver's kind:

- :class:`EventsKind` (``events``): catalogue events as pulses or steps, one column per
  event (:func:`hybridflow.design.drivers.event_exposure`);
- continuous kinds (``losses``, ``acled``, ``territory``, ``panel``): a monthly panel
  series, optionally logged, standardised over its observed window months
  (:func:`hybridflow.design.drivers.continuous_driver`);
- derived kinds (``spike``, ``milestone``): 0/1 months computed from a panel series by a
  rule (:func:`~hybridflow.design.drivers.spike_driver`,
  :func:`~hybridflow.design.drivers.milestone_driver`).

Each kind builds the fit's :class:`DriverDesign` (:meth:`DriverKind.design`) and the
exposure after a forecast origin under a scenario (:meth:`DriverKind.future`): events from
the catalogue cut at the origin plus the scenario's; continuous series held at their
origin value or set to the scenario's levels; derived drivers recomputed by their rule
on the series' path. :func:`driver_kind` finds the kind of a spec driver.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.design import drivers as dd
from hybridflow.design.kernels import LagKernel, make_kernel
from hybridflow.errors import InputError, SpecError
from hybridflow.models.data import DriverDesign
from hybridflow.models.terms.base import lookup
from hybridflow.months import format_month
from hybridflow.numbers import format_number

__all__ = [
    "DRIVER_KINDS",
    "DesignInputs",
    "DriverDesign",
    "DriverKind",
    "FutureContext",
    "check_same_upto",
    "coverage",
    "driver_kind",
    "driver_records",
    "events_with_sign",
    "make_driver_kernel",
    "select_driver_events",
]


@dataclass
class DesignInputs:
    """What a driver kind builds the fit's exposure from: the spec, panel and catalogue,
    the window ``months`` and ``months_ext`` (lag history + window); ``notes`` collects
    what the data made the builder do."""

    spec: Any
    panel: xr.Dataset
    events: pd.DataFrame | None
    months: pd.DatetimeIndex
    months_ext: pd.DatetimeIndex
    notes: list[str] = field(default_factory=list)


@dataclass
class FutureContext:
    """What a driver kind needs to extend its exposure past a forecast origin.

    ``ext`` is the lag history plus the fitted and future months; ``levels`` the
    scenario's levels for this driver, ``(from month, value, driver named)`` sorted by
    month (value in the driver's raw units, ``"last"`` or ``"observed"``); ``events_design`` the
    :class:`~hybridflow.models.build.ModelData` of the event drivers over ``ext``'s months
    with the catalogue cut at the origin and the scenario's events added.
    """

    spec: Any
    panel: xr.Dataset
    origin: pd.Timestamp
    ext: pd.DatetimeIndex
    scenario: str
    levels: list[tuple[pd.Timestamp, Any, str]] = field(default_factory=list)
    events_design: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def after(self) -> np.ndarray:
        return np.asarray(self.ext > self.origin)


# --------------------------------------------------------------------------- helpers


def make_driver_kernel(driver: Any) -> LagKernel:
    """The lag kernel a driver spec asks for (fixed when ``kernel.fixed`` is set)."""
    ks = driver.kernel
    try:
        kernel = make_kernel(ks.name, max_lag=ks.max_lag, min_lag=ks.min_lag, **ks.options)
        if ks.fixed is not None:
            kernel = kernel.fixed(**ks.fixed)
    except SpecError as exc:
        raise SpecError(f"drivers '{driver.name}'.kernel: {exc}") from None
    return kernel


def select_driver_events(events: pd.DataFrame, flt: Any) -> pd.DataFrame:
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


def coverage(values: pd.Series) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """First and last month with a value (None, None when empty)."""
    obs = values.dropna()
    if obs.empty:
        return None, None
    return pd.Timestamp(obs.index[0]), pd.Timestamp(obs.index[-1])


def check_same_upto(
    fit: np.ndarray, new: np.ndarray, ext: pd.DatetimeIndex, origin: pd.Timestamp, what: str
) -> None:
    """A scenario's design must reproduce the fit's up to the origin."""
    upto = np.asarray(ext <= origin) & np.isfinite(fit)
    bad = upto & ~np.isclose(fit, new, rtol=1e-9, atol=1e-9)
    if bad.any():
        m = ext[np.flatnonzero(bad)[0]]
        raise RuntimeError(
            f"scenario design of {what} differs from the fit's in {format_month(m)}: were the "
            "panel and catalogue the ones the model was fitted on?"
        )


def _panel_var(panel: xr.Dataset, driver: Any, var: str) -> xr.DataArray:
    if var not in panel:
        raise SpecError(
            f"drivers '{driver.name}': panel has no variable {var!r} "
            f"(variables: {sorted(map(str, panel.data_vars))})"
        )
    return panel[var]


def _select(
    da: xr.DataArray, driver: Any, dim: str, value: str, field: str, listing: str
) -> xr.DataArray:
    """One coordinate of a panel variable, or an error listing those it has."""
    options = [str(t) for t in da[dim].values]
    if value not in options:
        raise SpecError(
            f"drivers '{driver.name}'.{field}: {value!r} not in the panel ({listing}: {options})"
        )
    return da.sel({dim: value}, drop=True)


def _monthly(da: xr.DataArray, driver: Any) -> pd.Series:
    if da.dims != ("month",):
        raise SpecError(
            f"drivers '{driver.name}': panel variable has dims {da.dims}; a driver needs ('month',)"
        )
    s = da.to_series().astype(float)
    s.index = pd.DatetimeIndex(s.index, name="month")
    return s


# --------------------------------------------------------------------------- kinds


class DriverKind(ABC):
    """How one kind of driver (a spec ``source``) makes and extends its exposure."""

    source: ClassVar[str] = ""
    #: Exposure built from the event catalogue (needs the events table).
    uses_events: ClassVar[bool] = False
    #: Computed by a rule from another panel series (spike, milestone).
    derived: ClassVar[bool] = False

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def series(self, panel: xr.Dataset) -> pd.Series | None:
        """The raw monthly panel series behind the driver (None: not a panel series)."""
        return None

    @property
    def event_filter(self) -> Any:
        """The catalogue filter of an event-based driver (None for the others)."""
        return None

    @property
    def level_series(self) -> str | None:
        """The panel series whose units a scenario level may be given in (besides the
        driver's own name)."""
        return None

    @abstractmethod
    def design(self, inputs: DesignInputs) -> DriverDesign:
        """The fit's exposure over ``inputs.months_ext`` (lag history + window)."""

    def _observed(self, panel: xr.Dataset) -> tuple[pd.Series, pd.Timestamp, pd.Timestamp]:
        """The panel series with its first and last observed month."""
        series = self.series(panel)
        assert series is not None
        first, last = coverage(series)
        if first is None or last is None:
            raise SpecError(f"drivers '{self.driver.name}': its data are empty")
        return series, first, last

    @abstractmethod
    def future(self, design: DriverDesign, fit: np.ndarray, ctx: FutureContext) -> np.ndarray:
        """The exposure over ``ctx.ext``: the fit's (``fit``) up to the origin, the
        scenario's after it."""


class EventsKind(DriverKind):
    """Catalogue events as pulses or steps (per-event columns kept for per-event drivers)."""

    source = "events"
    uses_events = True

    @property
    def event_filter(self) -> Any:
        return self.driver.filter

    def design(self, inputs: DesignInputs) -> DriverDesign:
        driver, events, months_ext = self.driver, inputs.events, inputs.months_ext
        kernel = make_driver_kernel(driver)
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
        inputs.notes.extend(f"driver '{driver.name}': {w.message}" for w in caught)
        # Events with no exposure in history + window carry no information: drop them.
        active = (ev != 0).any("month")
        ev = ev.isel(event=np.flatnonzero(active.values))
        if ev.sizes["event"] == 0:
            raise SpecError(
                f"drivers '{driver.name}': none of its {len(sel)} events falls in "
                f"{format_month(months_ext[0])}..{format_month(months_ext[-1])}"
            )
        return DriverDesign(
            name=driver.name,
            source=self.source,
            kernel=kernel,
            exposure=ev.sum("event").rename(driver.name),
            unit=f"one event ({driver.shape})",
            per_event=driver.per_event,
            event_exposure=ev if driver.per_event else None,
            event_columns=ev,
            first_observed=format_month(months_ext[0]),
            last_observed=format_month(months_ext[-1]),
        )

    def future(self, design: DriverDesign, fit: np.ndarray, ctx: FutureContext) -> np.ndarray:
        data_ev = ctx.events_design
        new = data_ev.drivers[data_ev.driver_names.index(design.name)].exposure
        new_v = new.reindex(month=ctx.ext, fill_value=0.0).values
        check_same_upto(fit, new_v, ctx.ext, ctx.origin, f"driver '{design.name}'")
        return np.where(ctx.after, new_v, fit)


class _ContinuousKind(DriverKind):
    """A monthly panel series, optionally logged, standardised over the window months it
    is observed; months before its data take ``fill_before`` (raw units) or the neutral
    series mean."""

    def series(self, panel: xr.Dataset) -> pd.Series:
        return _monthly(self._panel_array(panel), self.driver)

    @abstractmethod
    def _panel_array(self, panel: xr.Dataset) -> xr.DataArray:
        """The driver's ``(month,)`` panel variable."""

    @property
    @abstractmethod
    def what(self) -> str:
        """Plain words for the series (in the unit of exposure)."""

    def design(self, inputs: DesignInputs) -> DriverDesign:
        driver, months, notes = self.driver, inputs.months, inputs.notes
        kernel = make_driver_kernel(driver)
        series, first, last = self._observed(inputs.panel)
        window_obs = months[(months >= first) & (months <= last)]
        inside = series.reindex(window_obs)
        if inside.isna().any():
            gaps = [format_month(m) for m in window_obs[inside.isna().to_numpy()]]
            raise SpecError(
                f"drivers '{driver.name}': data missing inside the window ({', '.join(gaps[:6])}); "
                "never imputed silently: shorten the window"
            )
        if first > months[0]:
            self._check_fill(inputs.spec, first, notes)
        out = self._exposure(series, first, inputs.months_ext, window_obs, notes)
        return DriverDesign(
            name=driver.name,
            source=self.source,
            kernel=kernel,
            exposure=out.rename(driver.name),
            unit=self._unit(out.attrs["scale"], float(out.attrs["cap"])),
            center=float(out.attrs["center"]),
            scale=float(out.attrs["scale"]),
            first_observed=format_month(first),
            last_observed=format_month(last),
        )

    def _check_fill(self, spec: Any, first: pd.Timestamp, notes: list[str]) -> None:
        """Data that start inside the window need ``fill_before``; a fill in raw units
        needs a step regime at the data start (so the onset is not credited to it)."""
        driver, fill = self.driver, self.driver.fill_before
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
            return
        for r in spec.baseline.regimes:
            dated_step = r.source == "dates" and r.shape == "step" and r.start is not None
            if dated_step and abs((pd.Timestamp(r.start + "-01") - first).days) <= 31:
                return
        raise SpecError(
            f"drivers '{driver.name}': data start {format_month(first)}, after data.start "
            f"{spec.data.start}, and fill_before fills the months before; add a step regime "
            f"starting {format_month(first)} (e.g. the war onset) to baseline.regimes so that "
            "the onset is not attributed to this driver, or move data.start"
        )

    def _exposure(
        self,
        series: pd.Series,
        first: pd.Timestamp,
        months_ext: pd.DatetimeIndex,
        window_obs: pd.DatetimeIndex,
        notes: list[str],
    ) -> xr.DataArray:
        """Values over history + window. Months before the data take the spec's fill (raw
        units) or, for "centre" and for unfilled pre-window history, the series' mean
        over the window (neutral: such months neither add nor remove exposure)."""
        driver, fill = self.driver, self.driver.fill_before
        raw = series.reindex(months_ext)
        before = np.asarray(months_ext < first)
        neutral_fill = fill is None or fill == "centre"
        raw.iloc[np.flatnonzero(before)] = 0.0 if neutral_fill else float(fill)  # type: ignore[arg-type]
        tf = driver.transform
        try:
            out = dd.continuous_driver(
                raw,
                months_ext,
                log=tf.log,
                standardise=tf.standardise,
                winsorise=tf.winsorise,
                per=tf.per,
                fill_before=None,
                fill_missing="error",
                reference_months=window_obs,
                name=driver.name,
            )
        except InputError as exc:
            raise SpecError(f"drivers '{driver.name}'.transform: {exc.problem}") from None
        values = out.values.copy()
        if neutral_fill and before.any():
            values[before] = values[np.asarray(months_ext.isin(window_obs))].mean()
            if fill is None:
                notes.append(
                    f"driver '{driver.name}': {int(before.sum())} pre-window lag-history month(s) "
                    f"before its data start {format_month(first)} set to the series mean (neutral)"
                )
        return out.copy(data=values)

    @property
    def natural_unit(self) -> str:
        """The raw series' unit in words, after a number ("10,000 Russian personnel losses
        a month")."""
        return f"of {self.what}"

    def per_label(self) -> str:
        """The natural unit effects are reported in ("10,000 Russian personnel losses a
        month"); empty for a logged driver (reported per IQR only)."""
        tf = self.driver.transform
        if tf.log:
            return ""
        return f"{format_number(tf.per or 1.0)} {self.natural_unit}"

    def _value_steps(self, cap: float) -> list[str]:
        """The cap and the log1p, in words (the steps before any scaling)."""
        tf = self.driver.transform
        steps = []
        if tf.winsorise is not None:
            steps.append(f"capped at its {tf.winsorise:g} quantile, {format_number(cap, 4)}")
        if tf.log:
            steps.append("log1p")
        return steps

    def transform_text(self, cap: float) -> str:
        """The transform in words, e.g. "capped at its 0.9 quantile, 727; standardised"."""
        tf = self.driver.transform
        steps = self._value_steps(cap)
        if tf.standardise:
            steps.append("standardised")
        elif tf.per is not None:
            steps.append(f"per {format_number(tf.per)}")
        return "; ".join(steps) or "as is"

    def _unit(self, scale: float, cap: float = math.nan) -> str:
        tf = self.driver.transform
        shown = self._value_steps(cap)
        if tf.standardise:
            sd = format_number(scale, 4) + (" on the log1p scale" if tf.log else "")
            return f"+1 SD of {self.what} ({'; '.join([*shown, f'1 SD = {sd}'])})"
        details = f" ({'; '.join(shown)})" if shown else ""
        if tf.per is not None:
            return f"+{self.per_label()}{details}"
        return f"+1 of {self.what}{details}"

    def to_exposure(self, value: float, design: DriverDesign, scenario: str) -> float:
        """A level in the driver's raw units -> the fit's exposure scale (capped, logged,
        then standardised or divided by ``per``, as the fit's exposure was)."""
        drv = self.driver
        tf = drv.transform
        v = float(value)
        cap = float(design.exposure.attrs.get("cap", math.nan))
        if not math.isnan(cap):
            v = min(v, cap)
        if tf.log:
            if v <= -1:
                raise SpecError(
                    f"scenario '{scenario}': driver '{drv.name}' is logged; value must be > -1"
                )
            v = math.log1p(v)
        return (v - design.center) / design.scale

    def future(self, design: DriverDesign, fit: np.ndarray, ctx: FutureContext) -> np.ndarray:
        """Held at its origin value, or the scenario's levels from their months on."""
        after, ext = ctx.after, ctx.ext
        last = float(design.exposure.sel(month=ctx.origin))
        out = np.where(after, last, fit)
        for m0, value, _ in ctx.levels:
            sel = after & np.asarray(ext >= m0)
            if not sel.any():
                continue
            if value == "last":
                out[sel] = last
            elif value == "observed":
                raw = self.series(ctx.panel).reindex(ext[sel])
                if raw.isna().any():
                    gaps = [format_month(m) for m in raw.index[raw.isna().to_numpy()]]
                    raise SpecError(
                        f"scenario '{ctx.scenario}': level 'observed' for driver "
                        f"'{self.driver.name}', but its data have no value for "
                        f"{', '.join(gaps[:6])}; give a number or 'last' (never imputed silently)"
                    )
                out[sel] = [self.to_exposure(v, design, ctx.scenario) for v in raw.to_numpy()]
            else:
                out[sel] = self.to_exposure(float(value), design, ctx.scenario)
        return out


class LossesKind(_ContinuousKind):
    """Monthly Russian personnel losses (``losses_personnel``)."""

    source = "losses"

    def _panel_array(self, panel: xr.Dataset) -> xr.DataArray:
        return _panel_var(panel, self.driver, "losses_personnel")

    @property
    def level_series(self) -> str | None:
        return "losses_personnel"

    @property
    def what(self) -> str:
        return "monthly Russian personnel losses"

    @property
    def natural_unit(self) -> str:
        return "Russian personnel losses a month"


class AcledKind(_ContinuousKind):
    """ACLED events inside Russia of one ``event_type``."""

    source = "acled"

    def _panel_array(self, panel: xr.Dataset) -> xr.DataArray:
        da = _panel_var(panel, self.driver, "acled_russia")
        return _select(
            da, self.driver, "acled_event_type", self.driver.event_type, "event_type", "types"
        )

    @property
    def what(self) -> str:
        return f"ACLED '{self.driver.event_type}' events in Russia per month"

    @property
    def natural_unit(self) -> str:
        return f"ACLED '{self.driver.event_type}' events in Russia a month"


class TerritoryKind(_ContinuousKind):
    """Monthly net change in Russian-held area (its positive, negative or net part)."""

    source = "territory"

    def _panel_array(self, panel: xr.Dataset) -> xr.DataArray:
        da = _panel_var(panel, self.driver, "territory_net_change")
        da = _select(da, self.driver, "tracker", self.driver.tracker, "tracker", "trackers")
        if self.driver.sign == "positive":
            return da.clip(min=0.0)
        if self.driver.sign == "negative":
            return (-da).clip(min=0.0)
        return da

    @property
    def what(self) -> str:
        return (
            f"{self.driver.tracker} monthly net change in Russian-held area "
            f"({self.driver.sign} part, km2)"
        )

    @property
    def natural_unit(self) -> str:
        what = {
            "positive": "Russian gains",
            "negative": "Ukrainian gains",
            "net": "net change in Russian-held area",
        }[self.driver.sign]
        return f"km2 of {what} a month ({self.driver.tracker})"

    def to_exposure(self, value: float, design: DriverDesign, scenario: str) -> float:
        drv = self.driver
        if drv.sign != "net" and value < 0:
            raise SpecError(
                f"scenario '{scenario}': driver '{drv.name}' counts {drv.sign} changes only "
                f"(km2 >= 0); got {value:g}"
            )
        return super().to_exposure(value, design, scenario)


class PanelKind(_ContinuousKind):
    """Any one-dimensional panel variable (e.g. a user's ``--drivers`` series)."""

    source = "panel"

    def _panel_array(self, panel: xr.Dataset) -> xr.DataArray:
        return _panel_var(panel, self.driver, self.driver.variable)

    @property
    def level_series(self) -> str | None:
        return str(self.driver.variable)

    @property
    def what(self) -> str:
        return f"panel variable '{self.driver.variable}'"


class _DerivedKind(DriverKind):
    """0/1 months computed by a rule from a panel ``series`` (its own units in levels)."""

    derived = True

    def series(self, panel: xr.Dataset) -> pd.Series:
        return _monthly(_panel_var(panel, self.driver, self.driver.series), self.driver)

    @property
    def level_series(self) -> str | None:
        return str(self.driver.series)

    @abstractmethod
    def rule(self, series: pd.Series, months_ext: pd.DatetimeIndex) -> xr.DataArray:
        """The driver's months over ``months_ext`` from the series' observed path."""

    @abstractmethod
    def unit(self, out: xr.DataArray, notes: list[str]) -> str:
        """One unit of exposure in words (notes: what the rule found)."""

    def design(self, inputs: DesignInputs) -> DriverDesign:
        driver = self.driver
        kernel = make_driver_kernel(driver)
        series, first, last = self._observed(inputs.panel)
        obs = series.loc[first:last]
        if obs.isna().any():
            raise SpecError(f"drivers '{driver.name}': series {driver.series!r} has gaps")
        out = self.rule(obs, inputs.months_ext)
        unit = self.unit(out, inputs.notes)
        if float(np.abs(out.sel(month=inputs.months)).sum()) == 0:
            raise SpecError(f"drivers '{driver.name}': no {self.source} month inside the window")
        return DriverDesign(
            name=driver.name,
            source=self.source,
            kernel=kernel,
            exposure=out.rename(driver.name),
            unit=unit,
            first_observed=format_month(first),
            last_observed=format_month(last),
        )

    def _path(self, raw: pd.Series, ctx: FutureContext) -> pd.Series:
        """The series up to the origin, then held there or set to the scenario's levels."""
        drv, origin = self.driver, ctx.origin
        obs = raw.dropna()
        past = raw.loc[obs.index[0] : origin]
        if past.isna().any() or past.index[-1] != origin:
            raise SpecError(
                f"driver '{drv.name}': series {drv.series!r} has no value in {format_month(origin)}"
            )
        fut_months = ctx.ext[ctx.ext > origin]
        path = pd.Series(float(past.iloc[-1]), index=fut_months, dtype=float)
        for m0, value, label in ctx.levels:
            sel = fut_months >= m0
            if value == "last":
                path[sel] = float(past.iloc[-1])
            elif value == "observed":
                vals = raw.reindex(fut_months[sel])
                if vals.isna().any():
                    raise SpecError(
                        f"scenario '{ctx.scenario}': level 'observed' for '{label}', but series "
                        f"{drv.series!r} has no data for some forecast months; give a number or "
                        "'last'"
                    )
                path[sel] = vals.to_numpy()
            else:
                path[sel] = float(value)
        full = pd.concat([past, path])
        full.index.name = "month"
        return full

    def future(self, design: DriverDesign, fit: np.ndarray, ctx: FutureContext) -> np.ndarray:
        """Recomputed by the driver's own rule from the series' path."""
        drv = self.driver
        new = self.rule(self._path(self.series(ctx.panel), ctx), ctx.ext).values
        check_same_upto(fit, new, ctx.ext, ctx.origin, f"driver '{drv.name}'")
        if np.any(new[ctx.after] != 0):
            ctx.notes.append(
                f"driver '{drv.name}' fires in the forecast months under scenario "
                f"'{ctx.scenario}' (its rule applied to the {drv.series} path)"
            )
        return np.where(ctx.after, new, fit)


class SpikeKind(_DerivedKind):
    """1 in months where the series exceeds its trailing mean by ``k`` trailing sds."""

    source = "spike"

    def rule(self, series: pd.Series, months_ext: pd.DatetimeIndex) -> xr.DataArray:
        d = self.driver
        return dd.spike_driver(series, months_ext, window=d.window, k=d.k, name=d.name)

    def unit(self, out: xr.DataArray, notes: list[str]) -> str:
        return f"one spike month ({out.attrs['rule']})"


class MilestoneKind(_DerivedKind):
    """A pulse in the month the cumulative series crosses each multiple of ``step``."""

    source = "milestone"

    def rule(self, series: pd.Series, months_ext: pd.DatetimeIndex) -> xr.DataArray:
        d = self.driver
        return dd.milestone_driver(series, months_ext, step=d.step, name=d.name)

    def unit(self, out: xr.DataArray, notes: list[str]) -> str:
        d = self.driver
        if out.attrs.get("crossings"):
            notes.append(f"driver '{d.name}' crossings: {out.attrs['crossings']}")
        return f"one crossing of a multiple of {format_number(d.step)} cumulative {d.series}"


#: Driver kinds by the spec's ``source`` names.
DRIVER_KINDS: dict[str, type[DriverKind]] = {
    cls.source: cls
    for cls in (
        EventsKind,
        LossesKind,
        AcledKind,
        TerritoryKind,
        SpikeKind,
        MilestoneKind,
        PanelKind,
    )
}


def driver_kind(driver: Any) -> DriverKind:
    """The kind of a spec driver (by its ``source``; ``SpecError`` when unknown)."""
    cls: type[DriverKind] = lookup(DRIVER_KINDS, str(driver.source), "driver source")
    return cls(driver)


def _driver_class(kind: DriverKind) -> str:
    """``event`` (catalogue events), ``derived`` (0/1 months from a rule) or
    ``continuous``: what the effects report for the driver."""
    if kind.uses_events:
        return "event"
    return "derived" if kind.derived else "continuous"


def driver_records(spec: Any, drivers: list[DriverDesign]) -> dict[str, xr.DataArray]:
    """What a fit records of its drivers beside their exposures, so that effects can be
    re-expressed per event, per natural unit and per interquartile range.

    ``driver_class`` (``event``, ``derived``, ``continuous``), ``driver_source``,
    ``driver_transform`` (in words), ``driver_log``, ``driver_center`` (with the stored
    ``driver_scale``: exposure = (g(raw) - center) / scale, g the cap and log1p),
    ``driver_cap`` (raw units; NaN when not capped), ``driver_per`` (the natural unit
    effects are reported per; NaN for logged and non-continuous drivers),
    ``driver_per_label`` (it in words), ``driver_natural_unit`` (the raw series' unit, e.g.
    "Russian personnel losses a month"), ``driver_observed_from``/``_to`` (the months the
    series is observed, YYYY-MM); and for event drivers every event's own column,
    ``driver_event_exposure(driver_event, month_ext)`` with ``driver_event_owner`` and
    ``driver_event_id``.
    """
    if not drivers:
        return {}
    names = [d.name for d in drivers]
    kinds = [driver_kind(spec.driver(n)) for n in names]
    cont = [isinstance(k, _ContinuousKind) for k in kinds]

    def per_driver(values: list[Any], dtype: Any = None) -> xr.DataArray:
        return xr.DataArray(
            np.asarray(values, dtype=dtype), dims="driver", coords={"driver": names}
        )

    caps = [float(d.exposure.attrs.get("cap", np.nan)) for d in drivers]
    out = {
        "driver_class": per_driver([_driver_class(k) for k in kinds], str),
        "driver_source": per_driver([d.source for d in drivers], str),
        "driver_transform": per_driver(
            [
                k.transform_text(c) if isinstance(k, _ContinuousKind) else ""
                for k, c in zip(kinds, caps, strict=True)
            ],
            str,
        ),
        "driver_log": per_driver(
            [bool(c and k.driver.transform.log) for k, c in zip(kinds, cont, strict=True)], bool
        ),
        "driver_center": per_driver([d.center for d in drivers], float),
        "driver_cap": per_driver(caps, float),
        "driver_per": per_driver(
            [
                float(k.driver.transform.per or 1.0)
                if isinstance(k, _ContinuousKind) and not k.driver.transform.log
                else np.nan
                for k in kinds
            ],
            float,
        ),
        "driver_per_label": per_driver(
            [k.per_label() if isinstance(k, _ContinuousKind) else "" for k in kinds], str
        ),
        "driver_natural_unit": per_driver(
            [k.natural_unit if isinstance(k, _ContinuousKind) else "" for k in kinds], str
        ),
        "driver_observed_from": per_driver([d.first_observed for d in drivers], str),
        "driver_observed_to": per_driver([d.last_observed for d in drivers], str),
    }
    out.update(_event_columns(drivers))
    return out


def _event_columns(drivers: list[DriverDesign]) -> dict[str, xr.DataArray]:
    """Every event driver's own event columns, one ``driver_event`` row each."""
    cols = [(d.name, d.event_columns) for d in drivers if d.event_columns is not None]
    if not cols:
        return {}
    labels, owners, ids, rows = [], [], [], []
    for name, ev in cols:
        for e in ev["event"].values:
            labels.append(f"{name}:{e}")
            owners.append(name)
            ids.append(str(e))
            rows.append(ev.sel(event=e).to_numpy())
    coords = {"driver_event": labels}
    month_ext = np.asarray(cols[0][1]["month"].values)
    return {
        "driver_event_exposure": xr.DataArray(
            np.vstack(rows),
            dims=("driver_event", "month_ext"),
            coords={**coords, "month_ext": month_ext},
        ),
        "driver_event_owner": xr.DataArray(
            np.asarray(owners, dtype=str), dims="driver_event", coords=coords
        ),
        "driver_event_id": xr.DataArray(
            np.asarray(ids, dtype=str), dims="driver_event", coords=coords
        ),
    }
