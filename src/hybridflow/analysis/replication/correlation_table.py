"""Each correlation the report states, recomputed four ways, and how much of it is trend.

For each correlation claim (``losses``, ``ukr_gains``, ``rus_gains``) and each driver
series (the primary tracker first, then the checks), :func:`correlation_table` gives the
Pearson r with encounters (a) in raw levels as the report did, (b) in first differences,
(c) after removing a linear trend and month-of-year seasonality from both series
(``trend_season_residual``) and, when supplied, (d) against a fitted model's residuals;
each row has the naive p-value and one adjusted with Bartlett's effective sample size.
:func:`trend_table` sets the transforms side by side per claim.

Territorial gains: the report counted ACLED territory-capture events, which the data do not
hold. The proxy is the monthly net change of the area of Ukraine held by Russia (+ = Russia
gained km^2): Russian gains are its positive part, Ukrainian gains its negative part; the
signed net change is an alternative. Tracker: Liveuamap (to Jan 2025, covers the large 2022
Ukrainian counter-offensives), with DeepState (from Oct 2022) and a splice as checks.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from hybridflow.analysis.replication.claim import fmt
from hybridflow.analysis.replication.series import SPLICED, PanelSeries, span, window_text
from hybridflow.analysis.replication.statistics import (
    effective_n,
    lag1_autocorrelation,
    pearson,
    pearson_pvalue,
    remove_trend_season,
)
from hybridflow.data.report_figures import REPORT_LOSSES_WINDOW, REPORT_TERRITORY_WINDOW
from hybridflow.data.sources.territory import DEEPSTATE, LIVEUAMAP
from hybridflow.months import format_month

__all__ = [
    "CHECK_TRACKERS",
    "COLUMNS",
    "CORRELATION_CLAIMS",
    "PRIMARY_TRACKER",
    "correlation_note",
    "correlation_rows",
    "correlation_table",
    "pick",
    "report_windows",
    "trend_table",
]

PRIMARY_TRACKER = LIVEUAMAP
CHECK_TRACKERS = (DEEPSTATE, SPLICED)
CORRELATION_CLAIMS = ("losses", "ukr_gains", "rus_gains")
#: The columns of :func:`correlation_table`.
COLUMNS = (
    "claim",
    "x",
    "tracker",
    "y",
    "encounters",
    "primary",
    "window",
    "transform",
    "r",
    "r2",
    "n",
    "first_month",
    "last_month",
    "n_controls",
    "p_naive",
    "rho1_x",
    "rho1_y",
    "n_eff",
    "p_adjusted",
)


def correlation_rows(
    x: pd.Series, y: pd.Series, model_residuals: pd.Series | None = None
) -> list[dict[str, Any]]:
    """The four transforms of one (x, y) pair restricted to the window already applied."""
    rows: list[dict[str, Any]] = []

    def row(transform: str, a: pd.Series, b: pd.Series, n_controls: int) -> None:
        a, b = a.align(b, join="inner")
        r, r2, n = pearson(a, b)
        both = a.notna() & b.notna()
        rho_x = lag1_autocorrelation(a.where(both))
        rho_y = lag1_autocorrelation(b.where(both))
        n_eff = effective_n(n, rho_x, rho_y)
        used = a.index[both.to_numpy()]
        rows.append(
            {
                "transform": transform,
                "r": r,
                "r2": r2,
                "n": n,
                "first_month": format_month(used.min()) if len(used) else None,
                "last_month": format_month(used.max()) if len(used) else None,
                "n_controls": n_controls,
                "p_naive": pearson_pvalue(r, n, n_controls=n_controls),
                "rho1_x": rho_x,
                "rho1_y": rho_y,
                "n_eff": n_eff,
                "p_adjusted": pearson_pvalue(r, n, n_controls=n_controls, n_eff=n_eff),
            }
        )

    x, y = x.astype(float).align(y.astype(float), join="outer")
    row("levels", x, y, 0)
    row("first_difference", x.diff(), y.diff(), 0)
    both = x.notna() & y.notna()
    xr_ = remove_trend_season(x[both])
    yr_ = remove_trend_season(y[both])
    row("trend_season_residual", xr_, yr_, int(xr_.attrs.get("n_controls", 0)))
    if model_residuals is not None:
        m = model_residuals.astype(float).reindex(x.index)
        okm = x.notna() & m.notna()
        xm = remove_trend_season(x[okm])
        row("model_residual", xm, m[okm], int(xm.attrs.get("n_controls", 0)))
    return rows


def _driver_series(ser: PanelSeries) -> dict[str, list[tuple[str, str, pd.Series]]]:
    """Per correlation claim: (series label, tracker, series); the first is the primary."""
    out: dict[str, list[tuple[str, str, pd.Series]]] = {
        "losses": [("monthly personnel losses", "", ser.losses)],
        "ukr_gains": [],
        "rus_gains": [],
    }
    for tracker in (PRIMARY_TRACKER, *CHECK_TRACKERS):
        net = ser.territory(tracker)
        out["ukr_gains"].append(
            ("Ukrainian gains km2 (negative part of net change)", tracker, (-net).clip(lower=0.0))
        )
        out["rus_gains"].append(
            ("Russian gains km2 (positive part of net change)", tracker, net.clip(lower=0.0))
        )
    for tracker in (PRIMARY_TRACKER, *CHECK_TRACKERS):
        net = ser.territory(tracker)
        out["ukr_gains"].append(("Ukrainian net gain km2 (signed, = -net change)", tracker, -net))
        out["rus_gains"].append(("Russian net gain km2 (signed net change)", tracker, net))
    return out


def report_windows() -> dict[str, tuple[str, str]]:
    """The report's window for each correlation claim."""
    return {
        "losses": REPORT_LOSSES_WINDOW,
        "ukr_gains": REPORT_TERRITORY_WINDOW,
        "rus_gains": REPORT_TERRITORY_WINDOW,
    }


def correlation_table(ser: PanelSeries, model_residuals: pd.Series | None) -> pd.DataFrame:
    """Every driver series against encounters, each transform; vintages in levels only."""
    rows: list[dict[str, Any]] = []
    encounters = {
        "route_total": ser.encounters,
        "as_published": ser.as_published,
        "aug_2026_vintage": ser.latest,
    }
    for claim, series in _driver_series(ser).items():
        a, b = report_windows()[claim]
        for i, (label, tracker, x) in enumerate(series):
            for enc_name, enc in encounters.items():
                # Vintage checks are run in levels only, on the primary driver series.
                if enc_name != "route_total" and i != 0:
                    continue
                xs, ys = span(x, a, b), span(enc, a, b)
                mr = model_residuals if enc_name == "route_total" else None
                for r in correlation_rows(xs, ys, mr):
                    if enc_name != "route_total" and r["transform"] != "levels":
                        continue
                    rows.append(
                        {
                            "claim": claim,
                            "x": label,
                            "tracker": tracker,
                            "y": f"Eastern Borders detections ({enc_name})",
                            "encounters": enc_name,
                            "primary": i == 0,
                            "window": window_text(a, b),
                            **r,
                        }
                    )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def pick(
    corr: pd.DataFrame,
    claim: str,
    transform: str = "levels",
    *,
    encounters: str = "route_total",
    tracker: str | None = None,
    primary: bool | None = True,
) -> pd.Series | None:
    """The first row of ``corr`` for ``claim`` and ``transform`` (the primary driver by default)."""
    sel = corr.loc[
        (corr["claim"] == claim)
        & (corr["transform"] == transform)
        & (corr["encounters"] == encounters)
    ]
    if tracker is not None:
        sel = sel.loc[sel["tracker"] == tracker]
    if primary is not None:
        sel = sel.loc[sel["primary"] == primary]
    return None if sel.empty else sel.iloc[0]


def trend_table(corr: pd.DataFrame) -> pd.DataFrame:
    """Per claim: r in each transform and the share of the levels r each one loses."""
    rows = []
    for claim in CORRELATION_CLAIMS:
        lv = pick(corr, claim)
        if lv is None:
            continue
        row: dict[str, Any] = {
            "claim": claim,
            "x": lv["x"],
            "tracker": lv["tracker"],
            "n_levels": lv["n"],
            "p_naive_levels": lv["p_naive"],
            "n_eff_levels": lv["n_eff"],
            "p_adjusted_levels": lv["p_adjusted"],
        }
        for transform in ("levels", "first_difference", "trend_season_residual", "model_residual"):
            r = pick(corr, claim, transform)
            row[f"r_{transform}"] = math.nan if r is None else r["r"]
        base = row["r_levels"]
        for transform in ("first_difference", "trend_season_residual"):
            other = row[f"r_{transform}"]
            ok = math.isfinite(base) and base != 0 and math.isfinite(other)
            # 0: the correlation survives intact; 1: it vanishes; > 1: it reverses sign.
            row[f"share_lost_{transform}"] = 1.0 - other / base if ok else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def correlation_note(corr: pd.DataFrame, claim: str) -> str:
    """The p-values and the detrended r of ``claim``, in words."""
    d = pick(corr, claim, "first_difference")
    t = pick(corr, claim, "trend_season_residual")
    lv = pick(corr, claim)
    if lv is None:
        return ""
    bits = [
        f"naive p {fmt(lv['p_naive'], 3)}, autocorrelation-adjusted p "
        f"{fmt(lv['p_adjusted'], 3)} (n_eff {fmt(lv['n_eff'], 1)} of {lv['n']})"
    ]
    if d is not None:
        bits.append(f"r in first differences {fmt(d['r'])}")
    if t is not None:
        bits.append(f"r after trend+season removal {fmt(t['r'])}")
    return "; ".join(bits)
