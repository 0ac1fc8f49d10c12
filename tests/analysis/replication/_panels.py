"""A small synthetic panel with the ``load_panel`` interface, and a claim lookup."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.data.panel import EASTERN_BORDERS

NATS = [
    "AFG",
    "BLR",
    "ERI",
    "ETH",
    "IND",
    "IRN",
    "IRQ",
    "RUS",
    "SDN",
    "SOM",
    "SYR",
    "UKR",
    "XUN",
    "YEM",
]
OTHER_ROUTE = "Central Mediterranean Route"


def synthetic_panel(seed: int = 0) -> xr.Dataset:
    """A small panel with the load_panel interface; nationality data to Apr 2025."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2021-01-01", "2026-08-01", freq="MS", name="month")
    nm = len(months)
    routes = [OTHER_ROUTE, EASTERN_BORDERS]
    det = rng.poisson(20, size=(nm, 2, len(NATS))).astype(float)
    ukr = NATS.index("UKR")
    det[:, 1, ukr] = rng.poisson(400, size=nm)
    feb22 = months.get_loc(pd.Timestamp("2022-02-01"))
    det[feb22, 1, :] = 0.0
    det[feb22, 1, ukr] = 100.0
    det[feb22, 1, NATS.index("SYR")] = 150.0  # Others majority: 150 / 250 = 60%
    det[:, 1, NATS.index("XUN")] = 0.0
    end = months.get_loc(pd.Timestamp("2025-04-01"))
    det[end + 1 :] = np.nan
    da = xr.DataArray(
        det,
        coords={"month": months, "route": routes, "nationality": NATS},
        dims=("month", "route", "nationality"),
    )
    from_det = da.sum("nationality", min_count=1)
    latest = from_det.copy()
    latest[end + 1 : nm - 2, :] = rng.poisson(900, size=(nm - end - 3, 2))
    latest[nm - 2 :, :] = np.nan
    ext = from_det.isnull() & latest.notnull()
    ds = xr.Dataset(coords={"month": months})
    ds["detections"] = da
    ds["route_total"] = from_det.where(~ext, latest)
    ds["route_total_extended"] = ext
    ds["route_total_latest"] = latest
    war = months >= pd.Timestamp("2022-02-01")
    losses = np.where(war, 5000 + 400 * np.arange(nm) + rng.normal(0, 500, nm), np.nan)
    ds["losses_personnel"] = ("month", losses)
    ds["losses_days_covered"] = ("month", np.where(war, 30.0, np.nan))
    live = np.where(war & (months <= pd.Timestamp("2025-01-01")), rng.normal(0, 300, nm), np.nan)
    deep = np.where(months >= pd.Timestamp("2022-10-01"), rng.normal(50, 200, nm), np.nan)
    ds["territory_net_change"] = xr.DataArray(
        np.column_stack([deep, live]),
        coords={"month": months, "tracker": ["deepstate", "liveuamap"]},
        dims=("month", "tracker"),
    )
    acled_months = (months >= pd.Timestamp("2021-01-01")) & (months <= pd.Timestamp("2024-09-01"))
    expl = np.where(acled_months, rng.poisson(50, nm), np.nan).astype(float)
    ds["acled_russia"] = xr.DataArray(
        np.column_stack([expl, expl / 2]),
        coords={"month": months, "acled_event_type": ["Explosions/Remote violence", "Battles"]},
        dims=("month", "acled_event_type"),
    )
    pv = np.where(months <= pd.Timestamp("2026-03-01"), rng.poisson(80, nm), np.nan)
    ds["acled_pv"] = xr.DataArray(
        pv[:, None].astype(float),
        coords={"month": months, "acled_country": ["Russia"]},
        dims=("month", "acled_country"),
    )
    return ds


def claim_row(result: object, cid: str) -> pd.Series:
    """The one row of ``result.claims`` with id ``cid``."""
    claims = result.claims  # type: ignore[attr-defined]
    row = claims.loc[claims["id"] == cid]
    assert len(row) == 1, cid
    return row.iloc[0]
