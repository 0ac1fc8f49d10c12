"""What the panel holds: coverage per source, and a first sanity check against the report.

``hybridflow data show`` prints :func:`coverage`; ``--check-report`` adds
:func:`check_report`, which recomputes two of the report's descriptive figures from the
data (the Eastern Borders mean and the top ten non-UkrRussBel nationalities) and sets them
beside the report's own numbers. The full replication (every figure, every correlation)
lives in :mod:`hybridflow.analysis.replication`.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import xarray as xr

from hybridflow.data.panel import EASTERN_BORDERS, UKRRUSSBEL
from hybridflow.data.report_figures import REPORT_EB_MEAN_WINDOW, report_figure, top10_others
from hybridflow.months import format_month

#: The report's own figures (McManus, HJS 2025; docs/report-claims.md), from their one owner,
#: ``data/tables/report_figures.csv``.
REPORT_EB_MEAN_FEB2022_JUN2025 = report_figure("eb_mean").value
REPORT_TOP10_OTHERS: dict[str, int] = top10_others()

#: Which panel variables come from which snapshot table.
_SOURCE_OF = {
    "detections": "detections",
    "route_total": "detections",
    "route_total_latest": "route_totals",
    "losses_personnel": "losses",
    "losses_equipment": "losses",
    "acled_pv": "acled_pv",
    "acled_russia": "acled_event_types",
    "territory_area": "territory",
    "territory_net_change": "territory",
}


def coverage(panel: xr.Dataset) -> pd.DataFrame:
    """One row per panel variable: first and last month with data, non-missing cells, vintage."""
    sources = json.loads(panel.attrs.get("sources", "{}"))
    rows: list[dict[str, Any]] = []
    for name, da in panel.data_vars.items():
        if "month" not in da.dims or da.dtype == bool or name == "losses_days_covered":
            continue
        other = [d for d in da.dims if d != "month"]
        has = da.notnull().any(other) if other else da.notnull()
        months = da["month"].values[has.values]
        table = _SOURCE_OF.get(str(name))
        vintages = [i["vintage"] for i in sources.get(table, [])] if table else ["user file"]
        if name == "route_total":
            vintages += [i["vintage"] for i in sources.get("route_totals", [])]
        vintage = "; ".join(dict.fromkeys(vintages))
        if name == "detections" and panel.attrs.get("detections_source", "snapshot") != "snapshot":
            vintage = "user file"
        rows.append(
            {
                "variable": str(name),
                "dims": ",".join(str(d) for d in da.dims),
                "first_month": format_month(months.min()) if len(months) else None,
                "last_month": format_month(months.max()) if len(months) else None,
                "cells": int(da.notnull().sum()),
                "vintage": vintage,
            }
        )
    return pd.DataFrame(rows)


def check_report(panel: xr.Dataset) -> dict[str, Any]:
    """Recompute the report's Eastern Borders mean and top-ten Others from the data.

    The mean uses ``route_total`` (nationality-level data to Apr 2025, then the newer
    route-total vintage), so the months after the workbook are marked. The top ten uses
    the nationality-level workbook from Feb 2022 to its last month.
    """
    start, end = (pd.Timestamp(f"{m}-01") for m in REPORT_EB_MEAN_WINDOW)
    eb = panel["route_total"].sel(route=EASTERN_BORDERS, month=slice(start, end))
    ext = panel["route_total_extended"].sel(route=EASTERN_BORDERS, month=slice(start, end))
    latest = panel["route_total_latest"].sel(route=EASTERN_BORDERS, month=slice(start, end))
    det = panel["detections"].sel(route=EASTERN_BORDERS).sel(month=slice(start, None))
    det = det.dropna("month", how="all")
    others = det.drop_sel(nationality=[n for n in UKRRUSSBEL if n in det["nationality"]])
    totals = others.sum("month").to_series().sort_values(ascending=False, kind="mergesort")
    top = totals.head(10)
    return {
        "eastern_borders_mean": {
            "window": f"{format_month(start)} to {format_month(end)}",
            "months": int(eb.notnull().sum()),
            "ours": float(eb.mean()),
            "ours_newer_vintage_only": float(latest.mean()),
            "months_from_newer_vintage": [format_month(m) for m in eb["month"].values[ext.values]],
            "report": REPORT_EB_MEAN_FEB2022_JUN2025,
        },
        "top10_others": {
            "window": f"{format_month(det['month'].values.min())} to "
            f"{format_month(det['month'].values.max())}",
            "ours": [
                {
                    "nationality": str(k),
                    "detections": int(v),
                    "report": REPORT_TOP10_OTHERS.get(str(k)),
                }
                for k, v in top.items()
            ],
            "report": [{"nationality": k, "detections": v} for k, v in REPORT_TOP10_OTHERS.items()],
            "report_ours": {k: int(totals.get(k, 0)) for k in REPORT_TOP10_OTHERS},
        },
    }
