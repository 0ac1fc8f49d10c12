"""Small simulated panels, event tables and specs for the checks' tests.

A panel of a few routes and nationalities over 2016-2021, with a known effect of an events
driver ("treat": EU sanctions packages at fixed months) on the Eastern Borders route only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.models.spec import ModelSpec, parse_spec
from hybridflow.months import month_range

EB = "Eastern Borders Route"
WMED = "Western Mediterranean Route"
WAFR = "Western African Route"
START, END = "2016-01", "2021-12"
#: Months of the simulated driver's events (the true dates).
EVENT_MONTHS = (
    "2016-09",
    "2017-05",
    "2018-02",
    "2018-10",
    "2019-06",
    "2020-03",
    "2020-11",
    "2021-07",
)
#: True cumulative log-rate effect of one event on the Eastern Borders route.
TRUE_EFFECT = 1.2


def sim_events(months: tuple[str, ...] = EVENT_MONTHS) -> pd.DataFrame:
    """An event catalogue in the layout of :func:`hybridflow.data.events.load_events`."""
    n = len(months)
    dates = pd.to_datetime([m + "-15" for m in months])
    return pd.DataFrame(
        {
            "event_id": [f"SIM-{i:02d}" for i in range(n)],
            "family": "sanctions",
            "actor": "EU",
            "target": "Russia",
            "kind": "sanctions_package",
            "announced_date": dates,
            "start_date": dates,
            "end_date": pd.NaT,
            "package_number": np.arange(1, n + 1),
            "sectors": [("finance",)] * n,
            "border": "",
            "direction": "tighten",
            "confidence": "high",
            "date_precision": "day",
            "summary": "",
            "source": "",
            "note": "",
            "effective_date": dates,
        }
    )


def sim_panel(
    seed: int = 0,
    *,
    effect: float = TRUE_EFFECT,
    alpha: float = 40.0,
    spike: dict[str, float] | None = None,
    event_months: tuple[str, ...] = EVENT_MONTHS,
) -> xr.Dataset:
    """``detections(month, route, nationality)`` over 2015-01..2022-06.

    The Eastern Borders route has UKR (UkrRussBel) and SYR, IRQ (Others) with seasonal
    negative-binomial counts plus ``effect`` log-rate in each event month; the two control
    routes have only Others, no effect. ``spike`` multiplies the Eastern Borders counts
    in the given months (``{"2019-02": 8.0}``); ``event_months`` are the months with the
    effect.
    """
    rng = np.random.default_rng(seed)
    months = month_range(pd.Timestamp("2015-01-01"), pd.Timestamp("2022-06-01"))
    t = np.arange(len(months))
    season = 0.3 * np.sin(2 * np.pi * months.month.to_numpy() / 12)
    pulse = np.isin([f"{m:%Y-%m}" for m in months], event_months).astype(float)
    mult = np.ones(len(months))
    for m, f in (spike or {}).items():
        mult[[f"{x:%Y-%m}" for x in months].index(m)] = f
    routes = [EB, WMED, WAFR]
    nats = ["IRQ", "SYR", "UKR"]
    base = {
        (EB, "UKR"): 60.0,
        (EB, "SYR"): 40.0,
        (EB, "IRQ"): 30.0,
        (WMED, "SYR"): 200.0,
        (WMED, "IRQ"): 80.0,
        (WAFR, "SYR"): 150.0,
    }
    det = np.zeros((len(months), len(routes), len(nats)))
    for (r, n), level in base.items():
        eta = np.log(level) + season + 0.002 * t
        if r == EB:
            eta = eta + effect * pulse + np.log(mult)
        mu = np.exp(eta)
        lam = rng.gamma(alpha, mu / alpha)
        det[:, routes.index(r), nats.index(n)] = rng.poisson(lam)
    return xr.Dataset(
        {"detections": (("month", "route", "nationality"), det)},
        coords={"month": months, "route": routes, "nationality": nats},
    )


def sim_spec_dict(**changes: Any) -> dict[str, Any]:
    """The simulated model: seasonal negbin, no trend, one events driver, a regime."""
    spec: dict[str, Any] = {
        "name": "sim",
        "hypothesis": "H1",
        "data": {"routes": [EB], "grouping": "ukrrussbel", "start": START, "end": END},
        "likelihood": {"family": "negbin"},
        "baseline": {
            "trend": "none",
            "fourier_order": 1,
            "seasonality": "pooled",
            "regimes": [{"name": "late", "start": "2020-01"}],
        },
        "drivers": [
            {
                "name": "treat",
                "source": "events",
                "filter": {"family": "sanctions", "actor": ["EU"]},
                "kernel": {"name": "immediate", "max_lag": 0},
            }
        ],
    }
    spec.update(changes)
    return spec


def sim_spec(**changes: Any) -> ModelSpec:
    return parse_spec(sim_spec_dict(**changes))
