"""Frontex monthly detections of illegal border-crossing (IBC): readers for the raw formats.

Two formats are read:

* the Frontex workbook ``Monthly_detections_of_IBC_<date>.xlsx`` (sheet ``Detections_of_IBC``:
  one row per route x border type x nationality, one column per month labelled ``JAN2009``)
  by :func:`read_ibc_workbook`, returned long (one row per month x route x border type x
  nationality);
* route-level monthly totals in the JSON layout ``{"data": {"monthly": {route: [{"m", "v"}]}}}``
  (no nationality) by :func:`read_route_totals_json`.

Nationalities
-------------
Frontex writes English short names ("Syria", "Türkiye", "Congo (Kinshasa)"). They are mapped
to ISO 3166-1 alpha-3 codes through the explicit table ``data/tables/nationalities.csv``
(columns ``name, iso3, label, note``), which covers every name in the June 2025 workbook's data
rows and its ``Dictionary`` sheet. ``label`` is the plain-English name shown to readers, the
same on every row of a code (:func:`nationality_label` gives ``"Syria (SYR)"``). A name missing from the table is an :class:`InputError`; pass
``extra_codes`` to extend the table for a newer release. Names that are not countries get codes
from the user-assigned ``X..`` range, documented in the table's ``note`` column:

==========================================  =======  =========================================
name                                        code     why
==========================================  =======  =========================================
``Unknown``                                 ``XUN``  hybridflow code (unknown nationality)
``Stateless``                               ``XXA``  ICAO Doc 9303 code for stateless persons
``Not specified`` (Dictionary only)         ``XXX``  ICAO Doc 9303 "unspecified nationality"
``Unspecified sub-Saharan nationals``       ``XSS``  hybridflow code
``Third-country`` (not specified)           ``XTC``  hybridflow code
``Horn of Africa`` (Dictionary only)        ``XHA``  hybridflow code (a region)
``Kosovo*``                                 ``XKX``  code used by the EU and ICAO for Kosovo
``Palestine^``                              ``PSE``  ISO 3166-1 (the ``^`` is a footnote mark)
``Netherlands Antilles`` (Dictionary only)  ``ANT``  transitionally reserved ISO code
==========================================  =======  =========================================

Territories keep their own ISO codes (``Hong Kong`` HKG, ``Macao`` MAC, ``Taiwan`` TWN,
``Western Sahara`` ESH, ``Gibraltar`` GIB, ...); old and new names share a code (``Swaziland``
SWZ, ``Türkiye``/``Turkey`` TUR, ``Congo (Brazzaville)`` COG, ``Congo (Kinshasa)`` COD).

Revisions
---------
Frontex revises recent months in later releases. Known provisional values of a specific
vintage are listed in ``data/tables/revisions.csv`` (``source, month, route, nationality,
original, revised, reason, reference``). :func:`read_ibc_workbook` replaces such a value only when
the workbook holds exactly the table's ``original`` value (the table is vintage-specific), flags
the row in the ``revised`` column, lists what it did in ``df.attrs["revisions"]`` and emits a
:class:`RevisionWarning`. The one known case: April 2025, Eastern Borders Route, ``Unknown``
holds 2,388 in the "FRAN data as of 03JUN25" vintage, while the route total that month is 2,955
and the August 2026 release gives 567 (= 2,955 - 2,388) for the route, so the entry was removed.

Blank cells
-----------
The June 2025 workbook has no blank cells in its month columns (every one of its 173,460 cells
is an integer). A blank cell is therefore an error by default, since Frontex writes explicit
zeros and a blank may mean "not reported"; ``blank="zero"`` reads blanks as 0 (counted in
``df.attrs["blank_cells"]``).
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import logging
import re
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from hybridflow.data.sources._files import cell_text, iter_rows, load_workbook, read_json, worksheet
from hybridflow.errors import InputError
from hybridflow.months import format_month, parse_month

__all__ = [
    "DEFAULT_SHEET",
    "EASTERN_BORDERS",
    "HEADER_CELLS",
    "UKRRUSSBEL",
    "RevisionWarning",
    "ibc_vintage",
    "nationality_codes",
    "nationality_label",
    "nationality_names",
    "read_ibc_workbook",
    "read_route_totals_json",
    "revisions_table",
]

log = logging.getLogger(__name__)

#: ISO3 codes of the report's "UkrRussBel" group (nationals of Ukraine, Russia, Belarus).
UKRRUSSBEL: tuple[str, ...] = ("UKR", "RUS", "BLR")

#: The route the report is about (FRONTEX's name for it).
EASTERN_BORDERS = "Eastern Borders Route"

#: The data sheet's name in every Frontex release seen so far.
DEFAULT_SHEET = "Detections_of_IBC"

#: The three id columns that identify the header row (compared case-insensitively).
HEADER_CELLS: tuple[str, str, str] = ("Route", "Border type or inland", "Nationality")

#: The ``source`` value of this module's rows in ``revisions.csv``.
REVISION_SOURCE = "frontex_ibc"

# How far down to look for the header row (newer releases put a title row or two first).
_HEADER_SCAN_ROWS = 20

_MONTH_ABBR = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
_MONTH_LABEL_RE = re.compile(r"^([A-Za-z]{3})\s*(\d{4})$")
_VINTAGE_RE = re.compile(
    r"FRAN\s+data\s+as\s+of\s+(\d{1,2})\s*([A-Za-z]{3})\s*(\d{4}|\d{2})\b", re.I
)
# Dictionary-like keys in the route JSON that are notes read as routes, not routes.
_NOTE_KEY_RE = re.compile(r"^\s*(source|notes?|definition)\b|FRAN\s+data\s+as\s+of", re.I)


class RevisionWarning(UserWarning):
    """A known provisional value was replaced (or could not be, because the file differs)."""


# --------------------------------------------------------------------------------------------
# tables


def _table_path(name: str) -> Any:
    return resources.files("hybridflow.data").joinpath("tables", name)


@cache
def _nationality_table() -> tuple[tuple[str, str, str, str], ...]:
    with _table_path("nationalities.csv").open("r", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return tuple((r["name"], r["iso3"], r["label"], r["note"]) for r in rows)


def nationality_codes() -> dict[str, str]:
    """Frontex nationality name -> ISO 3166-1 alpha-3 code (or a documented ``X..`` code).

    Returns
    -------
    dict
        A fresh copy of ``data/tables/nationalities.csv`` as ``{name: iso3}``; names are as
        Frontex writes them (``"Kosovo*"``, ``"Palestine^"``, ``"Türkiye"``).
    """
    return {name: code for name, code, _, _ in _nationality_table()}


def nationality_names() -> dict[str, str]:
    """ISO3 (or ``X..``) code -> plain-English name, from ``data/tables/nationalities.csv``.

    Returns
    -------
    dict
        A fresh ``{code: label}``, e.g. ``{"SYR": "Syria", "XUN": "Unknown", ...}``; codes
        that are not countries have descriptive labels (``"Stateless"``).
    """
    return dict(_names_by_code())


@cache
def _names_by_code() -> dict[str, str]:
    return {code: label for _, code, label, _ in _nationality_table()}


def nationality_label(code: str) -> str:
    """A code with its name for readers: ``"Syria (SYR)"``; a code not in the table as is."""
    name = _names_by_code().get(code)
    return f"{name} ({code})" if name else code


def revisions_table(source: str | None = REVISION_SOURCE) -> pd.DataFrame:
    """The table of known provisional values, ``data/tables/revisions.csv``.

    Parameters
    ----------
    source
        Keep only rows of this ``source`` (``None``: all rows).

    Returns
    -------
    DataFrame
        Columns ``source, month`` (month-start Timestamp) ``, route, nationality, original,
        revised`` (int64) ``, reason, reference``.
    """
    with _table_path("revisions.csv").open("r", encoding="utf-8", newline="") as fh:
        df = pd.read_csv(fh, dtype=str, keep_default_na=False)
    df["month"] = [pd.Timestamp(f"{m}-01") for m in df["month"]]
    df["original"] = df["original"].astype("int64")
    df["revised"] = df["revised"].astype("int64")
    if source is not None:
        df = df[df["source"] == source].reset_index(drop=True)
    return df


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


# --------------------------------------------------------------------------------------------
# vintage


def _vintage_from_text(text: str) -> str | None:
    m = _VINTAGE_RE.search(text)
    if not m:
        return None
    day, mon, year = int(m.group(1)), m.group(2).upper(), int(m.group(3))
    if mon not in _MONTH_ABBR:
        return None
    if year < 100:
        year += 2000
    try:
        return dt.date(year, _MONTH_ABBR[mon], day).isoformat()
    except ValueError:
        return None


def ibc_vintage(path: str | Path) -> str | None:
    """The release date of a Frontex IBC workbook, from its "FRAN data as of" note.

    Parameters
    ----------
    path
        The workbook.

    Returns
    -------
    str or None
        ISO date, e.g. ``"2025-06-03"`` for "Source: FRAN data as of 03JUN25"; ``None`` when no
        sheet holds such a note. The ``Notes`` sheet is searched first, then the other sheets
        (the data sheet last, first column only).
    """
    path = Path(path)
    wb = load_workbook(path)
    try:
        return _vintage_from_workbook(wb, path)
    finally:
        wb.close()


def _vintage_from_workbook(wb: Any, path: Path, skip: str | None = None) -> str | None:
    names = sorted(wb.sheetnames, key=lambda s: (s != "Notes", s == DEFAULT_SHEET))
    for name in names:
        if name == skip:
            continue
        ws = worksheet(wb, path, name)
        only_first = name == DEFAULT_SHEET
        for row in iter_rows(ws, path, name):
            for value in row[:1] if only_first else row:
                if isinstance(value, str) and (found := _vintage_from_text(value)):
                    return found
    return None


# --------------------------------------------------------------------------------------------
# the workbook


def _month_label(
    value: object, *, path: Path, sheet: str, row: int, col: int, not_after: pd.Timestamp | None
) -> pd.Timestamp:
    """Parse a month header cell (``JAN2009``; a real date is accepted too) strictly."""
    label = cell_text(value)
    column = label or _column_letter(col)
    if isinstance(value, dt.datetime | dt.date):
        ts = pd.Timestamp(value)
        return parse_month(ts, path=path, sheet=sheet, row=row, column=column, not_after=not_after)
    m = _MONTH_LABEL_RE.match(label)
    if not m or m.group(1).upper() not in _MONTH_ABBR:
        raise InputError(
            path,
            f"expected a month column labelled like 'JAN2009', got {label!r}",
            sheet=sheet,
            row=row,
            column=column,
        )
    return parse_month(
        f"{m.group(2)}-{_MONTH_ABBR[m.group(1).upper()]:02d}",
        path=path,
        sheet=sheet,
        row=row,
        column=column,
        not_after=not_after,
    )


def _find_header(rows: list[tuple[Any, ...]], path: Path, sheet: str) -> tuple[int, dict[str, int]]:
    """Index of the header row among ``rows`` and the positions of the id columns."""
    wanted = [h.casefold() for h in HEADER_CELLS]
    best: tuple[int, int] = (-1, -1)  # (matches, row index)
    for i, row in enumerate(rows):
        cells = [cell_text(v).casefold() for v in row]
        hits = sum(w in cells for w in wanted)
        if hits == len(wanted):
            return i, {h: cells.index(w) for h, w in zip(HEADER_CELLS, wanted, strict=True)}
        if hits > best[0]:
            best = (hits, i)
    expected = ", ".join(repr(h) for h in HEADER_CELLS)
    if best[0] > 0:
        i = best[1]
        cells = [cell_text(v) for v in rows[i]]
        missing = [h for h in HEADER_CELLS if h.casefold() not in {c.casefold() for c in cells}]
        shown = ", ".join(repr(c) for c in cells[:6] if c)
        raise InputError(
            path,
            f"header row lacks {', '.join(repr(m) for m in missing)} (expected columns "
            f"{expected} then month columns like 'JAN2009'; found {shown}, ...)",
            sheet=sheet,
            row=i + 1,
        )
    raise InputError(
        path,
        f"no header row with columns {expected} in the first {len(rows)} rows",
        sheet=sheet,
    )


def _count(
    value: object, blank: str, *, path: Path, sheet: str, row: int, column: str
) -> tuple[int, bool]:
    """A detection count from a cell: (value, was_blank)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if blank == "zero":
            return 0, True
        raise InputError(
            path,
            "blank cell where a count is expected (Frontex writes explicit zeros; pass "
            "blank='zero' to read blanks as 0)",
            sheet=sheet,
            row=row,
            column=column,
        )
    number: float | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        # A number stored as text, which Excel users produce by accident.
        number = float(value)
    if number is None or not np.isfinite(number) or number != int(number):
        raise InputError(
            path,
            f"expected a non-negative integer count, got {value!r}",
            sheet=sheet,
            row=row,
            column=column,
        )
    if number < 0:
        raise InputError(
            path,
            f"expected a non-negative integer count, got {value!r} (negative)",
            sheet=sheet,
            row=row,
            column=column,
        )
    return int(number), False


def read_ibc_workbook(
    path: str | Path,
    *,
    sheet: str = DEFAULT_SHEET,
    apply_revisions: bool = True,
    blank: Literal["error", "zero"] = "error",
    extra_codes: Mapping[str, str] | None = None,
    not_after: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Read a Frontex "Monthly detections of IBC" workbook into long, tidy rows.

    Parameters
    ----------
    path
        The ``.xlsx`` workbook.
    sheet
        The data sheet.
    apply_revisions
        Replace known provisional values listed in ``data/tables/revisions.csv`` (see the
        module docstring). ``False`` returns the workbook's values unchanged.
    blank
        What a blank month cell means: ``"error"`` (default) or ``"zero"``.
    extra_codes
        Additional ``{name: iso3}`` entries for nationality names not in the table; they take
        precedence over it.
    not_after
        Latest month allowed in the header (default: the current month).

    Returns
    -------
    DataFrame
        One row per month x route x border type x nationality, sorted in that order, with
        columns ``month`` (month-start Timestamp), ``route`` (as written in the workbook, e.g.
        ``"Eastern Borders Route"``), ``border_type`` (``"Land"``/``"Sea"``), ``nationality``
        (ISO3), ``nationality_name`` (as written), ``detections`` (int64), ``revised``
        (bool: the value was replaced from the revision table) and ``original_detections``
        (Int64: the workbook's value where ``revised``, else ``<NA>``). ``attrs`` holds ``source``,
        ``sheet``, ``header_row``, ``vintage`` (ISO date or None), ``revisions`` (list of
        applied revisions), ``skipped_revisions``, ``note_rows`` (text-only rows skipped, e.g.
        a "Source: FRAN data as of" footer) and ``blank_cells``.

    Raises
    ------
    InputError
        Unreadable file, missing sheet, no header row, bad month label (unparseable or in the
        future), blank/non-numeric/negative count, duplicate route x border type x nationality
        row, unknown nationality name; each names file, sheet, row and column.
    """
    path = Path(path)
    codes = nationality_codes()
    if extra_codes:
        codes.update(extra_codes)
    header_row, months, rows, vintage = _read_sheet(path, sheet, codes, blank, not_after)
    df = _long_frame(rows.keys, rows.counts, months)
    applied: list[dict[str, object]] = []
    skipped: list[dict[str, object]] = []
    if apply_revisions:
        applied, skipped = _apply_revisions(df, path)
    df.attrs = {
        "source": str(path),
        "sheet": sheet,
        "header_row": header_row,
        "vintage": vintage,
        "revisions": applied,
        "skipped_revisions": skipped,
        "note_rows": rows.note_rows,
        "blank_cells": rows.n_blank,
    }
    return df


def _read_sheet(
    path: Path,
    sheet: str,
    codes: Mapping[str, str],
    blank: str,
    not_after: pd.Timestamp | None,
) -> tuple[int, list[pd.Timestamp], _DataRows, str | None]:
    """Read the data sheet: its header row, months, checked data rows and the vintage."""
    wb = load_workbook(path)
    try:
        rows_iter = iter_rows(worksheet(wb, path, sheet), path, sheet)
        head = list(itertools.islice(rows_iter, _HEADER_SCAN_ROWS))
        h_idx, id_cols = _find_header(head, path, sheet)
        header_row = h_idx + 1
        month_cols, months, labels = _month_columns(
            head[h_idx], id_cols, path=path, sheet=sheet, row=header_row, not_after=not_after
        )
        rows = _DataRows(path, sheet, codes, blank, labels)
        width = max(max(month_cols), *id_cols.values()) + 1
        id_positions = tuple(id_cols[h] for h in HEADER_CELLS)
        data_rows = itertools.chain(
            enumerate(head[h_idx + 1 :], start=header_row + 1),
            enumerate(rows_iter, start=len(head) + 1),
        )
        for rownum, raw in data_rows:
            row = tuple(raw) + (None,) * (width - len(raw))
            rows.add(rownum, row, id_positions, [row[j] for j in month_cols])
        vintage = _vintage_from_workbook(wb, path, skip=sheet)
    finally:
        wb.close()
    if vintage is None:
        for note in rows.note_rows:
            if found := _vintage_from_text(str(note["text"])):
                vintage = found
                break
    if not rows.keys:
        raise InputError(path, "no data rows below the header", sheet=sheet, row=header_row)
    return header_row, months, rows, vintage


def _month_columns(
    header: tuple[Any, ...],
    id_cols: dict[str, int],
    *,
    path: Path,
    sheet: str,
    row: int,
    not_after: pd.Timestamp | None,
) -> tuple[list[int], list[pd.Timestamp], list[str]]:
    """The header's month columns: every non-empty cell but the id columns, parsed strictly.

    Returns their positions, months and labels as written.
    """
    month_cols: list[int] = []
    months: list[pd.Timestamp] = []
    labels: list[str] = []
    seen_month: dict[pd.Timestamp, str] = {}
    for j, value in enumerate(header):
        if j in id_cols.values() or cell_text(value) == "":
            continue
        ts = _month_label(value, path=path, sheet=sheet, row=row, col=j, not_after=not_after)
        label = cell_text(value)
        if ts in seen_month:
            raise InputError(
                path,
                f"month {format_month(ts)} appears twice (also in column '{seen_month[ts]}')",
                sheet=sheet,
                row=row,
                column=label,
            )
        seen_month[ts] = label
        month_cols.append(j)
        months.append(ts)
        labels.append(label)
    if not month_cols:
        raise InputError(path, "header has no month columns like 'JAN2009'", sheet=sheet, row=row)
    return month_cols, months, labels


@dataclass
class _DataRows:
    """The data rows of an IBC sheet, each checked as it is added."""

    path: Path
    sheet: str
    codes: Mapping[str, str]
    blank: str
    labels: list[str]
    #: (route, border type, iso3, nationality name) and the month counts of each data row.
    keys: list[tuple[str, str, str, str]] = field(default_factory=list)
    counts: list[list[int]] = field(default_factory=list)
    note_rows: list[dict[str, object]] = field(default_factory=list)
    n_blank: int = 0
    _seen_key: dict[tuple[str, str, str], int] = field(default_factory=dict)
    _seen_code: dict[tuple[str, str, str], tuple[int, str]] = field(default_factory=dict)

    def add(
        self, rownum: int, row: tuple[Any, ...], id_positions: tuple[int, ...], cells: list[Any]
    ) -> None:
        """Add one sheet row: skipped if blank, kept as a note if text-only, else data."""
        route, btype, nat = (cell_text(row[c]) for c in id_positions)
        if not (route or btype or nat) and all(cell_text(v) == "" for v in cells):
            return  # blank row
        if not (btype or nat) and all(cell_text(v) == "" for v in cells):
            # A text-only row (a "Source: FRAN data as of ..." footer, a note): not data.
            self.note_rows.append({"row": rownum, "text": " ".join(cell_text(v) for v in row if v)})
            return
        for name, value in zip(HEADER_CELLS, (route, btype, nat), strict=True):
            if not value:
                raise self._error(rownum, f"empty '{name}' in a data row", column=name)
        code = self._code(rownum, route, btype, nat)
        values: list[int] = []
        for label, v in zip(self.labels, cells, strict=True):
            n, was_blank = _count(
                v, self.blank, path=self.path, sheet=self.sheet, row=rownum, column=label
            )
            self.n_blank += was_blank
            values.append(n)
        self.keys.append((route, btype, code, nat))
        self.counts.append(values)

    def _code(self, rownum: int, route: str, btype: str, nat: str) -> str:
        """The row's ISO3 code; its route x border type x nationality must be new."""
        key = (route, btype, nat)
        if key in self._seen_key:
            raise self._error(
                rownum,
                f"duplicate row for route {route!r}, border type {btype!r}, nationality "
                f"{nat!r} (first seen in row {self._seen_key[key]})",
            )
        self._seen_key[key] = rownum
        code = self.codes.get(nat) or self.codes.get(unicodedata.normalize("NFC", nat))
        if code is None:
            raise self._error(
                rownum,
                f"unknown nationality {nat!r} (not in hybridflow's nationalities.csv; "
                "pass extra_codes={name: iso3} to add it)",
            )
        ckey = (route, btype, code)
        if ckey in self._seen_code:
            first_row, first_name = self._seen_code[ckey]
            raise self._error(
                rownum,
                f"nationality {nat!r} maps to {code}, as does {first_name!r} in row "
                f"{first_row} of the same route and border type",
            )
        self._seen_code[ckey] = (rownum, nat)
        return code

    def _error(self, rownum: int, problem: str, column: str = HEADER_CELLS[2]) -> InputError:
        return InputError(self.path, problem, sheet=self.sheet, row=rownum, column=column)


def _long_frame(
    keys: list[tuple[str, str, str, str]], counts: list[list[int]], months: list[pd.Timestamp]
) -> pd.DataFrame:
    """One row per month x data row, sorted by month, route, border type, nationality."""
    n_rows, n_months = len(keys), len(months)
    arr = np.asarray(counts, dtype=np.int64)  # rows x months
    key_arr = np.asarray(keys, dtype=object)
    df = pd.DataFrame(
        {
            "month": pd.DatetimeIndex(np.tile(np.asarray(months, dtype="datetime64[ns]"), n_rows)),
            "route": np.repeat(key_arr[:, 0], n_months),
            "border_type": np.repeat(key_arr[:, 1], n_months),
            "nationality": np.repeat(key_arr[:, 2], n_months),
            "nationality_name": np.repeat(key_arr[:, 3], n_months),
            "detections": arr.reshape(-1),
            "revised": np.zeros(n_rows * n_months, dtype=bool),
            "original_detections": pd.array([pd.NA] * (n_rows * n_months), dtype="Int64"),
        }
    )
    df = df.sort_values(["month", "route", "border_type", "nationality"], kind="stable")
    df = df.reset_index(drop=True)
    df["month"] = df["month"].astype("datetime64[ns]")
    return df


def _apply_revisions(
    df: pd.DataFrame, path: Path
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Replace known provisional values in place; return (applied, skipped) records."""
    applied: list[dict[str, object]] = []
    skipped: list[dict[str, object]] = []
    table = revisions_table()
    det = df["detections"].to_numpy().copy()  # original values, for the check
    for rev in table.to_dict("records"):
        r_month = pd.Timestamp(rev["month"])
        route, nationality = str(rev["route"]), str(rev["nationality"])
        original, revised = int(rev["original"]), int(rev["revised"])
        mask = (
            (df["month"] == r_month) & (df["route"] == route) & (df["nationality"] == nationality)
        )
        idx = np.flatnonzero(mask.to_numpy())
        record: dict[str, object] = {
            "month": format_month(r_month),
            "route": route,
            "nationality": nationality,
            "original": original,
            "revised": revised,
            "reason": str(rev["reason"]),
            "reference": str(rev["reference"]),
        }
        if len(idx) == 0:
            continue  # this vintage does not cover that cell: nothing to revise
        where = f"{record['month']}, {route}, {nationality}"
        if len(idx) > 1:
            record["skipped_because"] = "several border types match; the table does not say which"
            skipped.append(record)
            warnings.warn(
                f"{path}: revision for {where} not applied: {record['skipped_because']}",
                RevisionWarning,
                stacklevel=3,
            )
            continue
        i = int(idx[0])
        found = int(det[i])
        if found != original:
            record["found"] = found
            record["skipped_because"] = (
                f"file holds {found}, not the table's original {original} (a different vintage)"
            )
            skipped.append(record)
            warnings.warn(
                f"{path}: revision for {where} not applied: {record['skipped_because']}",
                RevisionWarning,
                stacklevel=3,
            )
            continue
        df.loc[i, "detections"] = revised
        df.loc[i, "revised"] = True
        df.loc[i, "original_detections"] = original
        record["border_type"] = str(df["border_type"].to_numpy()[i])
        applied.append(record)
        msg = (
            f"{path}: replaced provisional value for {where}: {original} -> {revised} "
            f"({record['reason']})"
        )
        log.info(msg)
        warnings.warn(msg, RevisionWarning, stacklevel=3)
    return applied, skipped


# --------------------------------------------------------------------------------------------
# route totals (JSON)


def read_route_totals_json(
    path: str | Path, *, not_after: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Read route-level monthly totals from the JSON layout of ``frontex.json``.

    The layout is ``{"source", "retrieved", "data": {"monthly": {route: [{"m": "YYYY-MM",
    "v": int}, ...]}, "annual": [...]}}``. Keys of ``monthly`` that are notes rather than routes
    (``"Source: FRAN data as of 04AUG26"``, anything starting with Source/Note/Definition) are
    dropped; a "FRAN data as of" date among them gives the vintage.

    Parameters
    ----------
    path
        The JSON file.
    not_after
        Latest month allowed (default: the current month).

    Returns
    -------
    DataFrame
        Columns ``month, route, detections`` (int64), sorted by month then route. ``attrs``:
        ``source`` (path), ``vintage`` (ISO date or None), ``dropped_keys``, ``description``
        (the file's ``source`` text) and ``retrieved``.

    Raises
    ------
    InputError
        Not JSON, missing ``data.monthly``, a bad month, a negative or non-integer value, or a
        month repeated within a route. The ``column`` names the JSON path.
    """
    path = Path(path)
    doc = read_json(path)
    monthly = doc.get("data", {}).get("monthly") if isinstance(doc, dict) else None
    if not isinstance(monthly, dict):
        raise InputError(
            path,
            "expected an object at data.monthly mapping route -> [{m, v}, ...]",
            column="data.monthly",
        )
    dropped: list[str] = []
    vintage: str | None = None
    records: list[tuple[pd.Timestamp, str, int]] = []
    for route, series in monthly.items():
        if _NOTE_KEY_RE.search(route):
            dropped.append(route)
            vintage = vintage or _vintage_from_text(route)
            if isinstance(series, list) and any(
                isinstance(e, dict) and e.get("v") not in (0, None) for e in series
            ):
                warnings.warn(
                    f"{path}: dropped non-route key {route!r} holds non-zero values",
                    stacklevel=2,
                )
            continue
        records.extend(_route_records(path, route, series, not_after))
    if not records:
        raise InputError(path, "no route series found", column="data.monthly")
    df = pd.DataFrame(records, columns=["month", "route", "detections"])
    df["month"] = df["month"].astype("datetime64[ns]")
    df["detections"] = df["detections"].astype("int64")
    df = df.sort_values(["month", "route"], kind="stable").reset_index(drop=True)
    if vintage is None and isinstance(doc.get("source"), str):
        vintage = _vintage_from_text(doc["source"])
    df.attrs = {
        "source": str(path),
        "vintage": vintage,
        "dropped_keys": dropped,
        "description": doc.get("source"),
        "retrieved": doc.get("retrieved"),
    }
    return df


def _route_records(
    path: Path, route: str, series: Any, not_after: pd.Timestamp | None
) -> list[tuple[pd.Timestamp, str, int]]:
    """One route's ``[{m, v}, ...]`` list as (month, route, count) records, checked."""
    where = f"data.monthly[{route!r}]"
    if not isinstance(series, list):
        raise InputError(path, "expected a list of {m, v} objects", column=where)
    seen: set[pd.Timestamp] = set()
    records: list[tuple[pd.Timestamp, str, int]] = []
    for i, entry in enumerate(series):
        col = f"{where}[{i}]"
        if not isinstance(entry, dict) or "m" not in entry or "v" not in entry:
            raise InputError(
                path, f"expected an object with keys m and v, got {entry!r}", column=col
            )
        month = parse_month(entry["m"], path=path, column=f"{col}.m", not_after=not_after)
        v = entry["v"]
        if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v) or v < 0:
            raise InputError(
                path, f"expected a non-negative integer count, got {v!r}", column=f"{col}.v"
            )
        if month in seen:
            raise InputError(path, f"month {format_month(month)} repeated", column=f"{col}.m")
        seen.add(month)
        records.append((month, route, int(v)))
    return records
