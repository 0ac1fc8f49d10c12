"""Month handling: one representation everywhere.

Inside hybridflow a month is a ``pandas.Timestamp`` at the first day of the month
(``datetime64[ns]``); on disk it is the text ``YYYY-MM``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from hybridflow.errors import InputError

_MONTH_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})(?:-(\d{1,2}))?\s*$")


def parse_month(
    value: object,
    *,
    path: str | Path | None = None,
    row: int | None = None,
    column: str | None = None,
    sheet: str | None = None,
    not_after: pd.Timestamp | None = None,
) -> pd.Timestamp:
    """Parse ``YYYY-MM`` (or ``YYYY-MM-DD``, or a Timestamp) to a month-start Timestamp.

    Raises :class:`InputError` naming the location if the value is unparseable, or later
    than ``not_after`` (default: the current month), since future months cannot hold data.
    """
    if isinstance(value, pd.Timestamp):
        ts = value
    else:
        m = _MONTH_RE.match(str(value))
        if not m or not (1 <= int(m.group(2)) <= 12):
            raise InputError(
                path,
                f"expected a month as YYYY-MM, got {value!r}",
                sheet=sheet,
                row=row,
                column=column,
            )
        try:
            ts = pd.Timestamp(int(m.group(1)), int(m.group(2)), int(m.group(3) or 1))
        except ValueError as exc:
            raise InputError(
                path, f"expected a valid date, got {value!r}", sheet=sheet, row=row, column=column
            ) from exc
    start = month_start(ts)
    limit = month_start(pd.Timestamp.now()) if not_after is None else month_start(not_after)
    if start > limit:
        raise InputError(
            path,
            f"month {start:%Y-%m} is in the future (latest allowed {limit:%Y-%m})",
            sheet=sheet,
            row=row,
            column=column,
        )
    return start


def month_start(ts: pd.Timestamp | str) -> pd.Timestamp:
    """The first day of the month containing ``ts`` (time of day dropped)."""
    ts = pd.Timestamp(ts)
    return pd.Timestamp(ts.year, ts.month, 1)


def month_range(start: pd.Timestamp | str, end: pd.Timestamp | str) -> pd.DatetimeIndex:
    """All month starts from ``start`` to ``end`` inclusive, named ``month``."""
    return pd.date_range(month_start(start), month_start(end), freq="MS", name="month")


def format_month(ts: pd.Timestamp) -> str:
    """``YYYY-MM`` text for a month."""
    return f"{pd.Timestamp(ts):%Y-%m}"
