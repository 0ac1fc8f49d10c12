"""Russian personnel losses as the report states them: Dec 2023, its ratio to Sep 2023, and
the 300,000 cumulative milestone (monthly increments of Ukraine's General Staff figures)."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from hybridflow.analysis.replication.claim import Claim, figure_claim, fmt, num
from hybridflow.analysis.replication.series import Inputs, month, timestamp
from hybridflow.data import report_figures
from hybridflow.months import format_month

__all__ = ["LATE_2023", "claim_ids", "claims"]

#: Our reading of the report's "late 2023": the months accepted for the milestone.
LATE_2023 = ("2023-09", "2023-12")

_METHOD = "monthly increment of the cumulative personnel figure (last report of the month)"
_GROUPING = "Ukraine's General Staff claims"


def claim_ids() -> list[str]:
    """The ids :func:`claims` produces, in order."""
    return ["losses_dec_2023", "losses_dec_vs_sep_2023", "losses_cumulative_300k"]


def claims(inputs: Inputs) -> list[Claim]:
    """Dec 2023 losses, their ratio to Sep 2023, and when the cumulative total passed 300,000."""
    losses = inputs.series.losses
    ldec = float(losses.get(month("2023-12"), math.nan))
    lsep = float(losses.get(month("2023-09"), math.nan))
    dec = figure_claim(
        "losses_dec_2023",
        ldec,
        report_text=f"nearly {report_figures.report_figure('losses_dec_2023').value:,.0f}",
        our_text=num(ldec),
        window="2023-12",
        grouping=_GROUPING,
        method=_METHOD,
    )
    if dec.status != "matches":
        dec.cause = "the report may have read a chart or another daily cut-off"
    ratio = ldec / lsep if lsep else math.nan
    dec_sep = figure_claim(
        "losses_dec_vs_sep_2023",
        ratio,
        report_text="about double",
        our_text=f"{fmt(ratio)}x ({num(ldec)} / {num(lsep)})",
        window="2023-09, 2023-12",
        grouping=_GROUPING,
        method=_METHOD,
    )
    return [dec, dec_sep, _milestone_claim(losses)]


def _milestone_claim(losses: pd.Series) -> Claim:
    fig = report_figures.report_figure("losses_cumulative_300k")
    milestone = f"{fig.value:,.0f}"
    fvi = losses.first_valid_index()
    start = None if fvi is None else timestamp(fvi)
    text, value, status, cause = "n/a", None, "not_reproducible", "no losses series"
    if start is not None:
        cum = losses.loc[start:].fillna(0.0).cumsum()
        over = cum.index[cum.to_numpy() >= fig.value]
        if len(over):
            crossed = over[0]
            value = float(cum[crossed])
            text = f"crossed in {format_month(crossed)} (cumulative {value:,.0f} at month end)"
            lo, hi = LATE_2023
            status = "matches" if month(lo) <= crossed <= month(hi) else "differs"
            cause = "" if status == "matches" else "the crossing month is outside late 2023"
        else:
            status, cause = "differs", f"the cumulative total never reaches {milestone} in the data"
    claim = figure_claim(
        fig.id,
        value,
        report_text=f"over {milestone} in late 2023",
        our_text=text,
        window=f"from {format_month(start) if start is not None else 'n/a'}",
        grouping=_GROUPING,
        method=f"cumulative sum of monthly increments; first month at or over {milestone}",
        cause=cause,
        status=status,
    )
    # The claim is about a month, not an amount: the cumulative figure is shown, not compared.
    return replace(claim, difference=None)
