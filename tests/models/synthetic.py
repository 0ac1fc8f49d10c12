"""Synthetic panels and event tables shaped like the real ones, for model tests.

Nothing here reads the real data: tests build exactly what they need.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.models.build import ModelData
from hybridflow.models.components import lag_matrix
from hybridflow.months import month_range

ACLED_TYPES = [
    "Battles",
    "Explosions/Remote violence",
    "Violence against civilians",
    "Protests",
    "Riots",
    "Strategic developments",
]
WAR = pd.Timestamp("2022-02-01")


def make_panel(
    start: str = "2016-01",
    end: str = "2025-04",
    *,
    groups: tuple[str, ...] = ("UkrRussBel", "Others"),
    routes: tuple[str, ...] = ("Eastern Borders Route",),
    seed: int = 0,
    detections: np.ndarray | None = None,
) -> xr.Dataset:
    """A grouped panel: ``detections(month, route, group)`` plus the driver series.

    Losses and territory start in 2022-02 (NaN before); ACLED event types cover
    2021-01..2024-09; liveuamap ends 2025-01, deepstate starts 2022-09.
    """
    rng = np.random.default_rng(seed)
    months = month_range(start, end)
    T = len(months)
    if detections is None:
        detections = rng.poisson(100, size=(T, len(routes), len(groups))).astype(float)
    ds = xr.Dataset(coords={"month": months, "route": list(routes), "group": list(groups)})
    ds["detections"] = (("month", "route", "group"), np.asarray(detections, dtype=float))
    ds["route_total"] = (("month", "route"), np.nansum(detections, axis=-1))
    war = np.asarray(months >= WAR)
    ds["losses_personnel"] = ("month", np.where(war, rng.gamma(5, 4000, T), np.nan))
    ac = rng.poisson(20, size=(T, len(ACLED_TYPES))).astype(float)
    ac[(months < pd.Timestamp("2021-01-01")) | (months > pd.Timestamp("2024-09-01"))] = np.nan
    ds["acled_russia"] = (("month", "acled_event_type"), ac)
    terr = rng.normal(0, 300, size=(T, 2))
    terr[~war] = np.nan
    terr[months > pd.Timestamp("2025-01-01"), 0] = np.nan
    terr[months < pd.Timestamp("2022-09-01"), 1] = np.nan
    ds["territory_net_change"] = (("month", "tracker"), terr)
    return ds.assign_coords(acled_event_type=ACLED_TYPES, tracker=["liveuamap", "deepstate"])


def make_events(dates: list[str] | None = None) -> pd.DataFrame:
    """EU sanctions packages on the given dates plus three border-policy rows."""
    dates = dates or [
        "2022-02-25",
        "2022-03-15",
        "2022-06-03",
        "2022-10-06",
        "2023-02-25",
        "2023-06-23",
        "2023-12-18",
        "2024-06-24",
        "2025-02-24",
    ]
    rows = []
    for i, d in enumerate(dates):
        rows.append(
            {
                "event_id": f"EU-RU-{i + 1:02d}",
                "family": "sanctions",
                "actor": "EU",
                "target": "Russia",
                "kind": "sanctions_package",
                "start_date": pd.Timestamp(d),
                "end_date": pd.NaT,
                "sectors": ("energy_oil",) if i % 3 == 0 else ("finance",),
                "border": (),
                "direction": "tighten",
                "confidence": "high",
            }
        )
    border = [
        ("BP-001", "2021-06-01", "2021-11-30", "instrumentalisation_episode", ""),
        ("BP-002", "2022-06-30", None, "barrier", "tighten"),
        ("BP-003", "2023-11-30", None, "closure", "tighten"),
    ]
    for eid, start, end, kind, direction in border:
        rows.append(
            {
                "event_id": eid,
                "family": "border_policy",
                "actor": "PL",
                "target": "",
                "kind": kind,
                "start_date": pd.Timestamp(start),
                "end_date": pd.Timestamp(end) if end else pd.NaT,
                "sectors": (),
                "border": ("BY-PL",),
                "direction": direction,
                "confidence": "high",
            }
        )
    df = pd.DataFrame(rows)
    df["effective_date"] = df["start_date"]
    return df


def simulate_group_effects(
    data: ModelData,
    panel: xr.Dataset,
    *,
    effects: dict[str, dict[str, float]],
    levels: dict[str, float],
    dispersion: float,
    seed: int,
) -> xr.Dataset:
    """``panel`` with negative-binomial detections that carry known per-group effects.

    ``log mu[t, g] = log(levels[g]) + sum_d effects[d][g] * (w_d * x_d)[t]`` on the design
    of ``data`` (its drivers need fixed kernels: the weights are read from them), with no
    trend, seasonality or regimes; ``dispersion`` is the negative binomial's ``phi``.
    Only one route is simulated.
    """
    rng = np.random.default_rng(seed)
    x_lag = lag_matrix(data.exposure_matrix().values, data.history, data.n_lags)
    eta = np.log([[levels[g] for g in data.groups]]) * np.ones((len(data.months), 1))
    for k, d in enumerate(data.drivers):
        w = np.zeros(data.n_lags)
        w[: d.kernel.n_lags] = d.kernel.weights_numpy()
        beta = np.array([effects[d.name][g] for g in data.groups])
        eta = eta + (x_lag[k] @ w)[:, None] * beta[None, :]
    mu = np.exp(eta)
    y = rng.negative_binomial(dispersion, dispersion / (dispersion + mu)).astype(float)
    full = panel["detections"].copy()
    full.loc[{"month": data.months, "group": data.groups}] = y[:, None, :]
    return panel.assign(detections=full, route_total=full.sum("group", min_count=1))
