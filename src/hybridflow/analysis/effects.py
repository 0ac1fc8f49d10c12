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

Usage::

    eff = compute_effects(result.idata)          # xarray.Dataset
    table = effects_table(eff)                   # pandas, one row per driver x series
"""

from __future__ import annotations

import warnings
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
    hdi_over_draws,
)
from hybridflow.models.terms import Design, Draws, driver_contributions, fit_family

__all__ = [
    "compute_effects",
    "effect_draws",
    "effects_table",
    "percent",
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
