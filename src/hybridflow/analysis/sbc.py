"""Simulation-based calibration (SBC): does the fitting machinery recover what it simulates?

For a model spec on the real design (the real months, exposures, regimes and observed
cells), SBC (Talts et al. 2018, "Validating Bayesian inference algorithms with
simulation-based calibration") repeats, for replicates ``k = 1..n``:

1. draw every parameter from the prior, and counts ``y_k`` for the observed cells from the
   likelihood given those parameters (:func:`simulate_prior`, one
   ``pm.sample_prior_predictive`` call for all replicates);
2. fit the model to ``y_k``. Only the outcome changes, so the model is compiled once per
   worker (:class:`~hybridflow.inference.refit.Refitter`, kept in the executor's
   :func:`~hybridflow.inference.executor.cached` worker cache) and each replicate swaps
   ``y_obs`` in;
3. for each scalar component of the checked parameters, the *rank* of the prior draw
   among ``L`` posterior draws (``thin_to``): the number of draws below it, 0..L.

If the sampler and the model code are right, every rank is uniform on 0..L. The posterior
draws are thinned to ``L`` evenly spaced draws (over all chains) before ranking, because
autocorrelated draws make even a correct posterior give non-uniform ranks; ``L = 100``
from 2 x 500 draws keeps every 10th draw, well apart for this model's autocorrelation
times. Ties (possible only for discrete or stuck parameters) are broken at random.

Uniformity is tested per component (:func:`rank_uniformity`): a chi-square test on ranks
binned into ``bins`` equal-width bins (expected count >= 5 by default) and a
Kolmogorov-Smirnov test on ``(rank + 0.5) / (L + 1)``. With many components some small
p-values happen by chance, so a component is *flagged* only when its chi-square p-value
is below ``alpha`` after a Bonferroni correction over all components tested. The mean
scaled rank says which way a miscalibration goes: above 0.5, the posterior sits below
the truth (under-estimates); below 0.5, it over-estimates. The standard deviation of the
scaled ranks is about 0.289 when uniform; larger (a U-shaped histogram) means posteriors
too narrow, smaller (a hump) too wide.

The CLI (``hybridflow check sbc SPEC --n 200``) calls :func:`run_sbc` on the executor it
builds, then :func:`write_sbc` with the briefing's rank-histogram figure.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from hybridflow.inference.executor import (
    Executor,
    ProgressArg,
    SerialExecutor,
    Task,
    TaskResult,
    spawn_seeds,
)
from hybridflow.inference.posterior import fit_group, n_divergences
from hybridflow.inference.sampling import Sampling
from hybridflow.io import atomic_open, atomic_path
from hybridflow.models.build import ModelData, build_model, prepare_data
from hybridflow.models.spec import ModelSpec, spec_hash

__all__ = [
    "DEFAULT_PARAMS",
    "SBC_SAMPLING",
    "SBCResult",
    "component_labels",
    "rank_histogram_data",
    "rank_uniformity",
    "run_sbc",
    "sbc_ranks",
    "simulate_prior",
    "thin",
    "uniformity_table",
    "write_sbc",
]

#: Parameters checked by default (those the model has): the driver effects and the
#: likelihood's dispersion.
DEFAULT_PARAMS: tuple[str, ...] = ("effect_mean", "effect", "dispersion")

#: Counts above this are refused as simulated data (they overflow the sampler's numerics
#: and say the prior predicts absurd counts; the replicate is reported failed).
MAX_COUNT = 10**12

#: Sampling of each replicate's fit: a real fit's sampler settings with fewer draws.
SBC_SAMPLING = Sampling(draws=500, tune=500, chains=2)


@dataclass
class SBCResult:
    """What :func:`run_sbc` found.

    Attributes
    ----------
    spec_name
        The spec checked.
    ranks
        One row per replicate, parameter and component: ``replicate``, ``parameter``,
        ``component`` (coordinate labels joined by ``|``; ``""`` for scalars),
        ``prior_value``, ``rank`` (0..``n_ranks``), ``posterior_mean``, ``posterior_sd``.
    replicates
        One row per replicate: ``replicate``, ``seed``, ``ok``, ``error`` (last line, when
        failed), ``divergences``, ``rhat_max``, ``ess_bulk_min`` (over the checked
        parameters), ``seconds``, ``worker``.
    summary
        :func:`uniformity_table` of ``ranks``: one row per parameter component, and one per
        parameter pooling its components (``component == "(all)"``).
    n_ranks
        ``L``: posterior draws each prior value is ranked among; ranks lie in 0..L.
    settings
        n, draws, tune, chains, seed, sampler, thin_to, bins, alpha, params, spec and data
        hashes.
    """

    spec_name: str
    ranks: pd.DataFrame
    replicates: pd.DataFrame
    summary: pd.DataFrame
    n_ranks: int
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def n_ok(self) -> int:
        """Replicates that produced ranks."""
        return int(self.replicates["ok"].sum())

    @property
    def flagged(self) -> pd.DataFrame:
        """Summary rows whose ranks are not uniform (Bonferroni-corrected)."""
        return self.summary[self.summary["flagged"]]

    def summary_text(self) -> str:
        """A few lines for a terminal."""
        s = self.summary
        comp = s[s["component"] != "(all)"]
        lines = [
            f"SBC of '{self.spec_name}': {self.n_ok} of {len(self.replicates)} replicates "
            f"fitted, ranks among {self.n_ranks} posterior draws, "
            f"{len(comp)} parameter components tested.",
        ]
        failed = self.replicates[~self.replicates["ok"]]
        if len(failed):
            lines.append(f"  {len(failed)} replicates failed, e.g. {failed['error'].iloc[0]}")
        div = self.replicates["divergences"].fillna(0)
        if (div > 0).any():
            lines.append(f"  {int((div > 0).sum())} replicates had divergences")
        if len(self.flagged):
            for _, r in self.flagged.iterrows():
                where = "" if r["component"] in ("", "(all)") else f"[{r['component']}]"
                lines.append(
                    f"  NOT UNIFORM: {r['parameter']}{where}: chi-square p={r['p_chi2']:.2g}, "
                    f"mean scaled rank {r['mean_rank']:.2f}, sd {r['sd_rank']:.3f}"
                )
        else:
            lines.append(
                f"  no component flagged (Bonferroni alpha={self.settings.get('alpha', 0.05)})"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------- statistics


def thin(draws: np.ndarray, n_keep: int) -> np.ndarray:
    """Keep ``n_keep`` evenly spaced draws of a ``(sample, ...)`` array.

    Parameters
    ----------
    draws
        Posterior draws, first axis the draws (chains stacked chain after chain).
    n_keep
        How many to keep; at most ``len(draws)``.
    """
    total = draws.shape[0]
    if not 1 <= n_keep <= total:
        raise ValueError(f"cannot keep {n_keep} of {total} draws")
    idx = np.round(np.linspace(0, total - 1, n_keep)).astype(int)
    return draws[idx]


def sbc_ranks(
    prior_values: np.ndarray, posterior: np.ndarray, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Rank of each prior value among posterior draws: how many draws lie below it.

    Parameters
    ----------
    prior_values
        ``(component,)`` true (prior-drawn) values.
    posterior
        ``(draw, component)`` posterior draws (already thinned).
    rng
        Breaks ties at random (a tie counts as below with probability 1/2 each); without
        it ties count as not below.

    Returns
    -------
    numpy.ndarray
        ``(component,)`` integer ranks in ``0..len(posterior)``.
    """
    prior_values = np.asarray(prior_values, dtype=float).reshape(-1)
    posterior = np.asarray(posterior, dtype=float).reshape(posterior.shape[0], -1)
    if posterior.shape[1] != prior_values.size:
        raise ValueError(
            f"{prior_values.size} prior values but posterior draws for {posterior.shape[1]}"
        )
    below = (posterior < prior_values[None, :]).sum(axis=0)
    if rng is not None:
        ties = (posterior == prior_values[None, :]).sum(axis=0)
        below = below + rng.binomial(ties, 0.5)
    return below.astype(np.int64)


def default_bins(n: int, n_ranks: int) -> int:
    """Bins for the chi-square test: about 5+ expected per bin, at most 20 and ``L + 1``."""
    return int(max(2, min(20, n // 5, n_ranks + 1)))


def rank_uniformity(ranks: np.ndarray, n_ranks: int, bins: int | None = None) -> dict[str, float]:
    """Test ranks in ``0..n_ranks`` for uniformity.

    Parameters
    ----------
    ranks
        SBC ranks of one parameter component over replicates.
    n_ranks
        ``L``, the number of posterior draws ranked against (ranks take ``L + 1`` values).
    bins
        Chi-square bins (default :func:`default_bins`). Bin ``b`` holds the rank values
        ``r`` with ``floor(r * bins / (L + 1)) == b``; its expected share is the number of
        such values over ``L + 1``, exact even when ``bins`` does not divide ``L + 1``.

    Returns
    -------
    dict
        ``n``, ``bins``, ``chi2``, ``df``, ``p_chi2``, ``p_ks`` (KS against Uniform(0, 1)
        of ``(rank + 0.5) / (L + 1)``), ``mean_rank`` and ``sd_rank`` of ``rank / L``
        (0.5 and about 0.289 when uniform).
    """
    r = np.asarray(ranks, dtype=float)
    r = r[np.isfinite(r)]
    n = int(r.size)
    if n and (r.min() < 0 or r.max() > n_ranks):
        raise ValueError(f"ranks must lie in 0..{n_ranks}")
    b = bins or default_bins(n, n_ranks)
    out: dict[str, float] = {"n": n, "bins": b}
    if n < 2:
        return {
            **out,
            "chi2": math.nan,
            "df": b - 1,
            "p_chi2": math.nan,
            "p_ks": math.nan,
            "mean_rank": math.nan,
            "sd_rank": math.nan,
        }
    values = np.arange(n_ranks + 1)
    value_bin = values * b // (n_ranks + 1)
    expected = np.bincount(value_bin, minlength=b) / (n_ranks + 1) * n
    observed = np.bincount((r.astype(np.int64) * b) // (n_ranks + 1), minlength=b)
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    u = (r + 0.5) / (n_ranks + 1)
    return {
        **out,
        "chi2": chi2,
        "df": b - 1,
        "p_chi2": float(stats.chi2.sf(chi2, b - 1)),
        "p_ks": float(stats.kstest(u, "uniform").pvalue),
        "mean_rank": float(np.mean(r / n_ranks)),
        "sd_rank": float(np.std(r / n_ranks, ddof=1)),
    }


def uniformity_table(
    ranks: pd.DataFrame, n_ranks: int, *, bins: int | None = None, alpha: float = 0.05
) -> pd.DataFrame:
    """:func:`rank_uniformity` per parameter component and per parameter (pooled).

    Parameters
    ----------
    ranks
        Long table with ``parameter``, ``component`` and ``rank`` columns
        (:attr:`SBCResult.ranks`).
    n_ranks
        ``L``.
    bins
        Chi-square bins (default from the number of replicates).
    alpha
        Family-wise level: a row is ``flagged`` when ``p_chi2 * m < alpha``, ``m`` the
        number of rows of the same kind (components, or pooled parameters).

    Returns
    -------
    pandas.DataFrame
        ``parameter, component, n, bins, chi2, df, p_chi2, p_ks, mean_rank, sd_rank,
        p_chi2_bonferroni, flagged``; pooled rows have ``component == "(all)"``. Pooled
        rows of a parameter with several components mix dependent ranks (same replicate):
        read them as a summary, the component rows as the tests.
    """
    cols = [
        "parameter",
        "component",
        "n",
        "bins",
        "chi2",
        "df",
        "p_chi2",
        "p_ks",
        "mean_rank",
        "sd_rank",
        "p_chi2_bonferroni",
        "flagged",
    ]
    if ranks.empty:
        return pd.DataFrame(columns=cols)
    order = list(dict.fromkeys(ranks["parameter"]))
    comp_rows: list[dict[str, Any]] = []
    pooled_rows: list[dict[str, Any]] = []
    for param in order:
        sub = ranks[ranks["parameter"] == param]
        components = list(dict.fromkeys(sub["component"]))
        for comp in components:
            res = rank_uniformity(
                sub.loc[sub["component"] == comp, "rank"].to_numpy(), n_ranks, bins
            )
            comp_rows.append({"parameter": param, "component": comp, **res})
        if len(components) > 1:
            res = rank_uniformity(sub["rank"].to_numpy(), n_ranks, bins)
            pooled_rows.append({"parameter": param, "component": "(all)", **res})
    for rows in (comp_rows, pooled_rows):
        m = len(rows)
        for row in rows:
            p = row["p_chi2"]
            row["p_chi2_bonferroni"] = min(1.0, p * m) if np.isfinite(p) else math.nan
            row["flagged"] = bool(np.isfinite(p) and p * m < alpha)
    table = pd.DataFrame(comp_rows + pooled_rows, columns=cols)
    key = {p: i for i, p in enumerate(order)}
    table["_order"] = table["parameter"].map(key)
    table = table.sort_values(["_order"], kind="stable").drop(columns="_order")
    return table.reset_index(drop=True)


# --------------------------------------------------------------------------- simulation


def component_labels(da: xr.DataArray) -> list[str]:
    """``"a|b"`` labels for the components of a parameter (C order over its dims)."""
    if da.ndim == 0:
        return [""]
    grids = np.meshgrid(*[da[d].values for d in da.dims], indexing="ij")
    return [
        "|".join(str(v) for v in vals) for vals in zip(*(g.ravel() for g in grids), strict=True)
    ]


def simulate_prior(
    bundle: Any, n: int, seed: int, params: Sequence[str]
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, list[str]]]:
    """Draw ``n`` parameter sets from the prior and counts for the observed cells.

    Parameters
    ----------
    bundle
        A built model (:func:`hybridflow.models.build.build_model`) on the real design.
    n
        Replicates.
    seed
        Seed of the prior predictive draw.
    params
        Parameters whose prior values are returned.

    Returns
    -------
    values
        ``{param: (n, component)}`` prior draws.
    y
        ``(n, obs)`` simulated counts (float; NaN never occurs, huge values may).
    labels
        ``{param: [component label, ...]}``.
    """
    import pymc as pm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior = pm.sample_prior_predictive(
            draws=n, model=bundle.model, random_seed=seed, var_names=[*params, "y"]
        )
    values: dict[str, np.ndarray] = {}
    labels: dict[str, list[str]] = {}
    for p in params:
        da = prior.prior[p].isel(chain=0)
        values[p] = da.values.reshape(n, -1)
        labels[p] = component_labels(da.isel(draw=0, drop=True))
    y = np.asarray(prior.prior_predictive["y"].isel(chain=0).values, dtype=float)
    return values, y, labels


def _fit_replicate(
    data: ModelData,
    y: np.ndarray,
    prior: Mapping[str, np.ndarray],
    params: Sequence[str],
    sampling: Sampling,
    thin_to: int,
    *,
    seed: int,
) -> dict[str, Any]:
    """One SBC replicate (an executor task): refit on ``y``, rank the prior values."""
    from hybridflow.inference.refit import cached_refitter

    if not np.all(np.isfinite(y)) or y.max(initial=0) > MAX_COUNT:
        raise ValueError(
            f"simulated counts up to {np.nanmax(y):.3g} (> {MAX_COUNT:.0e}): the prior "
            "predicts absurd counts for this design"
        )
    refitter = cached_refitter(data, sampling.sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = refitter.refit({"y_obs": y.astype(np.int64)}, sampling, seed=seed)
    post = fit_group(idata, "posterior")
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"ranks": {}, "mean": {}, "sd": {}}
    ess_min, rhat_max = math.inf, 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ess = az.ess(post[list(params)], method="bulk")
        rhat = az.rhat(post[list(params)])
    for p in params:
        draws = post[p].stack(sample=("chain", "draw")).transpose("sample", ...).values
        draws = draws.reshape(draws.shape[0], -1)
        kept = thin(draws, thin_to)
        out["ranks"][p] = sbc_ranks(prior[p], kept, rng)
        out["mean"][p] = draws.mean(axis=0)
        out["sd"][p] = draws.std(axis=0, ddof=1)
        ess_min = min(ess_min, float(np.nanmin(ess[p].values)))
        rhat_max = max(rhat_max, float(np.nanmax(rhat[p].values)))
    out["divergences"] = n_divergences(idata)
    out["ess_bulk_min"] = ess_min
    out["rhat_max"] = rhat_max
    return out


def run_sbc(
    spec: ModelSpec,
    panel: xr.Dataset,
    events: pd.DataFrame | None = None,
    *,
    n: int = 200,
    sampling: Sampling = SBC_SAMPLING,
    seed: int = 0,
    thin_to: int = 100,
    params: Sequence[str] = DEFAULT_PARAMS,
    executor: Executor | None = None,
    bins: int | None = None,
    alpha: float = 0.05,
    progress: ProgressArg = False,
) -> SBCResult:
    """Simulation-based calibration of a spec on the real design.

    Parameters
    ----------
    spec, panel, events
        As for :func:`hybridflow.inference.fit.fit_spec`; the real panel fixes the
        design (months, exposures, regimes, observed cells). Its outcome is replaced by
        simulated counts in every replicate.
    n
        Replicates (prior draws, each fitted once).
    sampling
        Sampler settings of each replicate's fit (default :data:`SBC_SAMPLING`: 500 draws
        after 500 tuning steps x 2 chains, nutpie, the target acceptance of a real fit).
        ``chains * draws`` must be at least ``thin_to``.
    seed
        Root seed: the prior draws use it, replicate ``k`` is fitted with the k-th of
        :func:`~hybridflow.inference.executor.spawn_seeds` ``(seed, n)``. Same seed, same
        ranks, whichever executor.
    thin_to
        ``L``: posterior draws kept (evenly spaced) for ranking; ranks lie in 0..L.
    params
        Parameters to check; names the model lacks are dropped (``event_effect`` and
        kernel parameters may be added).
    executor
        Runs the replicates (one task each; each worker compiles the model once and
        refits it on each replicate's counts). Default: serial, in this process.
    bins, alpha, progress
        For :func:`uniformity_table`; ``progress`` for the executor's ``map``.

    Returns
    -------
    SBCResult

    Raises
    ------
    ValueError
        ``n`` < 2, too few posterior draws for ``thin_to``, or no checkable parameter.
    """
    _check_sizes(n, thin_to, sampling)
    data = prepare_data(spec, panel, events)
    bundle = build_model(spec, data)
    checked = _checked_params(bundle, params, spec.name)
    prior, y_sim, labels = simulate_prior(bundle, n, seed, checked)
    seeds = spawn_seeds(seed, n)
    results = _run_replicates(
        data, y_sim, prior, checked, sampling, thin_to, seeds, executor, progress
    )
    ranks, replicates = _tables(results, seeds, checked, prior, labels)
    settings = {
        **_sampling_settings(n, sampling, seed, thin_to),
        "bins": bins or default_bins(int(replicates["ok"].sum()), thin_to),
        "alpha": alpha,
        "params": checked,
        **_design_settings(spec, data, y_sim),
    }
    return SBCResult(
        spec_name=spec.name,
        ranks=ranks,
        replicates=replicates,
        summary=uniformity_table(ranks, thin_to, bins=bins, alpha=alpha),
        n_ranks=thin_to,
        settings=settings,
    )


def _check_sizes(n: int, thin_to: int, sampling: Sampling) -> None:
    if n < 2:
        raise ValueError(f"SBC needs at least 2 replicates, got n={n}")
    if thin_to < 1 or sampling.total_draws < thin_to:
        raise ValueError(
            f"thin_to={thin_to} needs at least that many posterior draws; "
            f"chains x draws = {sampling.total_draws}"
        )


def _checked_params(bundle: Any, params: Sequence[str], model: str) -> list[str]:
    """``params`` the built model has, once each, in order."""
    names = set(bundle.model.named_vars)
    checked = [p for p in dict.fromkeys(params) if p in names]
    if not checked:
        raise ValueError(f"none of the parameters {list(params)} is in model '{model}'")
    return checked


def _run_replicates(
    data: ModelData,
    y_sim: np.ndarray,
    prior: Mapping[str, np.ndarray],
    checked: list[str],
    sampling: Sampling,
    thin_to: int,
    seeds: Sequence[int],
    executor: Executor | None,
    progress: ProgressArg,
) -> list[TaskResult]:
    """Fit replicate ``k`` on ``y_sim[k]`` (task ``sbc-<k>``, seed ``seeds[k]``) on
    ``executor`` (serially in this process if None)."""
    tasks = [
        Task(
            f"sbc-{k:04d}",
            _fit_replicate,
            (data, y_sim[k], {p: prior[p][k] for p in checked}, checked, sampling, thin_to),
            seed=seed_k,
        )
        for k, seed_k in enumerate(seeds)
    ]
    if executor is None:
        with SerialExecutor() as ex:
            return ex.map(tasks, progress=progress)
    return executor.map(tasks, progress=progress)


def _sampling_settings(n: int, sampling: Sampling, seed: int, thin_to: int) -> dict[str, Any]:
    """How many replicates and how each was fitted, for :attr:`SBCResult.settings`."""
    return {
        "n": n,
        "draws": sampling.draws,
        "tune": sampling.tune,
        "chains": sampling.chains,
        "seed": seed,
        "thin_to": thin_to,
        "sampler": sampling.sampler,
        "target_accept": sampling.target_accept,
    }


def _design_settings(spec: ModelSpec, data: ModelData, y_sim: np.ndarray) -> dict[str, Any]:
    """Which spec and design the replicates simulate, for :attr:`SBCResult.settings`."""
    return {
        "spec_hash": spec_hash(spec),
        "data_hash": data.data_hash(),
        "window": f"{data.months[0]:%Y-%m}..{data.months[-1]:%Y-%m}",
        "observed_cells": int(y_sim.shape[1]),
    }


def _tables(
    results: Sequence[Any],
    seeds: Sequence[int],
    params: Sequence[str],
    prior: Mapping[str, np.ndarray],
    labels: Mapping[str, list[str]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ranks table (one row per replicate, parameter, component) and the replicates
    table of :class:`SBCResult`, from the replicates' task results."""
    rank_rows: list[dict[str, Any]] = []
    rep_rows: list[dict[str, Any]] = []
    for k, res in enumerate(results):
        value = res.value if res.ok else None
        rep_rows.append(
            {
                "replicate": k,
                "seed": seeds[k],
                "ok": bool(res.ok),
                "error": "" if res.ok else _last_line(res.error),
                "divergences": value["divergences"] if value else np.nan,
                "rhat_max": value["rhat_max"] if value else np.nan,
                "ess_bulk_min": value["ess_bulk_min"] if value else np.nan,
                "seconds": round(res.seconds, 2),
                "worker": res.worker,
            }
        )
        if value is None:
            continue
        for p in params:
            for j, label in enumerate(labels[p]):
                rank_rows.append(
                    {
                        "replicate": k,
                        "parameter": p,
                        "component": label,
                        "prior_value": float(prior[p][k, j]),
                        "rank": int(value["ranks"][p][j]),
                        "posterior_mean": float(value["mean"][p][j]),
                        "posterior_sd": float(value["sd"][p][j]),
                    }
                )
    ranks = pd.DataFrame(
        rank_rows,
        columns=[
            "replicate",
            "parameter",
            "component",
            "prior_value",
            "rank",
            "posterior_mean",
            "posterior_sd",
        ],
    )
    return ranks, pd.DataFrame(rep_rows)


def _last_line(text: str | None) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else "unknown error"


# --------------------------------------------------------------------------- output


def rank_histogram_data(result: SBCResult) -> dict[str, Any]:
    """Keyword arguments of the rank-histogram figure
    (:func:`hybridflow.briefing.figures.sbc_rank_histogram`): ``ranks`` (one panel per
    parameter component), ``n_ranks``, ``bins`` and ``title``."""
    panels: dict[str, np.ndarray] = {}
    for (param, comp), sub in result.ranks.groupby(["parameter", "component"], sort=False):
        panels[f"{param}[{comp}]" if comp else str(param)] = sub["rank"].to_numpy()
    return {
        "ranks": panels,
        "n_ranks": result.n_ranks,
        "bins": int(result.settings.get("bins") or default_bins(result.n_ok, result.n_ranks)),
        "title": f"SBC rank histograms: {result.spec_name} ({result.n_ok} replicates)",
    }


def write_sbc(
    result: SBCResult,
    out_dir: str | Path,
    *,
    figure_png: Callable[..., bytes] | None = None,
) -> dict[str, Path]:
    """Write an SBC result to ``out_dir``, every file atomically.

    Files: ``sbc_ranks.csv`` (:attr:`SBCResult.ranks`), ``sbc_summary.csv``
    (:attr:`SBCResult.summary`), ``sbc_replicates.csv``, ``sbc.json`` (settings and
    headline) and, with ``figure_png``, ``sbc_ranks.png`` (rank histograms, one panel per
    component, with the 99% band of counts a uniform histogram stays within).

    Parameters
    ----------
    result
        From :func:`run_sbc`.
    out_dir
        Created if missing; other files in it are left alone.
    figure_png
        Renders the rank histograms to PNG bytes from :func:`rank_histogram_data`'s
        keyword arguments (the CLI renders
        :func:`hybridflow.briefing.figures.sbc_rank_histogram`; plotting lives above
        analysis). None: no figure.

    Returns
    -------
    dict
        File kind -> path written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "ranks": out / "sbc_ranks.csv",
        "summary": out / "sbc_summary.csv",
        "replicates": out / "sbc_replicates.csv",
        "json": out / "sbc.json",
    }
    for kind in ("ranks", "summary", "replicates"):
        frame: pd.DataFrame = getattr(result, kind)
        with atomic_open(paths[kind], "w", newline="") as fh:
            frame.to_csv(fh, index=False)
    with atomic_open(paths["json"], "w") as fh:
        json.dump(_headline(result), fh, indent=2, default=str)
        fh.write("\n")
    if figure_png is not None:
        paths["figure"] = out / "sbc_ranks.png"
        with atomic_path(paths["figure"]) as tmp:
            tmp.write_bytes(figure_png(**rank_histogram_data(result)))
    return paths


def _headline(result: SBCResult) -> dict[str, Any]:
    """``sbc.json``: the settings and what was found."""
    return {
        "spec": result.spec_name,
        "n_ranks": result.n_ranks,
        "replicates": len(result.replicates),
        "replicates_ok": result.n_ok,
        "replicates_with_divergences": int((result.replicates["divergences"].fillna(0) > 0).sum()),
        "components_tested": int((result.summary["component"] != "(all)").sum()),
        "flagged": [
            f"{param}[{comp}]" if comp else str(param)
            for param, comp in zip(
                result.flagged["parameter"], result.flagged["component"], strict=True
            )
        ],
        "settings": result.settings,
    }
