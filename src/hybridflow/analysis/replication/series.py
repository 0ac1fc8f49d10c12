"""The monthly series the claims need, taken once from the panel, and month helpers.

Encounters = ``route_total`` on the Eastern Borders route (the nationality workbook,
extended with the newer route-total vintage); ``as_published`` undoes the FRONTEX
loader's known corrections (``data/tables/revisions.csv``), so each claim can show the
figure both ways.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.data.panel import EASTERN_BORDERS, UKRRUSSBEL
from hybridflow.data.sources.territory import DEEPSTATE, LIVEUAMAP
from hybridflow.months import format_month

__all__ = [
    "SPLICED",
    "Inputs",
    "PanelSeries",
    "mean",
    "month",
    "non_country_codes",
    "revision_note",
    "span",
    "timestamp",
    "to_timestamp",
    "total",
    "vintage_note",
    "window_text",
]

#: The territory "tracker" that splices DeepState (where it has data) onto Liveuamap.
SPLICED = "spliced"


def _missing(months: pd.DatetimeIndex) -> pd.Series:
    return pd.Series(np.nan, index=months, dtype=float)


class PanelSeries:
    """The monthly series the claims need, taken once from the panel as pandas objects."""

    def __init__(self, panel: xr.Dataset) -> None:
        self.panel = panel
        self.months = pd.DatetimeIndex(panel["month"].values)
        self.encounters = self._route("route_total")
        self.latest = self._route("route_total_latest")
        self.extended = self._route("route_total_extended")
        self.revisions = _revisions_for_route(EASTERN_BORDERS)
        # As published in the nationality workbook: the loader's corrections undone.
        in_workbook = self.extended.fillna(0.0) == 0.0
        self.as_published = self.encounters + self._delta().where(in_workbook, 0.0)
        self.nat = self._nationalities()
        self.losses = self._var1("losses_personnel")

    def _delta(self, others_only: bool = False) -> pd.Series:
        """Monthly sum of (original - revised) over the loader's known corrections."""
        rev = self.revisions
        if others_only:
            rev = rev.loc[~rev["nationality"].isin(UKRRUSSBEL)]
        delta = rev.groupby("month")["delta"].sum()
        delta.index = pd.DatetimeIndex(delta.index)
        return delta.reindex(self.months, fill_value=0.0).astype(float)

    def _route(self, name: str) -> pd.Series:
        if name not in self.panel or EASTERN_BORDERS not in self.panel["route"].values:
            return _missing(self.months)
        return self.panel[name].sel(route=EASTERN_BORDERS).to_series().astype(float)

    def _var1(self, name: str) -> pd.Series:
        if name not in self.panel:
            return _missing(self.months)
        return self.panel[name].to_series().astype(float)

    def _nationalities(self) -> pd.DataFrame:
        if (
            "detections" not in self.panel
            or "nationality" not in self.panel["detections"].dims
            or EASTERN_BORDERS not in self.panel["route"].values
        ):
            return pd.DataFrame(index=self.months, dtype=float)
        da = self.panel["detections"].sel(route=EASTERN_BORDERS).transpose("month", "nationality")
        df = pd.DataFrame(
            da.values, index=self.months, columns=[str(n) for n in da["nationality"].values]
        )
        return df.dropna(how="all")

    def others(self, as_published: bool = False) -> tuple[pd.Series, pd.Series]:
        """Monthly (Others, total) detections on the route from the nationality data."""
        urb = [c for c in self.nat.columns if c in UKRRUSSBEL]
        total = self.nat.sum(axis=1, min_count=1)
        others = self.nat.drop(columns=urb).sum(axis=1, min_count=1)
        if as_published:
            total = total + self._delta().reindex(total.index, fill_value=0.0)
            others = others + self._delta(others_only=True).reindex(others.index, fill_value=0.0)
        return others, total

    def shares(self, as_published: bool = False) -> pd.Series:
        """Monthly Others / all detections on the route."""
        others, total = self.others(as_published)
        return (others / total.where(total > 0)).astype(float)

    def territory(self, tracker: str) -> pd.Series:
        """Monthly net change of the area Russia holds (+ = Russian gain); ``spliced``:
        DeepState where it has data, Liveuamap before."""
        if "territory_net_change" not in self.panel:
            return _missing(self.months)
        net = self.panel["territory_net_change"]
        have = [str(t) for t in net["tracker"].values]
        if tracker == SPLICED:
            if DEEPSTATE not in have or LIVEUAMAP not in have:
                return _missing(self.months)
            deep = net.sel(tracker=DEEPSTATE).to_series().astype(float)
            live = net.sel(tracker=LIVEUAMAP).to_series().astype(float)
            return deep.where(deep.notna(), live)
        if tracker not in have:
            return _missing(self.months)
        return net.sel(tracker=tracker).to_series().astype(float)

    def acled_russia(self, event_type: str) -> pd.Series:
        """ACLED events of ``event_type`` located in Russia."""
        return self._acled("acled_russia", "acled_event_type", event_type)

    def acled_pv(self, country: str) -> pd.Series:
        """ACLED political-violence events in ``country``."""
        return self._acled("acled_pv", "acled_country", country)

    def _acled(self, name: str, dim: str, label: str) -> pd.Series:
        if name not in self.panel or label not in self.panel[name][dim].values:
            return _missing(self.months)
        return self.panel[name].sel({dim: label}).to_series().astype(float)


@dataclass(frozen=True)
class Inputs:
    """What every topic's claims are computed from."""

    series: PanelSeries
    correlations: pd.DataFrame
    events: pd.DataFrame | None


def _revisions_for_route(route: str) -> pd.DataFrame:
    """Known provisional values the FRONTEX loader corrected, with ``delta = original - revised``."""
    try:
        from hybridflow.data.sources.frontex import revisions_table
    except ImportError:  # loader not installed: no known corrections to undo
        return pd.DataFrame(columns=["month", "nationality", "original", "revised", "delta"])
    rev = revisions_table()
    rev = rev.loc[rev["route"] == route].copy()
    rev["delta"] = (rev["original"] - rev["revised"]).astype(float)
    return rev[["month", "nationality", "original", "revised", "delta"]].reset_index(drop=True)


@cache
def non_country_codes() -> frozenset[str]:
    """Codes the nationality table marks "not a country" (Unknown, Stateless, ...)."""
    path = resources.files("hybridflow.data") / "tables" / "nationalities.csv"
    with path.open("r", encoding="utf-8") as fh:
        table = pd.read_csv(fh, dtype=str, keep_default_na=False)
    mask = table["note"].str.startswith("not a country")
    return frozenset(table.loc[mask, "iso3"])


# --------------------------------------------------------------------------------------------
# months and windows


def timestamp(value: Any) -> pd.Timestamp:
    """A month label from the panel (an index entry, ``idxmax``) as a Timestamp."""
    return pd.Timestamp(value)


def month(text: str) -> pd.Timestamp:
    """``YYYY-MM`` -> the month-start Timestamp."""
    return pd.Timestamp(f"{text}-01")


def window_text(a: str | pd.Timestamp, b: str | pd.Timestamp) -> str:
    """``YYYY-MM to YYYY-MM``."""
    return f"{format_month(pd.Timestamp(a))} to {format_month(pd.Timestamp(b))}"


def span(s: pd.Series, a: str | pd.Timestamp, b: str | pd.Timestamp) -> pd.Series:
    """``s`` from month ``a`` to month ``b``, inclusive."""
    return s.loc[pd.Timestamp(a) : pd.Timestamp(b)]


def total(s: pd.Series) -> float:
    """Sum, NaN when nothing is there."""
    return float(s.sum(min_count=1))


def mean(s: pd.Series) -> float:
    """Mean, NaN when nothing is there."""
    return float(s.mean()) if s.notna().any() else math.nan


def vintage_note(ser: PanelSeries, a: str, b: str) -> tuple[list[str], str]:
    """The months of ``a``..``b`` from the newer route-total vintage, and a note saying so."""
    ext = span(ser.extended, a, b)
    ext_months = [format_month(m) for m in ext.index[ext.fillna(0).to_numpy() > 0]]
    note = ""
    if ext_months:
        note = (
            f"months {ext_months[0]} to {ext_months[-1]} come from the Aug 2026 route-total "
            "vintage (the nationality workbook ends earlier)"
        )
    return ext_months, note


def revision_note(ser: PanelSeries, a: str, b: str) -> str:
    """The loader's known corrections within ``a``..``b``, in words."""
    rev = ser.revisions
    rev = rev.loc[(rev["month"] >= month(a)) & (rev["month"] <= month(b))]
    parts = [
        f"{format_month(timestamp(r.month))} {r.nationality} entry {r.original:,} in the Jun "
        f"2025 workbook is a provisional value revised to {r.revised:,} (we use the revised value)"
        for r in rev.itertuples(index=False)
    ]
    return "; ".join(parts)


def to_timestamp(value: Any) -> pd.Timestamp | None:
    """A Timestamp, or ``None`` for empty or unparseable values."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    return None if pd.isna(ts) else ts
