"""Step: fit every model of the study, and the null model on every other model's window.

A fit whose spec, data and sampling settings are unchanged is read back from
``fits/<model>/`` instead; models needing a new fit run in parallel on the run's executor.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import pandas as pd
import xarray as xr

from hybridflow.analysis.effects import effects_table
from hybridflow.errors import HybridflowError
from hybridflow.inference.executor import Task
from hybridflow.inference.fit import fit_spec
from hybridflow.inference.result import FitResult
from hybridflow.inference.store import load_result
from hybridflow.models.build import prepare_data
from hybridflow.models.spec import ModelSpec, spec_hash, spec_to_json
from hybridflow.months import format_month
from hybridflow.study.cache import step_key
from hybridflow.study.context import StudyContext
from hybridflow.study.results import FitsResult, StudyResults


def run(context: StudyContext, results: StudyResults) -> FitsResult:
    """Fit every model; models needing a new fit run in parallel on the executor.

    Compilation is single-threaded and dominates small fits, so two fits side by side on
    two cores take little longer than one.
    """
    models = [(n, context.model_spec(n)) for n in context.spec.models]
    all_models = [*models, *window_nulls(context)]
    fitted_now = fit_in_parallel(context, all_models)
    fits: dict[str, FitResult] = {}
    reused: list[str] = []
    for name, spec in all_models:
        fits[name] = fit_model(context, name, spec, fitted_now=fitted_now, reused=reused)
    return FitsResult(fits=fits, reused=tuple(reused),
                      fallback_model=context.spec.fallback_model)


def _fit_key(context: StudyContext, spec: ModelSpec) -> str:
    return step_key("fit", spec_hash(spec), context.data_key(), context.sampling())


def fit_in_parallel(context: StudyContext, models: list[tuple[str, ModelSpec]]) -> set[str]:
    """Fit the models without a stored fit on the executor (when more than one needs it).

    Returns the names fitted here; :func:`fit_model` then reads their folders back.
    """
    todo = []
    for name, spec in models:
        key = _fit_key(context, spec)
        if not context.state.is_done(f"fit:{name}", key):
            todo.append((name, spec, key))
    workers = context.executor_options.workers or 2
    if len(todo) <= 1 or workers <= 1:
        return set()
    tasks = [Task(f"fit:{name}", fit_to_folder,
                  (spec_to_json(spec), context.panel, context.events, context.sampling(),
                   str(context.out / "fits" / name)))
             for name, spec, _ in todo]
    outcomes = context.executor().map(tasks, progress=True)
    for (name, _, key), res in zip(todo, outcomes, strict=True):
        if not res.ok:
            raise HybridflowError(f"fit of model '{name}' failed: "
                                  f"{(res.error or '').strip().splitlines()[-1]}")
        out = context.out / "fits" / name
        context.state.mark(f"fit:{name}", key, [out / "fit.nc", out / "effects.csv"],
                           seconds=round(res.value["seconds"], 1),
                           converged=res.value["converged"])
        flag = "[green]converged[/]" if res.value["converged"] else "[bold red]NOT CONVERGED[/]"
        context.console.print(f"  {name}: fitted in {res.value['seconds']:.0f} s, {flag}")
    return {name for name, _, _ in todo}


def fit_model(context: StudyContext, name: str, spec: ModelSpec, *,
              fitted_now: set[str], reused: list[str]) -> FitResult:
    """Fit one model, or reuse its stored fit if spec, data and sampling are unchanged.

    A reused fit not in ``fitted_now`` (fitted earlier in this run) is appended to
    ``reused``.
    """
    s = context.spec.sampling
    key = _fit_key(context, spec)
    out = context.out / "fits" / name
    step = f"fit:{name}"
    if context.state.is_done(step, key):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = load_result(out, warn=False)
        if name not in fitted_now:
            reused.append(name)
            context.console.print(f"  {name}: reusing stored fit (spec and data unchanged)")
    else:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fit_spec(spec, context.panel, context.events, sampling=s, seed=s.seed,
                              out=out, effects=effects_table)
        context.state.mark(step, key, [out / "fit.nc", out / "effects.csv"],
                           seconds=round(time.perf_counter() - t0, 1),
                           converged=bool(result.converged))
        flag = "[green]converged[/]" if result.converged else "[bold red]NOT CONVERGED[/]"
        context.console.print(f"  {name}: fitted in {time.perf_counter() - t0:.0f} s, {flag}")
    return result


def fit_to_folder(spec_json: str, panel: xr.Dataset, events: pd.DataFrame,
                  sampling: dict[str, Any], out: str, seed: int | None = None) -> dict[str, Any]:
    """Executor task: fit one spec and write it to ``out`` (the parent loads it back)."""
    from hybridflow.models.spec import spec_from_json
    from hybridflow.study.spec import StudySampling

    spec = spec_from_json(spec_json)
    s = StudySampling.model_validate(sampling)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit_spec(spec, panel, events, sampling=s, seed=s.seed, out=out,
                          effects=effects_table)
    if result.bundle is not None:
        from hybridflow.inference.refit import keep_compiled

        # This worker keeps the compiled model: later steps (placebo, controls, backtests)
        # refit the same model on new data without compiling it again.
        keep_compiled(result.bundle, result.compiled, s.sampler)
    return {"converged": bool(result.converged), "seconds": time.perf_counter() - t0}


def null_variant(context: StudyContext, start: str, end: str) -> tuple[str, ModelSpec]:
    """The null spec refitted to another window (name and spec)."""
    null = context.model_spec(context.spec.null_model)
    name = f"{context.spec.null_model}_{start}_{end}"
    regimes = [r.model_dump(mode="python") for r in null.baseline.regimes
               if r.source != "dates" or r.start is None or r.start <= end]
    variant = null.with_updates(
        name=name.replace("-", "_"), data={"start": start, "end": end},
        baseline={"regimes": regimes},
    )
    return name, variant


def window_nulls(context: StudyContext) -> list[tuple[str, ModelSpec]]:
    """Null variants for every window of a count model that differs from the null's own.

    Known before any fit (the window is a property of spec and data), so the study fits
    them alongside the other models.
    """
    null = context.model_spec(context.spec.null_model)
    seen = {(null.data.start, null.data.end)}
    windows: list[tuple[str, str]] = []
    for name in context.spec.models:
        spec = context.model_spec(name)
        if spec.data.outcome != "counts":
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            months = prepare_data(spec, context.panel, context.events).months
        window = (format_month(months[0]), format_month(months[-1]))
        if window not in seen:
            seen.add(window)
            windows.append(window)
    return [null_variant(context, a, b) for a, b in windows]
