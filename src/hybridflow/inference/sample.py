"""Sampling a built model: bundle + :class:`~hybridflow.inference.sampling.Sampling` -> posterior.

Two backends, same output (an xarray DataTree):

- ``"nutpie"`` (default): compiles the model's log-density with numba and runs nutpie's
  NUTS. Only the free parameters are sampled and stored by nutpie; deterministics
  (effects, kernel weights, ``log_mu``...) are computed afterwards in one vectorised pass,
  which keeps numba compilation to the log-density alone.
- ``"pymc"``: PyMC's own NUTS (C backend), for comparison.

Same seed, same numbers: both backends are seeded from ``seed`` and every later step is
deterministic.

This is the layer under the fitting primitive (:mod:`hybridflow.inference.fit`: build,
sample, gate) and the compile-once refits (:mod:`hybridflow.inference.refit`):
:func:`compile_model` and :func:`sample_model` let a caller compile once and sample many
datasets of the same shape (nutpie ``with_data``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr

from hybridflow.inference.posterior import Posterior, fit_group, has_group, make_posterior
from hybridflow.inference.sampling import SAMPLERS, Sampler, Sampling
from hybridflow.models.build import ModelBundle

__all__ = ["compile_model", "sample_model"]


@contextlib.contextmanager
def _quiet(enabled: bool) -> Iterator[None]:
    """Silence PyMC's sampler chatter (and stdout) unless progress output is wanted."""
    if not enabled:
        yield
        return
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            yield
    finally:
        logger.setLevel(level)


def _free_names(model: pm.Model) -> list[str]:
    return [v.name for v in model.free_RVs]


def compile_model(bundle: ModelBundle, sampler: Sampler = "nutpie") -> Any:
    """Compile a bundle's model for ``sampler`` (nutpie: a ``CompiledModel``; pymc: None).

    Reuse the result with :func:`sample_model` (``compiled=``) to refit new data of the
    same shape: ``compiled.with_data(y_obs=...)`` swaps a ``pm.Data`` container.
    """
    if sampler == "nutpie":
        import nutpie

        return nutpie.compile_pymc_model(bundle.model, var_names=_free_names(bundle.model))
    if sampler == "pymc":
        return None
    raise ValueError(f"unknown sampler {sampler!r}; valid options: {', '.join(SAMPLERS)}")


def _cores(chains: int) -> int:
    return max(1, min(chains, os.cpu_count() or 1))


def sample_model(
    bundle: ModelBundle,
    sampling: Sampling,
    *,
    seed: int = 0,
    progress: bool = False,
    compiled: Any = None,
    low_rank: bool = True,
    log_likelihood: bool = True,
    timings: dict[str, float] | None = None,
) -> Posterior:
    """Sample a built model and return a complete posterior tree.

    The result has groups ``posterior`` (free parameters and every deterministic, with the
    model's named dims), ``sample_stats`` (with ``diverging``), ``observed_data`` and
    ``constant_data`` (outcome, exposures, regimes: what effects and counterfactuals need),
    and, with ``log_likelihood``, ``log_likelihood``.

    Parameters
    ----------
    bundle
        From :func:`hybridflow.models.build.build_model`.
    sampling
        Draws, tuning steps, chains, sampler and target acceptance.
    seed
        Random seed; the same seed gives the same numbers.
    compiled
        A result of :func:`compile_model` to reuse (nutpie only).
    low_rank
        nutpie only: adapt a low-rank modified mass matrix, which learns the strong
        posterior correlations between intercept, trend knots and regimes (about a third
        of the leapfrog steps of the diagonal mass matrix on ``full.toml``).
    """
    draws, tune, chains = sampling.draws, sampling.tune, sampling.chains
    target_accept = sampling.target_accept
    timings = {} if timings is None else timings
    model = bundle.model
    free = _free_names(model)
    t0 = time.perf_counter()
    if sampling.sampler == "nutpie":
        import nutpie

        if compiled is None:
            compiled = compile_model(bundle, "nutpie")
        t1 = time.perf_counter()
        timings["compile_s"] = t1 - t0
        idata = nutpie.sample(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            cores=_cores(chains),
            seed=int(seed),
            progress_bar=progress,
            target_accept=target_accept,
            adaptation="low_rank" if low_rank else "diag",
        )
        timings["sample_s"] = time.perf_counter() - t1
    else:
        with model, _quiet(not progress):
            idata = pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                cores=_cores(chains),
                random_seed=int(seed),
                target_accept=target_accept,
                progressbar=progress,
                compute_convergence_checks=False,
                var_names=free,
                nuts_sampler="pymc",
            )
        timings["compile_s"] = 0.0  # PyMC compiles inside pm.sample
        timings["sample_s"] = time.perf_counter() - t0
    t2 = time.perf_counter()
    idata = _complete(idata, bundle, log_likelihood=log_likelihood)
    timings["post_s"] = time.perf_counter() - t2
    return idata


def _complete(idata: Posterior, bundle: ModelBundle, *, log_likelihood: bool) -> Posterior:
    """Same groups whatever the sampler: free params + deterministics, data, log-lik."""
    model = bundle.model
    post = fit_group(idata, "posterior")
    # Transformed (unconstrained) copies are an implementation detail of the sampler.
    keep = [v for v in post.data_vars if v in {rv.name for rv in model.free_RVs}]
    post = post[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dets = pm.compute_deterministics(post, model=model, progressbar=False)
    post = xr.merge([post, dets], compat="override", join="exact")
    post.attrs = {}
    groups: dict[str, xr.Dataset] = {"posterior": post}
    if has_group(idata, "sample_stats"):
        stats = fit_group(idata, "sample_stats")
        stats = stats[[v for v in stats.data_vars if stats[v].dims[:2] == ("chain", "draw")]]
        stats.attrs = {}
        groups["sample_stats"] = stats
    obs = model["y_obs"].get_value()
    groups["observed_data"] = xr.Dataset(
        {"y": ("obs", np.asarray(obs))}, coords={"obs": np.arange(len(obs))}
    )
    groups["constant_data"] = _constant_data(bundle)
    out = make_posterior(groups)
    if log_likelihood:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pm.compute_log_likelihood(
                out, model=model, progressbar=False, extend_inferencedata=True
            )
    return out


def _constant_data(bundle: ModelBundle) -> xr.Dataset:
    data = bundle.data
    ds = xr.Dataset()
    for name, da in bundle.constant_data.items():
        ds[name] = da.reset_coords(drop=True) if isinstance(da, xr.DataArray) else da
    if data.drivers:
        ds["driver_per_event"] = xr.DataArray(
            np.array([d.per_event for d in data.drivers]),
            dims="driver",
            coords={"driver": data.driver_names},
        )
        ds["driver_unit"] = xr.DataArray(
            np.array([d.unit for d in data.drivers], dtype=object).astype(str),
            dims="driver",
            coords={"driver": data.driver_names},
        )
        ds["driver_max_lag"] = xr.DataArray(
            np.array([d.kernel.max_lag for d in data.drivers]),
            dims="driver",
            coords={"driver": data.driver_names},
        )
        ds["driver_scale"] = xr.DataArray(
            np.array([d.scale for d in data.drivers]),
            dims="driver",
            coords={"driver": data.driver_names},
        )
        labels, ids, owners, _ = data.event_table()
        if labels:
            ds["event_driver"] = xr.DataArray(
                np.array(owners, dtype=str), dims="event", coords={"event": labels}
            )
            ds["event_id"] = xr.DataArray(
                np.array(ids, dtype=str), dims="event", coords={"event": labels}
            )
    ds["month"] = ("month", np.asarray(data.months))
    ds.attrs["history"] = int(data.history)
    return ds
