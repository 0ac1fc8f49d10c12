"""The report's own figures, read from ``data/tables/report_figures.csv``: their one owner.

Every number the report states (McManus, Henry Jackson Society, 2025; see
``docs/report-claims.md``) is one row of that table: ``id, statement, value, unit,
tolerance, source``. The replication (:mod:`hybridflow.analysis.replication`) and the
sanity check of ``hybridflow data show --check-report`` (:mod:`hybridflow.data.summary`)
both read their report figures from here, so a figure is corrected in one place.

``tolerance`` is the absolute difference from the report's value still counted as a match,
in ``unit``; ``5%`` means five percent of the value, and an empty cell means the figure
has no numeric tolerance (the claim states its status itself). For ``r2`` rows the
tolerance applies on the ``|r|`` scale (a small r^2 gets no looser a test). ``decimals``
(digits after the point as the value is written) keeps the precision the report printed,
which the check of its r against its r^2 needs.

The windows the report's data covered are named constants here too (``REPORT_*``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from hybridflow.data.events import read_csv_records
from hybridflow.errors import InputError

__all__ = [
    "COLUMNS",
    "REPORT_DATA_END",
    "REPORT_EB_MEAN_WINDOW",
    "REPORT_LOSSES_WINDOW",
    "REPORT_NATIONALITY_END",
    "REPORT_OTHERS_SHARE_MAX_MONTH",
    "REPORT_TERRITORY_WINDOW",
    "REPORT_WAR_START",
    "ReportFigure",
    "figures_matching",
    "load_report_figures",
    "report_figure",
    "report_figures_path",
    "top10_others",
]

COLUMNS = ("id", "statement", "value", "unit", "tolerance", "source")

#: The windows the report's data covered (first and last month, inclusive).
REPORT_WAR_START = "2022-02"
REPORT_EB_MEAN_WINDOW = ("2022-02", "2025-06")
REPORT_NATIONALITY_END = "2025-06"
#: The last month of the report's data (Jul 2025).
REPORT_DATA_END = "2025-07"
REPORT_LOSSES_WINDOW = ("2022-02", "2025-07")
REPORT_TERRITORY_WINDOW = ("2022-03", "2025-07")
#: The month the report gives for the highest Others share (its only Others majority).
REPORT_OTHERS_SHARE_MAX_MONTH = "2022-02"

_ID_RE = re.compile(r"[A-Za-z0-9_]+")
_NUMBER_RE = re.compile(r"-?\d+(\.\d+)?")


@dataclass(frozen=True)
class ReportFigure:
    """One figure the report states, as one row of the table.

    ``value`` is in ``unit`` (shares as fractions, r as r); ``tolerance`` is absolute, in
    ``unit`` (``None``: no numeric tolerance); ``decimals`` is the number of digits after
    the point the value is written with; ``row`` is its line in the table (header = 1).
    """

    id: str
    statement: str
    value: float
    unit: str
    tolerance: float | None
    source: str
    decimals: int
    row: int = field(default=0, compare=False)


def report_figures_path() -> Path:
    """Where the packaged table lives on disk."""
    return Path(str(resources.files("hybridflow.data").joinpath("tables", "report_figures.csv")))


def _number(path: Path, row: int, column: str, text: str) -> float:
    if not _NUMBER_RE.fullmatch(text):
        raise InputError(
            path,
            f"expected a plain decimal number such as 832, 0.16 or -0.8, got {text!r}",
            row=row,
            column=column,
        )
    return float(text)


def _tolerance(path: Path, row: int, text: str, value: float) -> float | None:
    """Empty: none; ``N%``: N percent of ``|value|``; otherwise an absolute number >= 0."""
    if not text:
        return None
    percent = text.endswith("%")
    number = _number(path, row, "tolerance", text.removesuffix("%").strip())
    if number < 0:
        raise InputError(
            path, f"expected a tolerance of 0 or more, got {text!r}", row=row, column="tolerance"
        )
    # (N / 100) * value: the same arithmetic as a literal 0.05 * value for N = 5.
    return (number / 100.0) * abs(value) if percent else number


def _figure(path: Path, row: int, record: Mapping[str, str]) -> ReportFigure:
    for column in ("id", "statement", "value", "unit", "source"):
        if not record[column]:
            raise InputError(path, "expected a value, found an empty cell", row=row, column=column)
    fid = record["id"]
    if not _ID_RE.fullmatch(fid):
        raise InputError(
            path,
            f"expected an id of letters, digits and underscores, got {fid!r}",
            row=row,
            column="id",
        )
    text = record["value"]
    value = _number(path, row, "value", text)
    return ReportFigure(
        id=fid,
        statement=record["statement"],
        value=value,
        unit=record["unit"],
        tolerance=_tolerance(path, row, record["tolerance"], value),
        source=record["source"],
        decimals=len(text.partition(".")[2]),
        row=row,
    )


def load_report_figures(path: str | Path | None = None) -> Mapping[str, ReportFigure]:
    """Read and check the table of the report's figures (default: the packaged one).

    Returns
    -------
    Mapping
        ``{id: ReportFigure}`` in table order (read-only).

    Raises
    ------
    InputError
        Naming the file, row and column: a missing or unexpected column, an empty
        required cell, a value or tolerance that is not a plain number (tolerance: or
        ``N%``), a negative tolerance, a malformed or duplicated id.
    """
    if path is None:
        return _packaged()
    return MappingProxyType(_read(Path(path)))


@cache
def _packaged() -> Mapping[str, ReportFigure]:
    return MappingProxyType(_read(report_figures_path()))


def _read(path: Path) -> dict[str, ReportFigure]:
    figures: dict[str, ReportFigure] = {}
    for row, record in read_csv_records(path, COLUMNS):
        fig = _figure(path, row, record)
        if fig.id in figures:
            raise InputError(
                path,
                f"id {fig.id!r} appears twice (first on row {figures[fig.id].row})",
                row=row,
                column="id",
            )
        figures[fig.id] = fig
    return figures


def report_figure(figure_id: str) -> ReportFigure:
    """The packaged figure ``figure_id``; ``KeyError`` naming the table when it has none."""
    figures = _packaged()
    if figure_id not in figures:
        raise KeyError(f"no figure {figure_id!r} in {report_figures_path()}")
    return figures[figure_id]


def figures_matching(pattern: str) -> dict[str, ReportFigure]:
    """Packaged figures whose whole id matches ``pattern``, keyed by its first group.

    E.g. ``figures_matching(r"top10_([A-Z]{3})")`` gives ``{"SYR": ..., "SOM": ...}``
    in table order.
    """
    regex = re.compile(pattern)
    out: dict[str, ReportFigure] = {}
    for fid, fig in _packaged().items():
        match = regex.fullmatch(fid)
        if match:
            out[match.group(1)] = fig
    return out


def top10_others() -> dict[str, int]:
    """The report's top ten non-UkrRussBel nationalities: ``{iso3: detections}``, ranked."""
    out: dict[str, int] = {}
    for code, fig in figures_matching(r"top10_([A-Z]{3})").items():
        if not (math.isfinite(fig.value) and fig.value.is_integer()):
            raise InputError(
                report_figures_path(),
                f"expected a whole number of detections for {fig.id}, got {fig.value:g}",
                row=fig.row,
                column="value",
            )
        out[code] = int(fig.value)
    return out
