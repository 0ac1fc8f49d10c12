"""The report's sanctions rounds with wrong dates, beside the event catalogue's dates.

``data/tables/report_sanctions_dates.csv`` lists the report's table entries known to be
mis-dated (its EU 5th and 6th packages in March 2022, its US "Mar 2024" action, its "Jun
2025 Sanctioning Russia Act", which was a bill) and the catalogue event each refers to.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import pandas as pd

from hybridflow.analysis.replication.series import month, to_timestamp
from hybridflow.errors import InputError
from hybridflow.months import format_month

__all__ = ["misdated_rounds", "report_sanctions_dates"]

_MISDATED_COLUMNS = ["report_table", "report_label", "report_month", "event_id", "note"]


def report_sanctions_dates() -> pd.DataFrame:
    """The report's table entries known to be mis-dated (``data/tables/report_sanctions_dates.csv``).

    Returns
    -------
    pandas.DataFrame
        Columns ``report_table, report_label, report_month`` (``YYYY-MM`` as the report
        states it), ``event_id`` (the catalogue event it refers to; empty when no matching
        action exists) and ``note``.
    """
    path = resources.files("hybridflow.data") / "tables" / "report_sanctions_dates.csv"
    with path.open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, dtype=str, keep_default_na=False)
    missing = set(_MISDATED_COLUMNS) - set(df.columns)
    if missing:
        raise InputError(str(path), f"missing columns {sorted(missing)}", row=1)
    return df[_MISDATED_COLUMNS]


def misdated_rounds(events: pd.DataFrame | None) -> pd.DataFrame:
    """The report's mis-dated sanctions rounds beside the event catalogue's dates.

    Parameters
    ----------
    events
        The event catalogue (:func:`hybridflow.data.events.load_events`): needs
        ``event_id`` and ``effective_date``; ``announced_date``, ``kind`` and
        ``direction`` are used when present. ``None``: catalogue columns are left empty.

    Returns
    -------
    pandas.DataFrame
        One row per report entry: ``report_table, report_label, report_month, event_id,
        catalogue_date`` (effective date, ``YYYY-MM-DD``), ``catalogue_month``,
        ``months_off`` (catalogue month - report month), ``issue`` (``wrong month``,
        ``not a sanction``, ``no matching action``, ``not in catalogue`` or ``consistent``)
        and ``note``.
    """
    by_id: dict[str, dict[str, Any]] = {}
    if events is not None:
        by_id = {
            str(r["event_id"]): {str(k): v for k, v in r.items()}
            for r in events.to_dict(orient="records")
        }
    rows = []
    for row in report_sanctions_dates().to_dict(orient="records"):
        r = {str(k): str(v) for k, v in row.items()}
        eid = r["event_id"].strip()
        ev = by_id.get(eid)
        dates = _catalogue_dates(ev, month(r["report_month"]))
        issue = _issue(eid, events is not None, ev, dates["months_off"])
        rows.append({**r, **dates, "issue": issue})
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    frame["months_off"] = frame["months_off"].astype("Int64")
    return frame


_COLUMNS = [
    "report_table",
    "report_label",
    "report_month",
    "event_id",
    "catalogue_date",
    "catalogue_month",
    "months_off",
    "issue",
    "note",
]


def _catalogue_dates(ev: dict[str, Any] | None, rep_month: pd.Timestamp) -> dict[str, Any]:
    """The catalogue's date of the event (effective, else announced) and its offset in months."""
    out: dict[str, Any] = {"catalogue_date": None, "catalogue_month": None, "months_off": None}
    if ev is None:
        return out
    date = to_timestamp(ev.get("effective_date"))
    if date is None:
        date = to_timestamp(ev.get("announced_date"))
    if date is not None:
        out["catalogue_date"] = f"{date:%Y-%m-%d}"
        out["catalogue_month"] = format_month(date)
        out["months_off"] = int((date.year - rep_month.year) * 12 + date.month - rep_month.month)
    return out


def _issue(
    eid: str, have_catalogue: bool, ev: dict[str, Any] | None, months_off: int | None
) -> str:
    if not eid:
        return "no matching action"
    if not have_catalogue:
        return "catalogue not given"
    if ev is None:
        return "not in catalogue"
    if str(ev.get("kind", "")) == "bill" or str(ev.get("direction", "")) == "none":
        return "not a sanction"
    if months_off not in (0, None):
        return "wrong month"
    return "consistent"
