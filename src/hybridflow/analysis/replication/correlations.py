"""The report's correlations with encounters: losses, Ukrainian gains, Russian gains.

For each: the report's r and its r^2 beside ours (levels, the report's method), a check
that the report's printed r and r^2 can belong to one correlation (its r = -0.8 with
r^2 = 0.007 cannot), and the report's "8.6 times stronger" ratio of two r^2 values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from hybridflow.analysis.replication.claim import (
    Claim,
    closest,
    figure_claim,
    fmt,
    status_within,
)
from hybridflow.analysis.replication.correlation_table import (
    CHECK_TRACKERS,
    CORRELATION_CLAIMS,
    PRIMARY_TRACKER,
    correlation_note,
    pick,
    report_windows,
)
from hybridflow.analysis.replication.series import (
    Inputs,
    PanelSeries,
    month,
    span,
    vintage_note,
    window_text,
)
from hybridflow.analysis.replication.statistics import pearson, r_r2_consistent
from hybridflow.data import report_figures

__all__ = ["claim_ids", "claims"]

_STRENGTH = "losses_vs_rus_gains_strength_ratio"
_MEASURE = (
    "the report counted ACLED territory-capture events, which the data do not "
    "hold; ours is km2 of net monthly change in the area held by Russia"
)


def _r_id(claim: str, key: str) -> str:
    return f"{claim}_vs_encounters_{key}"


def claim_ids() -> list[str]:
    """The ids :func:`claims` produces, in order."""
    ids: list[str] = []
    for c in CORRELATION_CLAIMS:
        ids += [_r_id(c, "r"), _r_id(c, "r2"), f"{c}_r_r2_consistency"]
    return [*ids, _STRENGTH]


@dataclass(frozen=True)
class _Ours:
    """Our levels correlation for one claim and what the claims say around it."""

    claim: str
    r: float
    r2: float
    window: str
    alternatives: dict[str, float]
    method: str
    grouping: str
    cause: list[str]


def claims(inputs: Inputs) -> list[Claim]:
    """r, r^2 and their consistency for each correlation, then the strength ratio."""
    ser, corr = inputs.series, inputs.correlations
    out: list[Claim] = []
    ours_r2: dict[str, float] = {}
    for claim in CORRELATION_CLAIMS:
        ours = _ours(ser, corr, claim)
        ours_r2[claim] = ours.r2
        out += [_r_claim(ours, "r", ser, corr), _r_claim(ours, "r2", ser, corr)]
        out.append(_consistency_claim(claim, ours.r))
    out.append(_strength_claim(corr, ours_r2))
    return out


def _alternatives(ser: PanelSeries, corr: pd.DataFrame, claim: str) -> dict[str, float]:
    """The levels r of every other driver series and vintage of this claim."""
    alts: dict[str, float] = {}
    levels = corr.loc[(corr["claim"] == claim) & (corr["transform"] == "levels")]
    for _, row in levels.iterrows():
        if row["primary"] and row["encounters"] == "route_total":
            continue
        alts[f"{row['x']}, {row['tracker'] or '-'}, {row['encounters']}"] = float(row["r"])
    if claim == "losses":
        a, b = report_windows()[claim]
        excl = span(ser.losses, a, b).copy()
        excl = excl.where(excl.index != month(a))  # the first war month covers 24-28 Feb only
        alts["excluding the partial first month"] = pearson(excl, span(ser.encounters, a, b))[0]
    return alts


def _ours(ser: PanelSeries, corr: pd.DataFrame, claim: str) -> _Ours:
    a, b = report_windows()[claim]
    lv = pick(corr, claim)
    window = window_text(a, b)
    if lv is not None and lv["first_month"] is not None:
        window += f" (data {lv['first_month']} to {lv['last_month']}, n = {lv['n']})"
    if claim == "losses":
        method = "Pearson r on monthly levels (report's method)"
        grouping = "all nationalities; personnel losses as claimed by Ukraine's General Staff"
        cause = []
    else:
        method = (
            f"Pearson r on monthly levels; tracker {PRIMARY_TRACKER} (checks: "
            f"{', '.join(CHECK_TRACKERS)})"
        )
        grouping = "all nationalities"
        cause = [_MEASURE]
    return _Ours(
        claim=claim,
        r=float(lv["r"]) if lv is not None else math.nan,
        r2=float(lv["r2"]) if lv is not None else math.nan,
        window=window,
        alternatives=_alternatives(ser, corr, claim),
        method=method,
        grouping=grouping,
        cause=cause,
    )


def _r_claim(ours: _Ours, key: str, ser: PanelSeries, corr: pd.DataFrame) -> Claim:
    """The claim on the report's r (``key = "r"``) or r^2 (``"r2"``)."""
    fig = report_figures.report_figure(_r_id(ours.claim, key))
    tol = fig.tolerance or 0.0
    value = ours.r if key == "r" else ours.r2
    method = ours.method
    if key == "r":
        status = status_within(value, fig.value, tol)
        candidates = ours.alternatives
    else:
        # r^2 is compared on the |r| scale, so a small r^2 gets no looser a test.
        root = math.sqrt(value) if math.isfinite(value) else math.nan
        status = status_within(root, math.sqrt(fig.value), tol)
        candidates = {k: v * v for k, v in ours.alternatives.items()}
        method += f"; r^2 matches when its square root is within {tol:g} of the report's"
    cause = list(ours.cause)
    best = closest(fig.value, candidates)
    closer = best is not None and abs(best[1] - fig.value) < abs(value - fig.value)
    if best is not None and math.isfinite(value) and closer:
        cause.append(f"closest variant: {best[0]} gives {best[1]:.3f}")
    lv = pick(corr, ours.claim)
    if status != "matches" and lv is not None and lv["first_month"] is not None:
        note = vintage_note(ser, lv["first_month"], lv["last_month"])[1]
        if note:
            cause.append(note)
    cause.append(correlation_note(corr, ours.claim))
    label = key.replace("r2", "r^2")
    return figure_claim(
        fig.id,
        value,
        report_text=f"{label} = {fig.value:g}",
        our_text=f"{label} = {fmt(value, 3)}",
        window=ours.window,
        grouping=ours.grouping,
        method=method,
        cause="; ".join(c for c in cause if c),
        status=status,
        details={"alternatives": ours.alternatives},
    )


def _consistency_claim(claim: str, r: float) -> Claim:
    """Whether the report's printed r and r^2 can be roundings of one correlation."""
    rep_r = report_figures.report_figure(_r_id(claim, "r"))
    rep_r2 = report_figures.report_figure(_r_id(claim, "r2"))
    consistent = r_r2_consistent(
        rep_r.value, rep_r2.value, r_decimals=rep_r.decimals, r2_decimals=rep_r2.decimals
    )
    implied = rep_r.value**2
    cause = ""
    if not consistent:
        root = math.sqrt(rep_r2.value)
        support = "neither"
        if math.isfinite(r):
            support = (
                f"r^2 = {rep_r2.value:g} (|r| about {root:.2f})"
                if abs(abs(r) - root) < abs(abs(r) - abs(rep_r.value))
                else f"r = {rep_r.value:g}"
            )
        cause = (
            f"r = {rep_r.value:g} implies r^2 = {implied:.2f}, and r^2 = "
            f"{rep_r2.value:g} implies |r| = {root:.3f}; our r = {fmt(r, 3)} "
            f"supports {support}"
        )
    base = figure_claim(
        rep_r2.id,
        implied,
        report_text=f"r = {rep_r.value:g}, r^2 = {rep_r2.value:g}",
        our_text=f"r^2 implied by r = {implied:.3f}",
        window="",
        grouping="",
        method="interval arithmetic on the printed roundings",
        cause=cause,
        status="matches" if consistent else "inconsistent",
        details={"our_r": r if math.isfinite(r) else None},
    )
    # A check of the report against itself: no tolerance, its own id and statement.
    return replace(
        base,
        id=f"{claim}_r_r2_consistency",
        statement=f"The report's r and r^2 for {rep_r.statement.lower()} agree",
        tolerance=None,
    )


def _strength_claim(corr: pd.DataFrame, ours_r2: dict[str, float]) -> Claim:
    """The report's ratio r^2 (losses) / r^2 (Russian gains), recomputed."""
    losses = report_figures.report_figure(_r_id("losses", "r2")).value
    rus = report_figures.report_figure(_r_id("rus_gains", "r2")).value
    fig = report_figures.report_figure(_STRENGTH)
    ratio = ours_r2["losses"] / ours_r2["rus_gains"] if ours_r2["rus_gains"] else math.nan
    check = {}
    for tracker in CHECK_TRACKERS:
        crow = pick(corr, "rus_gains", tracker=tracker)
        if crow is not None and crow["r2"]:
            check[tracker] = ours_r2["losses"] / float(crow["r2"])
    cause = ""
    if check:
        cause = "a ratio of two small r^2 values is unstable: with other trackers it is " + (
            ", ".join(f"{k} {v:.1f}" for k, v in check.items())
        )
    return figure_claim(
        fig.id,
        ratio,
        report_text=f"{fig.value:g} (= {losses:g} / {rus:g})",
        our_text=f"{fmt(ratio, 1)} (= {fmt(ours_r2['losses'], 3)} / "
        f"{fmt(ours_r2['rus_gains'], 3)})",
        window="",
        grouping="",
        method="r^2 (losses) / r^2 (Russian gains), levels",
        cause=cause,
        details={"other_trackers": check},
    )
