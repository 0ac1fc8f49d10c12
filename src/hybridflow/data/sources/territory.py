"""Territory held by Russia inside Ukraine (km²): daily trackers -> monthly net change.

Three daily series are read, each as ``date, area_km2``:

* Liveuamap (``liveuamap_territory.csv``, repo conflict-investigations/liveuamap-analysis):
  columns ``date`` ("YYYY-MM-DD 00:00:00"), ``area``; 2022-02-20 to 2025-01-16; Crimea and
  pre-2022 DNR/LNR included.
* DeepStateMap, areas computed from GeoJSON snapshots
  (``deepstate_occupied_area_daily_derived.csv``): one row per date and source; only rows with
  ``quality == "ok"`` are used (before 2022-09-26 the layer structure differs), and the two
  sources are spliced, preferring ``cyterat/deepstate-map-data`` (daily from 2024-07-08) and
  otherwise ``DanielRose2310/deepstatemaps-history``.
* NZZ (``nzz_area_occupied.json``: ``{ISO datetime: km²}``), 2022-02-24 to 2023-03-14, a
  different scope (Crimea apparently not fully included): for comparison only.

:func:`monthly_area` turns a daily series into month-end levels and net monthly change
(positive: Russia gained ground on balance). Area held by Ukraine inside Russia (Kursk 2024-25)
is not in any of these series.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

from hybridflow.data.sources._files import read_json
from hybridflow.errors import InputError
from hybridflow.months import month_start

__all__ = [
    "DEEPSTATE",
    "DEEPSTATE_SOURCES",
    "INVASION_EVE",
    "LIVEUAMAP",
    "TRACKERS",
    "Tracker",
    "monthly_area",
    "read_deepstate_daily_csv",
    "read_liveuamap_csv",
    "read_nzz_json",
]

#: The trackers the panel's territory series come from (its ``tracker`` coordinate).
Tracker = Literal["liveuamap", "deepstate"]
TRACKERS: tuple[str, ...] = get_args(Tracker)
#: Liveuamap: the model specs' default tracker.
LIVEUAMAP: Tracker = "liveuamap"
#: DeepStateMap.
DEEPSTATE: Tracker = "deepstate"

#: DeepState snapshot sources in order of preference for splicing.
DEEPSTATE_SOURCES: tuple[str, ...] = (
    "cyterat/deepstate-map-data",
    "DanielRose2310/deepstatemaps-history",
)

#: The day before the full-scale invasion: the baseline of the first month's change.
INVASION_EVE = pd.Timestamp("2022-02-23")


def _read_csv(path: Path, required: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a readable CSV file ({exc})") from exc
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(
            path,
            f"missing required columns {', '.join(repr(c) for c in missing)} "
            f"(found {', '.join(repr(c) for c in df.columns)})",
            row=1,
        )
    if df.empty:
        raise InputError(path, "no data rows below the header", row=1)
    return df


def _first_bad(mask: pd.Series) -> int:
    return int(np.flatnonzero(mask.to_numpy())[0])


def _parse_dates(text: pd.Series, path: Path, column: str, rows: np.ndarray) -> pd.Series:
    """Dates like ``2022-02-20`` or ``2022-02-20 00:00:00`` (midnight only); future is an error."""
    t = text.str.strip()
    ok = t.str.fullmatch(r"\d{4}-\d{2}-\d{2}(?:[ T]00:00:00(?:\.0+)?)?")
    dates = pd.to_datetime(t.str.slice(0, 10).where(ok), format="%Y-%m-%d", errors="coerce")
    bad = dates.isna()
    if bad.any():
        i = _first_bad(bad)
        raise InputError(
            path,
            f"expected a date as YYYY-MM-DD, got {text.iloc[i]!r}",
            row=int(rows[i]),
            column=column,
        )
    today = pd.Timestamp.now().normalize()
    late = dates > today
    if late.any():
        i = _first_bad(late)
        raise InputError(
            path, f"date {dates.iloc[i]:%Y-%m-%d} is in the future", row=int(rows[i]), column=column
        )
    return dates.astype("datetime64[ns]")


def _parse_area(text: pd.Series, path: Path, column: str, rows: np.ndarray) -> pd.Series:
    area = pd.to_numeric(text.str.strip(), errors="coerce")
    bad = area.isna() | ~np.isfinite(area) | (area < 0)
    if bad.any():
        i = _first_bad(bad)
        raise InputError(
            path,
            f"expected a non-negative area in km², got {text.iloc[i]!r}",
            row=int(rows[i]),
            column=column,
        )
    return area.astype("float64")


def _check_unique(dates: pd.Series, path: Path, column: str, rows: np.ndarray) -> None:
    dup = dates.duplicated()
    if dup.any():
        i = _first_bad(dup)
        raise InputError(
            path, f"date {dates.iloc[i]:%Y-%m-%d} repeated", row=int(rows[i]), column=column
        )


def _finish(df: pd.DataFrame, path: Path, tracker: str) -> pd.DataFrame:
    df = df.sort_values("date").reset_index(drop=True)
    df.attrs = {"source": str(path), "tracker": tracker}
    return df


def read_liveuamap_csv(path: str | Path) -> pd.DataFrame:
    """Read the Liveuamap daily area series (``date, area``).

    Parameters
    ----------
    path
        ``liveuamap_territory.csv``.

    Returns
    -------
    DataFrame
        ``date`` (datetime64[ns], ascending), ``area_km2`` (float64). ``attrs["tracker"]`` is
        ``"liveuamap"``.

    Raises
    ------
    InputError
        Missing columns, a bad or repeated or future date, or a negative or non-numeric area;
        ``row`` is the line in the file.
    """
    path = Path(path)
    raw = _read_csv(path, ["date", "area"])
    rows = np.arange(len(raw)) + 2
    dates = _parse_dates(raw["date"], path, "date", rows)
    _check_unique(dates, path, "date", rows)
    area = _parse_area(raw["area"], path, "area", rows)
    return _finish(pd.DataFrame({"date": dates, "area_km2": area}), path, LIVEUAMAP)


def read_deepstate_daily_csv(
    path: str | Path, *, prefer: tuple[str, ...] = DEEPSTATE_SOURCES
) -> pd.DataFrame:
    """Read the DeepState daily areas, keep ``ok`` rows and splice the sources.

    Parameters
    ----------
    path
        ``deepstate_occupied_area_daily_derived.csv`` (columns ``date, source, quality,
        area_total_occupied_km2``, others ignored).
    prefer
        Sources in order of preference: on a date with several ``ok`` rows the first listed
        wins. A source not listed is an error (the splice would be undefined).

    Returns
    -------
    DataFrame
        ``date`` (ascending, one row per date), ``area_km2`` (``area_total_occupied_km2``: the
        union of DeepState's occupied, CADR/CALR and Crimea layers) and ``source`` (which
        snapshot series the value is from). ``attrs``: ``tracker`` = ``"deepstate"``,
        ``dropped_rows`` (rows not ``ok``) and ``rows_by_source`` (rows used, per source).

    Raises
    ------
    InputError
        Missing columns, unknown source, bad or future date, repeated date within a source,
        bad area.
    """
    path = Path(path)
    raw = _read_csv(path, ["date", "source", "quality", "area_total_occupied_km2"])
    rows = np.arange(len(raw)) + 2
    source = raw["source"].str.strip()
    unknown = ~source.isin(prefer)
    if unknown.any():
        i = _first_bad(unknown)
        raise InputError(
            path,
            f"unknown source {source.iloc[i]!r} (expected one of {', '.join(prefer)})",
            row=int(rows[i]),
            column="source",
        )
    dates = _parse_dates(raw["date"], path, "date", rows)
    ok = (raw["quality"].str.strip() == "ok").to_numpy()
    df = pd.DataFrame({"date": dates, "source": source, "row": rows})[ok]
    df["area_km2"] = _parse_area(
        raw["area_total_occupied_km2"][ok], path, "area_total_occupied_km2", rows[ok]
    )
    dup = df.duplicated(["date", "source"])
    if dup.any():
        i = _first_bad(dup)
        raise InputError(
            path,
            f"date {df['date'].iloc[i]:%Y-%m-%d} repeated for source {df['source'].iloc[i]!r}",
            row=int(df["row"].iloc[i]),
            column="date",
        )
    rank = df["source"].map({s: k for k, s in enumerate(prefer)})
    df = df.assign(rank=rank).sort_values(["date", "rank"]).drop_duplicates("date", keep="first")
    out = df[["date", "area_km2", "source"]]
    out = _finish(out, path, DEEPSTATE)
    out.attrs["dropped_rows"] = int((~ok).sum())
    out.attrs["rows_by_source"] = {str(k): int(v) for k, v in out["source"].value_counts().items()}
    return out


def read_nzz_json(path: str | Path) -> pd.DataFrame:
    """Read NZZ's daily occupied area (``{ISO datetime: km²}``).

    Parameters
    ----------
    path
        ``nzz_area_occupied.json``.

    Returns
    -------
    DataFrame
        ``date`` (ascending), ``area_km2``. Its scope differs from the other trackers (Crimea
        apparently not fully included): compare changes, not levels.

    Raises
    ------
    InputError
        Not a JSON object, a bad or repeated date (the ``column`` is the key), a bad area.
    """
    path = Path(path)
    doc = read_json(path)
    if not isinstance(doc, dict) or not doc:
        raise InputError(path, "expected a non-empty JSON object {date: km²}")
    dates: list[pd.Timestamp] = []
    areas: list[float] = []
    for key, value in doc.items():
        try:
            ts = pd.Timestamp(key)
        except ValueError:
            ts = None
        if ts is None or pd.isna(ts) or ts != ts.normalize():
            raise InputError(path, f"expected an ISO date key, got {key!r}", column=key)
        if ts > pd.Timestamp.now():
            raise InputError(path, f"date {ts:%Y-%m-%d} is in the future", column=key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not np.isfinite(value)
            or value < 0
        ):
            raise InputError(
                path, f"expected a non-negative area in km², got {value!r}", column=key
            )
        dates.append(ts.tz_localize(None) if ts.tzinfo else ts)
        areas.append(float(value))
    df = pd.DataFrame({"date": pd.DatetimeIndex(dates).astype("datetime64[ns]"), "area_km2": areas})
    dup = df["date"].duplicated()
    if dup.any():
        i = _first_bad(dup)
        raise InputError(path, f"date {df['date'].iloc[i]:%Y-%m-%d} repeated", column=list(doc)[i])
    return _finish(df, path, "nzz")


def monthly_area(
    daily: pd.DataFrame, tracker: str, *, origin: pd.Timestamp | None = INVASION_EVE
) -> pd.DataFrame:
    """Month-end area and net monthly change from a daily ``date, area_km2`` series.

    Parameters
    ----------
    daily
        A frame from one of the readers (``date``, ``area_km2``).
    tracker
        Label for the ``tracker`` column (``"liveuamap"``, ``"deepstate"``, ``"nzz"``).
    origin
        Baseline date for the first month's change: when the previous month has no
        observation and the series has one on or before ``origin`` inside the first month,
        the first month's change is measured from the last such observation (for Liveuamap
        Feb 2022: from 2022-02-23, the eve of the invasion). ``None``: the first month's
        change is empty.

    Returns
    -------
    DataFrame
        One row per calendar month from the first to the last observation: ``month``,
        ``tracker``, ``area_end_km2`` (area on the month's last observed day), ``net_change_km2``
        (versus the previous month's ``area_end_km2``; empty if either month has no
        observation) and ``last_obs`` (that day; months without data have NaT and NaN).
    """
    missing = [c for c in ("date", "area_km2") if c not in daily.columns]
    if missing:
        raise KeyError(f"daily frame lacks columns {missing}")
    d = daily[["date", "area_km2"]].dropna().sort_values("date")
    if d.empty:
        raise ValueError("daily frame has no observations")
    d = d.assign(month=d["date"].dt.to_period("M").dt.to_timestamp())
    last = d.groupby("month").tail(1).set_index("month")
    full = pd.date_range(last.index.min(), last.index.max(), freq="MS", name="month")
    last = last.reindex(full)
    change = last["area_km2"] - last["area_km2"].shift(1)
    baseline_date = pd.NaT
    if origin is not None:
        o = pd.Timestamp(origin)
        first = full[0]
        before = d[d["date"] <= o]
        if month_start(o) == first and not before.empty:
            base = before.iloc[-1]
            change.iloc[0] = last["area_km2"].iloc[0] - base["area_km2"]
            baseline_date = base["date"]
    out = pd.DataFrame(
        {
            "month": full.astype("datetime64[ns]"),
            "tracker": tracker,
            "area_end_km2": last["area_km2"].to_numpy(dtype="float64"),
            "net_change_km2": change.to_numpy(dtype="float64"),
            "last_obs": pd.DatetimeIndex(last["date"]).astype("datetime64[ns]"),
        }
    )
    out.attrs = {
        "source": daily.attrs.get("source"),
        "tracker": tracker,
        "baseline_date": None if pd.isna(baseline_date) else f"{baseline_date:%Y-%m-%d}",
    }
    return out
