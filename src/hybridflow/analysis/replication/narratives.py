"""The report's narratives: encounters rose or fell after an event, checked before and after.

These are directions, not figures, so they have no row in ``report_figures.csv``: each is
the mean of the months before an event against the months after it, set beside the same
calendar comparison a year earlier (what seasonality alone would give) and the
border-policy events in the windows (walls, closures, legal changes), which change counts
whatever a sender intends.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from hybridflow.analysis.replication.claim import Claim, fmt, num
from hybridflow.analysis.replication.correlation_table import PRIMARY_TRACKER
from hybridflow.analysis.replication.series import (
    Inputs,
    PanelSeries,
    month,
    to_timestamp,
    window_text,
)
from hybridflow.data.sources.territory import DEEPSTATE
from hybridflow.months import month_range

__all__ = ["NARRATIVES", "Narrative", "before_after", "claim_ids", "claims"]

_WINDOW = 3
_CONFOUNDER_KINDS = (
    "barrier",
    "closure",
    "emergency",
    "legal_change",
    "instrumentalisation_episode",
)


@dataclass(frozen=True)
class Narrative:
    """A narrative: encounters ``rise`` or ``fall`` after the event month ``month``.

    ``after_start`` is the first month counted as after: ``month`` itself for a fall
    "from" it, the month after for a rise following an event in it.
    """

    id: str
    statement: str
    month: str
    direction: str

    @property
    def before_end(self) -> pd.Timestamp:
        return month(self.month) - pd.DateOffset(months=1)

    @property
    def after_start(self) -> pd.Timestamp:
        return month(self.month) + pd.DateOffset(months=int(self.direction == "rise"))


NARRATIVES = (
    Narrative(
        "narrative_dec2023_rounds",
        "Detections rose after the Dec 2023 EU package and the Dec 2023 US Belarus designations",
        "2023-12",
        "rise",
    ),
    Narrative(
        "narrative_summer2025_shadow_fleet",
        "Detections rose in summer 2025 after the shadow-fleet sanctions (EU 17th package, May "
        "2025)",
        "2025-05",
        "rise",
    ),
    Narrative(
        "narrative_fall_from_oct2024",
        "Detections fell from Oct 2024 as Russian territorial gains increased",
        "2024-10",
        "fall",
    ),
)


def claim_ids() -> list[str]:
    """The ids :func:`claims` produces, in order."""
    return [n.id for n in NARRATIVES]


def before_after(
    series: pd.Series,
    before_end: str | pd.Timestamp,
    after_start: str | pd.Timestamp,
    k: int = _WINDOW,
) -> dict[str, Any]:
    """Mean of ``k`` months up to ``before_end`` vs ``k`` months from ``after_start``.

    Returns
    -------
    dict
        ``before``, ``after`` (means), ``change_pct`` (100 * (after / before - 1)), the two
        windows as text, and ``seasonal_benchmark_pct``: the same comparison twelve months
        earlier, the change a calendar (seasonal) effect alone would give.
    """

    def one(be: pd.Timestamp, af: pd.Timestamp) -> tuple[float, float, float, str, str]:
        bw = month_range(be - pd.DateOffset(months=k - 1), be)
        aw = month_range(af, af + pd.DateOffset(months=k - 1))
        b = series.reindex(bw)
        a = series.reindex(aw)
        bm = float(b.mean()) if b.notna().all() else math.nan
        am = float(a.mean()) if a.notna().all() else math.nan
        ch = 100.0 * (am / bm - 1.0) if bm else math.nan
        return bm, am, ch, window_text(bw[0], bw[-1]), window_text(aw[0], aw[-1])

    be, af = pd.Timestamp(before_end), pd.Timestamp(after_start)
    bm, am, ch, bw, aw = one(be, af)
    year = pd.DateOffset(months=12)
    sb, sa, sch, _, _ = one(be - year, af - year)
    return {
        "before": bm,
        "after": am,
        "change_pct": ch,
        "before_window": bw,
        "after_window": aw,
        "k": k,
        "seasonal_benchmark_pct": sch,
        "seasonal_before": sb,
        "seasonal_after": sa,
    }


def _events_in(
    events: pd.DataFrame | None, when: str, keep: Callable[[pd.DataFrame], pd.Series] | None = None
) -> list[str]:
    if events is None or "effective_date" not in events:
        return []
    eff = pd.to_datetime(events["effective_date"], errors="coerce")
    sel = events.loc[(eff >= month(when)) & (eff < month(when) + pd.DateOffset(months=1))]
    if keep is not None and len(sel):
        sel = sel.loc[keep(sel)]
    return [str(e) for e in sel["event_id"]]


def _is_sanction(df: pd.DataFrame) -> pd.Series:
    kind = df["kind"].astype(str) if "kind" in df else pd.Series("", index=df.index)
    family = df["family"].astype(str) if "family" in df else pd.Series("sanctions", index=df.index)
    return (family == "sanctions") & ~kind.isin(["bill", "sanctions_relief"])


def _border_events(events: pd.DataFrame | None, first: str, last: str) -> list[str]:
    """Catalogue border-policy events starting within ``first``..``last`` (``YYYY-MM``)."""
    if events is None or "effective_date" not in events or "kind" not in events:
        return []
    eff = pd.to_datetime(events["effective_date"], errors="coerce")
    sel = events.loc[
        (eff >= month(first))
        & (eff < month(last) + pd.DateOffset(months=1))
        & events["kind"].isin(_CONFOUNDER_KINDS)
    ]
    out = []
    for r in sel.to_dict(orient="records"):
        date = to_timestamp(r.get("effective_date"))
        border = r.get("border", "")
        where = ";".join(border) if isinstance(border, tuple | list) else str(border or "")
        out.append(
            f"{r['event_id']} {r['kind']} {date:%Y-%m-%d}"
            if date is not None
            else str(r["event_id"])
        )
        if where:
            out[-1] += f" ({where})"
    return out


def claims(inputs: Inputs) -> list[Claim]:
    """Each narrative's direction, checked on the months around its event."""
    return [_narrative_claim(n, inputs.series, inputs.events) for n in NARRATIVES]


def _gains_note(ser: PanelSeries, n: Narrative, details: dict[str, Any]) -> str:
    """Russian territorial gains before and after, for the narrative that cites them."""
    for tracker in (DEEPSTATE, PRIMARY_TRACKER):
        gains = ser.territory(tracker).clip(lower=0.0)
        gba = before_after(gains, n.before_end, n.after_start)
        if math.isfinite(gba["change_pct"]):
            details["russian_gains_km2"] = {"tracker": tracker, **gba}
            return (
                f"Russian gains ({tracker}) {num(gba['before'])} -> {num(gba['after'])} km2/month"
            )
    return ""


def _narrative_claim(n: Narrative, ser: PanelSeries, events: pd.DataFrame | None) -> Claim:
    ba = before_after(ser.encounters, n.before_end, n.after_start)
    ba6 = before_after(ser.encounters, n.before_end, n.after_start, k=6)
    ch = ba["change_pct"]
    if not math.isfinite(ch):
        status = "not_reproducible"
    else:
        status = "matches" if (ch > 0) == (n.direction == "rise") else "differs"
    cause = [
        f"{ba['k']}-month means {num(ba['before'])} -> {num(ba['after'])}; "
        f"6-month windows {fmt(ba6['change_pct'], 0)}%; the same calendar comparison a "
        f"year earlier changed {fmt(ba['seasonal_benchmark_pct'], 0)}% "
        f"(6-month {fmt(ba6['seasonal_benchmark_pct'], 0)}%), so part of any change is "
        "seasonal"
    ]
    details: dict[str, Any] = {"window_3": ba, "window_6": ba6}
    if n.id == "narrative_fall_from_oct2024":
        cause.append(_gains_note(ser, n, details))
    border = _border_events(events, ba["before_window"][:7], ba["after_window"][-7:])
    if border:
        cause.append(
            "border-policy events in the windows, which change counts "
            "regardless of any sanction: " + ", ".join(border)
        )
    if events is not None:
        details["catalogue_events_in_month"] = _events_in(events, n.month, _is_sanction)
        details["border_policy_events_in_windows"] = border
    windows = f"{ba['before_window']} vs {ba['after_window']}"
    return Claim(
        id=n.id,
        statement=n.statement,
        report_value=None,
        report_text="rose" if n.direction == "rise" else "fell",
        our_value=ch if math.isfinite(ch) else None,
        our_text=f"{fmt(ch, 0)}% ({windows})",
        difference=None,
        tolerance=None,
        unit="percent change",
        window=windows,
        grouping="all nationalities",
        method=f"mean of {ba['k']} months before vs after; direction compared with the report's",
        cause="; ".join(c for c in cause if c),
        status=status,
        details=details,
    )
