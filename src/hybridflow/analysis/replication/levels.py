"""The level of encounters: the report's mean monthly detections on the Eastern Borders route."""

from __future__ import annotations

from hybridflow.analysis.replication.claim import Claim, closest, figure_claim, num
from hybridflow.analysis.replication.series import (
    Inputs,
    mean,
    revision_note,
    span,
    vintage_note,
    window_text,
)
from hybridflow.data import report_figures
from hybridflow.data.report_figures import REPORT_DATA_END, REPORT_EB_MEAN_WINDOW

__all__ = ["claim_ids", "claims"]


def claim_ids() -> list[str]:
    """The ids :func:`claims` produces, in order."""
    return ["eb_mean"]


def claims(inputs: Inputs) -> list[Claim]:
    """Mean monthly detections over the report's window, with the vintages that explain a gap."""
    ser = inputs.series
    a, b = REPORT_EB_MEAN_WINDOW
    ours = mean(span(ser.encounters, a, b))
    n = int(span(ser.encounters, a, b).notna().sum())
    to_end = f"window to {REPORT_DATA_END}"
    alts = {
        "as published (provisional Apr 2025 entry kept)": mean(span(ser.as_published, a, b)),
        "Aug 2026 vintage only": mean(span(ser.latest, a, b)),
        f"{to_end} (Aug 2026 vintage)": mean(span(ser.latest, a, REPORT_DATA_END)),
        to_end: mean(span(ser.encounters, a, REPORT_DATA_END)),
    }
    report = report_figures.report_figure("eb_mean").value
    ext_months, vnote = vintage_note(ser, a, b)
    causes = [c for c in (vnote, revision_note(ser, a, b)) if c]
    best = closest(report, alts)
    if best:
        causes.append(
            f"closest variant: {best[0]} gives {best[1]:.1f}; the report's vintage "
            "(Jun/Jul 2025) is not held"
        )
    return [
        figure_claim(
            "eb_mean",
            ours,
            report_text=f"{report:.0f}/month",
            our_text=f"{num(ours, 1)}/month over {n} months",
            window=window_text(a, b),
            grouping="all nationalities",
            method="arithmetic mean of monthly route totals",
            cause="; ".join(causes),
            details={"alternatives": alts, "months_from_newer_vintage": ext_months, "n": n},
        )
    ]
