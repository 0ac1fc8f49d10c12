"""Prior and posterior predictive checks: interval coverage, randomised PIT, quantile bands.

A model that describes the counts well produces replicated counts ``y_rep`` among which the
observed counts look typical: about half of them inside the central 50% predictive
interval, nine in ten inside the 90% interval, and probability integral transform (PIT)
values spread evenly over (0, 1).

Predictive draws are simulated here, in numpy, from the likelihood the model uses
(negative binomial, Poisson, binomial or beta-binomial) for **every** cell of
``log_mu(month, route, group)``, observed or not, so the bands cover gaps too; coverage
and PIT use the observed cells only.

Definitions
-----------
coverage (``cover50``, ``cover90``)
    Share of observed counts inside the central interval ``[q_lo, q_hi]`` of their
    predictive draws (``inverted_cdf`` quantiles, bounds inclusive), which is what a
    reader counts on a band plot. With small counts ties make a closed interval hold more
    than its nominal mass, so these can exceed 50% / 90% even for a calibrated model.
PIT (``pit``)
    Randomised PIT for discrete counts: ``u = P(y_rep < y) + V * P(y_rep = y)`` with
    ``V ~ U(0, 1)`` (Czado, Gneiting and Held 2009), exactly uniform under calibration
    whatever the ties. ``cover50_pit`` / ``cover90_pit`` are the shares of ``u`` in
    ``[0.25, 0.75]`` / ``[0.05, 0.95]``: interval coverage with ties split at random.
uniformity (``pit_ks``, ``pit_ks_p``)
    Kolmogorov-Smirnov distance of the PIT values from U(0, 1) and its p-value. The PIT
    here is in-sample (the posterior saw the counts), which pulls values towards 0.5: a
    hump-shaped histogram means over-dispersed predictions, a U shape over-confident ones.
    Months are serially correlated, so read the p-value as a rough guide.

Usage::

    ppd = posterior_predictive(result, n_draws=500, seed=1)
    coverage = predictive_coverage(ppd)              # one row per series + "(all)"
    bands = predictive_bands(ppd)                    # (quantile, month, route, group)
    pit = pit_values(ppd)                            # (month, route, group), NaN unobserved
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from hybridflow.inference.posterior import Posterior, as_posterior, fit_group, has_group
from hybridflow.models.terms import FAMILIES as _FAMILY_CLASSES
from hybridflow.models.terms import Family, family_named, fit_family

__all__ = [
    "FAMILIES",
    "TOTAL",
    "PredictiveCheck",
    "observed_counts",
    "pit_values",
    "posterior_predictive",
    "predictive_bands",
    "predictive_check",
    "predictive_coverage",
    "prior_predictive",
    "simulate_counts",
    "with_route_totals",
]

FAMILIES: tuple[str, ...] = tuple(_FAMILY_CLASSES)
#: Label of the route-total series added by :func:`with_route_totals`.
TOTAL = "(total)"
BAND_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
CELL_DIMS = ("month", "route", "group")


# ---------------------------------------------------------------------------- simulation


def simulate_counts(
    family: str,
    eta: np.ndarray,
    rng: np.random.Generator,
    *,
    dispersion: np.ndarray | None = None,
    trials: np.ndarray | None = None,
) -> np.ndarray:
    """Draw counts from the model's likelihood, cell by cell
    (:meth:`hybridflow.models.terms.Family.simulate`).

    Parameters
    ----------
    family
        ``negbin``, ``poisson`` (``eta`` is the log mean) or ``binomial``,
        ``betabinomial`` (``eta`` is the log-odds).
    eta
        Linear predictor, any shape.
    dispersion
        Broadcastable to ``eta``: the negative binomial's ``alpha`` (variance
        ``mu + mu^2 / alpha``, PyMC's parametrisation) or the beta-binomial's
        concentration ``kappa``.
    trials
        Broadcastable to ``eta``: binomial trials; NaN where unknown (the draw is NaN).

    Returns
    -------
    numpy.ndarray
        Float array of counts, shape of ``eta``.
    """
    fam = family_named(family)
    return fam.simulate(np.asarray(eta, dtype=float), rng, dispersion, trials)


def _family(idata: Posterior, family: str | None) -> Family:
    if family is not None:
        return family_named(family)
    has_trials = has_group(idata, "constant_data") and "trials" in idata["constant_data"]
    post = fit_group(idata, "posterior")
    return fit_family(idata["posterior"].attrs, post.data_vars, has_trials)


def _predictive_dataset(
    y_rep: np.ndarray,
    coords: dict[str, Any],
    observed: xr.DataArray,
    trials: xr.DataArray | None,
    *,
    family: str,
    kind: str,
) -> xr.Dataset:
    ds = xr.Dataset(
        {
            "y_rep": (("sample", *CELL_DIMS), y_rep),
            "y": observed.transpose(*CELL_DIMS).reset_coords(drop=True),
        },
        coords={"sample": np.arange(y_rep.shape[0]), **coords},
    )
    if trials is not None:
        ds["trials"] = trials.transpose(*CELL_DIMS).reset_coords(drop=True)
    ds.attrs.update(family=family, kind=kind)
    return ds


def observed_counts(source: Any) -> xr.DataArray:
    """Observed ``y(month, route, group)`` of a fit (NaN where not observed)."""
    idata = as_posterior(source)
    if not has_group(idata, "constant_data") or "y" not in idata["constant_data"]:
        raise ValueError("the fit has no constant_data 'y' (observed counts by cell)")
    return idata["constant_data"]["y"].transpose(*CELL_DIMS)


def _sample_index(n_total: int, n_draws: int | None, rng: np.random.Generator) -> np.ndarray:
    if n_draws is None or n_draws >= n_total:
        return np.arange(n_total)
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    return np.sort(rng.choice(n_total, size=n_draws, replace=False))


def posterior_predictive(
    source: Any,
    *,
    n_draws: int | None = 1000,
    seed: int = 0,
    family: str | None = None,
    keep_parameters: bool = False,
) -> xr.Dataset:
    """Replicated counts from a fit's posterior, for every cell of the window.

    Parameters
    ----------
    source
        A :class:`~hybridflow.inference.result.FitResult` or its posterior tree (with
        ``log_mu``, the dispersion for negbin / beta-binomial, and ``constant_data``
        ``y``, plus ``trials`` for shares).
    n_draws
        Posterior draws to use, picked at random without replacement (None: all).
    seed
        Seed of the draw selection and the simulation.
    family
        Override the likelihood family (default: the fit's ``family`` attribute, else
        inferred from its variables).
    keep_parameters
        Also return the draws used: ``log_mu(sample, month, route, group)`` and, for
        negbin / beta-binomial, ``dispersion(sample, route, group)``.

    Returns
    -------
    xarray.Dataset
        ``y_rep(sample, month, route, group)``, the observed ``y(month, route, group)``
        (NaN = unobserved) and, for shares, ``trials``; attrs ``family``, ``kind``.
    """
    idata = as_posterior(source)
    fam = _family(idata, family)
    post = fit_group(idata, "posterior")
    if "log_mu" not in post:
        raise ValueError("the posterior has no 'log_mu'; fit with hybridflow.inference.sample")
    rng = np.random.default_rng(seed)
    stacked = post["log_mu"].stack(sample=("chain", "draw")).transpose("sample", *CELL_DIMS)
    idx = _sample_index(stacked.sizes["sample"], n_draws, rng)
    eta = stacked.values[idx]
    disp = None
    if fam.dispersion is not None:
        if fam.dispersion not in post:
            raise ValueError(f"family {fam.name!r} needs '{fam.dispersion}' in the posterior")
        d = post[fam.dispersion].stack(sample=("chain", "draw"))
        disp = d.transpose("sample", "route", "group").values[idx][:, None, :, :]
    observed = observed_counts(idata)
    trials = None
    if not fam.counts:
        if "trials" not in idata["constant_data"]:
            raise ValueError(f"family {fam.name!r} needs constant_data 'trials'")
        trials = idata["constant_data"]["trials"].transpose(*CELL_DIMS)
    y_rep = fam.simulate(eta, rng, disp, None if trials is None else trials.values[None])
    coords = {d: post[d].values for d in CELL_DIMS}
    ds = _predictive_dataset(y_rep, coords, observed, trials, family=fam.name, kind="posterior")
    if keep_parameters:
        ds["log_mu"] = (("sample", *CELL_DIMS), eta)
        if disp is not None:
            ds["dispersion"] = (("sample", "route", "group"), disp[:, 0])
    return ds


def prior_predictive(
    spec: Any,
    panel: xr.Dataset | None = None,
    events: pd.DataFrame | None = None,
    *,
    data: Any = None,
    n_draws: int = 500,
    seed: int = 0,
) -> xr.Dataset:
    """Replicated counts from the model's priors (``pm.sample_prior_predictive``).

    Parameters
    ----------
    spec
        The model spec.
    panel, events
        The data to build the model on (or give ``data``, a prepared
        :class:`~hybridflow.models.build.ModelData`).
    n_draws
        Prior draws.
    seed
        Random seed.

    Returns
    -------
    xarray.Dataset
        Same layout as :func:`posterior_predictive` (``kind = "prior"``). Wild prior draws
        of ``log_mu`` are clipped at 40 on the log scale before simulating counts.
    """
    import warnings

    import pymc as pm

    from hybridflow.models.build import build_model, prepare_data

    if data is None:
        if panel is None:
            raise ValueError("give the panel (and events) or a prepared ModelData as data=")
        data = prepare_data(spec, panel, events)
    bundle = build_model(spec, data)
    fam = family_named(spec.likelihood.family)
    names = ["log_mu", *([fam.dispersion] if fam.dispersion else [])]
    with bundle.model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior = pm.sample_prior_predictive(draws=n_draws, var_names=names, random_seed=seed)
    pr = prior.prior
    rng = np.random.default_rng(seed + 1)
    eta = pr["log_mu"].stack(sample=("chain", "draw")).transpose("sample", *CELL_DIMS).values
    disp = None
    if fam.dispersion:
        d = pr[fam.dispersion].stack(sample=("chain", "draw"))
        disp = d.transpose("sample", "route", "group").values[:, None, :, :]
    trials = data.trials
    y_rep = fam.simulate(eta, rng, disp, None if trials is None else trials.values[None])
    coords = {"month": np.asarray(data.months), "route": data.routes, "group": data.groups}
    return _predictive_dataset(y_rep, coords, data.y, trials, family=fam.name, kind="prior")


def with_route_totals(ppd: xr.Dataset, label: str = TOTAL) -> xr.Dataset:
    """Add a ``group = label`` series per route: replicated and observed counts summed
    over the groups (observed total NaN unless every group is observed that month).

    Only for counts (shares are not additive across groups); a one-group model is
    returned unchanged.
    """
    fam = ppd.attrs.get("family")
    if fam in FAMILIES and not family_named(str(fam)).counts:
        raise ValueError("route totals are for count models, not shares")
    if ppd.sizes["group"] == 1:
        return ppd
    if label in [str(g) for g in ppd["group"].values]:
        raise ValueError(f"a group is already called {label!r}")
    tot = xr.Dataset(
        {
            "y_rep": ppd["y_rep"].sum("group", min_count=ppd.sizes["group"]),
            "y": ppd["y"].sum("group", min_count=ppd.sizes["group"]),
        }
    ).expand_dims(group=[label], axis=-1)
    out = xr.concat([ppd[["y_rep", "y"]], tot], dim="group")
    out.attrs = dict(ppd.attrs)
    return out


# ---------------------------------------------------------------------------- statistics


def pit_values(ppd: xr.Dataset, *, seed: int = 0) -> xr.DataArray:
    """Randomised PIT of every observed count, ``(month, route, group)``; NaN elsewhere.

    ``u = P(y_rep < y) + V * P(y_rep = y)``, ``V ~ U(0, 1)`` drawn with ``seed``.
    """
    y_rep = ppd["y_rep"].transpose("sample", *CELL_DIMS).values
    y = ppd["y"].transpose(*CELL_DIMS).values
    obs = np.isfinite(y)
    valid = np.isfinite(y_rep)
    n = valid.sum(axis=0)
    less = ((y_rep < y[None]) & valid).sum(axis=0)
    equal = ((y_rep == y[None]) & valid).sum(axis=0)
    v = np.random.default_rng(seed).uniform(size=y.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = (less + v * equal) / n
    u = np.where(obs & (n > 0), u, np.nan)
    return xr.DataArray(u, dims=CELL_DIMS, coords={d: ppd[d].values for d in CELL_DIMS}, name="pit")


def _interval(y_rep: np.ndarray, mass: float) -> tuple[np.ndarray, np.ndarray]:
    lo_q, hi_q = (1 - mass) / 2, 1 - (1 - mass) / 2
    with np.errstate(invalid="ignore"):
        lo = np.nanquantile(y_rep, lo_q, axis=0, method="inverted_cdf")
        hi = np.nanquantile(y_rep, hi_q, axis=0, method="inverted_cdf")
    return lo, hi


def predictive_bands(ppd: xr.Dataset, quantiles: Sequence[float] = BAND_QUANTILES) -> xr.DataArray:
    """Quantiles of the replicated counts by cell: ``(quantile, month, route, group)``.

    The default 5/25/50/75/95% is the ``bands`` array
    :func:`hybridflow.briefing.figures.ppc_plot` takes (``.sel(route=r, group=g)``).
    """
    q = np.asarray(list(quantiles), dtype=float)
    if np.any((q < 0) | (q > 1)):
        raise ValueError(f"quantiles must be in [0, 1], got {list(quantiles)}")
    y_rep = ppd["y_rep"].transpose("sample", *CELL_DIMS).values
    with np.errstate(invalid="ignore"):
        vals = np.nanquantile(y_rep, q, axis=0, method="inverted_cdf")
    return xr.DataArray(
        vals,
        dims=("quantile", *CELL_DIMS),
        coords={"quantile": q, **{d: ppd[d].values for d in CELL_DIMS}},
        name="y_rep_quantile",
    )


def _coverage_row(
    y: np.ndarray,
    lo50: np.ndarray,
    hi50: np.ndarray,
    lo90: np.ndarray,
    hi90: np.ndarray,
    u: np.ndarray,
) -> dict[str, float]:
    keep = np.isfinite(y) & np.isfinite(u)
    n = int(keep.sum())
    if n == 0:
        nan = float("nan")
        return dict.fromkeys(
            ("cover50", "cover90", "cover50_pit", "cover90_pit", "pit_mean", "pit_ks", "pit_ks_p"),
            nan,
        ) | {"n_obs": 0}
    y, u = y[keep], u[keep]
    ks = stats.kstest(u, "uniform")
    return {
        "n_obs": n,
        "cover50": float(np.mean((y >= lo50[keep]) & (y <= hi50[keep]))),
        "cover90": float(np.mean((y >= lo90[keep]) & (y <= hi90[keep]))),
        "cover50_pit": float(np.mean((u >= 0.25) & (u <= 0.75))),
        "cover90_pit": float(np.mean((u >= 0.05) & (u <= 0.95))),
        "pit_mean": float(np.mean(u)),
        "pit_ks": float(ks.statistic),
        "pit_ks_p": float(ks.pvalue),
    }


def predictive_coverage(
    ppd: xr.Dataset, *, seed: int = 0, pit: xr.DataArray | None = None
) -> pd.DataFrame:
    """Interval coverage and PIT uniformity per series, on observed cells only.

    Parameters
    ----------
    ppd
        From :func:`posterior_predictive` or :func:`prior_predictive` (optionally with
        :func:`with_route_totals`).
    seed
        Seed of the PIT's tie-breaking uniforms (ignored when ``pit`` is given).
    pit
        Precomputed :func:`pit_values`.

    Returns
    -------
    pandas.DataFrame
        One row per ``(route, group)`` and a last row ``route = group = "(all)"``, with
        ``kind`` (prior/posterior), ``n_obs``, ``cover50``, ``cover90`` (share inside the
        central 50% / 90% intervals), ``cover50_pit``, ``cover90_pit`` (the same with ties
        split at random), ``pit_mean``, ``pit_ks`` and ``pit_ks_p`` (KS test of PIT
        uniformity). The nominal values are 0.5, 0.9, 0.5 and 0.5.
    """
    u_da = pit_values(ppd, seed=seed) if pit is None else pit.transpose(*CELL_DIMS)
    y_rep = ppd["y_rep"].transpose("sample", *CELL_DIMS).values
    y = ppd["y"].transpose(*CELL_DIMS).values
    u = u_da.values
    lo50, hi50 = _interval(y_rep, 0.5)
    lo90, hi90 = _interval(y_rep, 0.9)
    rows: list[dict[str, Any]] = []
    routes = [str(r) for r in ppd["route"].values]
    groups = [str(g) for g in ppd["group"].values]
    for i, r in enumerate(routes):
        for j, g in enumerate(groups):
            sl = (slice(None), i, j)
            rows.append(
                {"route": r, "group": g}
                | _coverage_row(y[sl], lo50[sl], hi50[sl], lo90[sl], hi90[sl], u[sl])
            )
    series_groups = [k for k, g in enumerate(groups) if g != TOTAL]
    sl_all = (slice(None), slice(None), series_groups)
    rows.append(
        {"route": "(all)", "group": "(all)"}
        | _coverage_row(
            y[sl_all].ravel(),
            lo50[sl_all].ravel(),
            hi50[sl_all].ravel(),
            lo90[sl_all].ravel(),
            hi90[sl_all].ravel(),
            u[sl_all].ravel(),
        )
    )
    table = pd.DataFrame(rows)
    table.insert(0, "kind", str(ppd.attrs.get("kind", "")))
    return table


@dataclass
class PredictiveCheck:
    """Everything a predictive check produces, ready for tables and figures.

    Attributes
    ----------
    coverage
        :func:`predictive_coverage` table.
    pit
        :func:`pit_values` ``(month, route, group)``; NaN where unobserved.
    bands
        :func:`predictive_bands` ``(quantile, month, route, group)``.
    observed
        ``y(month, route, group)``.
    """

    coverage: pd.DataFrame
    pit: xr.DataArray
    bands: xr.DataArray
    observed: xr.DataArray

    def pit_table(self) -> pd.DataFrame:
        """Long table of PIT values: ``month, route, group, pit`` (observed cells)."""
        return self.pit.to_dataframe().dropna().reset_index()

    def bands_table(self) -> pd.DataFrame:
        """Wide table per cell: ``month, route, group, observed, q05 .. q95``."""
        wide = self.bands.to_dataset(dim="quantile")
        wide = wide.rename(
            {q: f"q{round(float(q) * 100):02d}" for q in self.bands["quantile"].values}
        )
        df = wide.to_dataframe().reset_index()
        obs = self.observed.rename("observed").to_dataframe().reset_index()
        return obs.merge(df, on=list(CELL_DIMS), how="right")


def predictive_check(ppd: xr.Dataset, *, seed: int = 0, totals: bool = False) -> PredictiveCheck:
    """Coverage, PIT and bands of one predictive dataset (``totals``: add route totals)."""
    if totals:
        ppd = with_route_totals(ppd)
    pit = pit_values(ppd, seed=seed)
    return PredictiveCheck(
        coverage=predictive_coverage(ppd, pit=pit),
        pit=pit,
        bands=predictive_bands(ppd),
        observed=ppd["y"],
    )
