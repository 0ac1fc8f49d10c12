"""Forecasts: posterior predictive detections for the months after a fit, under scenarios.

How a forecast is made (see ``docs/forecasting.md``)
----------------------------------------------------
A fitted model's linear predictor is additive::

    log mu[t,s] = intercept[s] + season[t,s] + trend[t,s] + regimes[t,s] + factor[t,s]
                  + drivers[t,s]

:func:`forecast` extends each piece past the last fitted month ``T`` with the *same
posterior draws* of the fit, so every forecast is the fit's own posterior predictive.
Each piece is a term of :mod:`hybridflow.models.terms` and extends itself
(:meth:`~hybridflow.models.terms.Term.extend`); this module knows none by name:

- A runtime guard first checks that the terms' numpy evaluation reproduces the fitted
  ``log_mu`` on the same draws: if the model ever gains a piece that is not a term, the
  check fails loudly instead of forecasting wrongly.
- ``intercept + season`` depends on the calendar month only (Fourier features of the
  future months).
- The latent trend is an AR(1) (or random-walk) process on knots every ``trend_step``
  months whose last knot is the last fitted month. The forecast continues the process
  with the posterior draws of ``rho`` and ``sigma``: new knots every ``trend_step``
  months, ``u[k] = rho * u[k-1] + sigma * eps``, linear in between. Its uncertainty grows
  with the horizon (and an AR(1) reverts towards the intercept).
- Regimes, common factor and drivers take the scenario's design for the forecast months
  (:func:`scenario_design`): exposures built by the same machinery as the fit (catalogue
  events through the drivers' filters, shapes and kernels; continuous drivers through
  the fit's own log/standardisation), multiplied by the posterior draws of the effects
  and kernel weights. Exposures of the last ``max_lag`` fitted months carry into the
  forecast months through the lags.
- Counts are drawn from the likelihood family (negative binomial or Poisson) at
  ``mu = exp(log mu)`` by inversion, with common random numbers: every scenario uses the same
  posterior draws, trend innovations and uniform variates, so a scenario that changes
  nothing gives exactly the baseline and scenario-minus-baseline differences are paired.

Backtests (:mod:`hybridflow.analysis.backtest`) instead refit the model on a fixed month
axis with the months after each origin held out; there the model itself extends the
trend into the unobserved months. Both give the model's own predictive distribution.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.analysis.scenario import (
    BASELINE,
    Level,
    Scenario,
    load_scenario,
    parse_scenario,
    resolve_month,
    scenario_events_frame,
)
from hybridflow.design import drivers as dd
from hybridflow.errors import InputError, SpecError
from hybridflow.inference.posterior import fit_group
from hybridflow.io import atomic_open, atomic_path
from hybridflow.models import components as comp
from hybridflow.models.build import (
    ModelData,
    prepare_data,
    select_driver_events,
    select_outcome,
)
from hybridflow.models.spec import ModelSpec
from hybridflow.models.terms import (
    Design,
    Draws,
    Term,
    family_named,
    linear_predictor,
    model_terms,
)
from hybridflow.models.terms.drivers import (
    DriverKind,
    FutureContext,
    check_same_upto,
    driver_kind,
)
from hybridflow.months import format_month

__all__ = [
    "QUANTILES",
    "Forecast",
    "ScenarioDesign",
    "forecast",
    "forecast_summary_text",
    "load_forecast",
    "predictive_counts",
    "scenario_design",
]

#: Quantiles reported everywhere (fan charts use all five).
QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
SAMPLE_DIMS: tuple[str, str] = ("chain", "draw")
_ONE_MONTH = pd.DateOffset(months=1)


def _qname(q: float) -> str:
    return f"q{round(100 * q):02d}"


def _month_index(months: Sequence[Any] | pd.DatetimeIndex) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.DatetimeIndex(list(months)).as_unit("ns"), name="month")


def _future_months(last: pd.Timestamp, n: int) -> pd.DatetimeIndex:
    return pd.date_range(last + _ONE_MONTH, periods=n, freq="MS").as_unit("ns").rename("month")


# --------------------------------------------------------------------------- scenario design


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
        else pd.DatetimeIndex(months.append(_future_months(months[-1], future)))
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


# --------------------------------------------------------------------------- posterior pieces


def _n_samples(post: xr.Dataset) -> int:
    return int(post.sizes["chain"] * post.sizes["draw"])


def _thin(post: xr.Dataset, max_draws: int | None) -> xr.Dataset:
    """Keep every k-th draw so that chains x draws <= ``max_draws`` (deterministic)."""
    if max_draws is None or _n_samples(post) <= max_draws:
        return post
    if max_draws < post.sizes["chain"]:
        raise ValueError(f"max_draws must be >= the number of chains ({post.sizes['chain']})")
    k = math.ceil(_n_samples(post) / max_draws)
    return post.isel(draw=slice(None, None, k))


def _check_decomposition(terms: list[Term], draws: Draws, data: ModelData) -> None:
    """The runtime guard: the fitted ``log_mu`` must be the sum of the model's terms on
    the same draws, or the forecast would extend a model it does not describe."""
    eta = linear_predictor(terms, draws, Design.of_data(data))
    log_mu = draws.get("log_mu", "month", "route", "group")
    gap = np.abs(eta - log_mu) / (1.0 + np.abs(log_mu))
    if gap.size and float(gap.max()) > 1e-6:
        t = int(np.unravel_index(int(np.argmax(gap)), gap.shape)[1])
        raise RuntimeError(
            "forecast: the fitted log_mu is not the sum of the model's terms "
            f"({', '.join(type(x).__name__ for x in terms)}; discrepancy "
            f"{float(gap.max()):.3g} in {format_month(data.months[t])}); the model has a "
            "component this forecast does not know"
        )


def _extend_terms(
    terms: list[Term], draws: Draws, design: Design, horizon: int, seed: int
) -> np.ndarray:
    """``eta(sample, horizon, route, group)`` after the fit: every term extended. Latent
    processes restart their generator for every scenario (common random numbers)."""
    R, G = draws.series_shape()
    eta = np.zeros((draws.n, horizon, R, G))
    for term in terms:
        eta = eta + term.extend(draws, design, horizon, np.random.default_rng([seed, 1]))
    return eta


def predictive_counts(
    mu: np.ndarray, u: np.ndarray, family: str, dispersion: np.ndarray | None = None
) -> np.ndarray:
    """Counts from the likelihood by inversion: ``F^-1(u; mu)``.

    Inversion with shared uniforms ``u`` (common random numbers) makes draws under two
    scenarios monotone in ``mu``: equal means give equal counts, a higher mean never a
    lower count.

    Parameters
    ----------
    mu
        Expected counts.
    u
        Uniforms in (0, 1), broadcastable to ``mu``.
    family
        A count family's name (:data:`hybridflow.models.terms.FAMILIES`), e.g.
        ``"negbin"`` (needs ``dispersion``, NB2 ``alpha``: variance ``mu + mu^2/alpha``)
        or ``"poisson"``.
    """
    u = np.clip(u, 1e-12, 1.0 - 1e-12)
    return family_named(family).quantile(u, mu, dispersion)


# --------------------------------------------------------------------------- the forecast


def _as_scenario(value: Scenario | str | Path | Mapping[str, Any]) -> Scenario:
    if isinstance(value, Scenario):
        return value
    if isinstance(value, Mapping):
        return parse_scenario(dict(value))
    return load_scenario(value)


def _month_key(month: str | pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(str(month)[:7] + "-01")


@dataclass
class Forecast:
    """Posterior predictive detections for the months after a fit, under scenarios.

    Attributes
    ----------
    draws
        Predictive counts, ``(scenario, chain, draw, month, route, group)``.
    expected
        Expected counts ``exp(log mu)``, same dims (no count noise).
    history
        Observed counts in the fitted window, ``(month, route, group)``.
    observed
        Counts observed in the forecast months where the panel already has them
        (``NaN`` otherwise), ``(month, route, group)``.
    observed_total
        Route totals observed in the forecast months, ``(month, route)`` (FRONTEX route
        totals can run ahead of the nationality breakdown).
    scenarios
        The scenarios by name; ``baseline`` names the reference.
    notes
        Per scenario: what it did and what it asked for that the model cannot do.
    attrs
        Provenance (spec, hashes, seed, origin).

    Selections: ``route=None`` sums over routes and ``group=None`` over groups (the
    total); a name selects one series.
    """

    draws: xr.DataArray
    expected: xr.DataArray
    history: xr.DataArray
    observed: xr.DataArray
    observed_total: xr.DataArray
    scenarios: dict[str, Scenario]
    baseline: str = BASELINE
    notes: dict[str, list[str]] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)

    # -- selection ----------------------------------------------------------------
    @property
    def months(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.draws["month"].values)

    @property
    def scenario_names(self) -> list[str]:
        return [str(s) for s in self.draws["scenario"].values]

    def _scenario(self, scenario: str | None) -> str:
        name = self.baseline if scenario is None else scenario
        if name not in self.scenario_names:
            raise KeyError(f"no scenario {name!r}; scenarios: {', '.join(self.scenario_names)}")
        return name

    def _month(self, month: str | pd.Timestamp) -> pd.Timestamp:
        m = _month_key(month)
        if m not in self.months:
            raise ValueError(
                f"{format_month(m)} is not a forecast month "
                f"({format_month(self.months[0])}..{format_month(self.months[-1])})"
            )
        return m

    @staticmethod
    def _reduce(da: xr.DataArray, route: str | None, group: str | None) -> xr.DataArray:
        da = da.sum("route") if route is None else da.sel(route=route)
        return da.sum("group") if group is None else da.sel(group=group)

    def predictive(
        self, scenario: str | None = None, *, route: str | None = None, group: str | None = None
    ) -> xr.DataArray:
        """Predictive count draws ``(chain, draw, month)`` of one scenario and selection."""
        return self._reduce(self.draws.sel(scenario=self._scenario(scenario)), route, group)

    def quantiles(
        self,
        scenario: str | None = None,
        *,
        route: str | None = None,
        group: str | None = None,
        q: Sequence[float] = QUANTILES,
    ) -> xr.DataArray:
        """Predictive quantiles ``(quantile, month)`` (defaults: 5, 25, 50, 75, 95%)."""
        return self.predictive(scenario, route=route, group=group).quantile(
            list(q), dim=SAMPLE_DIMS
        )

    def series_quantiles(self, q: Sequence[float] = QUANTILES) -> xr.DataArray:
        """Quantiles of every series: ``(quantile, scenario, month, route, group)``."""
        return self.draws.quantile(list(q), dim=SAMPLE_DIMS)

    def exceedance(
        self,
        threshold: float,
        month: str | pd.Timestamp,
        scenario: str | None = None,
        *,
        route: str | None = None,
        group: str | None = None,
    ) -> float:
        """P(detections > ``threshold`` in ``month``): the share of predictive draws above.

        Examples
        --------
        >>> fc.exceedance(2000, "2025-07")  # doctest: +SKIP
        0.12
        """
        da = self.predictive(scenario, route=route, group=group).sel(month=self._month(month))
        return float((da > threshold).mean())

    def difference(
        self,
        scenario: str,
        *,
        kind: str = "expected",
        route: str | None = None,
        group: str | None = None,
    ) -> xr.DataArray:
        """Scenario minus baseline, draw by draw (paired), ``(chain, draw, month)``.

        ``kind="expected"``: difference in expected counts (the scenario's effect on the
        mean); ``"predictive"``: difference in predictive counts (common random numbers,
        so count noise largely cancels). Zero everywhere for a scenario that changes
        nothing.
        """
        src = {"expected": self.expected, "predictive": self.draws}.get(kind)
        if src is None:
            raise ValueError(f"kind must be 'expected' or 'predictive', got {kind!r}")
        a = self._reduce(src.sel(scenario=self._scenario(scenario)), route, group)
        b = self._reduce(src.sel(scenario=self.baseline), route, group)
        return a - b

    # -- tables -------------------------------------------------------------------
    def _selections(self) -> list[tuple[str | None, str | None, str, str]]:
        routes = [str(r) for r in self.draws["route"].values]
        groups = [str(g) for g in self.draws["group"].values]
        out: list[tuple[str | None, str | None, str, str]] = []
        for r in routes:
            out.extend((r, g, r, g) for g in groups)
            out.append((r, None, r, "total"))
        if len(routes) > 1:
            out.append((None, None, "all", "total"))
        return out

    def summary(self, threshold: float | None = None) -> pd.DataFrame:
        """One row per scenario, month, route and group (plus ``group = "total"``).

        Columns: ``mean`` and ``q05 .. q95`` of predictive counts; ``expected_mean``;
        ``diff_mean``, ``diff_q05``, ``diff_q50``, ``diff_q95`` (expected counts,
        scenario minus baseline, paired); ``p_exceed`` (P(count > ``threshold``), when
        given); ``observed`` (where already known).
        """
        rows: list[dict[str, Any]] = []
        for name in self.scenario_names:
            for route, group, r_label, g_label in self._selections():
                pred = self.predictive(name, route=route, group=group)
                qs = pred.quantile(list(QUANTILES), dim=SAMPLE_DIMS)
                exp_ = self._reduce(self.expected.sel(scenario=name), route, group)
                diff = self.difference(name, route=route, group=group)
                dq = diff.quantile([0.05, 0.5, 0.95], dim=SAMPLE_DIMS)
                obs = self._observed(route, group)
                for m in self.months:
                    row: dict[str, Any] = {
                        "scenario": name,
                        "month": format_month(m),
                        "route": r_label,
                        "group": g_label,
                        "mean": float(pred.sel(month=m).mean()),
                    }
                    for q in QUANTILES:
                        row[_qname(q)] = float(qs.sel(quantile=q, month=m))
                    row["expected_mean"] = float(exp_.sel(month=m).mean())
                    row["diff_mean"] = float(diff.sel(month=m).mean())
                    for q in (0.05, 0.5, 0.95):
                        row[f"diff_{_qname(q)}"] = float(dq.sel(quantile=q, month=m))
                    if threshold is not None:
                        row["p_exceed"] = float((pred.sel(month=m) > threshold).mean())
                    row["observed"] = float(obs.sel(month=m)) if obs is not None else np.nan
                    rows.append(row)
        return pd.DataFrame(rows)

    def _observed(self, route: str | None, group: str | None) -> xr.DataArray | None:
        if group is None:
            tot = self.observed_total
            return (
                tot.sum("route", min_count=tot.sizes["route"])
                if route is None
                else tot.sel(route=route)
            )
        if route is None:
            return self.observed.sel(group=group).sum(
                "route", min_count=self.observed.sizes["route"]
            )
        return self.observed.sel(route=route, group=group)

    # -- output -------------------------------------------------------------------
    def to_dataset(self) -> xr.Dataset:
        """Everything as one Dataset (scenarios, notes and provenance in attrs as JSON)."""
        ds = xr.Dataset(
            {
                "draws": self.draws,
                "expected": self.expected,
                "history": self.history.rename(month="history_month"),
                "observed": self.observed,
                "observed_total": self.observed_total,
            }
        )
        ds.attrs.update({k: v for k, v in self.attrs.items() if isinstance(v, str | int | float)})
        ds.attrs["baseline"] = self.baseline
        ds.attrs["scenarios_json"] = json.dumps(
            {k: s.model_dump(mode="json", by_alias=True) for k, s in self.scenarios.items()}
        )
        ds.attrs["notes_json"] = json.dumps(self.notes)
        ds.attrs["quantity"] = "detections per month (predictive counts and expected counts)"
        return ds

    def to_netcdf(self, path: str | Path) -> Path:
        """Write :meth:`to_dataset` to netCDF (atomically). Read back with
        :func:`load_forecast`."""
        path = Path(path)
        ds = self.to_dataset()
        with atomic_path(path) as tmp:
            ds.to_netcdf(tmp, engine="h5netcdf")
        return path

    def to_csv(self, path: str | Path, threshold: float | None = None) -> Path:
        """Write :meth:`summary` as CSV (atomically)."""
        path = Path(path)
        table = self.summary(threshold)
        with atomic_open(path, "w") as fh:
            table.to_csv(fh, index=False, lineterminator="\n", float_format="%.6g")
        return path

    def fan_chart_data(
        self,
        scenario: str | None = None,
        *,
        route: str | None = None,
        group: str | None = None,
        compare: str | None = None,
        history_months: int = 24,
        threshold: float | None = None,
    ) -> dict[str, Any]:
        """Keyword arguments for :func:`hybridflow.briefing.figures.fan_chart`.

        The fan is ``scenario`` (default: the baseline); ``compare`` adds another
        scenario's median as a dashed line.
        """
        name = self._scenario(scenario)
        hist = self._reduce(self.history, route, group)
        hist = hist.isel(month=slice(-history_months, None))
        qs = self.quantiles(name, route=route, group=group).values
        where = route or "all routes"
        who = group or "all groups"
        out: dict[str, Any] = {
            "history_months": pd.DatetimeIndex(hist["month"].values),
            "history": hist.values,
            "months": self.months,
            "quantiles": qs,
            "title": f"{where}, {who}: forecast under '{name}'",
            "threshold": threshold,
        }
        if compare is not None:
            cmp_ = self.quantiles(self._scenario(compare), route=route, group=group, q=[0.5])
            out["scenario_median"] = cmp_.values[0]
            out["scenario_label"] = f"median under '{compare}'"
        return out


def load_forecast(path: str | Path) -> Forecast:
    """Read a forecast written by :meth:`Forecast.to_netcdf`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no forecast file here")
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = ds.load()
    if "scenarios_json" not in ds.attrs:
        raise InputError(path, "not a hybridflow forecast (attrs lack 'scenarios_json')")
    scen = {
        k: Scenario.model_validate(v) for k, v in json.loads(ds.attrs["scenarios_json"]).items()
    }
    attrs = {k: v for k, v in ds.attrs.items() if k not in ("scenarios_json", "notes_json")}
    return Forecast(
        draws=ds["draws"],
        expected=ds["expected"],
        history=ds["history"].rename(history_month="month"),
        observed=ds["observed"],
        observed_total=ds["observed_total"],
        scenarios=scen,
        baseline=str(ds.attrs.get("baseline", BASELINE)),
        notes=json.loads(ds.attrs.get("notes_json", "{}")),
        attrs=attrs,
    )


def forecast(
    result: Any,
    panel: xr.Dataset | None = None,
    events: pd.DataFrame | None = None,
    *,
    horizon: int = 3,
    scenarios: Sequence[Scenario | str | Path | Mapping[str, Any]] = (),
    seed: int | None = None,
    max_draws: int | None = None,
) -> Forecast:
    """Posterior predictive detections for the ``horizon`` months after a fit.

    Parameters
    ----------
    result
        A :class:`~hybridflow.inference.sample.FitResult` (from ``fit_spec`` or
        ``load_result``) of a counts model.
    panel, events
        The panel and catalogue the model was fitted on (defaults: the packaged ones).
        Checked against the fit's data hash.
    horizon
        Months to forecast (1-24; the CLI offers 1-6).
    scenarios
        Scenarios (objects, TOML paths or dicts). The baseline is always included; a
        scenario named ``"baseline"`` replaces the default one.
    seed
        Seed of the trend innovations, count draws and new events' deviations (default:
        the fit's seed). Same seed, same numbers.
    max_draws
        Thin the posterior to at most this many draws (chains x draws).

    Returns
    -------
    Forecast

    Raises
    ------
    SpecError
        A share model, too short a window, or a scenario the model cannot honour.
    InputError
        The panel or catalogue differ from the ones the fit used.
    """
    if not 1 <= int(horizon) <= 24:
        raise ValueError(f"horizon must be 1..24 months, got {horizon}")
    horizon = int(horizon)
    spec: ModelSpec = result.spec
    attrs = dict(result.idata["posterior"].attrs)
    panel, events, data = _fit_data(result, panel, events)
    seed = int(attrs.get("seed", 0)) if seed is None else int(seed)
    scen = _scenario_set(scenarios)
    post = _thin(fit_group(result.idata, "posterior"), max_draws)
    designs = {
        name: scenario_design(data, panel, events, sc, future=horizon) for name, sc in scen.items()
    }
    draws, expected = _predict(post, data, designs, horizon, seed)
    months_f = _future_months(data.months[-1], horizon)
    observed, observed_total = _observed_after(spec, panel, data, months_f)
    out_attrs: dict[str, Any] = {
        "spec_name": spec.name,
        "spec_hash": str(attrs.get("spec_hash", "")),
        "data_hash": data.data_hash(),
        "fit_seed": int(attrs.get("seed", -1)),
        "seed": seed,
        "origin": format_month(data.months[-1]),
        "horizon": horizon,
        **_spec_attrs(spec),
        "converged": int(attrs.get("converged", -1)),
        "n_samples": _n_samples(post),
    }
    return Forecast(
        draws=draws,
        expected=expected,
        history=data.y.copy(),
        observed=observed,
        observed_total=observed_total,
        scenarios=scen,
        baseline=BASELINE,
        notes={name: list(dict.fromkeys(d.notes)) for name, d in designs.items()},
        attrs=out_attrs,
    )


def _spec_attrs(spec: ModelSpec) -> dict[str, Any]:
    return {
        "family": spec.likelihood.family,
        "trend": spec.baseline.trend,
        "trend_step": spec.baseline.trend_step,
    }


def _fit_data(
    result: Any, panel: xr.Dataset | None, events: pd.DataFrame | None
) -> tuple[xr.Dataset, pd.DataFrame, ModelData]:
    """The panel and catalogue (default: the packaged ones) and the fit's design arrays
    rebuilt from them, checked against the fit (window, data hash)."""
    spec: ModelSpec = result.spec
    if spec.data.outcome != "counts":
        raise SpecError(
            f"model '{spec.name}': forecasts need a counts model (outcome 'share' would need "
            "the future route totals)"
        )
    if panel is None:
        from hybridflow.data.panel import load_panel

        panel = load_panel()
    if events is None:
        from hybridflow.data.events import load_events

        events = load_events()
    attrs = dict(result.idata["posterior"].attrs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = prepare_data(spec, panel, events)
    post_months = pd.DatetimeIndex(result.idata["posterior"]["month"].values)
    if not post_months.equals(pd.DatetimeIndex(data.months)):
        raise InputError(
            None,
            f"the panel gives the window {format_month(data.months[0])}..{format_month(data.months[-1])} "
            f"but the fit covers {format_month(post_months[0])}..{format_month(post_months[-1])}",
        )
    fitted_hash = attrs.get("data_hash")
    if fitted_hash and fitted_hash != data.data_hash():
        raise InputError(
            None,
            f"the panel/catalogue differ from the ones model '{spec.name}' was fitted on "
            f"(data hash {data.data_hash()[:12]} vs {str(fitted_hash)[:12]}); pass the same "
            "--data/--drivers/--events as the fit",
        )
    if len(data.months) < 12:
        raise SpecError(
            "forecasts need at least 12 fitted months (seasonality is carried by calendar month)"
        )
    return panel, events, data


def _scenario_set(
    scenarios: Sequence[Scenario | str | Path | Mapping[str, Any]],
) -> dict[str, Scenario]:
    """Scenarios by name, the baseline first (a scenario named 'baseline' replaces it)."""
    scen: dict[str, Scenario] = {}
    for value in scenarios:
        sc = _as_scenario(value)
        if sc.name in scen:
            raise SpecError(f"two scenarios are named {sc.name!r}")
        scen[sc.name] = sc
    base = scen.pop(BASELINE, Scenario.baseline())
    return {BASELINE: base, **scen}


def _predict(
    post: xr.Dataset,
    data: ModelData,
    designs: dict[str, ScenarioDesign],
    horizon: int,
    seed: int,
) -> tuple[xr.DataArray, xr.DataArray]:
    """Predictive and expected counts ``(scenario, chain, draw, month, route, group)``:
    the model's terms extended under each scenario's design, counts drawn from its
    family by inversion with shared uniforms (common random numbers)."""
    spec = data.spec
    draws = Draws(post)
    R, G = len(data.routes), len(data.groups)
    terms = model_terms(spec, data)
    _check_decomposition(terms, draws, data)
    fam = family_named(spec.likelihood.family)
    u = np.random.default_rng([seed, 2]).random((draws.n, horizon, R, G))
    disp = draws.get(fam.dispersion, "route", "group")[:, None] if fam.dispersion else None
    exp_all, y_all = [], []
    for design in designs.values():
        eta = _extend_terms(terms, draws, design.terms_design(data, seed), horizon, seed)
        mu = fam.inverse_link(eta)
        exp_all.append(mu)
        y_all.append(predictive_counts(mu, u, fam.name, disp))
    coords = {
        "scenario": list(designs),
        "chain": post["chain"].values,
        "draw": post["draw"].values,
        "month": _future_months(data.months[-1], horizon),
        "route": data.routes,
        "group": data.groups,
    }
    dims = ("scenario", "chain", "draw", "month", "route", "group")
    shape = (len(designs), post.sizes["chain"], post.sizes["draw"], horizon, R, G)
    return (
        xr.DataArray(np.stack(y_all).reshape(shape), dims=dims, coords=coords, name="draws"),
        xr.DataArray(np.stack(exp_all).reshape(shape), dims=dims, coords=coords, name="expected"),
    )


def _observed_after(
    spec: ModelSpec, panel: xr.Dataset, data: ModelData, months_f: pd.DatetimeIndex
) -> tuple[xr.DataArray, xr.DataArray]:
    """Counts ``(month, route, group)`` and route totals ``(month, route)`` the panel
    already has for the forecast months (NaN otherwise)."""
    G = len(data.groups)
    observed = select_outcome(spec, panel).reindex(month=months_f).sel(group=data.groups)
    if "route_total" in panel:
        observed_total = panel["route_total"].sel(route=data.routes).reindex(month=months_f)
    else:
        observed_total = observed.sum("group", min_count=G)
    observed_total = observed_total.where(
        observed_total.notnull(), observed.sum("group", min_count=G)
    )
    return (
        observed.transpose("month", "route", "group"),
        observed_total.transpose("month", "route"),
    )


# --------------------------------------------------------------------------- plain words


def _pct(p: float) -> str:
    if p < 0.005:
        return "under 1%"
    if p > 0.995:
        return "over 99%"
    return f"{100 * p:.0f}%"


def _where(fc: Forecast, route: str | None, group: str | None) -> str:
    routes = [str(r) for r in fc.draws["route"].values]
    r = route or (routes[0] if len(routes) == 1 else "all modelled routes")
    r = r if r.lower().startswith("all") else f"the {r}"
    return r if group is None else f"{r} ({group})"


def forecast_summary_text(
    fc: Forecast,
    *,
    threshold: float | None = None,
    month: str | pd.Timestamp | None = None,
    route: str | None = None,
    group: str | None = None,
) -> list[str]:
    """Plain-language sentences about a forecast, every number computed from it.

    Parameters
    ----------
    fc
        The forecast.
    threshold, month
        Add the chance of more than ``threshold`` detections in ``month`` (default: the
        last forecast month) under each scenario.
    route, group
        The series to talk about (default: the total over routes and groups).

    Returns
    -------
    list of str
        Baseline expectation with its 90% interval; each scenario's difference from the
        baseline (percent and detections per month, with 90% intervals); exceedance
        chances; notes and the caveat that these forecasts are conditional.
    """
    months = fc.months
    m1, mH = months[0], months[-1]
    span = f"{m1:%b %Y}" if len(months) == 1 else f"{m1:%b %Y}-{mH:%b %Y}"
    where = _where(fc, route, group)
    out: list[str] = []
    qs = fc.quantiles(route=route, group=group)
    lo1, med1, hi1 = (float(qs.sel(quantile=q, month=m1)) for q in (0.05, 0.5, 0.95))
    base = fc.scenarios[fc.baseline]
    desc = base.description.rstrip(".") if base.description else "no change"
    text = (
        f"Baseline ({desc[0].lower() + desc[1:]}): the model expects a median of about "
        f"{med1:,.0f} detections on {where} in {m1:%b %Y} (90% predictive interval "
        f"{lo1:,.0f}-{hi1:,.0f})"
    )
    if len(months) > 1:
        loH, medH, hiH = (float(qs.sel(quantile=q, month=mH)) for q in (0.05, 0.5, 0.95))
        text += f" and about {medH:,.0f} ({loH:,.0f}-{hiH:,.0f}) in {mH:%b %Y}; the interval widens with the horizon"
    out.append(text + ".")
    base_exp = fc._reduce(fc.expected.sel(scenario=fc.baseline), route, group).sum("month")
    for name in fc.scenario_names:
        if name == fc.baseline:
            continue
        sc = fc.scenarios[name]
        label = f"'{name}'" + (f" ({sc.description.rstrip('.')})" if sc.description else "")
        diff = fc.difference(name, route=route, group=group)
        if float(np.abs(diff).max()) == 0.0:
            out.append(f"Scenario {label} changes nothing in this model's forecast for {span}.")
            continue
        scen_exp = fc._reduce(fc.expected.sel(scenario=name), route, group).sum("month")
        pct = 100.0 * (scen_exp / base_exp - 1.0)
        p_lo, p_med, p_hi = (float(pct.quantile(q, dim=SAMPLE_DIMS)) for q in (0.05, 0.5, 0.95))
        per_month = float(diff.mean()) if len(months) else 0.0
        p_up = float((pct > 0).mean())
        if abs(p_med) < 0.5:
            size = "about as many expected detections as the baseline"
        else:
            word = "more" if p_med > 0 else "fewer"
            size = f"about {abs(p_med):.0f}% {word} expected detections than the baseline"
        out.append(
            f"Scenario {label}: {size} over {span} (90% interval {p_lo:+.0f}% to {p_hi:+.0f}%), i.e. "
            f"{per_month:+,.0f} a month on average; probability that it raises detections: "
            f"{_pct(p_up)}."
        )
    if threshold is not None:
        m = months[-1] if month is None else fc._month(month)
        parts = [
            f"{_pct(fc.exceedance(threshold, m, s, route=route, group=group))} under "
            + ("the baseline" if s == fc.baseline else f"'{s}'")
            for s in fc.scenario_names
        ]
        out.append(
            f"Chance of more than {threshold:,.0f} detections on {where} in {m:%b %Y}: "
            + ", ".join(parts)
            + "."
        )
    notes = list(dict.fromkeys(n for ns in fc.notes.values() for n in ns))
    if notes:
        out.append("Notes: " + "; ".join(notes) + ".")
    out.append(
        "These forecasts are conditional: they assume the scenario happens and that the "
        f"relationships estimated up to {fc.attrs.get('origin', 'the fit')} still hold; their "
        "intervals cover parameter, trend and count uncertainty, not doubts about the model "
        "itself (the backtest shows how such intervals did out of sample)."
    )
    return out
