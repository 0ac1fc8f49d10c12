"""The fitting primitive: model data -> build -> compile -> sample -> convergence gate.

Every fresh fit goes through :func:`fit_model`: the headline fits (:func:`fit_spec`, which
adds provenance, writes the result folder and can be strict), the checks that fit a new
model per variant (negative controls, sensitivity, episodes). Refits of an already
compiled model on new data (placebo, SBC, backtests) use the compile-once variant,
:meth:`hybridflow.inference.refit.Refitter.refit`, with the same
:class:`~hybridflow.inference.sampling.Sampling` settings.

Same seed, same numbers: :func:`fit_model` compiles and samples exactly as the refits do,
so a refit of unchanged data with the same seed reproduces a fresh fit.
"""

from __future__ import annotations

import time
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from hybridflow.inference.diagnostics import check_convergence
from hybridflow.inference.result import FitResult
from hybridflow.inference.sample import compile_model, sample_model
from hybridflow.inference.sampling import Sampling
from hybridflow.inference.store import EffectsTable, save_result
from hybridflow.models.build import ModelBundle, ModelData, build_model, prepare_data
from hybridflow.models.spec import ModelSpec, spec_hash, spec_to_json

__all__ = ["fit_model", "fit_spec", "gate_vars", "package_versions"]


def gate_vars(bundle: ModelBundle) -> list[str]:
    """Variables the convergence gate checks: the model's reported variables (driver
    effects, kernels...) or, for a model that reports none, its free parameters."""
    if bundle.reported_vars:
        return list(bundle.reported_vars)
    return [rv.name for rv in bundle.model.free_RVs]


def fit_model(
    model: ModelData | ModelBundle,
    sampling: Sampling,
    *,
    seed: int,
    log_likelihood: bool = True,
    progress: bool = False,
) -> FitResult:
    """Build (if given data), compile, sample and gate one model.

    Parameters
    ----------
    model
        Prepared model data (:func:`hybridflow.models.build.prepare_data`), built here, or
        an already built model.
    sampling
        The sampler settings.
    seed
        Sampler seed; the same seed gives the same numbers.
    log_likelihood
        Add the pointwise log-likelihood group (LOO; the checks do not need it).
    progress
        Show the sampler's progress output.

    Returns
    -------
    FitResult
        With the built model, its compiled form (nutpie) for later refits, the gate's
        report over :func:`gate_vars` and the timings. No provenance attrs and nothing
        written: that is :func:`fit_spec`'s job.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    bundle = model if isinstance(model, ModelBundle) else build_model(model.spec, model)
    timings["build_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    compiled = compile_model(bundle, sampling.sampler)
    compile_s = time.perf_counter() - t1
    idata = sample_model(
        bundle,
        sampling,
        seed=seed,
        progress=progress,
        log_likelihood=log_likelihood,
        timings=timings,
        compiled=compiled,
    )
    if sampling.sampler == "nutpie":
        timings["compile_s"] = compile_s
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few draws make arviz warn; the gate reports it
        report = check_convergence(idata, gate_vars(bundle))
    return FitResult(
        idata=idata,
        spec=bundle.data.spec,
        diagnostics=report,
        bundle=bundle,
        timings=timings,
        compiled=compiled,
    )


def package_versions() -> dict[str, str]:
    """Versions of the packages a result depends on."""
    out: dict[str, str] = {}
    for name in ("hybridflow", "pymc", "pytensor", "arviz", "nutpie", "numpy", "xarray", "pandas"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _provenance(
    result: FitResult, data: ModelData, sampling: Sampling, seed: int, events: Any
) -> dict[str, Any]:
    """What a stored fit records about itself: spec, data, settings, versions, gate."""
    spec, bundle = result.spec, result.bundle
    assert bundle is not None  # a fresh fit
    attrs: dict[str, Any] = {
        "hybridflow_result": 1,
        "spec_name": spec.name,
        "spec": spec.source_text or spec_to_json(spec),
        "spec_json": spec_to_json(spec),
        "spec_hash": spec_hash(spec),
        "data_hash": data.data_hash(),
        "seed": int(seed),
        **sampling.record(),
        "window_start": f"{data.months[0]:%Y-%m}",
        "window_end": f"{data.months[-1]:%Y-%m}",
        "outcome": spec.data.outcome,
        "family": spec.likelihood.family,
        "reported_vars": ",".join(bundle.reported_vars),
        "notes": "\n".join(data.notes),
        "timings": ", ".join(f"{k}={v:.1f}" for k, v in result.timings.items()),
        **{f"version_{k}": v for k, v in package_versions().items()},
        **{
            f"panel_{k}": v
            for k, v in data.panel_attrs.items()
            if k in ("snapshot_sha256", "detections_source")
        },
        **result.diagnostics.to_attrs(),
    }
    if events is not None and "sha256" in getattr(events, "attrs", {}):
        attrs["events_sha256"] = str(events.attrs["sha256"])
    return attrs


def fit_spec(
    spec: ModelSpec,
    panel: xr.Dataset,
    events: pd.DataFrame | None = None,
    *,
    sampling: Sampling | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    effects: EffectsTable | None = None,
    strict: bool = False,
    progress: bool = False,
    log_likelihood: bool = True,
) -> FitResult:
    """Fit a model spec to the panel: :func:`fit_model`, provenance, warning, write.

    Parameters
    ----------
    spec
        A validated model spec (:func:`hybridflow.models.spec.load_spec`).
    panel
        The analysis panel (:func:`hybridflow.data.panel.load_panel`).
    events
        The event catalogue (:func:`hybridflow.data.events.load_events`); needed for event
        drivers and event regimes.
    sampling
        Sampler settings (default :class:`~hybridflow.inference.sampling.Sampling`'s:
        1000 draws after 500 tuning steps x 4 chains, nutpie, target acceptance 0.95).
    seed
        Sampler seed.
    out
        Directory to write the result folder to (atomically), or None.
    effects
        The effects table written beside the fit as ``effects.csv`` (usually
        :func:`hybridflow.analysis.effects.effects_table`); None: no ``effects.csv``.
    strict
        Raise :class:`~hybridflow.errors.ConvergenceError` if the convergence gate fails
        (after writing, so the failed fit can be inspected).
    progress
        Show the sampler's progress output.
    log_likelihood
        Add the pointwise log-likelihood group.

    Returns
    -------
    FitResult
    """
    sampling = Sampling() if sampling is None else sampling
    t0 = time.perf_counter()
    data = prepare_data(spec, panel, events)
    prepare_s = time.perf_counter() - t0
    result = fit_model(
        data, sampling, seed=seed, log_likelihood=log_likelihood, progress=progress
    )
    result.spec = spec  # the spec as given (its source text), not the data's copy
    result.timings["build_s"] += prepare_s
    report = result.diagnostics
    result.idata.posterior.attrs.update(_provenance(result, data, sampling, seed, events))
    if not report.converged:
        warnings.warn(
            f"model '{spec.name}' did not pass the convergence gate:\n{report.summary_text()}",
            UserWarning,
            stacklevel=2,
        )
    if out is not None:
        result.path = save_result(result, out, effects=effects)
    if strict and not report.converged:
        from hybridflow.errors import ConvergenceError

        where = f" (written to {result.path})" if result.path else ""
        raise ConvergenceError(
            f"model '{spec.name}' failed the convergence gate{where}:\n{report.summary_text()}"
        )
    return result

