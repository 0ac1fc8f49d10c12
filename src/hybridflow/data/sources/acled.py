"""ACLED (Armed Conflict Location & Event Data) counts: readers for three layouts.

* :func:`read_pv_country_month_xlsx`: ACLED's public workbook "number of political violence
  events by country-month-year" (columns ``COUNTRY, MONTH, YEAR, EVENTS``; ``MONTH`` an
  English month name). The last month of a release is partial.
* :func:`read_event_type_monthly_csv`: long monthly counts by country and event type
  (``country, month, event_type, events, fatalities``), e.g. the derived
  ``acled_events_by_event_type_monthly_russia_ukraine_2021-01_2024-09.csv``.
* :func:`read_event_level_csv`: ACLED's standard event-level export (``event_date, event_type,
  sub_event_type, country, actor1, ..., fatalities``), aggregated to months.

Country names are kept as ACLED writes them (``Russia``, ``Ukraine``). ACLED's country field
follows internationally recognised borders, so events in occupied Crimea and Donbas count as
Ukraine. Cite as "Armed Conflict Location & Event Data (ACLED), www.acleddata.com".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hybridflow.data.sources._files import cell_text, iter_rows, load_workbook, worksheet
from hybridflow.errors import InputError
from hybridflow.months import format_month, month_start, parse_month

__all__ = [
    "EVENT_TYPES",
    "EXPLOSIONS",
    "POLITICAL_VIOLENCE_TYPES",
    "read_event_level_csv",
    "read_event_type_monthly_csv",
    "read_pv_country_month_xlsx",
]

#: ACLED's event type of shelling, missile and drone strikes and remote explosives.
EXPLOSIONS = "Explosions/Remote violence"

#: ACLED's six event types.
EVENT_TYPES: tuple[str, ...] = (
    "Battles",
    EXPLOSIONS,
    "Violence against civilians",
    "Protests",
    "Riots",
    "Strategic developments",
)

#: The event types that make up ACLED's "political violence" (plus some mob violence).
POLITICAL_VIOLENCE_TYPES: tuple[str, ...] = EVENT_TYPES[:3]

_MONTH_NAMES = {
    name: i
    for i, name in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        1,
    )
}
_MONTH_NAMES.update({k[:3]: v for k, v in list(_MONTH_NAMES.items())})
_PV_HEADER = ("COUNTRY", "MONTH", "YEAR", "EVENTS")
_HEADER_SCAN_ROWS = 10


def _nonneg_int(
    value: object, *, path: Path, row: int, column: str, sheet: str | None = None
) -> int:
    number = (
        float(value)
        if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
        else float("nan")
    )
    if not np.isfinite(number) or number != int(number) or number < 0:
        raise InputError(
            path,
            f"expected a non-negative integer count, got {value!r}",
            sheet=sheet,
            row=row,
            column=column,
        )
    return int(number)


_AS_OF_RE = re.compile(r"as[-_ ]of[-_ ]?(\d{1,2})([A-Za-z]{3})[a-z]*[-_ ]?(\d{4})", re.I)


def _vintage_from_name(path: Path) -> str | None:
    """ACLED's release date from a file name like ``..._as-of-27Feb2026.xlsx`` (ISO), or None."""
    m = _AS_OF_RE.search(path.name)
    if not m:
        return None
    try:
        return f"{pd.Timestamp(f'{m.group(1)} {m.group(2)} {m.group(3)}'):%Y-%m-%d}"
    except ValueError:
        return None


def _pv_header(
    rows: Iterator[tuple[Any, ...]], path: Path, sheet: str
) -> tuple[dict[str, int], int]:
    """Scan for the COUNTRY, MONTH, YEAR, EVENTS header: its column positions and row."""
    head: list[tuple[Any, ...]] = []
    for row in rows:
        head.append(row)
        cells = [cell_text(v).upper() for v in row]
        if all(h in cells for h in _PV_HEADER):
            return {h: cells.index(h) for h in _PV_HEADER}, len(head)
        if len(head) >= _HEADER_SCAN_ROWS:
            break
    first = [cell_text(v) for v in head[0]] if head else []
    found = {c.upper() for c in first}
    missing = [h for h in _PV_HEADER if h not in found]
    raise InputError(
        path,
        f"missing columns {', '.join(repr(m) for m in missing)} (expected a header "
        f"{', '.join(_PV_HEADER)}; found {', '.join(repr(c) for c in first if c)})",
        sheet=sheet,
        row=1,
    )


def _pv_record(
    row: tuple[Any, ...],
    cols: dict[str, int],
    *,
    path: Path,
    sheet: str,
    rownum: int,
    limit: pd.Timestamp,
) -> tuple[pd.Timestamp, str, int] | None:
    """One data row as (month, country, events); None for a blank row."""
    country = cell_text(row[cols["COUNTRY"]])
    mon, year, events = row[cols["MONTH"]], row[cols["YEAR"]], row[cols["EVENTS"]]
    if not country and mon is None and year is None and events is None:
        return None
    if not country:
        raise InputError(path, "empty country", sheet=sheet, row=rownum, column="COUNTRY")
    m = _MONTH_NAMES.get(cell_text(mon).lower())
    if m is None:
        raise InputError(
            path,
            f"expected an English month name, got {mon!r}",
            sheet=sheet,
            row=rownum,
            column="MONTH",
        )
    y = _nonneg_int(year, path=path, sheet=sheet, row=rownum, column="YEAR")
    if not 1900 <= y <= 2100:
        raise InputError(
            path, f"expected a year, got {year!r}", sheet=sheet, row=rownum, column="YEAR"
        )
    month = parse_month(
        f"{y}-{m:02d}", path=path, sheet=sheet, row=rownum, column="MONTH", not_after=limit
    )
    n = _nonneg_int(events, path=path, sheet=sheet, row=rownum, column="EVENTS")
    return month, country, n


def read_pv_country_month_xlsx(
    path: str | Path, *, sheet: str | None = None, not_after: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Read ACLED's "number of political violence events by country-month-year" workbook.

    Parameters
    ----------
    path
        The ``.xlsx`` file (e.g. ``number_of_political_violence_events_by_country-month-year_
        as-of-27Feb2026.xlsx``).
    sheet
        Sheet to read (default: the first).
    not_after
        Latest month allowed (default: the current month).

    Returns
    -------
    DataFrame
        ``month`` (month start), ``country`` (as ACLED writes it), ``events`` (int64), sorted by
        country then month. Country-months with no event are absent from ACLED's file, so
        they are absent here too (read them as 0 when building a panel). ``attrs``: ``source``,
        ``vintage`` (ISO release date from an ACLED file name ending ``as-of-27Feb2026``, else
        None), ``sheet``, ``last_month`` (YYYY-MM) and ``partial_months`` (``[last_month]``: a
        release covers its last month only up to the release date, so that month's counts are
        incomplete and should be dropped or treated as censored).

    Raises
    ------
    InputError
        Unreadable workbook, missing sheet or columns, unknown month name, bad year, a
        negative or non-integer count, or a repeated country-month.
    """
    path = Path(path)
    wb = load_workbook(path)
    try:
        name = sheet if sheet is not None else wb.sheetnames[0]
        ws = worksheet(wb, path, name)
        rows = iter_rows(ws, path, name)
        cols, header_row = _pv_header(rows, path, name)
        width = max(cols.values()) + 1
        records: list[tuple[pd.Timestamp, str, int]] = []
        seen: dict[tuple[str, pd.Timestamp], int] = {}
        limit = month_start(pd.Timestamp.now()) if not_after is None else month_start(not_after)
        for rownum, raw in enumerate(rows, start=header_row + 1):
            row = tuple(raw) + (None,) * (width - len(raw))
            record = _pv_record(row, cols, path=path, sheet=name, rownum=rownum, limit=limit)
            if record is None:
                continue
            key = (record[1], record[0])
            if key in seen:
                raise InputError(
                    path,
                    f"{record[1]} {format_month(record[0])} repeated (first in row {seen[key]})",
                    sheet=name,
                    row=rownum,
                    column="COUNTRY",
                )
            seen[key] = rownum
            records.append(record)
    finally:
        wb.close()
    if not records:
        raise InputError(path, "no data rows below the header", sheet=name, row=header_row)
    df = pd.DataFrame(records, columns=["month", "country", "events"])
    df["month"] = df["month"].astype("datetime64[ns]")
    df["events"] = df["events"].astype("int64")
    df = df.sort_values(["country", "month"], kind="stable").reset_index(drop=True)
    last = format_month(df["month"].max())
    df.attrs = {
        "source": str(path),
        "vintage": _vintage_from_name(path),
        "sheet": name,
        "last_month": last,
        "partial_months": [last],
        "note": "the last month of an ACLED release is partial (counted up to the release date)",
    }
    return df


# --------------------------------------------------------------------------------------------
# CSV layouts


def _read_csv(path: Path, required: Sequence[str], optional: Sequence[str] = ()) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(path, "file not found")
    wanted = set(required) | set(optional)
    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a readable CSV file ({exc})") from exc
    present = [c.strip() for c in header.columns]
    missing = [c for c in required if c not in present]
    if missing:
        raise InputError(
            path,
            f"missing required columns {', '.join(repr(c) for c in missing)} "
            f"(found {', '.join(repr(c) for c in present[:12])}"
            f"{', ...' if len(present) > 12 else ''})",
            row=1,
        )
    try:
        df = pd.read_csv(
            path,
            usecols=lambda c: c.strip() in wanted,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a readable CSV file ({exc})") from exc
    df.columns = [c.strip() for c in df.columns]
    return df


def _int_column(df: pd.DataFrame, col: str, path: Path) -> pd.Series:
    """Parse a text column of non-negative integer counts; errors name the line."""
    text = df[col].str.strip()
    num = pd.to_numeric(text, errors="coerce")
    bad = num.isna() | (num < 0) | (num != np.floor(num))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            path,
            f"expected a non-negative integer count, got {df[col].iloc[i]!r}",
            row=i + 2,
            column=col,
        )
    return num.astype("int64")


def _text_column(df: pd.DataFrame, col: str, path: Path) -> pd.Series:
    text = df[col].str.strip()
    empty = text == ""
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        raise InputError(path, "empty value", row=i + 2, column=col)
    return text


def read_event_type_monthly_csv(
    path: str | Path, *, not_after: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Read monthly ACLED counts by country and event type from a long CSV.

    Parameters
    ----------
    path
        A CSV with columns ``country, month`` (``YYYY-MM``) ``, event_type, events,
        fatalities`` (as ``acled_events_by_event_type_monthly_russia_ukraine_2021-01_2024-09.csv``).
    not_after
        Latest month allowed (default: the current month).

    Returns
    -------
    DataFrame
        ``month, country, event_type, events, fatalities`` (counts int64), sorted by country,
        event type and month.

    Raises
    ------
    InputError
        Missing columns (named), a bad month, a negative or non-integer count, an empty
        country or event type, or a repeated country x month x event type.
    """
    path = Path(path)
    cols = ["month", "country", "event_type", "events", "fatalities"]
    raw = _read_csv(path, cols)
    months = [
        parse_month(v, path=path, row=i + 2, column="month", not_after=not_after)
        for i, v in enumerate(raw["month"])
    ]
    df = pd.DataFrame(
        {
            "month": pd.DatetimeIndex(months).astype("datetime64[ns]"),
            "country": _text_column(raw, "country", path),
            "event_type": _text_column(raw, "event_type", path),
            "events": _int_column(raw, "events", path),
            "fatalities": _int_column(raw, "fatalities", path),
        }
    )
    dup = df.duplicated(["country", "month", "event_type"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(
            path,
            f"country x month x event type repeated: {df['country'].iloc[i]}, "
            f"{format_month(df['month'].iloc[i])}, {df['event_type'].iloc[i]}",
            row=i + 2,
            column="event_type",
        )
    df = df.sort_values(["country", "event_type", "month"], kind="stable").reset_index(drop=True)
    df.attrs = {"source": str(path)}
    return df


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DMY_DATE = re.compile(r"^\d{1,2} [A-Za-z]+ \d{4}$")


def _event_dates(text: pd.Series, path: Path) -> pd.Series:
    """ACLED ``event_date``: ``2023-05-14`` or ``14 May 2023`` (both seen in ACLED exports)."""
    text = text.str.strip()
    iso = pd.to_datetime(text.where(text.str.match(_ISO_DATE)), format="%Y-%m-%d", errors="coerce")
    dmy = pd.to_datetime(text.where(text.str.match(_DMY_DATE)), format="%d %B %Y", errors="coerce")
    dates = iso.fillna(dmy)
    bad = dates.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            path,
            f"expected a date like 2023-05-14 or 14 May 2023, got {text.iloc[i]!r}",
            row=i + 2,
            column="event_date",
        )
    return dates.astype("datetime64[ns]")


def _check_not_after(dates: pd.Series, path: Path, not_after: pd.Timestamp | None) -> None:
    """No event may fall after ``not_after``'s month (default: the current month)."""
    limit = month_start(pd.Timestamp.now()) if not_after is None else month_start(not_after)
    late = dates >= limit + pd.offsets.MonthBegin(1)
    if late.any():
        i = int(np.flatnonzero(late.to_numpy())[0])
        raise InputError(
            path,
            f"date {dates.iloc[i]:%Y-%m-%d} is in the future (latest allowed month "
            f"{format_month(limit)})",
            row=i + 2,
            column="event_date",
        )


def _zero_fill_months(out: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Every month from the first to the last for every key combination seen (0 if none)."""
    combos = out[keys].drop_duplicates()
    months = pd.DataFrame(
        {"month": pd.date_range(out["month"].min(), out["month"].max(), freq="MS")}
    )
    grid = months.merge(combos, how="cross")
    out = grid.merge(out, on=["month", *keys], how="left")
    out[["events", "fatalities"]] = out[["events", "fatalities"]].fillna(0)
    return out


def read_event_level_csv(
    path: str | Path,
    *,
    sub_event: bool | None = None,
    complete: bool = True,
    not_after: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Aggregate ACLED's standard event-level CSV export to monthly counts.

    Parameters
    ----------
    path
        An ACLED export with at least ``event_date, event_type, country, fatalities`` (other
        columns such as ``actor1`` are ignored). ``event_date`` may be ``2023-05-14`` or
        ``14 May 2023``.
    sub_event
        Also split by ``sub_event_type``. ``None`` (default): when that column is present.
    complete
        Fill months with no events with zero rows, for every country x event type
        (x sub-event type) seen, between the first and last month of the file. Otherwise only
        combinations with at least one event appear.
    not_after
        Latest month allowed (default: the current month).

    Returns
    -------
    DataFrame
        ``month, country, event_type, [sub_event_type,] events, fatalities`` (int64), sorted by
        country, event type, [sub-event type,] month. ``attrs``: ``source``, ``n_events``, and
        ``last_event_date`` (the last month is partial unless the export ends on its last day).

    Raises
    ------
    InputError
        Missing required columns (named), an unparseable or future date, a negative or
        non-integer fatality count, or an empty country / event type.
    """
    path = Path(path)
    required = ["event_date", "event_type", "country", "fatalities"]
    raw = _read_csv(path, required, optional=["sub_event_type"])
    if sub_event and "sub_event_type" not in raw:
        raise InputError(path, "missing column 'sub_event_type' (sub_event=True)", row=1)
    use_sub = ("sub_event_type" in raw) if sub_event is None else sub_event
    keys = ["country", "event_type"] + (["sub_event_type"] if use_sub else [])
    if raw.empty:
        raise InputError(path, "no event rows below the header", row=1)
    dates = _event_dates(raw["event_date"], path)
    _check_not_after(dates, path, not_after)
    events = pd.DataFrame(
        {
            "month": dates.dt.to_period("M").dt.to_timestamp().astype("datetime64[ns]"),
            **{k: _text_column(raw, k, path) for k in keys},
            "fatalities": _int_column(raw, "fatalities", path),
        }
    )
    out = (
        events.groupby(["month", *keys], sort=False)
        .agg(events=("fatalities", "size"), fatalities=("fatalities", "sum"))
        .reset_index()
    )
    if complete:
        out = _zero_fill_months(out, keys)
    out["events"] = out["events"].astype("int64")
    out["fatalities"] = out["fatalities"].astype("int64")
    out["month"] = out["month"].astype("datetime64[ns]")
    out = out[["month", *keys, "events", "fatalities"]]
    out = out.sort_values([*keys, "month"], kind="stable").reset_index(drop=True)
    out.attrs = {
        "source": str(path),
        "n_events": len(events),
        "last_event_date": f"{dates.max():%Y-%m-%d}",
    }
    return out
