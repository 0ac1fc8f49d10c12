"""Attacks inside Russia, and the rise of encounters the report sets beside them.

The report counted drone attacks; the closest series held is ACLED ``Explosions/Remote
violence`` events located in Russia, which also counts shelling, missile strikes and
remote explosives. Its two drone counts are therefore not reproducible; the 2023-to-2024
ratio is compared over the calendar months both years have.
"""

from __future__ import annotations

import math

import pandas as pd

from hybridflow.analysis.replication.claim import Claim, figure_claim, fmt, num, status_within
from hybridflow.analysis.replication.series import Inputs, PanelSeries, span, total, window_text
from hybridflow.data import report_figures
from hybridflow.data.sources.acled import EXPLOSIONS

__all__ = ["ACLED_RUSSIA", "ATTACKS_EVENT_TYPE", "claim_ids", "claims"]

ATTACKS_EVENT_TYPE = EXPLOSIONS
ACLED_RUSSIA = "Russia"

_GROUPING = f"ACLED '{ATTACKS_EVENT_TYPE}' events located in Russia"
_PROXY = (
    "proxy: ACLED explosions/remote violence inside Russia counts shelling, missile and "
    "drone strikes and remote explosives, so it is not the report's drone-attack count"
)
#: The report's drone counts and the months each covers.
_COUNTS = (("attacks_2022", "2022-01", "2022-12"), ("attacks_jan_jul_2023", "2023-01", "2023-07"))


def claim_ids() -> list[str]:
    """The ids :func:`claims` produces, in order."""
    return [*(c[0] for c in _COUNTS), "attacks_ratio_2024_2023", "encounters_rise_2023_2024"]


def claims(inputs: Inputs) -> list[Claim]:
    """The two drone counts, the 2023-to-2024 ratio of incidents, the rise of encounters."""
    ser = inputs.series
    events = ser.acled_russia(ATTACKS_EVENT_TYPE)
    out = [_count_claim(fid, span(events, a, b), a, b) for fid, a, b in _COUNTS]
    return [*out, _ratio_claim(ser), _rise_claim(ser)]


def _count_claim(figure_id: str, part: pd.Series, a: str, b: str) -> Claim:
    ours = total(part) if part.notna().all() and len(part) else math.nan
    report = report_figures.report_figure(figure_id).value
    return figure_claim(
        figure_id,
        ours,
        report_text=f"about {report:.0f}",
        our_text=num(ours),
        window=window_text(a, b),
        grouping=_GROUPING,
        method="sum of monthly event counts",
        cause=_PROXY + "; the report's drone count cannot be reproduced from the data held",
        status="not_reproducible",
    )


def _ratio_claim(ser: PanelSeries) -> Claim:
    events = ser.acled_russia(ATTACKS_EVENT_TYPE)
    # The event-type export ends before 2024 does, so compare the same months.
    y23, y24 = span(events, "2023-01", "2023-12"), span(events, "2024-01", "2024-12")
    months24 = [m.month for m in y24.index[y24.notna().to_numpy()]]
    same23 = y23.loc[[m for m in y23.index if m.month in months24]]
    ratio = total(y24) / total(same23) if months24 and total(same23) else math.nan
    pv = ser.acled_pv(ACLED_RUSSIA)
    p23, p24 = span(pv, "2023-01", "2023-12"), span(pv, "2024-01", "2024-12")
    full_years = p23.notna().sum() == 12 and p24.notna().sum() == 12
    pv_ratio = total(p24) / total(p23) if (full_years and total(p23)) else math.nan
    report = report_figures.report_figure("attacks_ratio_2024_2023").value
    months = f"{min(months24):02d}-{max(months24):02d}" if months24 else "none"
    partial = months24 and len(months24) < 12
    return figure_claim(
        "attacks_ratio_2024_2023",
        ratio,
        report_text=f"about {report:g}x",
        our_text=f"{fmt(ratio)}x (months {months} of each year); all political violence, full "
        f"years: {fmt(pv_ratio)}x",
        window=f"2023 vs 2024, months {months}",
        grouping=_GROUPING,
        method="ratio of summed monthly counts over the same calendar months",
        cause=_PROXY
        + (f"; the event-type export covers 2024 months {months} only" if partial else ""),
        details={"acled_political_violence_ratio_full_years": pv_ratio},
    )


def _rise_claim(ser: PanelSeries) -> Claim:
    fig = report_figures.report_figure("encounters_rise_2023_2024")
    e23 = span(ser.encounters, "2023-01", "2023-12")
    e24 = span(ser.encounters, "2024-01", "2024-12")
    full = e23.notna().sum() == 12 and e24.notna().sum() == 12
    rise = 100.0 * (total(e24) / total(e23) - 1.0) if full and total(e23) else math.nan
    l23, l24 = span(ser.latest, "2023-01", "2023-12"), span(ser.latest, "2024-01", "2024-12")
    rise_latest = 100.0 * (total(l24) / total(l23) - 1.0) if total(l23) else math.nan
    matches = status_within(rise, fig.value, fig.tolerance or 0.0) == "matches"
    reading = (
        f"read as a {fig.value:g}% increase; 'rose to {fig.value:g}%' would be "
        f"+{fig.value - 100:g}%"
    )
    return figure_claim(
        fig.id,
        rise,
        report_text=f"about +{fig.value:g}%",
        our_text=f"{fmt(rise, 1)}% ({num(total(e23))} -> {num(total(e24))})",
        window="2023 vs 2024",
        grouping="all nationalities",
        method="percent change of annual sums",
        cause="" if matches else reading,
        details={"aug_2026_vintage": rise_latest},
    )
