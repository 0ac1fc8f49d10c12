"""The report's top ten non-UkrRussBel nationalities since Feb 2022, recounted."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from hybridflow.analysis.replication.claim import Claim, figure_claim, unavailable
from hybridflow.analysis.replication.series import (
    Inputs,
    month,
    non_country_codes,
    timestamp,
    window_text,
)
from hybridflow.data.panel import UKRRUSSBEL
from hybridflow.data.report_figures import (
    REPORT_NATIONALITY_END,
    REPORT_WAR_START,
    figures_matching,
)
from hybridflow.months import format_month, month_range

__all__ = ["NO_NATIONALITIES", "claim_ids", "claims"]

NO_NATIONALITIES = "panel has no nationality-level detections"
_GROUPING = "non-UkrRussBel nationalities, countries only"
_METHOD = "sum of monthly detections per nationality, ranked"


def _top10() -> dict[str, float]:
    """The report's ten, ``{iso3: detections}`` in its rank order."""
    return {code: fig.value for code, fig in figures_matching(r"top10_([A-Z]{3})").items()}


def claim_ids() -> list[str]:
    """The ids :func:`claims` produces, in order."""
    return [*(f"top10_{code}" for code in _top10()), "top10_set"]


def claims(inputs: Inputs) -> list[Claim]:
    """One claim per nationality of the report's ten, and one for the set as a whole."""
    ser = inputs.series
    if ser.nat.empty:
        return [
            unavailable(fid, report_text=_report_text(fid), cause=NO_NATIONALITIES)
            for fid in claim_ids()
        ]
    nat = ser.nat.loc[month(REPORT_WAR_START) :]
    others = nat.drop(columns=[c for c in nat.columns if c in UKRRUSSBEL])
    totals = others.sum(axis=0).sort_values(ascending=False, kind="mergesort")
    counts = _Counts(totals, window_text(nat.index.min(), nat.index.max()))
    last = timestamp(nat.index.max())
    out = [_nationality_claim(code, rank, counts, last) for rank, code in enumerate(_top10(), 1)]
    out.append(_set_claim(counts))
    return out


@dataclass(frozen=True)
class _Counts:
    """Detections per non-UkrRussBel nationality over the window, largest first."""

    totals: pd.Series
    window: str

    @property
    def ranked(self) -> pd.Series:
        """Without the codes that are not countries (Unknown, Stateless, ...)."""
        non_country = non_country_codes()
        return self.totals.drop(index=[c for c in self.totals.index if c in non_country])


def _report_text(figure_id: str) -> str:
    if figure_id == "top10_set":
        return ", ".join(_top10())
    return f"{_top10()[figure_id.removeprefix('top10_')]:.0f}"


def _nationality_claim(code: str, rank: int, counts: _Counts, last: pd.Timestamp) -> Claim:
    report = _top10()[code]
    ours = float(counts.totals.get(code, 0.0))
    rank_of = {c: i + 1 for i, c in enumerate(counts.ranked.index)}
    missing_months = len(month_range(last, month(REPORT_NATIONALITY_END))) - 1
    cause = ""
    if ours < report:
        cause = (
            f"our nationality data end {format_month(last)}; the report's window runs to "
            f"{REPORT_NATIONALITY_END}, up to {missing_months} more months of arrivals"
        )
    elif ours > report:
        cause = (
            "ours exceeds the report over a shorter window: a later revision or a "
            "different window start"
        )
    return figure_claim(
        f"top10_{code}",
        ours,
        report_text=f"{report:.0f} (rank {rank})",
        our_text=f"{ours:.0f} (rank {rank_of.get(code, 'n/a')})",
        window=counts.window,
        grouping=_GROUPING,
        method=_METHOD,
        cause=cause,
        details={"rank": rank_of.get(code)},
    )


def _set_claim(counts: _Counts) -> Claim:
    totals = counts.totals
    report_set = list(_top10())
    top = counts.ranked.head(len(report_set))
    ours_set = list(top.index)
    overlap = len(set(report_set) & set(ours_set))
    non_country = non_country_codes()
    excluded = {c: float(totals[c]) for c in totals.index if c in non_country and totals[c] > 0}
    cause = ""
    if ours_set != report_set:
        cause = (
            "same ten nationalities, order differs within close counts"
            if overlap == len(report_set)
            else f"{len(report_set) - overlap} of the report's ten are outside our top ten"
        )
    return figure_claim(
        "top10_set",
        float(overlap),
        report_text=_report_text("top10_set"),
        our_text=", ".join(ours_set) + f" ({overlap}/{len(report_set)} in common)",
        window=counts.window,
        grouping=_GROUPING,
        method=_METHOD,
        cause=cause,
        details={
            "ours": {c: float(v) for c, v in top.items()},
            "non_country_codes_excluded": excluded,
        },
    )
