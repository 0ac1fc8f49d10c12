"""Bring your own data: documented long CSV formats and their validating readers.

Three formats are accepted, each a UTF-8 CSV with one header row holding exactly the columns
below (any order; surrounding spaces are ignored). Rows are reported 1-based with the header
as row 1, as a text editor shows them.

**Detections** (``month,route,nationality,detections``): one row per month, route and
nationality::

    month,route,nationality,detections
    2023-08,Eastern Borders,SYR,412
    2023-08,Eastern Borders,Afghanistan,97

- ``month``: ``YYYY-MM`` (``YYYY-MM-DD`` is read as its month); not in the future.
- ``route``: free text, e.g. ``Eastern Borders``; not blank.
- ``nationality``: an upper-case ISO 3166 alpha-3 code (``SYR``) or a name as Frontex writes
  it (``Syria``, ``Türkiye``, ``Unknown``; case-insensitive), converted to its code through
  :func:`hybridflow.data.sources.frontex.nationality_codes`. Codes must be among that table's
  codes, which include Frontex's ``X..`` codes (``XUN`` = unknown, ``XXA`` = stateless); EU
  nationalities, absent from Frontex's third-country data, are rejected. Without that module,
  any upper-case three-letter code is accepted and names are not.
- ``detections``: a whole number >= 0 (``12`` or ``12.0``); blanks and ``NaN`` are errors.
- each (month, route, nationality) appears once, after names are converted to codes.

**Continuous drivers** (``month,driver,value``): one row per month and driver::

    month,driver,value
    2023-08,russian_losses,9120
    2023-08,territory_change_km2,-35.5

- ``driver``: a name, e.g. ``russian_losses``; not blank.
- ``value``: a finite number (may be negative); blanks, ``NaN`` and ``inf`` are errors.
- each (month, driver) appears once.

**Events**: the event catalogue's columns, validated by
:func:`hybridflow.data.events.load_events` (see :mod:`hybridflow.data.events`).

:func:`validate_file` checks a file of any of the three formats (telling which from its
header) and returns a :class:`ValidationSummary`, or raises
:class:`~hybridflow.errors.InputError` naming the file, row and column of the first problem.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from hybridflow.data.events import COLUMNS as EVENT_COLUMNS
from hybridflow.data.events import load_events, read_csv_header, read_csv_records
from hybridflow.errors import InputError
from hybridflow.months import format_month, month_range, month_start, parse_month
from hybridflow.numbers import format_number

__all__ = [
    "DETECTIONS_COLUMNS",
    "DRIVERS_COLUMNS",
    "FORMATS",
    "ValidationSummary",
    "detect_format",
    "read_detections_csv",
    "read_drivers_csv",
    "read_events_csv",
    "validate_file",
]

FormatName = Literal["detections", "drivers", "events"]

DETECTIONS_COLUMNS: tuple[str, ...] = ("month", "route", "nationality", "detections")
DRIVERS_COLUMNS: tuple[str, ...] = ("month", "driver", "value")
FORMATS: dict[str, tuple[str, ...]] = {
    "detections": DETECTIONS_COLUMNS,
    "drivers": DRIVERS_COLUMNS,
    "events": EVENT_COLUMNS,
}

_ISO3_RE = re.compile(r"^[A-Z]{3}$")
_MISSING_TOKENS = {"nan", "na", "n/a", "null", "none", "-"}


@dataclass(frozen=True)
class ValidationSummary:
    """What :func:`validate_file` found in a valid file.

    Attributes
    ----------
    kind
        ``"detections"``, ``"drivers"`` or ``"events"``.
    rows
        Number of data rows.
    first_month, last_month
        Month span (for events: of ``effective_date``).
    routes, nationalities
        Distinct counts, detections files only (else ``None``).
    drivers
        Distinct driver names, drivers files only.
    events
        Number of events, events files only.
    """

    kind: str
    rows: int
    first_month: pd.Timestamp | None
    last_month: pd.Timestamp | None
    routes: int | None = None
    nationalities: int | None = None
    drivers: int | None = None
    events: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready values; months as ISO ``YYYY-MM`` text (or ``None``)."""
        out: dict[str, Any] = asdict(self)
        for key in ("first_month", "last_month"):
            out[key] = None if out[key] is None else format_month(out[key])
        return out

    def text(self) -> str:
        """One line in words: ``detections file with 4 rows, months 2023-08..2023-09 (2
        months), 2 routes, 3 nationalities``."""
        if self.events is not None:
            parts = [_counted(self.events, "event")]
        else:
            parts = [_counted(self.rows, "row")]
        if self.first_month is not None and self.last_month is not None:
            span = f"{format_month(self.first_month)}..{format_month(self.last_month)}"
            if self.events is not None:
                parts.append(f"effective dates in {span}")
            else:
                months = len(month_range(self.first_month, self.last_month))
                parts.append(f"months {span} ({_counted(months, 'month')})")
        for count, noun in (
            (self.routes, "route"),
            (self.nationalities, "nationality"),
            (self.drivers, "driver"),
        ):
            if count is not None:
                parts.append(_counted(count, noun))
        return f"{self.kind} file with " + ", ".join(parts)


def _counted(n: int, noun: str) -> str:
    """``"1 row"``, ``"1,204 rows"``, ``"3 nationalities"``."""
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{format_number(n)} {noun if n == 1 else plural}"


# --------------------------------------------------------------------------- cells


def _missing(text: str) -> bool:
    return not text or text.lower() in _MISSING_TOKENS


def _count(text: str, path: Path, row: int, column: str) -> int:
    if _missing(text):
        raise InputError(
            path,
            f"missing value ({text or 'blank'}); expected a non-negative whole number",
            row=row,
            column=column,
        )
    try:
        number = float(text)
    except ValueError:
        raise InputError(
            path, f"expected a non-negative whole number, got {text!r}", row=row, column=column
        ) from None
    if not math.isfinite(number):
        raise InputError(path, f"expected a finite count, got {text!r}", row=row, column=column)
    if number < 0:
        raise InputError(path, f"count must not be negative, got {text!r}", row=row, column=column)
    if not number.is_integer():
        raise InputError(
            path, f"expected a whole number of detections, got {text!r}", row=row, column=column
        )
    return int(number)


def _number(text: str, path: Path, row: int, column: str) -> float:
    if _missing(text):
        raise InputError(
            path, f"missing value ({text or 'blank'}); expected a number", row=row, column=column
        )
    try:
        number = float(text)
    except ValueError:
        raise InputError(path, f"expected a number, got {text!r}", row=row, column=column) from None
    if not math.isfinite(number):
        raise InputError(path, f"expected a finite number, got {text!r}", row=row, column=column)
    return number


def _name(text: str, path: Path, row: int, column: str) -> str:
    if _missing(text):
        raise InputError(path, f"missing {column} name ({text or 'blank'})", row=row, column=column)
    return text


def _nationality_resolver() -> Callable[[str], str | None]:
    """Map a nationality cell to an ISO3 code, or None when it cannot be placed."""
    try:
        # Imported lazily: the Frontex module is optional for this reader and heavier.
        from hybridflow.data.sources.frontex import nationality_codes
    except ImportError:
        codes: Mapping[str, object] | None = None
    else:
        codes = dict(nationality_codes())
    if codes is None:
        return lambda text: text if _ISO3_RE.match(text) else None
    # Names without a code (e.g. Frontex's 'Unknown' may map to nothing) stay unplaceable.
    by_name = {
        str(k).strip().casefold(): v.strip()
        for k, v in codes.items()
        if isinstance(v, str) and v.strip()
    }
    known = set(by_name.values())

    def resolve(text: str) -> str | None:
        if _ISO3_RE.match(text) and text in known:
            return text
        return by_name.get(text.casefold())

    return resolve


# --------------------------------------------------------------------------- readers


def read_detections_csv(path: str | Path) -> pd.DataFrame:
    """Read a detections file (``month,route,nationality,detections``).

    Returns
    -------
    pandas.DataFrame
        Columns ``month`` (datetime64, month start), ``route`` (str), ``nationality`` (ISO3
        str), ``detections`` (int64), sorted by month, route and nationality.

    Raises
    ------
    InputError
        Missing or renamed column, unparseable or future month, blank route, unknown
        nationality, missing/non-numeric/negative/fractional count, or a repeated
        (month, route, nationality) key.
    """
    path = Path(path)
    records = read_csv_records(path, DETECTIONS_COLUMNS)
    if not records:
        raise InputError(path, "no data rows below the header", row=2)
    resolve = _nationality_resolver()
    seen: dict[tuple[pd.Timestamp, str, str], int] = {}
    out: dict[str, list[object]] = {c: [] for c in DETECTIONS_COLUMNS}
    for row, rec in records:
        month = parse_month(rec["month"], path=path, row=row, column="month")
        route = _name(rec["route"], path, row, "route")
        raw_nat = rec["nationality"]
        if _missing(raw_nat):
            raise InputError(
                path,
                "missing nationality; expected an ISO3 code such as 'SYR'",
                row=row,
                column="nationality",
            )
        nat = resolve(raw_nat)
        if nat is None:
            raise InputError(
                path,
                f"unknown nationality {raw_nat!r}; expected an ISO 3166 alpha-3 code such as 'SYR' "
                "or a country name used by Frontex",
                row=row,
                column="nationality",
            )
        count = _count(rec["detections"], path, row, "detections")
        key = (month, route, nat)
        if key in seen:
            raise InputError(
                path,
                f"duplicate row for month {month:%Y-%m}, route {route!r}, nationality {nat!r} "
                f"(already on row {seen[key]})",
                row=row,
                column="nationality",
            )
        seen[key] = row
        for col, value in zip(DETECTIONS_COLUMNS, (month, route, nat, count), strict=True):
            out[col].append(value)
    frame = pd.DataFrame(
        {
            "month": pd.to_datetime(pd.Series(out["month"])).astype("datetime64[ns]"),
            "route": pd.Series(out["route"], dtype=object),
            "nationality": pd.Series(out["nationality"], dtype=object),
            "detections": pd.Series(out["detections"], dtype="int64"),
        }
    )
    return frame.sort_values(["month", "route", "nationality"], kind="stable").reset_index(
        drop=True
    )


def read_drivers_csv(path: str | Path) -> pd.DataFrame:
    """Read a continuous-drivers file (``month,driver,value``).

    Returns
    -------
    pandas.DataFrame
        Columns ``month`` (datetime64, month start), ``driver`` (str), ``value`` (float64),
        sorted by driver and month.

    Raises
    ------
    InputError
        Missing or renamed column, unparseable or future month, blank driver name,
        missing/non-numeric/non-finite value, or a repeated (month, driver) key.
    """
    path = Path(path)
    records = read_csv_records(path, DRIVERS_COLUMNS)
    if not records:
        raise InputError(path, "no data rows below the header", row=2)
    seen: dict[tuple[pd.Timestamp, str], int] = {}
    months: list[pd.Timestamp] = []
    drivers: list[str] = []
    values: list[float] = []
    for row, rec in records:
        month = parse_month(rec["month"], path=path, row=row, column="month")
        driver = _name(rec["driver"], path, row, "driver")
        value = _number(rec["value"], path, row, "value")
        key = (month, driver)
        if key in seen:
            raise InputError(
                path,
                f"duplicate row for month {month:%Y-%m} and driver {driver!r} (already on row {seen[key]})",
                row=row,
                column="driver",
            )
        seen[key] = row
        months.append(month)
        drivers.append(driver)
        values.append(value)
    frame = pd.DataFrame(
        {
            "month": pd.to_datetime(pd.Series(months)).astype("datetime64[ns]"),
            "driver": pd.Series(drivers, dtype=object),
            "value": pd.Series(values, dtype="float64"),
        }
    )
    return frame.sort_values(["driver", "month"], kind="stable").reset_index(drop=True)


def read_events_csv(path: str | Path) -> pd.DataFrame:
    """Read a user event catalogue; the same as :func:`hybridflow.data.events.load_events`."""
    return load_events(path)


# --------------------------------------------------------------------------- checking


def detect_format(path: str | Path) -> FormatName:
    """Tell a file's format from its header.

    An exact column set wins. Otherwise the format sharing the most columns (at least two)
    is returned, so that a file with one renamed column is still recognised and its reader
    can name the missing column.

    Raises
    ------
    InputError
        The header resembles none of the formats.
    """
    path = Path(path)
    header = set(read_csv_header(path))
    for name, cols in FORMATS.items():
        if header == set(cols):
            return name  # type: ignore[return-value]
    scores = {name: len(header & set(cols)) / len(cols) for name, cols in FORMATS.items()}
    best = max(scores, key=lambda n: scores[n])
    if len(header & set(FORMATS[best])) >= 2:
        return best  # type: ignore[return-value]
    raise InputError(
        path,
        f"cannot tell the format from the header {','.join(sorted(header))!r}; expected the "
        f"columns of detections ({','.join(DETECTIONS_COLUMNS)}), drivers "
        f"({','.join(DRIVERS_COLUMNS)}) or events (event_id,family,... as in the catalogue)",
        row=1,
        column=sorted(header)[0] if header else None,
    )


def validate_file(path: str | Path, kind: str | None = None) -> ValidationSummary:
    """Validate a bring-your-own file and summarise it.

    Parameters
    ----------
    path
        The CSV file.
    kind
        ``"detections"``, ``"drivers"`` or ``"events"``; ``None`` detects it from the header.

    Raises
    ------
    InputError
        The first problem found, naming the file, row and column.
    ValueError
        ``kind`` is not one of the three formats.
    """
    path = Path(path)
    if kind is None:
        kind = detect_format(path)
    if kind not in FORMATS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(FORMATS)}")
    if kind == "detections":
        det = read_detections_csv(path)
        return ValidationSummary(
            kind=kind,
            rows=len(det),
            first_month=det["month"].min(),
            last_month=det["month"].max(),
            routes=int(det["route"].nunique()),
            nationalities=int(det["nationality"].nunique()),
        )
    if kind == "drivers":
        drv = read_drivers_csv(path)
        return ValidationSummary(
            kind=kind,
            rows=len(drv),
            first_month=drv["month"].min(),
            last_month=drv["month"].max(),
            drivers=int(drv["driver"].nunique()),
        )
    ev = read_events_csv(path)
    dates = ev["effective_date"].dropna()
    return ValidationSummary(
        kind=kind,
        rows=len(ev),
        first_month=month_start(dates.min()) if len(dates) else None,
        last_month=month_start(dates.max()) if len(dates) else None,
        events=len(ev),
    )
