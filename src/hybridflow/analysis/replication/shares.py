"""The Others share: non-UkrRussBel nationals as a share of the month's detections.

The report gives its mean, its extremes (56% in Feb 2022, the only Others majority; under
1% at the lowest), five single months and a ceiling for 2025. Each share is also shown as
published, before the FRONTEX loader's known corrections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from hybridflow.analysis.replication.claim import (
    Claim,
    figure_claim,
    num,
    pct,
    percent_text,
    status_within,
    unavailable,
)
from hybridflow.analysis.replication.nationalities import NO_NATIONALITIES
from hybridflow.analysis.replication.series import (
    Inputs,
    PanelSeries,
    mean,
    month,
    revision_note,
    timestamp,
    total,
    window_text,
)
from hybridflow.data import report_figures
from hybridflow.data.report_figures import (
    REPORT_DATA_END,
    REPORT_NATIONALITY_END,
    REPORT_OTHERS_SHARE_MAX_MONTH,
    REPORT_WAR_START,
    figures_matching,
)
from hybridflow.months import format_month

__all__ = ["REPORT_OTHERS_SHARE_MONTHS", "claim_ids", "claims"]

#: The single months whose Others share the report states: ``{YYYY-MM: share}``.
REPORT_OTHERS_SHARE_MONTHS: dict[str, float] = {
    key.replace("_", "-"): fig.value
    for key, fig in figures_matching(r"others_share_(\d{4}_\d{2})").items()
}

_GROUPING = "Others = all nationalities except UKR, RUS, BLR (Unknown included)"
_METHOD = "Others / all detections per month on the Eastern Borders route"


def _month_id(month_text: str) -> str:
    return f"others_share_{month_text.replace('-', '_')}"


def claim_ids() -> list[str]:
    """The ids :func:`claims` produces, in order."""
    return [
        "others_share_mean",
        "others_share_max",
        "others_share_majority_months",
        "others_share_min",
        *(_month_id(m) for m in REPORT_OTHERS_SHARE_MONTHS),
        "others_share_2025_max",
    ]


def _fig(figure_id: str) -> report_figures.ReportFigure:
    return report_figures.report_figure(figure_id)


def _report_text(figure_id: str) -> str:
    """The figure as the report words it."""
    value = _fig(figure_id).value
    max_month = month(REPORT_OTHERS_SHARE_MAX_MONTH).strftime("%b %Y")
    return {
        "others_share_max": f"{percent_text(value)} ({max_month})",
        "others_share_majority_months": REPORT_OTHERS_SHARE_MAX_MONTH,
        "others_share_min": f"under {percent_text(value)}",
        "others_share_2025_max": f"never above {percent_text(value)}",
    }.get(figure_id, percent_text(value))


@dataclass(frozen=True)
class _Shares:
    """Monthly Others shares since the war began, as corrected and as published."""

    series: PanelSeries
    share: pd.Series
    published: pd.Series

    @classmethod
    def of(cls, ser: PanelSeries) -> _Shares:
        start = month(REPORT_WAR_START)
        return cls(ser, ser.shares().loc[start:], ser.shares(as_published=True).loc[start:])

    @property
    def window(self) -> str:
        return window_text(self.share.index.min(), self.share.index.max())

    @property
    def revisions(self) -> str:
        first, last = self.share.index.min(), self.share.index.max()
        return revision_note(self.series, format_month(first), format_month(last))

    def claim(
        self,
        figure_id: str,
        ours: float | None,
        *,
        our_text: str,
        window: str | None = None,
        method: str = _METHOD,
        cause: str = "",
        status: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Claim:
        """A share claim with the common grouping, and the common window unless given."""
        return figure_claim(
            figure_id,
            ours,
            report_text=_report_text(figure_id),
            our_text=our_text,
            window=self.window if window is None else window,
            grouping=_GROUPING,
            method=method,
            cause=cause,
            status=status,
            details=details,
        )


def claims(inputs: Inputs) -> list[Claim]:
    """Every Others-share figure of the report, recomputed."""
    ser = inputs.series
    if ser.nat.empty:
        return [_unavailable(fid) for fid in claim_ids()]
    shares = _Shares.of(ser)
    return [
        _mean_claim(shares),
        _max_claim(shares),
        _majority_claim(shares),
        _min_claim(shares),
        *(_month_claim(shares, m) for m in REPORT_OTHERS_SHARE_MONTHS),
        _claim_2025(shares),
    ]


def _unavailable(figure_id: str) -> Claim:
    return unavailable(
        figure_id,
        report_text=_report_text(figure_id),
        cause=NO_NATIONALITIES,
        grouping="UkrRussBel vs Others",
    )


def _month_cause(ser: PanelSeries, when: pd.Timestamp, report: float) -> str:
    """Why a month's share differs: the Others count the report's share implies, and ours."""
    others, all_ = ser.others()
    if when not in all_.index or not math.isfinite(all_[when]):
        return "no nationality data for the month"
    implied = report * all_[when]
    latest = ser.latest.get(when, math.nan)
    same = math.isfinite(latest) and abs(latest - all_[when]) < 0.5
    vintage = (
        "the month's route total is the same in the Aug 2026 vintage, so the difference "
        "is not a revision of the total"
        if same
        else f"the Aug 2026 vintage gives {num(latest)} for the month's total"
    )
    return (
        f"the report's share implies about {implied:.0f} Others of {all_[when]:.0f}; "
        f"our data have {others[when]:.0f}; {vintage}"
    )


def _mean_claim(s: _Shares) -> Claim:
    fig = _fig("others_share_mean")
    tol = fig.tolerance or 0.0
    value = mean(s.share)
    first, last = s.share.index.min(), s.share.index.max()
    others, all_ = s.series.others()
    pooled = total(others.loc[first:last]) / total(all_.loc[first:last])
    cause = ""
    if abs(value - fig.value) > tol:
        cause = (
            f"as published the mean is {pct(mean(s.published))}; "
            f"pooled (sum Others / sum all) {pct(pooled)}"
        )
    elif s.revisions:
        cause = f"as published (before correction) {pct(mean(s.published))}: {s.revisions}"
    return s.claim(
        fig.id,
        value,
        our_text=pct(value),
        window=s.window + f" (the report's ran to {REPORT_NATIONALITY_END})",
        method=_METHOD + "; mean of monthly shares",
        cause=cause,
        details={
            "as_published": mean(s.published),
            "pooled": pooled,
            "mean_to_2025_03": mean(s.share.loc[: month("2025-03")]),
        },
    )


def _max_claim(s: _Shares) -> Claim:
    fig = _fig("others_share_max")
    imax = timestamp(s.share.idxmax())
    smax = float(s.share.max())
    rep_month = month(REPORT_OTHERS_SHARE_MAX_MONTH)
    ok = imax == rep_month and abs(smax - fig.value) <= (fig.tolerance or 0.0)
    cause = "" if ok else _month_cause(s.series, rep_month, fig.value)
    if imax != rep_month:
        cause = f"our maximum is in {format_month(imax)}; " + cause
    return s.claim(
        fig.id,
        smax,
        our_text=f"{pct(smax)} ({format_month(imax)})",
        cause=cause,
        status="matches" if ok else "differs",
        details={
            "share_feb_2022": float(s.share.get(rep_month, math.nan)),
            "as_published_max": float(s.published.max()),
            "as_published_max_month": format_month(timestamp(s.published.idxmax())),
        },
    )


def _majority_claim(s: _Shares) -> Claim:
    majority = [format_month(m) for m in s.share.index[s.share.to_numpy() > 0.5]]
    published = [format_month(m) for m in s.published.index[s.published.to_numpy() > 0.5]]
    cause = ""
    if published != majority:
        extra = ", ".join(sorted(set(published) - set(majority)))
        cause = f"as published also {extra}: " + s.revisions
    return s.claim(
        "others_share_majority_months",
        float(len(majority)),
        our_text=", ".join(majority) or "none",
        method=_METHOD + "; months with share > 50%",
        cause=cause,
        status="matches" if majority == [REPORT_OTHERS_SHARE_MAX_MONTH] else "differs",
        details={"as_published": published},
    )


def _min_claim(s: _Shares) -> Claim:
    fig = _fig("others_share_min")
    imin = timestamp(s.share.idxmin())
    smin = float(s.share.min())
    below = smin < fig.value
    return s.claim(
        fig.id,
        smin,
        our_text=f"{pct(smin)} ({format_month(imin)})",
        method=_METHOD + "; minimum",
        cause="" if below else f"our minimum is not under {percent_text(fig.value)}",
        status="matches" if below else "differs",
        details={
            "months_under_1pct": [
                format_month(m) for m in s.share.index[s.share.to_numpy() < fig.value]
            ]
        },
    )


def _month_claim(s: _Shares, month_text: str) -> Claim:
    fig = _fig(_month_id(month_text))
    ours = float(s.share.get(month(month_text), math.nan))
    status = status_within(ours, fig.value, fig.tolerance or 0.0)
    cause = "" if status == "matches" else _month_cause(s.series, month(month_text), fig.value)
    return s.claim(fig.id, ours, our_text=pct(ours), window=month_text, cause=cause, status=status)


def _claim_2025(s: _Shares) -> Claim:
    fig = _fig("others_share_2025_max")
    ceiling = fig.value + (fig.tolerance or 0.0)
    s25 = s.share.loc[month("2025-01") :]
    p25 = s.published.loc[month("2025-01") :]
    if not s25.notna().any():
        return s.claim(
            fig.id, None, our_text="n/a", window="2025", cause="no nationality-level data for 2025"
        )
    m25 = float(s25.max())
    w25 = window_text(s25.index.min(), s25.index.max())
    nxt = format_month(timestamp(s25.index.max()) + pd.DateOffset(months=1))
    cause = (
        f"nationality data for 2025 cover {w25} only; {nxt} to {REPORT_DATA_END} cannot be checked"
    )
    if float(p25.max()) > ceiling:
        cause += (
            f"; as published {format_month(timestamp(p25.idxmax()))} reads "
            f"{pct(float(p25.max()))} because {s.revisions}"
        )
    return s.claim(
        fig.id,
        m25,
        our_text=f"max {pct(m25)} ({format_month(timestamp(s25.idxmax()))})",
        window=w25,
        method=_METHOD + "; maximum over 2025",
        cause=cause,
        status="matches" if m25 <= ceiling else "differs",
        details={
            "monthly": {format_month(timestamp(k)): v for k, v in s25.items()},
            "as_published": {format_month(timestamp(k)): v for k, v in p25.items()},
        },
    )
