"""Drivers: events and continuous series turned into monthly exposures.

Every function returns an ``xarray.DataArray`` on a ``month`` coordinate (month-start
``datetime64[ns]``, see :mod:`hybridflow.months`) whose values are the *exposure* of that
month, before any lag kernel is applied (:func:`lagged_design` applies one).

``months`` arguments must be consecutive month starts (build them with
:func:`hybridflow.months.month_range`): lag convolution and trailing windows rely on it.

Pre-sample history convention
-----------------------------
A lag kernel spreads an exposure over ``max_lag`` later months, so the first months of a
model window need exposures from *before* the window. Build every driver over
``with_history(model_months, max_lag)`` and convolve with ``history=max_lag``
(:func:`lagged_design` or :func:`hybridflow.design.kernels.convolve`): the leading months
feed the lags and are dropped, leaving exactly ``model_months``. Standardised drivers can
take their centre and scale from the model window only (``reference_months``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, cast, get_args

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.errors import InputError
from hybridflow.months import month_start

__all__ = [
    "DIRECTION_SIGNS",
    "EVENT_SHAPES",
    "EventShape",
    "continuous_driver",
    "event_exposure",
    "lagged_design",
    "milestone_driver",
    "regime_step",
    "spike_driver",
    "unstandardise",
    "winsorise_cap",
    "with_history",
]

DIRECTION_SIGNS: dict[str, float] = {"tighten": 1.0, "relax": -1.0, "none": 0.0}
"""Sign of an event's exposure by its ``direction`` value. ``none`` rows (e.g. a bill that
was never a sanction) are dropped with a warning."""

#: How a dated event exposes the months: its month only, or every month it is in force.
EventShape = Literal["pulse", "step"]
EVENT_SHAPES: tuple[str, ...] = get_args(EventShape)
PulseWeight = Literal["month", "days_remaining"]
PULSE_WEIGHTS: tuple[str, ...] = get_args(PulseWeight)

MonthsLike = pd.DatetimeIndex | Sequence[Any]


# -- months ------------------------------------------------------------------------------
def _check_months(months: MonthsLike) -> pd.DatetimeIndex:
    """Validate consecutive month starts; return them as a ``month``-named ns index."""
    try:
        idx = pd.DatetimeIndex(cast(Any, months))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"months must be month-start dates, got {months!r}") from exc
    if len(idx) == 0:
        raise ValueError("months is empty")
    if idx.tz is not None:
        raise ValueError("months must be timezone-naive month starts")
    idx = idx.as_unit("ns")
    if (idx != idx.to_period("M").to_timestamp()).any():
        bad = idx[idx != idx.to_period("M").to_timestamp()][0]
        raise ValueError(f"months must be month starts (1st, midnight), got {bad}")
    expected = pd.date_range(idx[0], periods=len(idx), freq="MS")
    if not idx.equals(expected):
        raise ValueError(
            "months must be consecutive month starts in order "
            "(use hybridflow.months.month_range); "
            f"got {len(idx)} months from {idx[0]:%Y-%m} that skip or repeat"
        )
    return pd.DatetimeIndex(expected.as_unit("ns"), name="month")


def with_history(months: MonthsLike, n_months: int) -> pd.DatetimeIndex:
    """``months`` extended back by ``n_months`` earlier months (pre-sample history).

    Build drivers over the result and convolve with ``history=n_months`` so that early
    model months receive the lagged exposure of events just before the window.
    """
    idx = _check_months(months)
    if n_months < 0:
        raise ValueError(f"n_months must be >= 0, got {n_months}")
    start = idx[0] - pd.DateOffset(months=int(n_months))
    return pd.DatetimeIndex(pd.date_range(start, idx[-1], freq="MS").as_unit("ns"), name="month")


def _month_array(
    values: np.ndarray, months: pd.DatetimeIndex, name: str | None, **attrs: Any
) -> xr.DataArray:
    return xr.DataArray(
        values, dims=("month",), coords={"month": months}, name=name, attrs=dict(attrs)
    )


# -- events --------------------------------------------------------------------------------
def _source_of(df: pd.DataFrame) -> Path | None:
    src = df.attrs.get("path") or df.attrs.get("source")
    return Path(src) if isinstance(src, str | Path) else None


def _require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(
            _source_of(df),
            f"{what} has no column(s) {missing}; columns present: {list(df.columns)}",
        )


def _as_dates(df: pd.DataFrame, column: str, ids: list[str]) -> pd.Series:
    """Column as datetime64, raising InputError naming the first unparseable value."""
    col = df[column]
    if pd.api.types.is_datetime64_any_dtype(col):
        return pd.to_datetime(col)
    parsed = pd.to_datetime(col, errors="coerce")
    bad = parsed.isna() & col.notna() & (col.astype(str).str.strip() != "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            _source_of(df),
            f"expected a date (YYYY-MM-DD) for event {ids[i]!r}, got {col.iloc[i]!r}",
            column=column,
        )
    return parsed


def _signs(df: pd.DataFrame, sign_column: str | None, ids: list[str]) -> np.ndarray:
    if sign_column is None:
        return np.ones(len(df))
    col = df[sign_column]
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        values = col.to_numpy(dtype=float)
        bad = ~np.isfinite(values)
    else:
        text = col.astype("string").str.strip().str.lower()
        values = text.map(DIRECTION_SIGNS).to_numpy(dtype=float, na_value=np.nan)
        bad = np.isnan(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            _source_of(df),
            f"event {ids[i]!r}: expected one of {sorted(DIRECTION_SIGNS)} "
            f"(or a finite number), got {col.iloc[i]!r}",
            column=sign_column,
        )
    return values


def _month_fractions(
    start: pd.Timestamp, end: pd.Timestamp | None, pulse_weight: str
) -> list[tuple[pd.Timestamp, float]]:
    """(month, weight) pieces of a pulse (``end is None``) or of a step's bounded part."""
    m0 = month_start(start)
    days0 = m0.days_in_month
    if end is None:  # pulse
        if pulse_weight == "month" or start.day == 1:
            return [(m0, 1.0)]
        first = (days0 - start.day + 1) / days0
        return [(m0, first), (m0 + pd.DateOffset(months=1), 1.0 - first)]
    m1 = month_start(end)
    pieces: list[tuple[pd.Timestamp, float]] = []
    for m in pd.date_range(m0, m1, freq="MS"):
        if pulse_weight == "month":
            pieces.append((m, 1.0))
            continue
        # Fraction of the month's days covered by [start, end], both ends inclusive.
        lo = start.day if m == m0 else 1
        hi = end.day if m == m1 else m.days_in_month
        pieces.append((m, (hi - lo + 1) / m.days_in_month))
    return pieces


def event_exposure(
    events: pd.DataFrame,
    months: MonthsLike,
    *,
    shape: EventShape = "pulse",
    date_column: str = "effective_date",
    sign_column: str | None = "direction",
    per_event: bool = False,
    pulse_weight: PulseWeight = "month",
    end_column: str = "end_date",
    id_column: str = "event_id",
    name: str | None = None,
) -> xr.DataArray:
    """Monthly exposure to dated events (sanctions rounds, border measures...).

    Parameters
    ----------
    events
        One row per event with at least ``id_column`` (unique ids), ``date_column``
        (datetime64 or ISO text; rows with NaT are dropped with a warning), for steps
        ``end_column`` (NaT = ongoing), and ``sign_column`` unless it is None.
        ``df.attrs["path"]``, when set, is named in error messages.
    months
        Consecutive month starts to build the exposure over (see :func:`with_history`).
    shape
        ``"pulse"``: exposure in the event's month only; ``"step"``: exposure in every month
        from the start month to the end month inclusive (to the last month if ongoing).
    date_column, end_column, id_column
        Column names.
    sign_column
        ``direction`` text (``tighten`` +1, ``relax`` -1, ``none`` dropped with a warning;
        case-insensitive) or numeric signs/weights; None for all +1.
    per_event
        False: events summed into one series (events in the same month add up);
        True: one column per event, dims ``(month, event)``. Every kept event gets a
        column, even if it falls outside ``months`` (then the column is all zero).
    pulse_weight
        ``"month"``: the whole unit goes to the event's calendar month. ``"days_remaining"``:
        the unit is split by days, the event month getting the fraction of its days from the
        event date on (inclusive) and the next month the rest, so an event on 28 Feb
        exposes Feb with 1/28 and Mar with 27/28; an event on the 1st is all in its month.
        For steps the same rule weights each month by the fraction of its days covered
        (start and end days inclusive). Weight that falls outside ``months`` is lost.
    name
        Name of the returned DataArray.

    Returns
    -------
    xarray.DataArray
        Dims ``("month",)`` or ``("month", "event")``; attrs record the options.

    Raises
    ------
    InputError
        Missing columns, duplicate ids, unparseable dates or directions, an end before
        its start.
    ValueError
        Bad ``months`` or option values.
    """
    idx = _check_months(months)
    ids, starts, ends, kept, signs = _dated_events(
        events, idx, shape, pulse_weight, id_column, date_column, end_column, sign_column
    )
    values = _exposure_matrix(idx, starts, ends, kept, signs, pulse_weight)
    attrs = {
        "shape": shape,
        "pulse_weight": pulse_weight,
        "date_column": date_column,
        "sign_column": "" if sign_column is None else sign_column,
        "n_events": len(kept),
    }
    if per_event:
        coords = {"month": idx, "event": np.asarray([ids[i] for i in kept], dtype=object)}
        return xr.DataArray(values, dims=("month", "event"), coords=coords, name=name, attrs=attrs)
    return _month_array(values.sum(axis=1), idx, name, **attrs)


def _dated_events(
    events: pd.DataFrame,
    idx: pd.DatetimeIndex,
    shape: str,
    pulse_weight: str,
    id_column: str,
    date_column: str,
    end_column: str,
    sign_column: str | None,
) -> tuple[list[str], pd.Series, list[pd.Timestamp] | None, np.ndarray, np.ndarray]:
    """Check :func:`event_exposure`'s options and table.

    Returns every event's id and start, the kept events' step ends (None for pulses), the
    positions of the kept events and every event's sign.
    """
    if shape not in EVENT_SHAPES:
        raise ValueError(f"shape must be 'pulse' or 'step', got {shape!r}")
    if pulse_weight not in PULSE_WEIGHTS:
        raise ValueError(f"pulse_weight must be 'month' or 'days_remaining', got {pulse_weight!r}")
    needed = [id_column, date_column]
    if shape == "step":
        needed.append(end_column)
    if sign_column is not None:
        needed.append(sign_column)
    _require_columns(events, needed, "events table")
    df = events.reset_index(drop=True)
    ids = df[id_column].astype(str).tolist()
    dup = df[id_column][df[id_column].duplicated()]
    if len(dup):
        raise InputError(
            _source_of(events),
            f"event ids must be unique; repeated: {sorted(map(str, dup.unique()))}",
            column=id_column,
        )
    starts = _as_dates(df, date_column, ids)
    kept, signs = _usable_events(df, starts, date_column, sign_column, ids)
    ends = None
    if shape == "step":
        ends = _step_ends(events, df, starts, kept, ids, idx, end_column)
    return ids, starts, ends, kept, signs


def _exposure_matrix(
    idx: pd.DatetimeIndex,
    starts: pd.Series,
    ends: list[pd.Timestamp] | None,
    kept: np.ndarray,
    signs: np.ndarray,
    pulse_weight: str,
) -> np.ndarray:
    """(month, kept event) signed exposure; weight outside ``idx`` is lost."""
    pos = {m: i for i, m in enumerate(idx)}
    values = np.zeros((len(idx), len(kept)))
    for j, i in enumerate(kept):
        end = None if ends is None else ends[j]
        for m, frac in _month_fractions(pd.Timestamp(starts.iloc[i]), end, pulse_weight):
            if m in pos:
                values[pos[m], j] += signs[i] * frac
    return values


def _usable_events(
    df: pd.DataFrame,
    starts: pd.Series,
    date_column: str,
    sign_column: str | None,
    ids: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the events with a date and a non-zero sign (warning about the
    others), and every event's sign."""
    nat = starts.isna().to_numpy()
    # stacklevel 4: the warning points at event_exposure's caller.
    if nat.any():
        warnings.warn(
            f"dropping {int(nat.sum())} event(s) with no {date_column}: "
            f"{[e for e, n in zip(ids, nat, strict=True) if n]}",
            UserWarning,
            stacklevel=4,
        )
    signs = _signs(df, sign_column, ids)
    zero = (signs == 0) & ~nat
    if zero.any():
        warnings.warn(
            f"dropping {int(zero.sum())} event(s) with direction 'none' (sign 0): "
            f"{[e for e, z in zip(ids, zero, strict=True) if z]}",
            UserWarning,
            stacklevel=4,
        )
    return np.flatnonzero(~nat & ~zero), signs


def _step_ends(
    events: pd.DataFrame,
    df: pd.DataFrame,
    starts: pd.Series,
    kept: np.ndarray,
    ids: list[str],
    idx: pd.DatetimeIndex,
    end_column: str,
) -> list[pd.Timestamp]:
    """The kept steps' last days: the end date, or the last month's end while ongoing."""
    raw_ends = _as_dates(df, end_column, ids)
    ends: list[pd.Timestamp] = []
    for i in kept:
        start, raw_end = pd.Timestamp(starts.iloc[i]), raw_ends.iloc[i]
        end = idx[-1] + pd.offsets.MonthEnd(0) if pd.isna(raw_end) else pd.Timestamp(raw_end)
        if end < start:
            raise InputError(
                _source_of(events),
                f"event {ids[i]!r} ends ({end:%Y-%m-%d}) before it starts ({start:%Y-%m-%d})",
                column=end_column,
            )
        ends.append(end)
    return ends


# -- continuous series ------------------------------------------------------------------
def _monthly_series(series: xr.DataArray | pd.Series, what: str) -> pd.Series:
    """A float Series on sorted, unique month-start timestamps."""
    if isinstance(series, xr.DataArray):
        if series.dims != ("month",):
            raise ValueError(f"{what} must be a 1-D DataArray with dim 'month', got {series.dims}")
        s = series.to_series()
    elif isinstance(series, pd.Series):
        s = series.copy()
    else:
        raise TypeError(f"{what} must be an xarray.DataArray or pandas.Series")
    index = s.index
    if isinstance(index, pd.PeriodIndex):
        index = index.to_timestamp()
    try:
        index = pd.DatetimeIndex(index)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be indexed by month-start dates") from exc
    not_start = index != index.to_period("M").to_timestamp()
    if not_start.any():
        raise ValueError(
            f"{what} must be indexed by month starts (1st of the month), got {index[not_start][0]}"
        )
    if index.has_duplicates:
        raise InputError(
            None,
            f"{what} has repeated months: {sorted({f'{m:%Y-%m}' for m in index[index.duplicated()]})}",
        )
    try:
        values = pd.to_numeric(s, errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(None, f"{what} must be numeric: {exc}") from exc
    out = pd.Series(values, index=index.as_unit("ns"), name=s.name).sort_index()
    out.index.name = "month"
    return out


def _fill_months(
    s: pd.Series, idx: pd.DatetimeIndex, fill_before: float | None, fill_missing: str
) -> pd.Series:
    """``s`` on ``idx``, with :func:`continuous_driver`'s fill rules applied."""
    observed = s.dropna()
    if observed.empty:
        raise InputError(None, "series has no values")
    aligned = s.reindex(idx)
    before = idx < observed.index[0]
    if fill_before is not None:
        aligned[before] = float(fill_before)
    missing = aligned.isna()
    if not missing.any():
        return aligned
    if fill_missing == "error":
        listed = [f"{m:%Y-%m}" for m in idx[missing.to_numpy()]]
        shown = ", ".join(listed[:6]) + (" ..." if len(listed) > 6 else "")
        raise InputError(
            None,
            f"series has no value for {len(listed)} month(s): {shown}; "
            "pass fill_missing='zero' or 'ffill', or fill_before for months before it starts",
        )
    if fill_missing == "zero":
        return aligned.fillna(0.0)
    # Carry forward from the full series, so a gap at the window's start still takes the
    # last value seen before the window.
    full = s.reindex(s.index.union(idx)).ffill().reindex(idx)
    aligned = aligned.fillna(full)
    if aligned.isna().any():
        first = idx[aligned.isna().to_numpy()][0]
        raise InputError(None, f"series has no earlier value to carry forward into {first:%Y-%m}")
    return aligned


def _standardise(
    values: np.ndarray, idx: pd.DatetimeIndex, reference_months: MonthsLike | None
) -> tuple[np.ndarray, float, float]:
    """Centre and scale ``values`` over the reference months: (values, center, scale)."""
    ref = idx if reference_months is None else _check_months(reference_months)
    if not ref.isin(idx).all():
        raise ValueError("reference_months must be a subset of months")
    ref_values = values[idx.isin(ref)]
    center = float(ref_values.mean())
    scale = float(ref_values.std())
    if not scale > 0:
        raise InputError(None, "series is constant over the reference months; cannot standardise")
    return (values - center) / scale, center, scale


def winsorise_cap(
    values: np.ndarray, idx: pd.DatetimeIndex, quantile: float, reference_months: MonthsLike | None
) -> float:
    """The upper cap of :func:`continuous_driver`'s ``winsorise``: the ``quantile`` of
    ``values`` over the reference months (linear interpolation between order statistics).

    Raises
    ------
    ValueError
        ``quantile`` outside (0.5, 1).
    InputError
        The cap is not above the reference months' minimum (a series that is mostly one
        value would be made constant).
    """
    if not 0.5 < quantile < 1:
        raise ValueError(f"winsorise must be a quantile in (0.5, 1) (e.g. 0.9), got {quantile!r}")
    ref = idx if reference_months is None else _check_months(reference_months)
    ref_values = values[idx.isin(ref)]
    cap = float(np.quantile(ref_values, quantile))
    if not cap > float(ref_values.min()):
        raise InputError(
            None,
            f"winsorise = {quantile:g}: the {quantile:g} quantile over the reference months "
            f"({cap:g}) equals their minimum, so capping would make the series constant; "
            "use a higher quantile, or log = true",
        )
    return cap


def _natural_scale(
    values: np.ndarray,
    idx: pd.DatetimeIndex,
    standardise: bool,
    per: float | None,
    reference_months: MonthsLike | None,
) -> tuple[np.ndarray, float, float]:
    """Standardise, or divide by the natural unit ``per``: (values, center, scale)."""
    if per is not None and not per > 0:
        raise ValueError(f"per (the natural unit) must be > 0, got {per!r}")
    if standardise:
        return _standardise(values, idx, reference_months)
    scale = 1.0 if per is None else float(per)
    return values / scale, 0.0, scale


def continuous_driver(
    series: xr.DataArray | pd.Series,
    months: MonthsLike,
    *,
    log: bool = False,
    standardise: bool = True,
    winsorise: float | None = None,
    per: float | None = None,
    fill_before: float | None = 0.0,
    fill_missing: Literal["error", "zero", "ffill"] = "error",
    reference_months: MonthsLike | None = None,
    name: str | None = None,
) -> xr.DataArray:
    """A continuous monthly series (losses, strikes...) as a driver on ``months``.

    Steps, in order: align to ``months``; months before the series' first month take
    ``fill_before``; other missing months follow ``fill_missing``; cap at the
    ``winsorise`` quantile if given; ``log1p`` if ``log``; centre and scale if
    ``standardise``, else divide by ``per`` if given.

    ``fill_before=0`` encodes "nothing happened yet": Russian personnel losses in the war
    against Ukraine start in Feb 2022, so a model window opening earlier (e.g. 2021, the
    Belarus crisis) has genuinely zero war losses before then, not unknown ones. Pass
    ``None`` to treat those months as missing instead.

    Parameters
    ----------
    series
        1-D DataArray on ``month`` or a Series indexed by month starts (or a PeriodIndex).
    months
        Consecutive month starts.
    log
        Use ``log1p(value)`` (values must be > -1), for heavy-tailed counts.
    standardise
        Subtract the mean and divide by the population sd (ddof=0) over
        ``reference_months`` (default: all ``months``), so a coefficient is "per 1 SD".
    winsorise
        A quantile ``q`` in (0.5, 1): values above the ``q``-quantile of the reference
        months' values (raw units, linear interpolation) are set to it, in every month, so
        that a few extreme months cannot set the scale alone (:func:`winsorise_cap`).
    per
        The series' natural unit (e.g. 10,000 losses): with ``standardise=False`` the
        exposure is ``value / per``; with ``standardise=True`` it is only recorded (attrs),
        for effects reported per natural unit. Not with ``log`` (no constant per-unit
        effect on the log1p scale).
    fill_before
        Value for months before the series starts, or None (treated as missing).
    fill_missing
        ``"error"`` (InputError naming the months), ``"zero"`` or ``"ffill"`` (carry the
        last value forward; months after the series ends count as missing too).
    reference_months
        Months (a subset of ``months``) over which centre and scale are computed, e.g. the
        model window when ``months`` includes pre-sample history.
    name
        Name of the result (default: the series' name).

    Returns
    -------
    xarray.DataArray
        Dims ``("month",)``. attrs: ``center`` and ``scale`` (0 and 1 when not
        standardised) on the post-``log1p`` scale, so ``driver * scale + center``
        recovers the (logged, capped) value (:func:`unstandardise`): a coefficient per 1 SD
        is ``coef / scale`` per unit, e.g. ``1000 * coef / scale`` per 1,000 losses when
        ``log=False``; without standardising, ``scale`` is ``per`` (1 if not given). Also
        ``log``, ``standardised``, ``winsorise`` and ``cap`` (the quantile and the raw cap;
        NaN when not capped), ``per`` (NaN when not given), ``fill_before``,
        ``fill_missing``.
    """
    idx = _check_months(months)
    if fill_missing not in ("error", "zero", "ffill"):
        raise ValueError(f"fill_missing must be 'error', 'zero' or 'ffill', got {fill_missing!r}")
    if log and per is not None:
        raise ValueError(
            "per (a natural unit) needs log=False: a log1p exposure has no constant "
            "effect per raw unit"
        )
    s = _monthly_series(series, "series")
    values = _fill_months(s, idx, fill_before, fill_missing).to_numpy(dtype=float)
    cap = np.nan
    if winsorise is not None:
        cap = winsorise_cap(values, idx, winsorise, reference_months)
        values = np.minimum(values, cap)
    if log:
        if (values <= -1).any():
            raise InputError(None, "log=True needs values > -1 (log1p); got a value <= -1")
        values = np.log1p(values)
    values, center, scale = _natural_scale(values, idx, standardise, per, reference_months)
    return _month_array(
        values,
        idx,
        name if name is not None else (None if s.name is None else str(s.name)),
        center=center,
        scale=scale,
        log=int(log),
        standardised=int(standardise),
        winsorise=np.nan if winsorise is None else float(winsorise),
        cap=cap,
        per=np.nan if per is None else float(per),
        fill_before="none" if fill_before is None else float(fill_before),
        fill_missing=fill_missing,
    )


def unstandardise(driver: xr.DataArray) -> xr.DataArray:
    """Undo :func:`continuous_driver`'s standardisation: ``driver * scale + center``.

    The result is on the post-``log1p`` scale when the driver was built with ``log=True``.
    """
    for key in ("center", "scale"):
        if key not in driver.attrs:
            raise ValueError(f"driver has no '{key}' attr (not made by continuous_driver?)")
    out = driver * float(driver.attrs["scale"]) + float(driver.attrs["center"])
    out.attrs = {k: v for k, v in driver.attrs.items() if k not in ("center", "scale")}
    return out


def spike_driver(
    series: xr.DataArray | pd.Series,
    months: MonthsLike,
    *,
    window: int = 12,
    k: float = 1.0,
    min_periods: int = 6,
    log: bool = False,
    name: str | None = None,
) -> xr.DataArray:
    """Indicator of unusually high months ("spikes") in a series.

    Rule: month ``t`` is a spike (1.0) when ``value[t] > mean + k * sd`` where mean and sd
    (ddof=1) are taken over the trailing ``window`` months ``t-window .. t-1`` (the month
    itself excluded, so a spike cannot mask itself), using the non-missing values among
    them. Months with fewer than ``min_periods`` such values, with a missing value, or
    outside the series get 0. The window runs over the series' own months, so history
    before ``months`` counts. With ``log=True`` the rule applies to ``log1p(value)``.

    Returns
    -------
    xarray.DataArray
        Dims ``("month",)`` of 0/1; attrs ``rule`` (text), ``window``, ``k``,
        ``min_periods``, ``log``.
    """
    idx = _check_months(months)
    if window < 2:
        raise ValueError(f"window must be >= 2 months, got {window}")
    if not 2 <= min_periods <= window:
        raise ValueError(f"min_periods must be between 2 and window ({window}), got {min_periods}")
    if not np.isfinite(k):
        raise ValueError(f"k must be finite, got {k}")
    s = _monthly_series(series, "series")
    full = s.reindex(pd.date_range(s.index[0], s.index[-1], freq="MS", name="month"))
    if log:
        if (full <= -1).any():
            raise InputError(None, "log=True needs values > -1 (log1p)")
        full = np.log1p(full)
    prev = full.shift(1).rolling(window, min_periods=min_periods)
    threshold = prev.mean() + k * prev.std(ddof=1)
    spike = (full > threshold).astype(float)  # NaN comparisons are False -> 0
    values = spike.reindex(idx, fill_value=0.0).to_numpy(dtype=float)
    rule = (
        f"value{' (log1p)' if log else ''} > mean + {k:g} * sd of the previous {window} "
        f"months (month itself excluded; at least {min_periods} values)"
    )
    return _month_array(
        values,
        idx,
        name,
        rule=rule,
        window=int(window),
        k=float(k),
        min_periods=int(min_periods),
        log=int(log),
    )


def milestone_driver(
    monthly_increments: xr.DataArray | pd.Series,
    months: MonthsLike,
    *,
    step: float = 100_000,
    name: str | None = None,
) -> xr.DataArray:
    """Pulse (1.0) in each month in which a running total crosses a multiple of ``step``.

    The running total is the cumulative sum of ``monthly_increments`` from the series'
    first month (not from the first of ``months``), so "300,000 cumulative losses" means
    since the series began. A month whose total reaches or passes ``n * step`` for a new
    ``n`` gets 1, even if it passes several multiples at once.

    Returns
    -------
    xarray.DataArray
        Dims ``("month",)``; attrs ``step`` and ``crossings`` (``"YYYY-MM: 100000, ..."``
        listing every multiple crossed, inside ``months`` or not).

    Raises
    ------
    InputError
        Missing months inside the series, or negative increments.
    """
    idx = _check_months(months)
    if not step > 0:
        raise ValueError(f"step must be > 0, got {step}")
    s = _monthly_series(monthly_increments, "monthly_increments")
    full = s.reindex(pd.date_range(s.index[0], s.index[-1], freq="MS", name="month"))
    if full.isna().any():
        gaps = [f"{m:%Y-%m}" for m in full.index[full.isna().to_numpy()]]
        raise InputError(None, f"monthly_increments has no value for {', '.join(gaps[:6])}")
    if (full < 0).any():
        first = full.index[(full < 0).to_numpy()][0]
        raise InputError(None, f"monthly_increments must be >= 0; negative in {first:%Y-%m}")
    level = np.floor(full.cumsum().to_numpy() / step)
    prior_level = np.concatenate([[0.0], level[:-1]])
    crossed = level > prior_level
    crossings = [
        f"{m:%Y-%m}: " + ", ".join(f"{int(n * step)}" for n in range(int(lo) + 1, int(hi) + 1))
        for m, lo, hi, c in zip(full.index, prior_level, level, crossed, strict=True)
        if c
    ]
    pulses = pd.Series(crossed.astype(float), index=full.index)
    values = pulses.reindex(idx, fill_value=0.0).to_numpy(dtype=float)
    return _month_array(values, idx, name, step=float(step), crossings="; ".join(crossings))


def regime_step(
    months: MonthsLike,
    start: pd.Timestamp | str,
    end: pd.Timestamp | str | None = None,
    *,
    name: str | None = None,
) -> xr.DataArray:
    """1.0 from ``start``'s month to ``end``'s month inclusive (to the last month if None).

    For regime changes such as the full-scale invasion (``start="2022-02"``) or an
    episode such as the Finnish border closure.
    """
    idx = _check_months(months)
    m0 = month_start(start)
    m1 = idx[-1] if end is None else month_start(end)
    if m1 < m0:
        raise ValueError(f"regime end {m1:%Y-%m} is before its start {m0:%Y-%m}")
    values = ((idx >= m0) & (idx <= m1)).astype(float)
    return _month_array(
        values,
        idx,
        name,
        start=f"{m0:%Y-%m}",
        end="" if end is None else f"{m1:%Y-%m}",
    )


def lagged_design(
    exposure: xr.DataArray,
    kernel_weights: np.ndarray | Sequence[float] | xr.DataArray,
    *,
    history: int = 0,
) -> xr.DataArray:
    """Convolve an exposure with kernel weights along ``month`` (numpy/xarray).

    ``y[t] = sum_l w[l] * x[t - l]`` with zeros before the first month (the same sum as
    :func:`hybridflow.design.kernels.convolve_numpy`).

    Parameters
    ----------
    exposure
        DataArray with a ``month`` dim (any other dims are kept).
    kernel_weights
        1-D weights over lag, or a DataArray with a ``lag`` dim and possibly others (e.g.
        ``draw`` from :meth:`~hybridflow.design.kernels.LagKernel.sample_prior`, or
        ``event``), which broadcast by name.
    history
        Leading months of ``exposure`` that are pre-sample history, dropped from the result
        (see :func:`with_history`).

    Returns
    -------
    xarray.DataArray
        ``month`` first, then the exposure's other dims, then any non-lag dims of the
        weights; ``history`` fewer months. attrs of the exposure are kept, plus
        ``history``.
    """
    if "month" not in exposure.dims:
        raise ValueError(f"exposure needs a 'month' dim, got {exposure.dims}")
    if isinstance(kernel_weights, xr.DataArray):
        if "lag" not in kernel_weights.dims:
            raise ValueError(f"kernel_weights needs a 'lag' dim, got {kernel_weights.dims}")
        w = kernel_weights.astype(float)
    else:
        arr = np.asarray(kernel_weights, dtype=float)
        if arr.ndim != 1:
            raise ValueError("kernel_weights must be 1-D (lag,) or an xarray with a 'lag' dim")
        w = xr.DataArray(arr, dims=("lag",))
    n_months = exposure.sizes["month"]
    if isinstance(history, bool) or not isinstance(history, int) or not 0 <= history <= n_months:
        raise ValueError(f"history must be an integer in 0..{n_months}, got {history!r}")
    x = exposure.astype(float)
    out = xr.zeros_like(x)
    for lag in range(min(w.sizes["lag"], n_months)):
        # shift moves values to later months and fills the first `lag` months with 0.
        out = out + w.isel(lag=lag, drop=True) * x.shift(month=lag, fill_value=0.0)
    out = out.isel(month=slice(history, None))
    out = out.transpose("month", *[d for d in x.dims if d != "month"], ...)
    out.name = exposure.name
    out.attrs = {**exposure.attrs, "history": int(history)}
    return out
