"""One claim: a report figure beside our recomputation, and how its status is decided.

:func:`figure_claim` builds a :class:`Claim` from a figure of
``data/tables/report_figures.csv`` and our value: the statement, the report's value, the
unit and the tolerance come from the table; the difference and (unless the caller states
it) the status are derived.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hybridflow.data import report_figures

__all__ = [
    "STATUSES",
    "Claim",
    "closest",
    "difference",
    "figure_claim",
    "fmt",
    "num",
    "pct",
    "percent_text",
    "status_within",
    "unavailable",
]

STATUSES = ("matches", "differs", "not_reproducible", "inconsistent")


@dataclass
class Claim:
    """One report figure beside our recomputation.

    ``report_value``/``our_value`` are numbers in ``unit`` (shares as fractions, r as r);
    ``report_text``/``our_text`` say the same in words where a number alone is not enough
    (a month, a list). ``difference`` = ours - report. ``tolerance`` is the absolute
    difference accepted as ``matches`` (in ``unit``). ``details`` holds the alternatives
    that the ``cause`` refers to (JSON-serialisable).
    """

    id: str
    statement: str
    report_value: float | None
    report_text: str
    our_value: float | None
    our_text: str
    difference: float | None
    tolerance: float | None
    unit: str
    window: str
    grouping: str
    method: str
    cause: str
    status: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; expected one of {STATUSES}")


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def status_within(ours: float | None, report: float, tol: float) -> str:
    """``matches`` when ``|ours - report| <= tol``, ``differs`` otherwise; no value: not reproducible."""
    if ours is None or not math.isfinite(ours):
        return "not_reproducible"
    return "matches" if abs(ours - report) <= tol + 1e-12 else "differs"


def difference(ours: float | None, report: float | None) -> float | None:
    """``ours - report``, or ``None`` when either is missing."""
    if ours is None or report is None or not math.isfinite(ours):
        return None
    return ours - report


def closest(report: float, alternatives: Mapping[str, float]) -> tuple[str, float] | None:
    """The alternative whose value is nearest the report's, as ``(name, value)``."""
    finite = {k: v for k, v in alternatives.items() if v is not None and math.isfinite(v)}
    if not finite:
        return None
    name = min(finite, key=lambda k: abs(finite[k] - report))
    return name, finite[name]


def figure_claim(
    figure_id: str,
    ours: float | None,
    *,
    our_text: str,
    report_text: str,
    window: str,
    grouping: str,
    method: str,
    cause: str = "",
    status: str | None = None,
    details: dict[str, Any] | None = None,
) -> Claim:
    """The claim of the report figure ``figure_id`` (its id), with our value ``ours``.

    ``status`` defaults to :func:`status_within` the table's tolerance (``not_reproducible``
    when ``ours`` is missing or not finite); a figure without a tolerance needs ``status``.
    A non-finite ``ours`` is stored as ``None``.
    """
    fig = report_figures.report_figure(figure_id)
    value = _finite(ours)
    if status is None:
        if value is not None and fig.tolerance is None:
            raise ValueError(f"figure {figure_id!r} has no tolerance in the table; pass a status")
        tol = 0.0 if fig.tolerance is None else fig.tolerance
        status = status_within(value, fig.value, tol)
    return Claim(
        id=fig.id,
        statement=fig.statement,
        report_value=fig.value,
        report_text=report_text,
        our_value=value,
        our_text=our_text,
        difference=difference(value, fig.value),
        tolerance=fig.tolerance,
        unit=fig.unit,
        window=window,
        grouping=grouping,
        method=method,
        cause=cause,
        status=status,
        details={} if details is None else details,
    )


def unavailable(figure_id: str, *, report_text: str, cause: str, grouping: str = "") -> Claim:
    """The claim of a figure the panel cannot recompute (``not_reproducible``)."""
    return figure_claim(
        figure_id,
        None,
        report_text=report_text,
        our_text="n/a",
        window="",
        grouping=grouping,
        method="",
        cause=cause,
    )


# --------------------------------------------------------------------------------------------
# numbers as text


def fmt(value: Any, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals; ``n/a`` when missing or not finite."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def pct(value: float | None) -> str:
    """A share as a percentage with one decimal (``0.155`` -> ``15.5%``)."""
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


def num(value: float | None, digits: int = 0) -> str:
    """A count with thousands separators."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:,.{digits}f}"


def percent_text(share: float) -> str:
    """A share as the report prints it, in whole percent (``0.16`` -> ``16%``)."""
    return f"{100 * share:.0f}%"
