"""Driver effects on the scale a reader understands: percent change in expected detections.

For driver ``d`` and series ``s`` (a route x group cell) with cumulative log-rate effect
``beta`` and lag-kernel weights ``w_l`` (summing to one):

- effect at lag ``l`` of one unit of exposure: ``100 * (exp(beta * w_l) - 1)`` percent;
- cumulative effect: ``100 * (exp(beta) - 1)`` percent, the change in expected monthly
  detections once a sustained one-unit exposure has passed through every lag (equivalently
  the lag effects compounded);
- one unit is one event (a pulse or a step) for event drivers, one standard deviation for
  standardised continuous drivers, one spike or milestone month otherwise: the
  ``unit(driver)`` coordinate says which.

Each comes with its posterior mean and median, the HDI (90% by default), ``P(effect > 0)``
and ``P(|effect| < ROPE)`` with ROPE +-10% by default. The counterfactual is the expected
series with one driver's contribution removed (per month and series), with the excess
detections it implies.

For ``outcome = "share"`` models the same numbers are percent changes in the *odds* of the
share group, and expected values are shares.

In readers' units (:func:`units_table`, ``docs/models.md`` section 5a): excess detections
per event (:func:`event_excess_draws`), a continuous driver's percent effect per natural
unit and per interquartile range (:func:`continuous_effect_draws`) and counterfactuals at a
stated reference value (:func:`reference_counterfactual_draws`), all from the fit's draws
and the design and transform it records.

Usage::

    eff = compute_effects(result.idata)          # xarray.Dataset
    table = effects_table(eff)                   # pandas, one row per driver x series
    units = units_table(result.idata)            # pandas, one row per measure x series
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.inference.diagnostics import warn_if_unconverged
from hybridflow.inference.posterior import (
    SAMPLE_DIMS,
    Posterior,
    fit_group,
    has_group,
    hdi_bounds,
    hdi_over_draws,
)
from hybridflow.models.terms import Design, Draws, driver_contributions, fit_family
from hybridflow.months import format_month
from hybridflow.numbers import format_number

__all__ = [
    "CLASS_REFERENCES",
    "SOURCE_REFERENCES",
    "compute_effects",
    "continuous_effect_draws",
    "default_reference",
    "effect_draws",
    "effects_table",
    "event_excess_draws",
    "percent",
    "reference_counterfactual_draws",
    "units_table",
]


def percent(log_effect: Any) -> Any:
    """Log-rate (or log-odds) effect -> percent change: ``100 * (exp(x) - 1)``."""
    return 100.0 * np.expm1(log_effect)


def _is_share(idata: Posterior) -> bool:
    return str(idata["posterior"].attrs.get("outcome", "counts")) == "share"


def _lag_mask(idata: Posterior) -> xr.DataArray | None:
    cd = fit_group(idata, "constant_data") if has_group(idata, "constant_data") else None
    if cd is None or "driver_max_lag" not in cd:
        return None
    lags = fit_group(idata, "posterior")["kernel_weights"]["lag"]
    return lags <= cd["driver_max_lag"]


def effect_draws(idata: Posterior) -> xr.Dataset:
    """Posterior draws of every percent effect.

    Returns
    -------
    xarray.Dataset
        ``lag_pct(chain, draw, driver, route, group, lag)`` (NaN beyond a driver's
        ``max_lag``), ``cumulative_pct(chain, draw, driver, route, group)``,
        ``pooled_pct(chain, draw, driver)`` (the driver's effect across groups) and, with
        per-event drivers, ``event_pct(chain, draw, event, route, group)``.
    """
    post = fit_group(idata, "posterior")
    if "effect" not in post:
        raise ValueError("this fit has no drivers (no 'effect' in the posterior)")
    beta = post["effect"]
    w = post["kernel_weights"]
    out = xr.Dataset()
    lag = percent(beta * w)
    mask = _lag_mask(idata)
    if mask is not None:
        lag = lag.where(mask)
    out["lag_pct"] = lag.transpose(*SAMPLE_DIMS, "driver", "route", "group", "lag")
    out["cumulative_pct"] = percent(beta).transpose(*SAMPLE_DIMS, "driver", "route", "group")
    out["pooled_pct"] = percent(post["effect_mean"])
    if "event_effect" in post:
        out["event_pct"] = percent(post["event_effect"])
    return out


def _summarise(
    draws: xr.DataArray, prefix: str, *, hdi_prob: float, rope: float | None
) -> dict[str, xr.DataArray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        low, high = hdi_over_draws(draws, hdi_prob)
    valid = draws.notnull().all(SAMPLE_DIMS)
    out = {
        f"{prefix}_mean": draws.mean(SAMPLE_DIMS),
        f"{prefix}_median": draws.median(SAMPLE_DIMS),
        f"{prefix}_hdi_low": low,
        f"{prefix}_hdi_high": high,
    }
    if rope is not None:
        out[f"{prefix}_p_positive"] = (draws > 0).mean(SAMPLE_DIMS).where(valid)
        out[f"{prefix}_p_rope"] = (abs(draws) < rope).mean(SAMPLE_DIMS).where(valid)
    return out


def contributions(idata: Posterior) -> xr.DataArray:
    """Each driver's contribution to the linear predictor, draws included.

    Evaluated by the model's driver-effect terms
    (:func:`hybridflow.models.terms.driver_contributions`) on the fit's stored design.

    Returns
    -------
    xarray.DataArray
        ``(chain, draw, driver, month, route, group)``: ``beta * (w * x)[t]`` on the
        log-rate (log-odds) scale; per-event drivers sum their events' terms.
    """
    post, cd = fit_group(idata, "posterior"), fit_group(idata, "constant_data")
    months = post["log_mu"]["month"]
    design = Design.of_constant_data(cd, months.values)
    contrib = driver_contributions(Draws(post), design)
    C, D = int(post.sizes["chain"]), int(post.sizes["draw"])
    return xr.DataArray(
        contrib.reshape(C, D, *contrib.shape[1:]),
        dims=(*SAMPLE_DIMS, "driver", "month", "route", "group"),
        coords={
            "chain": post["chain"],
            "draw": post["draw"],
            "driver": list(post["driver"].values),
            "month": months,
            "route": post["route"],
            "group": post["group"],
        },
        name="contribution",
    )


def _counterfactuals(idata: Posterior, hdi_prob: float) -> dict[str, xr.DataArray]:
    """Expected series, the series without each driver's contribution, and the excess
    (per month and summed), through the family's inverse link."""
    post = fit_group(idata, "posterior")
    inv = fit_family(idata["posterior"].attrs, post.data_vars, _is_share(idata)).inverse_link
    log_mu = post["log_mu"]
    contrib = contributions(idata)
    expected = inv(log_mu).transpose(*SAMPLE_DIMS, "month", "route", "group")
    cf = inv(log_mu - contrib).transpose(*SAMPLE_DIMS, "driver", "month", "route", "group")
    excess = expected - cf
    out: dict[str, xr.DataArray] = {}
    for name, da in (
        ("expected", expected),
        ("counterfactual", cf),
        ("excess", excess),
        ("excess_total", excess.sum("month")),
    ):
        for k, v in _summarise(da.rename(name), name, hdi_prob=hdi_prob, rope=None).items():
            if not k.endswith("_median"):
                out[k] = v
    return out


def compute_effects(
    idata: Posterior,
    *,
    hdi_prob: float = 0.9,
    rope: float = 10.0,
    counterfactual: bool = True,
) -> xr.Dataset:
    """Effects of every driver as percent changes, with HDIs and probabilities.

    Parameters
    ----------
    idata
        A fit from :func:`hybridflow.inference.fit.fit_spec` (or
        :func:`~hybridflow.inference.store.load_result`).
    hdi_prob
        HDI mass (default 0.9).
    rope
        Half-width of the region of practical equivalence, in percent (default 10: an
        effect between -10% and +10% is "practically null").
    counterfactual
        Also compute the expected series and the counterfactual without each driver.

    Returns
    -------
    xarray.Dataset
        For ``q`` in ``cumulative`` (driver, route, group), ``lag`` (driver, route, group,
        lag), ``pooled`` (driver) and, with per-event drivers, ``event`` (event, route,
        group): ``{q}_mean``, ``{q}_median``, ``{q}_hdi_low``, ``{q}_hdi_high``,
        ``{q}_p_positive``, ``{q}_p_rope``; ``log_effect_mean`` and ``log_effect_sd`` (the
        link-scale parameter). With ``counterfactual``: ``expected_*`` (month, route,
        group), ``counterfactual_*`` (driver, month, route, group), ``excess_*`` (expected
        minus counterfactual, per month) and ``excess_total_*`` (summed over the window),
        each ``_mean``, ``_hdi_low``, ``_hdi_high``. Coordinate ``unit(driver)`` says what
        one unit of exposure is; attrs record ``hdi_prob``, ``rope``, ``scale`` and the
        fit's ``converged`` flag (a loud warning is issued if it is 0).
    """
    if not 0 < hdi_prob < 1:
        raise ValueError(f"hdi_prob must be in (0, 1), got {hdi_prob}")
    if not rope > 0:
        raise ValueError(f"rope must be > 0 (percent), got {rope}")
    attrs = dict(idata["posterior"].attrs)
    if attrs.get("hybridflow_result"):
        warn_if_unconverged(attrs, where="effects")
    draws = effect_draws(idata)
    out = xr.Dataset()
    for q in draws.data_vars:
        da = draws[q].rename(str(q))
        prefix = str(q).removesuffix("_pct")
        for k, v in _summarise(da, prefix, hdi_prob=hdi_prob, rope=rope).items():
            out[k] = v
    beta = fit_group(idata, "posterior")["effect"]
    out["log_effect_mean"] = beta.mean(SAMPLE_DIMS)
    out["log_effect_sd"] = beta.std(SAMPLE_DIMS)
    cd = fit_group(idata, "constant_data") if has_group(idata, "constant_data") else None
    if cd is not None and "driver_unit" in cd:
        out = out.assign_coords(unit=("driver", [str(u) for u in cd["driver_unit"].values]))
    if cd is not None and "event_driver" in cd and "event" in out.dims:
        out = out.assign_coords(event_driver=("event", [str(o) for o in cd["event_driver"].values]))
    if counterfactual and cd is not None and "driver_exposure" in cd:
        out.update(_counterfactuals(idata, hdi_prob))
    out.attrs.update(
        hdi_prob=float(hdi_prob),
        rope=float(rope),
        scale=(
            "percent change in the odds of the share group"
            if _is_share(idata)
            else "percent change in expected monthly detections"
        ),
        cumulative="100 * (exp(beta) - 1): a sustained one-unit exposure after all lags",
        lag="100 * (exp(beta * w_lag) - 1): one unit of exposure, at that lag only",
        converged=int(attrs.get("converged", -1)),
        spec_name=str(attrs.get("spec_name", "")),
        spec_hash=str(attrs.get("spec_hash", "")),
    )
    return out


def _effect_stats(eff: xr.Dataset, prefix: str, sel: dict[str, Any]) -> dict[str, Any]:
    """The percent-effect summary columns of quantity ``prefix`` at ``sel``."""
    return {
        "pct_mean": float(eff[f"{prefix}_mean"].sel(sel)),
        "pct_median": float(eff[f"{prefix}_median"].sel(sel)),
        "pct_hdi_low": float(eff[f"{prefix}_hdi_low"].sel(sel)),
        "pct_hdi_high": float(eff[f"{prefix}_hdi_high"].sel(sel)),
        "p_positive": float(eff[f"{prefix}_p_positive"].sel(sel)),
        "p_rope": float(eff[f"{prefix}_p_rope"].sel(sel)),
    }


def _table_row(
    level: str,
    driver: str,
    event: str,
    route: str,
    group: str,
    unit: str,
    stats: dict[str, Any],
    *,
    peak_lag: float = np.nan,
    log_effect: tuple[float, float] = (np.nan, np.nan),
) -> dict[str, Any]:
    """One row of :func:`effects_table` (``log_effect``: the link-scale mean and sd)."""
    return {
        "level": level,
        "driver": driver,
        "event": event,
        "route": route,
        "group": group,
        "unit": unit,
        **stats,
        "peak_lag": peak_lag,
        "log_effect_mean": log_effect[0],
        "log_effect_sd": log_effect[1],
    }


def _driver_rows(eff: xr.Dataset, d: str, unit: str) -> list[dict[str, Any]]:
    """Driver ``d``'s cumulative effect on each series, with its peak lag, then pooled."""
    rows = []
    lag_mean = eff["lag_mean"].sel(driver=d)
    for r in eff["route"].values:
        for g in eff["group"].values:
            sel = {"driver": d, "route": r, "group": g}
            lm = lag_mean.sel(route=r, group=g)
            peak = int(lm["lag"][int(np.nanargmax(np.abs(lm.values)))]) if lm.notnull().any() else 0
            log_effect = (
                float(eff["log_effect_mean"].sel(sel)),
                float(eff["log_effect_sd"].sel(sel)),
            )
            stats = _effect_stats(eff, "cumulative", sel)
            rows.append(
                _table_row(
                    "series",
                    d,
                    "",
                    str(r),
                    str(g),
                    unit,
                    stats,
                    peak_lag=peak,
                    log_effect=log_effect,
                )
            )
    pooled = _effect_stats(eff, "pooled", {"driver": d})
    rows.append(_table_row("pooled", d, "", "(all)", "(all)", unit, pooled))
    return rows


def _event_rows(eff: xr.Dataset) -> list[dict[str, Any]]:
    """Each per-event effect on each series (none without per-event drivers)."""
    if "event_mean" not in eff:
        return []
    owners = (
        eff["event_driver"].values if "event_driver" in eff.coords else [""] * eff.sizes["event"]
    )
    return [
        _table_row(
            "event",
            str(owner),
            str(e),
            str(r),
            str(g),
            "one event",
            _effect_stats(eff, "event", {"event": e, "route": r, "group": g}),
        )
        for e, owner in zip(eff["event"].values, owners, strict=True)
        for r in eff["route"].values
        for g in eff["group"].values
    ]


def effects_table(
    source: Posterior | xr.Dataset,
    *,
    hdi_prob: float = 0.9,
    rope: float = 10.0,
) -> pd.DataFrame:
    """One row per driver x series (plus pooled and per-event rows): the cumulative effect.

    Columns: ``level`` (``series``, ``pooled`` or ``event``), ``driver``, ``event``,
    ``route``, ``group``, ``unit``, ``pct_mean``, ``pct_median``, ``pct_hdi_low``,
    ``pct_hdi_high``, ``p_positive``, ``p_rope``, ``peak_lag`` (lag with the largest mean
    effect), ``log_effect_mean``, ``log_effect_sd``, ``hdi_prob``, ``rope``,
    ``converged``.
    """
    eff = (
        compute_effects(source, hdi_prob=hdi_prob, rope=rope, counterfactual=False)
        if isinstance(source, Posterior)
        else source
    )
    drivers = [str(d) for d in eff["driver"].values]
    units = [str(u) for u in eff["unit"].values] if "unit" in eff.coords else [""] * len(drivers)
    rows = [
        row for d, unit in zip(drivers, units, strict=True) for row in _driver_rows(eff, d, unit)
    ]
    table = pd.DataFrame(rows + _event_rows(eff))
    table["hdi_prob"] = eff.attrs.get("hdi_prob")
    table["rope"] = eff.attrs.get("rope")
    table["converged"] = eff.attrs.get("converged")
    return table


# ------------------------------------------------------------------ effects in readers' units
#
# The percent effects above are per unit of *exposure* and, for events, a change in the
# expected count of a month a sustained exposure has passed through: neither is a number of
# detections. The functions below re-express the same draws: excess detections per event,
# percent change per natural unit and per interquartile range of a continuous driver, and
# counterfactuals at a stated reference value of the driver.

#: Default counterfactual reference by the driver's class (``driver_class`` in the fit):
#: events and rule-made (0/1) drivers: no exposure at all; continuous drivers: their 10th
#: percentile over the months they are observed (a level the war-time series actually
#: took, so the counterfactual is no extrapolation). Territorial gains take ``zero`` (no
#: ground changed hands, a level the series reaches) in :data:`SOURCE_REFERENCES`.
CLASS_REFERENCES: dict[str, str] = {"event": "none", "derived": "none", "continuous": "p10"}
#: Default references that depend on the driver's source instead of its class.
SOURCE_REFERENCES: dict[str, str] = {"territory": "zero"}


class _Fit:
    """A fit's draws, stored design and expected values, read once (numpy, sample-major)."""

    def __init__(self, idata: Posterior) -> None:
        self.post = fit_group(idata, "posterior")
        if "effect" not in self.post:
            raise ValueError("this fit has no drivers (no 'effect' in the posterior)")
        if not has_group(idata, "constant_data") or "driver_exposure" not in fit_group(
            idata, "constant_data"
        ):
            raise ValueError("this fit stores no driver exposures (constant_data)")
        self.cd = fit_group(idata, "constant_data")
        self.share = _is_share(idata)
        self.inverse = fit_family(
            idata["posterior"].attrs, self.post.data_vars, self.share
        ).inverse_link
        self.months = pd.DatetimeIndex(self.post["log_mu"]["month"].values)
        self.draws = Draws(self.post)
        self.design = Design.of_constant_data(self.cd, self.months)
        self.drivers = [str(d) for d in self.post["driver"].values]
        self.log_mu = self.draws.get("log_mu", "month", "route", "group")
        self.expected = np.asarray(self.inverse(self.log_mu))

    def text(self, name: str, driver: str, default: str = "") -> str:
        return str(self.cd[name].sel(driver=driver).values) if name in self.cd else default

    def number(self, name: str, driver: str, default: float = np.nan) -> float:
        return float(self.cd[name].sel(driver=driver).values) if name in self.cd else default

    def driver_class(self, driver: str) -> str:
        """``event``, ``derived`` or ``continuous`` (older fits: events when per-event or
        when the exposure holds only whole numbers)."""
        if "driver_class" in self.cd:
            return self.text("driver_class", driver)
        x = self.cd["driver_exposure"].sel(driver=driver).values
        return "event" if np.allclose(x, np.round(x)) else "continuous"

    def contribution(self, design: Design, driver: str) -> np.ndarray:
        """``(sample, month, route, group)``: the driver's term under ``design``."""
        return driver_contributions(self.draws, design)[:, self.drivers.index(driver)]

    def excess(self, contribution: np.ndarray, reference: np.ndarray | float = 0.0) -> np.ndarray:
        """Expected minus expected with ``contribution`` replaced by ``reference``
        (``(sample, month, route, group)``; share models: in share points x 100)."""
        cf = np.asarray(self.inverse(self.log_mu - contribution + reference))
        return (self.expected - cf) * (100.0 if self.share else 1.0)

    def observed_window(self, driver: str) -> np.ndarray:
        """Window months in which the driver's series is observed (all, for events)."""
        lo, hi = self.text("driver_observed_from", driver), self.text("driver_observed_to", driver)
        keep = np.ones(len(self.months), dtype=bool)
        if lo:
            keep &= self.months >= pd.Timestamp(lo + "-01")
        if hi:
            keep &= self.months <= pd.Timestamp(hi + "-01")
        return keep

    def window_exposure(self, driver: str) -> np.ndarray:
        """The driver's exposure in the window months where it is observed."""
        x = self.cd["driver_exposure"].sel(driver=driver).values[self.design.history :]
        return np.asarray(x[self.observed_window(driver)], dtype=float)

    def as_samples(
        self, values: np.ndarray, dims: tuple[str, ...], coords: dict[str, Any]
    ) -> xr.DataArray:
        """``(sample, ...)`` numpy -> ``(chain, draw, ...)`` DataArray."""
        C, D = int(self.post.sizes["chain"]), int(self.post.sizes["draw"])
        return xr.DataArray(
            values.reshape(C, D, *values.shape[1:]),
            dims=(*SAMPLE_DIMS, *dims),
            coords={"chain": self.post["chain"], "draw": self.post["draw"], **coords},
        )

    @property
    def series_coords(self) -> dict[str, Any]:
        return {"route": self.post["route"].values, "group": self.post["group"].values}


# -- excess detections per event -----------------------------------------------------------
def _event_columns(fit: _Fit) -> list[tuple[str, str, str, np.ndarray]]:
    """``(label, driver, event id, column over month_ext)`` of every event of every event
    driver (fits made before the columns were recorded: the per-event drivers' only)."""
    cd = fit.cd
    if "driver_event_exposure" in cd:
        x = cd["driver_event_exposure"].transpose("driver_event", "month_ext")
        return [
            (str(label), str(owner), str(eid), np.asarray(row, dtype=float))
            for label, owner, eid, row in zip(
                x["driver_event"].values,
                cd["driver_event_owner"].values,
                cd["driver_event_id"].values,
                x.values,
                strict=True,
            )
        ]
    d = fit.design
    ids = [str(i) for i in cd["event_id"].values] if "event_id" in cd else list(d.events)
    return [
        (f"{o}:{i}", o, i, d.event_exposure[j])
        for j, (o, i) in enumerate(zip(d.event_driver, ids, strict=True))
    ]


def _rule_month_columns(fit: _Fit) -> list[tuple[str, str, str, np.ndarray]]:
    """Rule-made (spike, milestone) drivers: each month the rule fires is one "event";
    so are an aggregate event driver's months in a fit that recorded no event columns."""
    ext = pd.DatetimeIndex(fit.cd["driver_exposure"]["month_ext"].values)
    recorded = "driver_event_exposure" in fit.cd
    out = []
    for k, d in enumerate(fit.drivers):
        cls = fit.driver_class(d)
        unrecorded = cls == "event" and not recorded and not fit.design.per_event[k]
        if cls != "derived" and not unrecorded:
            continue
        x = fit.design.exposure[k]
        for t in np.flatnonzero(x != 0):
            column = np.zeros_like(x)
            column[t] = x[t]
            month = format_month(ext[int(t)])
            out.append((f"{d}:{month}", d, month, column))
    return out


def _one_event_design(fit: _Fit, driver: str, event_id: str, column: np.ndarray) -> Design:
    """The fit's design with every exposure zero but one event's."""
    d, k = fit.design, fit.drivers.index(driver)
    exposure, events = np.zeros_like(d.exposure), np.zeros_like(d.event_exposure)
    if d.per_event[k]:
        ids = [str(i) for i in fit.cd["event_id"].values] if "event_id" in fit.cd else d.events
        rows = [
            j
            for j, (o, i) in enumerate(zip(d.event_driver, ids, strict=True))
            if o == driver and i == event_id
        ]
        events[rows] = d.event_exposure[rows]
    else:
        exposure[k] = column
    return dataclasses.replace(d, exposure=exposure, event_exposure=events)


def _lag_months(column: np.ndarray, history: int, n_months: int, max_lag: int) -> tuple[int, bool]:
    """How many of the months an event's lags reach lie in the window, and whether all do."""
    reached: set[int] = set()
    for t in np.flatnonzero(column != 0):
        reached.update(range(int(t), int(t) + max_lag + 1))
    inside = [t for t in reached if history <= t < history + n_months]
    return len(inside), len(inside) == len(reached)


def event_excess_draws(idata: Posterior, drivers: list[str] | None = None) -> xr.Dataset:
    """Posterior draws of the detections each event added, per series.

    For event ``e`` of driver ``d`` (its own effect ``b`` for per-event drivers, the
    driver's otherwise) with contribution ``c_t = b * (w * x_e)[t]`` to the log rate::

        excess_e = sum_t mu_t * (1 - exp(-c_t)) = sum_l mu0_{t0+l} * (exp(b * w_l) - 1)

    over the window months, ``mu`` the fitted expected count and ``mu0`` the same without
    this event (a unit pulse in month ``t0``: the sum runs over its lags). Months beyond
    the window are not counted (``complete`` is False for such events). Rule-made drivers
    (spikes, milestones) count each month the rule fires as one event. Share models:
    percentage points of the share, summed over the months.

    ``drivers`` keeps only those drivers' events.

    Returns
    -------
    xarray.Dataset
        ``excess(chain, draw, driver_event, route, group)``, coords ``event_driver``,
        ``event_id``, ``lag_months`` (lag months inside the window) and ``complete``.
    """
    fit = _Fit(idata)
    columns = [
        c
        for c in _event_columns(fit) + _rule_month_columns(fit)
        if drivers is None or c[1] in drivers
    ]
    if not columns:
        raise ValueError("this fit has no event drivers")
    values, lag_months, complete = [], [], []
    for _, driver, event_id, column in columns:
        c = fit.contribution(_one_event_design(fit, driver, event_id, column), driver)
        values.append(fit.excess(c).sum(axis=1))
        max_lag = int(fit.number("driver_max_lag", driver, fit.post.sizes["lag"] - 1))
        n, full = _lag_months(column, fit.design.history, len(fit.months), max_lag)
        lag_months.append(n)
        complete.append(full)
    excess = fit.as_samples(
        np.stack(values, axis=1),
        ("driver_event", "route", "group"),
        {"driver_event": [c[0] for c in columns], **fit.series_coords},
    )
    return xr.Dataset({"excess": excess}).assign_coords(
        event_driver=("driver_event", [c[1] for c in columns]),
        event_id=("driver_event", [c[2] for c in columns]),
        lag_months=("driver_event", lag_months),
        complete=("driver_event", complete),
    )


def _with_total(draws: xr.DataArray) -> xr.DataArray:
    """Per series plus ``(all)``: the sum over routes and groups."""
    total = draws.sum(["route", "group"]).expand_dims(route=["(all)"], group=["(all)"])
    per = draws.stack(series=("route", "group"))
    tot = total.stack(series=("route", "group"))
    return xr.concat([per, tot], dim="series")


def _stats(draws: xr.DataArray, hdi_prob: float) -> dict[str, float]:
    """Mean, HDI and P(> 0) of one quantity's draws."""
    vals = np.asarray(draws.values, dtype=float).ravel()
    low, high = hdi_bounds(vals, hdi_prob)
    return {
        "mean": float(np.mean(vals)),
        "hdi_low": low,
        "hdi_high": high,
        "p_positive": float(np.mean(vals > 0)),
    }


# -- continuous drivers: per natural unit and per interquartile range ---------------------
def _to_raw(fit: _Fit, driver: str, x: float) -> float:
    """An exposure value -> the driver's raw units (through the recorded transform)."""
    v = x * fit.number("driver_scale", driver, 1.0) + fit.number("driver_center", driver, 0.0)
    return float(np.expm1(v)) if bool(fit.number("driver_log", driver, 0.0)) else float(v)


def _to_exposure(fit: _Fit, driver: str, raw: float) -> float:
    """A level in the driver's raw units -> its exposure (capped, logged, scaled)."""
    cap = fit.number("driver_cap", driver)
    v = min(float(raw), cap) if np.isfinite(cap) else float(raw)
    if bool(fit.number("driver_log", driver, 0.0)):
        if v <= -1:
            raise ValueError(f"driver '{driver}' is logged (log1p): a level must be > -1")
        v = float(np.log1p(v))
    return (v - fit.number("driver_center", driver, 0.0)) / fit.number("driver_scale", driver, 1.0)


def continuous_effect_draws(idata: Posterior) -> xr.Dataset:
    """Posterior draws of each continuous driver's effect per natural unit and per IQR.

    - ``per_unit_pct``: ``100 * (exp(beta * per / scale) - 1)``, the percent change in
      expected monthly detections when the raw series is ``per`` units higher (the fit's
      ``driver_per``, e.g. 10,000 losses a month) for as long as the kernel lasts; NaN for a
      logged driver (no constant per-unit effect) and for a capped one it is the effect
      below the cap;
    - ``per_iqr_pct``: ``100 * (exp(beta * (q75 - q25)) - 1)``, the same for a move of the
      exposure from its 25th to its 75th percentile over the window months the series is
      observed.

    Each per series (``driver, route, group``) and for the population effect
    (``pooled_per_unit_pct``, ``pooled_per_iqr_pct``). Coordinates: ``per``, ``per_label``,
    ``iqr_low_raw``, ``iqr_high_raw`` (the quartiles in raw units), ``natural_unit``,
    ``transform``.
    """
    fit = _Fit(idata)
    names = [d for d in fit.drivers if fit.driver_class(d) == "continuous"]
    if not names:
        raise ValueError("this fit has no continuous drivers")
    beta = fit.post["effect"].sel(driver=names)
    pooled = fit.post["effect_mean"].sel(driver=names)
    per = np.array([fit.number("driver_per", d) for d in names])
    scale = np.array([fit.number("driver_scale", d, 1.0) for d in names])
    quartiles = np.array([np.quantile(fit.window_exposure(d), [0.25, 0.75]) for d in names])
    unit = xr.DataArray(per / scale, dims="driver", coords={"driver": names})
    iqr = xr.DataArray(quartiles[:, 1] - quartiles[:, 0], dims="driver", coords={"driver": names})
    out = xr.Dataset(
        {
            "per_unit_pct": percent(beta * unit),
            "per_iqr_pct": percent(beta * iqr),
            "pooled_per_unit_pct": percent(pooled * unit),
            "pooled_per_iqr_pct": percent(pooled * iqr),
        }
    )
    return out.assign_coords(
        per=("driver", per),
        per_label=("driver", [fit.text("driver_per_label", d) for d in names]),
        iqr_low_raw=(
            "driver",
            [_to_raw(fit, d, q) for d, q in zip(names, quartiles[:, 0], strict=True)],
        ),
        iqr_high_raw=(
            "driver",
            [_to_raw(fit, d, q) for d, q in zip(names, quartiles[:, 1], strict=True)],
        ),
        natural_unit=("driver", [fit.text("driver_natural_unit", d) for d in names]),
        transform=("driver", [fit.text("driver_transform", d) for d in names]),
    )


# -- counterfactuals at a stated reference --------------------------------------------------
def default_reference(driver_class: str, source: str) -> str:
    """The documented default reference of a driver (:data:`CLASS_REFERENCES`,
    :data:`SOURCE_REFERENCES`)."""
    if driver_class == "continuous" and source in SOURCE_REFERENCES:
        return SOURCE_REFERENCES[source]
    return CLASS_REFERENCES.get(driver_class, "none")


def _reference_exposure(fit: _Fit, driver: str, reference: str | float) -> tuple[float | None, str]:
    """The reference as an exposure value (None: no exposure at all) and in words."""
    cls = fit.driver_class(driver)
    if reference in ("none", "zero") and cls != "continuous":
        return None, "no events" if cls == "event" else "no such months"
    if reference == "none":
        return None, "the driver's term removed (exposure 0)"
    if cls != "continuous":
        raise ValueError(
            f"reference {reference!r} for driver '{driver}': an {cls} driver takes 'none' "
            "(no exposure) only"
        )
    if reference == "zero":
        return _to_exposure(fit, driver, 0.0), "zero"
    if isinstance(reference, str):
        if not (reference.startswith("p") and reference[1:].replace(".", "", 1).isdigit()):
            raise ValueError(
                f"reference {reference!r} for driver '{driver}': expected 'none', 'zero', "
                "'pNN' (a percentile, e.g. 'p10') or a number in the driver's raw units"
            )
        q = float(reference[1:])
        if not 0 <= q <= 100:
            raise ValueError(f"reference {reference!r}: a percentile must be in 0..100")
        x = float(np.percentile(fit.window_exposure(driver), q))
        return x, f"its {q:g}th percentile ({format_number(_to_raw(fit, driver, x), 4)})"
    return _to_exposure(fit, driver, float(reference)), format_number(float(reference), 4)


def _observed_ext(fit: _Fit, driver: str) -> np.ndarray:
    """Months of history + window in which the driver's series is observed."""
    ext = pd.DatetimeIndex(fit.cd["driver_exposure"]["month_ext"].values)
    lo, hi = fit.text("driver_observed_from", driver), fit.text("driver_observed_to", driver)
    keep = np.ones(len(ext), dtype=bool)
    if lo:
        keep &= ext >= pd.Timestamp(lo + "-01")
    if hi:
        keep &= ext <= pd.Timestamp(hi + "-01")
    return keep


def reference_counterfactual_draws(
    idata: Posterior, driver: str, reference: str | float | None = None
) -> tuple[xr.DataArray, xr.DataArray, str]:
    """Expected detections and the counterfactual with ``driver`` held at ``reference``.

    ``reference``: ``"none"`` (no exposure: the driver's term removed; the default for
    events and rule-made drivers), ``"zero"`` (the raw series at 0, e.g. no territorial
    gains), ``"pNN"`` (the NNth percentile of its exposure over the window months it is
    observed; ``"p10"`` is the default for continuous drivers) or a number in raw units.
    A continuous driver is set to the reference in the months its series is observed
    (lag history included); months before its data keep their neutral fill.

    Returns
    -------
    (expected, counterfactual, reference in words)
        Both ``(chain, draw, month, route, group)`` through the family's inverse link.
    """
    fit = _Fit(idata)
    if driver not in fit.drivers:
        raise ValueError(f"no driver {driver!r}; drivers: {fit.drivers}")
    if reference is None:
        reference = default_reference(fit.driver_class(driver), fit.text("driver_source", driver))
    value, words = _reference_exposure(fit, driver, reference)
    c = fit.contribution(fit.design, driver)
    c_ref = np.zeros_like(c)
    if value is not None:
        k = fit.drivers.index(driver)
        exposure = fit.design.exposure.copy()
        exposure[k, _observed_ext(fit, driver)] = value
        c_ref = fit.contribution(dataclasses.replace(fit.design, exposure=exposure), driver)
    coords = {"month": fit.months, **fit.series_coords}
    dims = ("month", "route", "group")
    expected = fit.as_samples(fit.expected, dims, coords)
    cf = fit.as_samples(np.asarray(fit.inverse(fit.log_mu - c + c_ref)), dims, coords)
    return expected, cf, words


# -- one table in readers' units -------------------------------------------------------------
def _unit_row(
    driver: str,
    measure: str,
    route: Any,
    group: Any,
    unit: str,
    stats: dict[str, float],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "driver": driver,
        "measure": measure,
        "route": str(route),
        "group": str(group),
        "unit": unit,
        **stats,
        **extra,
    }


def _series_rows(
    draws: xr.DataArray, driver: str, measure: str, unit: str, hdi_prob: float, **extra: Any
) -> list[dict[str, Any]]:
    """One row per series of ``draws`` (stacked ``series``, :func:`_with_total`)."""
    rows = []
    for i in range(draws.sizes["series"]):
        s = draws.isel(series=i)
        stats = _stats(s, hdi_prob)
        rows.append(
            _unit_row(driver, measure, s["route"].values, s["group"].values, unit, stats, **extra)
        )
    return rows


def _per_event_rows(
    fit: _Fit, idata: Posterior, hdi_prob: float, drivers: list[str]
) -> list[dict[str, Any]]:
    """Excess detections per event: the mean over a driver's events whose lags all lie
    in the window (all its events when none does)."""
    if not any(fit.driver_class(d) in ("event", "derived") for d in drivers):
        return []
    ex = event_excess_draws(idata, drivers)
    what = "share points x months" if fit.share else "detections"
    rows = []
    for d in dict.fromkeys(str(o) for o in ex["event_driver"].values):
        mine = ex["excess"].where(ex["event_driver"] == d, drop=True)
        complete = mine["complete"].values.astype(bool)
        used = mine.isel(driver_event=np.flatnonzero(complete)) if complete.any() else mine
        counts = {
            "n_events": int(mine.sizes["driver_event"]),
            "n_used": int(used.sizes["driver_event"]),
        }
        per_event = _with_total(used.mean("driver_event"))
        rows += _series_rows(
            per_event, d, "excess_per_event", f"{what} per event", hdi_prob, **counts
        )
    return rows


def _continuous_rows(idata: Posterior, hdi_prob: float) -> list[dict[str, Any]]:
    """Percent change per natural unit and per IQR, per series and pooled."""
    try:
        cont = continuous_effect_draws(idata)
    except ValueError:
        return []
    rows = []
    for d in [str(v) for v in cont["driver"].values]:
        c = cont.sel(driver=d)
        lo, hi = (
            format_number(float(c["iqr_low_raw"]), 4),
            format_number(float(c["iqr_high_raw"]), 4),
        )
        natural = f" {c['natural_unit'].values}" if str(c["natural_unit"].values) else ""
        units = {
            "per_unit": f"% per {c['per_label'].values}",
            "per_iqr": f"% per IQR ({lo} to {hi}{natural})",
        }
        for m, unit in units.items():
            if m == "per_unit" and not str(c["per_label"].values):
                continue
            draws = c[f"{m}_pct"]
            for r in draws["route"].values:
                for g in draws["group"].values:
                    stats = _stats(draws.sel(route=r, group=g), hdi_prob)
                    rows.append(_unit_row(d, f"pct_{m}", r, g, unit, stats))
            rows.append(
                _unit_row(
                    d, f"pct_{m}", "(all)", "(pooled)", unit, _stats(c[f"pooled_{m}_pct"], hdi_prob)
                )
            )
    return rows


def _reference_rows(
    idata: Posterior,
    fit: _Fit,
    references: Mapping[str, str | float],
    hdi_prob: float,
    drivers: list[str],
) -> list[dict[str, Any]]:
    """Excess detections over the window against each driver's reference."""
    rows = []
    scale = 100.0 if fit.share else 1.0
    what = "share points x months" if fit.share else "detections"
    for d in drivers:
        expected, cf, words = reference_counterfactual_draws(idata, d, references.get(d))
        total = _with_total(((expected - cf) * scale).sum("month"))
        unit = f"{what} over the window vs {words}"
        rows += _series_rows(total, d, "excess_vs_reference", unit, hdi_prob, reference=words)
    return rows


def units_table(
    idata: Posterior,
    *,
    hdi_prob: float = 0.9,
    references: Mapping[str, str | float] | None = None,
    drivers: list[str] | None = None,
) -> pd.DataFrame:
    """Every driver's effect in units a reader can use, one row per quantity and series.

    ``measure``: ``excess_per_event`` (event and rule-made drivers: detections an event
    added over its lags, :func:`event_excess_draws`, averaged over the driver's events),
    ``pct_per_unit`` and ``pct_per_iqr`` (continuous drivers,
    :func:`continuous_effect_draws`; group ``(pooled)``: the population effect) and
    ``excess_vs_reference`` (every driver: expected minus the counterfactual at its
    reference, summed over the window, :func:`reference_counterfactual_draws`;
    ``references`` overrides the defaults per driver). Route and group ``(all)`` are sums
    over the series; ``drivers`` keeps only those drivers' rows. Columns: ``driver, class,
    measure, route, group, unit, mean, hdi_low, hdi_high, p_positive`` (and ``n_events``,
    ``n_used``, ``reference`` where they apply), ``hdi_prob``, ``converged``.
    """
    if not 0 < hdi_prob < 1:
        raise ValueError(f"hdi_prob must be in (0, 1), got {hdi_prob}")
    fit = _Fit(idata)
    unknown = sorted((set(references or {}) | set(drivers or [])) - set(fit.drivers))
    if unknown:
        raise ValueError(f"unknown driver(s) {unknown}; drivers: {fit.drivers}")
    keep = fit.drivers if drivers is None else list(drivers)
    rows = _per_event_rows(fit, idata, hdi_prob, keep) + _continuous_rows(idata, hdi_prob)
    rows += _reference_rows(idata, fit, dict(references or {}), hdi_prob, keep)
    table = pd.DataFrame([r for r in rows if r["driver"] in keep])
    table.insert(1, "class", [fit.driver_class(d) for d in table["driver"]])
    table["hdi_prob"] = hdi_prob
    table["converged"] = int(idata["posterior"].attrs.get("converged", -1))
    return table
