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
   driver. Each driver's kind (its ``source``,
   :mod:`hybridflow.models.terms.drivers`) builds its exposure.
2. :func:`build_model` writes the PyMC model as the sum of the spec's terms and its
   likelihood family (:mod:`hybridflow.models.terms`). Series are the ``route x group`` grid (two
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

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from hybridflow.design import drivers as dd
from hybridflow.design.kernels import LagKernel
from hybridflow.errors import InputError, SpecError
from hybridflow.models.data import DriverDesign, ModelData
from hybridflow.models.spec import (
    ModelSpec,
    Regime,
    TopK,
    spec_hash,
)
from hybridflow.models.terms import (
    BuildContext,
    Family,
    Term,
    family_named,
    model_terms,
)
from hybridflow.models.terms.drivers import (
    DesignInputs,
    coverage,
    driver_kind,
    events_with_sign,
    make_driver_kernel,
    select_driver_events,
)
from hybridflow.months import format_month, month_range

__all__ = [
    "DriverDesign",
    "ModelBundle",
    "ModelData",
    "build_model",
    "events_with_sign",
    "make_driver_kernel",
    "prepare_data",
    "select_driver_events",
    "select_outcome",
]


# --------------------------------------------------------------------------- containers


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
        s = driver_kind(d).series(panel)
        if s is None:  # catalogue events: no data end to check
            continue
        first, last = coverage(s)
        if first is None or last is None:
            raise SpecError(f"drivers '{d.name}': its data are empty")
        if first > end:
            raise SpecError(
                f"drivers '{d.name}': data start {format_month(first)}, after the window ends"
            )
        limits[f"driver '{d.name}'"] = last
    if spec.common_factor is not None:
        tot = _factor_raw(spec, panel)
        limits["common_factor"] = coverage(tot)[1] or start
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


def _common_factor(
    spec: ModelSpec, panel: xr.Dataset, months: pd.DatetimeIndex
) -> xr.DataArray | None:
    """The standardised log total of the control routes (None without a factor)."""
    if spec.common_factor is None:
        return None
    raw = _factor_raw(spec, panel).reindex(months)
    if raw.isna().any():
        raise SpecError("common_factor: control-route totals missing inside the window")
    logged = np.log1p(raw.to_numpy())
    z = (logged - logged.mean()) / (logged.std() or 1.0)
    return xr.DataArray(z, dims=("month",), coords={"month": months}, name="common_factor")


def _dated_columns(regime: Regime, months: pd.DatetimeIndex) -> list[tuple[str, np.ndarray]]:
    """A dated regime's columns: its indicator (a step, a window or a pulse), then one
    pulse per ``transient_months`` month from its start (labelled ``name@YYYY-MM``)."""
    assert regime.start is not None
    s0 = pd.Timestamp(regime.start + "-01")
    if regime.shape == "pulse":
        return [(regime.name, (months == s0).astype(float))]
    s1 = months[-1] if regime.end is None else pd.Timestamp(regime.end + "-01")
    cols = [(regime.name, ((months >= s0) & (months <= s1)).astype(float))]
    for k in range(regime.transient_months):
        month = s0 + pd.DateOffset(months=k)
        cols.append((f"{regime.name}@{format_month(month)}", (months == month).astype(float)))
    return cols


def _event_columns(
    regime: Regime, events: pd.DataFrame | None, months: pd.DatetimeIndex
) -> list[tuple[str, np.ndarray]]:
    """An event-defined regime's columns: one indicator per matching catalogue event."""
    if events is None:
        raise SpecError(f"baseline.regimes '{regime.name}': source 'events' needs an events table")
    assert regime.filter is not None
    sel = select_driver_events(events, regime.filter)
    if sel.empty:
        raise SpecError(f"baseline.regimes '{regime.name}': the filter matches no events")
    ev = dd.event_exposure(
        sel,
        months,
        shape=regime.shape,
        date_column="effective_date",
        end_column="end_date",
        sign_column=None,
        per_event=True,
    )
    return [
        (f"{regime.name}[{e}]", (ev.sel(event=e).values != 0).astype(float))
        for e in ev["event"].values
    ]


def _cut_by_the_window(
    regime: Regime, values: np.ndarray, min_months: int, months: pd.DatetimeIndex
) -> str | None:
    """Why a step regime's column is dropped at a window edge, or None to keep it.

    A step (or dated window) that the window's start or end cuts to fewer than
    ``min_months`` months is identified by one or two months' counts only: its effect
    would absorb those months whatever caused them (a regime starting in the window's
    last month fits that month exactly)."""
    n_on = int(values.sum())
    if regime.shape == "pulse" or not 0 < n_on < min_months:
        return None
    edge = "end" if values[-1] else "start" if values[0] else None
    if edge is None:
        return None
    return (
        f"only {n_on} month(s) of it inside {format_month(months[0])}..{format_month(months[-1])}"
        f", cut by the window's {edge} (baseline.min_regime_months = {min_months})"
    )


def _regime_groups(
    r: Regime, spec: ModelSpec, groups: list[str], notes: list[str]
) -> tuple[str, ...] | None:
    """The groups a regime applies to (None: all), checked against the data's groups.

    Data grouped otherwise than the spec's groups name them (a control route's total, a
    top-k grouping of the sensitivity forest) hold the named groups inside their series:
    there the regime applies to every series, with a warning and a note.
    """
    if r.groups is None or spec.data.outcome == "share":
        return None
    unknown = [g for g in r.groups if g not in groups]
    if len(unknown) == len(r.groups):
        msg = (
            f"regime '{r.name}': its groups {r.groups} are not groups of these data "
            f"({groups}); it applies to every series"
        )
        warnings.warn(msg, UserWarning, stacklevel=4)
        notes.append(msg)
        return None
    if unknown:
        raise SpecError(
            f"baseline.regimes '{r.name}'.groups: {unknown} not among the groups {groups}"
        )
    return tuple(r.groups)


def _regime_columns(
    spec: ModelSpec,
    events: pd.DataFrame | None,
    months: pd.DatetimeIndex,
    notes: list[str],
    groups: list[str],
) -> tuple[xr.DataArray, list[float], list[tuple[str, ...] | None]]:
    cols: list[np.ndarray] = []
    labels: list[str] = []
    sds: list[float] = []
    limits: list[tuple[str, ...] | None] = []
    base = spec.baseline
    window = f"{format_month(months[0])}..{format_month(months[-1])}"

    def shared(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> bool:
        """Whether two regimes apply to a common group (None: every group)."""
        return a is None or b is None or bool(set(a) & set(b))

    def identifiable(label: str, values: np.ndarray, applies: tuple[str, ...] | None) -> bool:
        if np.all(values == values[0]):
            state = "always on" if values[0] else "never on"
            notes.append(f"regime '{label}' dropped: {state} in {window} (not identifiable)")
            return False
        # Only columns acting on a common group can be confounded with this one (a step
        # for UkrRussBel and a window for Others may cover the same months).
        rivals = [c for c, lim in zip(cols, limits, strict=True) if shared(lim, applies)]
        if any(np.array_equal(values, c) for c in rivals):
            notes.append(f"regime '{label}' dropped: identical to an earlier regime column")
            return False
        # With the intercept and the earlier columns: a linear combination of them (a
        # transient covering the whole of a short step) would be a ridge, not an effect.
        stack = np.column_stack([np.ones(len(values)), *rivals])
        if np.linalg.matrix_rank(np.column_stack([stack, values])) == np.linalg.matrix_rank(stack):
            notes.append(f"regime '{label}' dropped: collinear with earlier regime columns")
            return False
        return True

    for r in base.regimes:
        applies = _regime_groups(r, spec, groups, notes)
        # A dated regime's indicator and its transient pulses stand or fall together;
        # each event of an event-defined regime is its own indicator.
        if r.source == "dates":
            bundles = [_dated_columns(r, months)]
        else:
            bundles = [[c] for c in _event_columns(r, events, months)]
        for bundle in bundles:
            why = _cut_by_the_window(r, bundle[0][1], base.min_regime_months, months)
            if why is not None:
                msg = f"regime '{bundle[0][0]}' dropped: {why}"
                warnings.warn(msg, UserWarning, stacklevel=3)
                notes.append(msg)
                continue
            for label, values in bundle:
                if identifiable(label, values, applies):
                    cols.append(values)
                    labels.append(label)
                    sds.append(r.prior_sd or base.priors.regime_sd)
                    limits.append(applies)
    mat = np.column_stack(cols) if cols else np.zeros((len(months), 0))
    da = xr.DataArray(mat, dims=("month", "regime"), coords={"month": months, "regime": labels})
    return da, sds, limits


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

    inputs = DesignInputs(spec, panel, events, months, months_ext, notes)
    designs = [driver_kind(d).design(inputs) for d in drivers]
    regimes, regime_sd, regime_groups = _regime_columns(spec, events, months, notes, groups)
    factor = _common_factor(spec, panel, months)
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
        regime_groups=regime_groups,
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
