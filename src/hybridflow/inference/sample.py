"""Sampling: spec + data -> posterior (an xarray DataTree) with diagnostics and provenance.

Two backends, same output:

- ``"nutpie"`` (default): compiles the model's log-density with numba and runs nutpie's
  NUTS. Only the free parameters are sampled and stored by nutpie; deterministics
  (effects, kernel weights, ``log_mu``...) are computed afterwards in one vectorised pass,
  which keeps numba compilation to the log-density alone.
- ``"pymc"``: PyMC's own NUTS (C backend), for comparison.

Same seed, same numbers: both backends are seeded from ``seed`` and every later step is
deterministic.

The main entry point is :func:`fit_spec`; :func:`compile_model` and :func:`sample_model`
let a caller compile once and refit many datasets of the same shape (nutpie
``with_data``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from hybridflow.inference.diagnostics import DiagnosticsReport, check_convergence
from hybridflow.inference.posterior import Posterior, fit_group, has_group, make_posterior
from hybridflow.models.build import ModelBundle, build_model, prepare_data
from hybridflow.models.spec import ModelSpec, spec_hash, spec_to_json

__all__ = [
    "SAMPLERS",
    "FitResult",
    "compile_model",
    "fit_spec",
    "package_versions",
    "sample_model",
]

Sampler = Literal["nutpie", "pymc"]
SAMPLERS: tuple[str, ...] = ("nutpie", "pymc")
_log = logging.getLogger(__name__)


@dataclass
class FitResult:
    """A fitted model.

    Attributes
    ----------
    idata
        Posterior, sample stats, observed and constant data, log-likelihood; provenance
        and diagnostics in ``idata.posterior.attrs``.
    spec
        The spec that was fitted.
    diagnostics
        The convergence gate's report.
    bundle
        The built model (None when loaded from disk).
    path
        Where the result was written (None if not written).
    timings
        Seconds spent building, compiling, sampling and post-processing.
    compiled
        The compiled nutpie model (None for PyMC or when loaded), reusable with
        :func:`sample_model` to refit data of the same shape without recompiling.
    """

    idata: Posterior
    spec: ModelSpec
    diagnostics: DiagnosticsReport
    bundle: ModelBundle | None = None
    path: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    compiled: Any = None

    @property
    def converged(self) -> bool:
        return self.diagnostics.converged

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.idata.posterior.attrs)


def package_versions() -> dict[str, str]:
    """Versions of the packages a result depends on."""
    out: dict[str, str] = {}
    for name in ("hybridflow", "pymc", "pytensor", "arviz", "nutpie", "numpy", "xarray", "pandas"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


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
    *,
    draws: int = 1000,
    tune: int = 500,
    chains: int = 4,
    seed: int = 0,
    sampler: Sampler = "nutpie",
    target_accept: float = 0.95,
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
    draws, tune, chains
        Posterior draws and tuning steps per chain (defaults 1000 and 500: nutpie's
        adaptation settles well within 500 steps; its own default is 300), number of
        chains.
    seed
        Random seed; the same seed gives the same numbers.
    sampler
        ``"nutpie"`` (default) or ``"pymc"``.
    target_accept
        NUTS target acceptance (0.95 by default: the partially pooled effects of a few
        groups need the smaller step to avoid divergences).
    compiled
        A result of :func:`compile_model` to reuse (nutpie only).
    low_rank
        nutpie only: adapt a low-rank modified mass matrix, which learns the strong
        posterior correlations between intercept, trend knots and regimes (about a third
        of the leapfrog steps of the diagonal mass matrix on ``full.toml``).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; valid options: {', '.join(SAMPLERS)}")
    if draws < 1 or tune < 0 or chains < 1:
        raise ValueError("draws and chains must be >= 1 and tune >= 0")
    timings = {} if timings is None else timings
    model = bundle.model
    free = _free_names(model)
    t0 = time.perf_counter()
    if sampler == "nutpie":
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


def fit_spec(
    spec: ModelSpec,
    panel: xr.Dataset,
    events: pd.DataFrame | None = None,
    *,
    draws: int = 1000,
    tune: int = 500,
    chains: int = 4,
    seed: int = 0,
    sampler: Sampler = "nutpie",
    out: str | Path | None = None,
    strict: bool = False,
    progress: bool = False,
    target_accept: float = 0.95,
    log_likelihood: bool = True,
) -> FitResult:
    """Fit a model spec to the panel: build, sample, check, record provenance, write.

    Parameters
    ----------
    spec
        A validated model spec (:func:`hybridflow.models.spec.load_spec`).
    panel
        The analysis panel (:func:`hybridflow.data.panel.load_panel`).
    events
        The event catalogue (:func:`hybridflow.data.events.load_events`); needed for event
        drivers and event regimes.
    draws, tune, chains, seed, sampler, target_accept
        See :func:`sample_model`.
    out
        Directory to write ``fit.nc`` and ``effects.csv`` to (atomically), or None.
    strict
        Raise :class:`~hybridflow.errors.ConvergenceError` if the convergence gate fails
        (after writing, so the failed fit can be inspected).
    progress
        Show the sampler's progress output.

    Returns
    -------
    FitResult
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    data = prepare_data(spec, panel, events)
    bundle = build_model(spec, data)
    timings["build_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    compiled = compile_model(bundle, sampler)
    compile_s = time.perf_counter() - t1
    idata = sample_model(
        bundle,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        sampler=sampler,
        target_accept=target_accept,
        progress=progress,
        log_likelihood=log_likelihood,
        timings=timings,
        compiled=compiled,
    )
    if sampler == "nutpie":
        timings["compile_s"] = compile_s
    report = check_convergence(idata, bundle.reported_vars)
    attrs: dict[str, Any] = {
        "hybridflow_result": 1,
        "spec_name": spec.name,
        "spec": spec.source_text or spec_to_json(spec),
        "spec_json": spec_to_json(spec),
        "spec_hash": spec_hash(spec),
        "data_hash": data.data_hash(),
        "seed": int(seed),
        "sampler": sampler,
        "draws": int(draws),
        "tune": int(tune),
        "chains": int(chains),
        "target_accept": float(target_accept),
        "window_start": f"{data.months[0]:%Y-%m}",
        "window_end": f"{data.months[-1]:%Y-%m}",
        "outcome": spec.data.outcome,
        "family": spec.likelihood.family,
        "reported_vars": ",".join(bundle.reported_vars),
        "notes": "\n".join(data.notes),
        "timings": ", ".join(f"{k}={v:.1f}" for k, v in timings.items()),
        **{f"version_{k}": v for k, v in package_versions().items()},
        **{
            f"panel_{k}": v
            for k, v in data.panel_attrs.items()
            if k in ("snapshot_sha256", "detections_source")
        },
        **report.to_attrs(),
    }
    if events is not None and "sha256" in getattr(events, "attrs", {}):
        attrs["events_sha256"] = str(events.attrs["sha256"])
    idata.posterior.attrs.update(attrs)
    if not report.converged:
        warnings.warn(
            f"model '{spec.name}' did not pass the convergence gate:\n{report.summary_text()}",
            UserWarning,
            stacklevel=2,
        )
    result = FitResult(
        idata=idata,
        spec=spec,
        diagnostics=report,
        bundle=bundle,
        timings=timings,
        compiled=compiled,
    )
    if out is not None:
        from hybridflow.inference.store import save_result

        result.path = save_result(result, out)
    if strict and not report.converged:
        from hybridflow.errors import ConvergenceError

        where = f" (written to {result.path})" if result.path else ""
        raise ConvergenceError(
            f"model '{spec.name}' failed the convergence gate{where}:\n{report.summary_text()}"
        )
    return result


def attrs_summary(attrs: Mapping[str, Any]) -> str:
    """One line naming a stored fit (spec, hashes, sampler, seed)."""
    return (
        f"{attrs.get('spec_name', '?')} spec={str(attrs.get('spec_hash', ''))[:12]} "
        f"data={str(attrs.get('data_hash', ''))[:12]} sampler={attrs.get('sampler', '?')} "
        f"seed={attrs.get('seed', '?')} converged={attrs.get('converged', '?')}"
    )
