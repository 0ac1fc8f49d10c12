"""Russian losses as claimed by Ukraine's General Staff: daily cumulative JSON -> monthly.

The source (``PetroIvaniuk/2022-Ukraine-Russia-War-Dataset``) publishes two JSON lists of daily
records, each a cumulative total since 24 Feb 2022:

* ``russia_losses_personnel.json``: ``date, day, personnel, personnel*, POW``. ``personnel*`` is
  a text qualifier (``"about"``, or ``"more"`` meaning the figure is a lower bound); ``POW`` is
  only reported until 2022-04-28.
* ``russia_losses_equipment.json``: ``date, day`` and one count per equipment class, plus the
  text field ``greatest losses direction``. On 2022-05-01 the classes ``military auto`` and
  ``fuel tank`` were merged into ``vehicles and fuel tanks`` (the merged figure continues the
  sum: 1,701 + 76 on 30 Apr, 1,796 on 1 May); ``mobile SRBM system`` stopped on 2022-04-30 and
  ``cruise missiles`` started on 2022-05-01 (a different thing, not a rename).

:func:`read_losses_daily` returns one row per report date with the numeric fields;
:func:`monthly_increments` differences the cumulative figures at each month's last report;
:func:`losses_quality` lists missing days and negative daily increments (the General Staff's
corrections). These are Ukrainian official claims, not independently verified.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from hybridflow.data.sources._files import read_json
from hybridflow.errors import InputError
from hybridflow.months import month_start

__all__ = [
    "INVASION_EVE",
    "RENAMED_FIELDS",
    "LossesQuality",
    "losses_quality",
    "monthly_increments",
    "read_losses_daily",
]

#: The day before the full-scale invasion: cumulative counts are 0 here.
INVASION_EVE = pd.Timestamp("2022-02-23")

#: Fields that the source replaced by a merged field: new name -> the old parts it sums.
RENAMED_FIELDS: dict[str, tuple[str, ...]] = {
    "vehicles and fuel tanks": ("military auto", "fuel tank"),
}

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Fields that are bookkeeping, not counts.
_INDEX_FIELDS = ("date", "day")


def read_losses_daily(path: str | Path, *, splice_renamed: bool = True) -> pd.DataFrame:
    """Read a daily cumulative losses JSON (personnel or equipment) into a tidy frame.

    Parameters
    ----------
    path
        ``russia_losses_personnel.json`` or ``russia_losses_equipment.json`` (a JSON list of
        objects with a ``date`` and cumulative counts).
    splice_renamed
        Fill the merged field ``vehicles and fuel tanks`` on dates before it existed with the
        sum of its old parts (``military auto + fuel tank``), so it is continuous from the
        first report. The old columns are kept as they are. ``False`` leaves the merged column
        empty before 2022-05-01.

    Returns
    -------
    DataFrame
        ``date`` (datetime64[ns], ascending) then one nullable ``Int64`` column per numeric
        field, in order of first appearance (field names as in the source, e.g. ``personnel``,
        ``POW``, ``field artillery``). A field not reported on a date is ``<NA>``. The ``day``
        counter and text fields (``personnel*``, ``greatest losses direction``) are dropped.
        ``attrs``: ``source``, ``dropped_fields``, ``spliced`` ({merged: [parts]} when used),
        and for personnel ``personnel_lower_bound_dates`` (ISO dates whose figure is qualified
        "more", i.e. a lower bound).

    Raises
    ------
    InputError
        Not JSON or not a list of objects, a missing or unparseable or repeated date, or a count
        that is not a non-negative integer; ``column`` gives the JSON path (``[i].field``).
    """
    path = Path(path)
    records = read_json(path)
    if not isinstance(records, list) or not records:
        raise InputError(path, "expected a non-empty JSON list of daily records")

    daily = _DailyRecords(path)
    for i, rec in enumerate(records):
        daily.add(i, rec)
    dates, columns, text_fields = daily.dates, daily.columns, daily.text_fields
    for key in text_fields.keys() & columns.keys():
        i, value = text_fields[key]
        raise InputError(
            path,
            f"expected a non-negative integer count, got {value!r} (the field is numeric "
            "in other records)",
            column=f"[{i}].{key}",
        )
    now = pd.Timestamp.now().normalize()
    if max(dates) > now:
        i = dates.index(max(dates))
        raise InputError(path, f"date {max(dates):%Y-%m-%d} is in the future", column=f"[{i}].date")

    n = len(dates)
    df = pd.DataFrame({"date": pd.DatetimeIndex(dates).astype("datetime64[ns]")})
    for key, values in columns.items():
        series = pd.Series(pd.NA, index=range(n), dtype="Int64")
        series.iloc[list(values)] = list(values.values())
        df[key] = series
    order = df["date"].argsort(kind="stable").to_numpy()
    df = df.iloc[order].reset_index(drop=True)
    spliced = _splice_renamed(df) if splice_renamed else {}
    df.attrs = {
        "source": str(path),
        "dropped_fields": ["day", *[k for k in text_fields if k not in columns]],
        "spliced": spliced,
    }
    if "personnel*" in text_fields:
        df.attrs["personnel_lower_bound_dates"] = daily.lower_bound
    return df


@dataclasses.dataclass
class _DailyRecords:
    """The records of a losses JSON, each checked as it is added."""

    path: Path
    dates: list[pd.Timestamp] = dataclasses.field(default_factory=list)
    #: field -> {record index: count}
    columns: dict[str, dict[int, int]] = dataclasses.field(default_factory=dict)
    #: field -> its first (record index, text)
    text_fields: dict[str, tuple[int, str]] = dataclasses.field(default_factory=dict)
    lower_bound: list[str] = dataclasses.field(default_factory=list)
    _seen: dict[pd.Timestamp, int] = dataclasses.field(default_factory=dict)

    def add(self, i: int, rec: object) -> None:
        """Add record ``i``: its date (new, valid) and its counts and text fields."""
        path = self.path
        if not isinstance(rec, dict):
            raise InputError(path, f"expected an object, got {rec!r}", column=f"[{i}]")
        raw_date = rec.get("date")
        date = _parse_date(raw_date)
        if date is None:
            raise InputError(
                path, f"expected a date as YYYY-MM-DD, got {raw_date!r}", column=f"[{i}].date"
            )
        if date in self._seen:
            raise InputError(
                path,
                f"date {date:%Y-%m-%d} repeated (first at [{self._seen[date]}])",
                column=f"[{i}].date",
            )
        self._seen[date] = i
        self.dates.append(date)
        for key, value in rec.items():
            if key in _INDEX_FIELDS or value is None:  # None: not reported that day
                continue
            if isinstance(value, str):
                self.text_fields.setdefault(key, (i, value))
                if key == "personnel*" and value == "more":
                    self.lower_bound.append(f"{date:%Y-%m-%d}")
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value != int(value)
                or value < 0
            ):
                raise InputError(
                    path,
                    f"expected a non-negative integer count, got {value!r}",
                    column=f"[{i}].{key}",
                )
            self.columns.setdefault(key, {})[i] = int(value)


def _splice_renamed(df: pd.DataFrame) -> dict[str, list[str]]:
    """Fill merged fields before they existed with the sum of their old parts, in place.

    Returns ``{merged: [parts]}`` for the fields filled.
    """
    spliced: dict[str, list[str]] = {}
    for merged, parts in RENAMED_FIELDS.items():
        if merged in df and all(p in df for p in parts):
            parts_sum = df[list(parts)].sum(axis=1, min_count=len(parts), skipna=False)
            fill = df[merged].isna() & parts_sum.notna()
            if fill.any():
                df.loc[fill, merged] = parts_sum[fill].astype("Int64")
                spliced[merged] = list(parts)
    return spliced


def _parse_date(value: object) -> pd.Timestamp | None:
    """``YYYY-MM-DD`` (strictly) to a Timestamp; None if it is not a valid date."""
    if not isinstance(value, str) or not _DATE_RE.match(value):
        return None
    try:
        return pd.Timestamp(value)
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True)
class LossesQuality:
    """What is odd about a daily cumulative losses series.

    Attributes
    ----------
    first_date, last_date
        The first and last report dates.
    missing_days
        Calendar days between them with no report.
    corrections
        Negative daily increments (the cumulative figure went down): a DataFrame with columns
        ``date`` (the report that went down), ``field``, ``amount`` (negative int).
    """

    first_date: pd.Timestamp
    last_date: pd.Timestamp
    missing_days: tuple[pd.Timestamp, ...]
    corrections: pd.DataFrame

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly form (ISO dates), as stored in ``attrs["quality"]``."""
        return {
            "first_date": f"{self.first_date:%Y-%m-%d}",
            "last_date": f"{self.last_date:%Y-%m-%d}",
            "missing_days": [f"{d:%Y-%m-%d}" for d in self.missing_days],
            "corrections": [
                {
                    "date": f"{r['date']:%Y-%m-%d}",
                    "field": str(r["field"]),
                    "amount": int(r["amount"]),
                }
                for r in self.corrections.to_dict("records")
            ],
        }


def _value_columns(daily: pd.DataFrame, columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return [c for c in daily.columns if c != "date" and pd.api.types.is_numeric_dtype(daily[c])]
    missing = [c for c in columns if c not in daily.columns]
    if missing:
        raise KeyError(f"columns not in the daily frame: {missing}")
    return list(columns)


def losses_quality(daily: pd.DataFrame, columns: Sequence[str] | None = None) -> LossesQuality:
    """Missing days and negative daily increments of a frame from :func:`read_losses_daily`.

    Parameters
    ----------
    daily
        ``date`` plus cumulative count columns.
    columns
        Columns to check (default: every numeric column).

    Returns
    -------
    LossesQuality
    """
    cols = _value_columns(daily, columns)
    d = daily.sort_values("date")
    dates = pd.DatetimeIndex(d["date"])
    full = pd.date_range(dates.min(), dates.max(), freq="D")
    missing = tuple(full.difference(dates))
    rows: list[dict[str, Any]] = []
    for col in cols:
        s = d.set_index("date")[col].dropna()
        inc = s.diff()
        neg = inc[inc < 0]
        for date, amount in zip(pd.DatetimeIndex(neg.index), neg.to_numpy(), strict=True):
            rows.append({"date": date, "field": col, "amount": int(amount)})
    corrections = pd.DataFrame(rows, columns=["date", "field", "amount"])
    corrections = corrections.sort_values(["date", "field"]).reset_index(drop=True)
    corrections["date"] = corrections["date"].astype("datetime64[ns]")
    corrections["amount"] = corrections["amount"].astype("int64")
    return LossesQuality(
        first_date=pd.Timestamp(dates.min()),
        last_date=pd.Timestamp(dates.max()),
        missing_days=missing,
        corrections=corrections,
    )


def monthly_increments(
    daily: pd.DataFrame,
    columns: Sequence[str] | None = None,
    origin: pd.Timestamp | None = INVASION_EVE,
) -> pd.DataFrame:
    """Monthly increments of cumulative daily counts, measured between months' last reports.

    Each month's value is the cumulative figure at the month's last report minus the figure at
    the previous month's last report. The General Staff figure dated D covers losses up to the
    morning of D, so months are shifted by about a day relative to calendar months.

    Parameters
    ----------
    daily
        A frame from :func:`read_losses_daily` (``date`` plus cumulative columns).
    columns
        Columns to difference (default: every numeric column).
    origin
        The date at which every cumulative count is 0 (default 2022-02-23, the day before the
        invasion). It stands in for the "previous month's last report" of the first month, for
        the columns reported on the first date, when it lies in that month and before the first
        report; Feb 2022 personnel is thus 5,300 (reports of 24-28 Feb). Otherwise, or with
        ``None``, the first month is empty.

    Returns
    -------
    DataFrame
        ``month`` (month start) then one ``Int64`` column per field (the increment; ``<NA>`` in
        the first month a field appears after the first report, and where the field is not
        reported on the month's last report or the previous month's), then ``n_reports``
        (reports in the month), ``days_covered`` (days from the previous month's last report,
        or ``origin``, to this month's last report) and ``last_report_date``. The last month
        may be partial (see ``last_report_date``). ``attrs["quality"]`` holds
        :meth:`LossesQuality.as_dict` for the same columns; ``attrs["origin"]`` the origin used.
    """
    cols = _value_columns(daily, columns)
    d = daily.sort_values("date").reset_index(drop=True)
    month = d["date"].dt.to_period("M").dt.to_timestamp()
    last_idx = d.groupby(month).tail(1).index
    ends = d.loc[last_idx].set_index(month.loc[last_idx])
    ends.index = pd.DatetimeIndex(ends.index, name="month").astype("datetime64[ns]")
    # Continuous month index so a month with no reports shows up as empty, not skipped.
    full = pd.date_range(ends.index.min(), ends.index.max(), freq="MS", name="month")
    ends = ends.reindex(full)

    out = pd.DataFrame(index=full)
    prev = ends[cols].shift(1)
    prev_date = ends["date"].shift(1)
    first_month = full[0]
    first_date = d["date"].iloc[0]
    origin_used: pd.Timestamp | None = None
    if origin is not None:
        o = pd.Timestamp(origin)
        # Only within the first month: from an earlier origin the first "monthly" value
        # would silently hold every earlier month too.
        if o < first_date and month_start(o) == first_month:
            origin_used = o
    if origin_used is not None:
        first_row = d.iloc[0]
        for c in cols:
            if pd.notna(first_row[c]):
                prev.loc[first_month, c] = 0
        prev_date.iloc[0] = origin_used
    for c in cols:
        out[c] = (ends[c].astype("Int64") - prev[c].astype("Int64")).astype("Int64")
    counts = month.value_counts().reindex(full, fill_value=0)
    out["n_reports"] = counts.astype("int64").to_numpy()
    covered = (ends["date"] - pd.to_datetime(prev_date)).dt.days
    out["days_covered"] = covered.astype("Int64")
    out["last_report_date"] = ends["date"].astype("datetime64[ns]")
    out = out.reset_index()
    out.attrs = {
        "quality": losses_quality(d, cols).as_dict(),
        "origin": None if origin_used is None else f"{origin_used:%Y-%m-%d}",
        "source": daily.attrs.get("source"),
    }
    return out
