"""Run a study: replication, fits, effects, comparison, checks, forecasts, briefing.

``hybridflow study run studies/hjs-2025 [--quick] [--out DIR]`` calls :func:`run_study`.
Every step writes its outputs atomically into the results folder and records a key in
``state.json`` (:mod:`hybridflow.study.cache`): re-running reuses every step whose inputs
are unchanged, and an interrupted run resumes where it stopped.

Results folder::

    fits/<model>/           one fit each (fit.nc, effects.csv, diagnostics...)
    tables/*.csv, *.json    replication, hypotheses, comparison, checks, forecasts
    figures/*.png           every figure of the briefing
    briefing.html           self-contained (figures embedded); briefing.md its twin
    state.json              completed steps and their keys
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from rich.console import Console

from hybridflow.analysis.effects import effects_table
from hybridflow.data.events import load_events
from hybridflow.data.panel import load_panel, panel_hash
from hybridflow.errors import SpecError
from hybridflow.inference.fit import fit_spec
from hybridflow.inference.posterior import hdi_bounds
from hybridflow.inference.result import FitResult
from hybridflow.inference.store import load_result
from hybridflow.io import atomic_open
from hybridflow.models.spec import ModelSpec, load_spec, spec_hash
from hybridflow.study.cache import StudyState, step_key
from hybridflow.study.spec import StudySpec, load_study

DEFAULT_RESULTS = Path("results")


@dataclass
class StudyRun:
    """Everything one run of a study holds in memory; steps fill it in."""

    spec: StudySpec
    study_dir: Path
    out: Path
    profile: str
    panel: xr.Dataset
    events: pd.DataFrame
    state: StudyState
    console: Console
    executor_options: dict[str, Any] = field(default_factory=dict)
    model_specs: dict[str, ModelSpec] = field(default_factory=dict)
    fits: dict[str, FitResult] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    artefacts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)

    @property
    def tables_dir(self) -> Path:
        return self.out / "tables"

    def data_key(self) -> str:
        """Hash of the data every step reads (panel values and the event catalogue)."""
        if "data_key" not in self.artefacts:
            ev = self.events.attrs.get("sha256") or pd.util.hash_pandas_object(
                self.events.astype(str), index=False).sum()
            self.artefacts["data_key"] = step_key(panel_hash(self.panel), str(ev))
        return str(self.artefacts["data_key"])

    def sampling(self) -> dict[str, Any]:
        return self.spec.sampling.model_dump()

    def write_table(self, name: str, frame: pd.DataFrame) -> Path:
        """Write ``tables/<name>.csv`` atomically and keep it for the briefing."""
        self.tables[name] = frame
        path = self.tables_dir / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path) as fh:
            frame.to_csv(fh, index=False, lineterminator="\n")
        return path

    def read_table(self, name: str) -> pd.DataFrame:
        # Only empty cells are missing: a model named "null" must stay a name.
        frame = pd.read_csv(self.tables_dir / f"{name}.csv", keep_default_na=False,
                            na_values=[""])
        self.tables[name] = frame
        return frame

    def write_json(self, name: str, obj: Any) -> Path:
        path = self.tables_dir / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path) as fh:
            json.dump(obj, fh, indent=2, default=str)
        return path


@contextmanager
def _timed(run: StudyRun, name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    run.console.print(f"[bold]{name}[/] ...")
    yield
    run.timings[name] = time.perf_counter() - t0
    run.console.print(f"  done in {run.timings[name]:.1f} s")


def resolve_model(run: StudyRun, name: str) -> ModelSpec:
    """The model spec ``name`` from the study's models folder."""
    if name not in run.model_specs:
        path = (run.study_dir / run.spec.models_dir / f"{name}.toml").resolve()
        if not path.is_file():
            raise SpecError(f"{path}: model spec '{name}' named by the study was not found")
        run.model_specs[name] = load_spec(path)
    return run.model_specs[name]


def fit_model(run: StudyRun, name: str, spec: ModelSpec | None = None) -> FitResult:
    """Fit one model, or reuse its stored fit if spec, data and sampling are unchanged."""
    spec = spec or resolve_model(run, name)
    s = run.spec.sampling
    key = step_key("fit", spec_hash(spec), run.data_key(), run.sampling())
    out = run.out / "fits" / name
    step = f"fit:{name}"
    if run.state.is_done(step, key):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = load_result(out, warn=False)
        if name not in run.artefacts.get("fitted_now", set()):
            run.reused.append(name)
            run.console.print(f"  {name}: reusing stored fit (spec and data unchanged)")
    else:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fit_spec(spec, run.panel, run.events, sampling=s, seed=s.seed, out=out,
                              effects=effects_table)
        run.state.mark(step, key, [out / "fit.nc", out / "effects.csv"],
                       seconds=round(time.perf_counter() - t0, 1),
                       converged=bool(result.converged))
        flag = "[green]converged[/]" if result.converged else "[bold red]NOT CONVERGED[/]"
        run.console.print(f"  {name}: fitted in {time.perf_counter() - t0:.0f} s, {flag}")
    run.fits[name] = result
    return result


def _step_replication(run: StudyRun) -> None:
    from hybridflow.analysis.replication import replicate

    key = step_key("replication", run.data_key())
    files = ["tables/replication.json", "tables/replication_claims.csv",
             "tables/replication_correlations.csv", "tables/replication_misdated.csv"]
    if run.state.is_done("replication", key):
        for f in files[1:]:
            run.read_table(Path(f).stem)
        run.artefacts["replication"] = json.loads((run.out / files[0]).read_text())
        return
    res = replicate(run.panel, run.events)
    run.artefacts["replication"] = res.to_dict()
    run.write_json("replication", res.to_dict())
    run.write_table("replication_claims", res.claims)
    run.write_table("replication_correlations", res.correlations)
    run.write_table("replication_misdated", res.misdated)
    run.state.mark("replication", key, files)


def _fit_to_folder(spec_json: str, panel: xr.Dataset, events: pd.DataFrame,
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


def _step_fits(run: StudyRun) -> None:
    """Fit every model; models needing a new fit run in parallel on the executor.

    Compilation is single-threaded and dominates small fits, so two fits side by side on
    two cores take little longer than one.
    """
    from hybridflow.inference.executor import Task
    from hybridflow.models.spec import spec_to_json

    todo = []
    for name, spec in [*[(n, resolve_model(run, n)) for n in run.spec.models],
                       *window_nulls(run)]:
        key = step_key("fit", spec_hash(spec), run.data_key(), run.sampling())
        if not run.state.is_done(f"fit:{name}", key):
            todo.append((name, spec, key))
    workers = run.executor_options.get("workers") or 2
    if len(todo) > 1 and workers > 1:
        from hybridflow.study.steps_checks import _executor

        tasks = [Task(f"fit:{name}", _fit_to_folder,
                      (spec_to_json(spec), run.panel, run.events, run.sampling(),
                       str(run.out / "fits" / name)))
                 for name, spec, _ in todo]
        results = _executor(run).map(tasks, progress=True)
        run.artefacts["fitted_now"] = {name for name, _, _ in todo}
        for (name, _, key), res in zip(todo, results, strict=True):
            if not res.ok:
                from hybridflow.errors import HybridflowError

                raise HybridflowError(f"fit of model '{name}' failed: "
                                      f"{(res.error or '').strip().splitlines()[-1]}")
            out = run.out / "fits" / name
            run.state.mark(f"fit:{name}", key, [out / "fit.nc", out / "effects.csv"],
                           seconds=round(res.value["seconds"], 1),
                           converged=res.value["converged"])
            flag = "[green]converged[/]" if res.value["converged"] else "[bold red]NOT CONVERGED[/]"
            run.console.print(f"  {name}: fitted in {res.value['seconds']:.0f} s, {flag}")
    for name in run.spec.models:
        fit_model(run, name)
    for name, spec in window_nulls(run):
        fit_model(run, name, spec)


def check_hypotheses(run: StudyRun) -> None:
    """Fail before any fit if a hypothesis names a model or driver the study cannot read.

    A hypothesis is read from its own model when the profile fits it, otherwise from the
    fallback model (where a missing driver is reported as "not estimated", not an error).
    """
    for h in run.spec.hypotheses:
        if h.model not in run.spec.models:
            if run.spec.fallback_model is None:
                raise SpecError(f"{run.study_dir / 'study.toml'}: hypothesis {h.id} names model "
                                f"'{h.model}', which is not among the study's models")
            continue
        drivers = [d.name for d in resolve_model(run, h.model).drivers]
        if h.driver not in drivers:
            raise SpecError(f"{run.study_dir / 'study.toml'}: hypothesis {h.id}: model "
                            f"'{h.model}' has no driver '{h.driver}'; its drivers: "
                            f"{', '.join(drivers) or '(none)'}")


def hypothesis_model(run: StudyRun, hyp_model: str) -> str:
    """The model a hypothesis is read from in this profile (its own, if fitted)."""
    if hyp_model in run.fits or run.spec.fallback_model is None:
        return hyp_model
    return run.spec.fallback_model


def _step_hypotheses(run: StudyRun) -> None:
    from hybridflow.analysis.effects import effect_draws
    from hybridflow.analysis.evidence import GRADE_READINGS, grade_effect

    rows = []
    placebo = run.artefacts.get("placebo_p", {})
    negctl = run.artefacts.get("negative_control_p", {})
    for h in run.spec.hypotheses:
        model = hypothesis_model(run, h.model)
        if model not in run.fits:
            raise SpecError(f"hypothesis {h.id}: model '{h.model}' was not fitted")
        fit = run.fits[model]
        has_driver = "effect" in fit.idata.posterior and h.driver in fit.idata.posterior["driver"]
        if not has_driver and model != h.model:
            # A reduced profile reads hypotheses from its fallback model; one whose driver
            # is not there is not estimated in this profile (said so, never invented).
            rows.append({"hypothesis": h.id, "title": h.title, "claim": h.claim,
                         "model": f"{h.model} (not fitted in profile '{run.profile}')",
                         "driver": h.driver, "level": "", "unit": "",
                         "direction": h.direction, "pct_mean": np.nan, "pct_hdi_low": np.nan,
                         "pct_hdi_high": np.nan, "p_direction": np.nan, "p_rope": np.nan,
                         "p_meaningful": np.nan, "placebo_p": np.nan,
                         "negative_control_p_direction": np.nan, "grade": "not estimated",
                         "grade_reasons": "", "reading": "not estimated in this profile",
                         "converged": True})
            continue
        if not has_driver:
            raise SpecError(f"hypothesis {h.id}: driver '{h.driver}' not in model '{model}'")
        draws = effect_draws(fit.idata)
        if h.group is None:
            pct = draws["pooled_pct"].sel(driver=h.driver)
            level = "all groups (population mean)"
        else:
            pct = draws["cumulative_pct"].sel(driver=h.driver, group=h.group).isel(route=0)
            level = h.group
        vals = np.asarray(pct.values).ravel()
        grade = grade_effect(
            vals, h.direction, rope=10.0, converged=fit.converged,
            placebo_p=placebo.get(h.id), negative_control_p_direction=negctl.get(h.id),
        )
        low, high = hdi_bounds(vals, 0.9)
        unit = ""
        cd = fit.idata.constant_data
        if "driver_unit" in cd:
            unit = str(cd["driver_unit"].sel(driver=h.driver).values)
        rows.append({
            "hypothesis": h.id,
            "title": h.title,
            "claim": h.claim,
            "model": model,
            "driver": h.driver,
            "level": level,
            "unit": unit,
            "direction": h.direction,
            "pct_mean": float(np.mean(vals)),
            "pct_hdi_low": low,
            "pct_hdi_high": high,
            "p_direction": grade.p_direction,
            "p_rope": grade.p_rope,
            "p_meaningful": grade.p_meaningful,
            "placebo_p": placebo.get(h.id, np.nan),
            "negative_control_p_direction": negctl.get(h.id, np.nan),
            "grade": grade.grade,
            "grade_reasons": "; ".join(grade.reasons),
            "reading": GRADE_READINGS[grade.grade],
            "converged": bool(fit.converged),
            "outcome": str(fit.idata.posterior.attrs.get("outcome", "counts")),
        })
    run.write_table("hypotheses", pd.DataFrame(rows))


def _null_variant(run: StudyRun, start: str, end: str) -> tuple[str, ModelSpec]:
    """The null spec refitted to another window (name and spec)."""
    null = resolve_model(run, run.spec.null_model)
    name = f"{run.spec.null_model}_{start}_{end}"
    regimes = [r.model_dump(mode="python") for r in null.baseline.regimes
               if r.source != "dates" or r.start is None or r.start <= end]
    variant = null.with_updates(
        name=name.replace("-", "_"), data={"start": start, "end": end},
        baseline={"regimes": regimes},
    )
    return name, variant


def window_nulls(run: StudyRun) -> list[tuple[str, ModelSpec]]:
    """Null variants for every window of a count model that differs from the null's own.

    Known before any fit (the window is a property of spec and data), so the study fits
    them alongside the other models.
    """
    from hybridflow.models.build import prepare_data
    from hybridflow.months import format_month

    if "window_nulls" in run.artefacts:
        return list(run.artefacts["window_nulls"])
    null = resolve_model(run, run.spec.null_model)
    seen = {(null.data.start, null.data.end)}
    windows: list[tuple[str, str]] = []
    for name in run.spec.models:
        spec = resolve_model(run, name)
        if spec.data.outcome != "counts":
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            months = prepare_data(spec, run.panel, run.events).months
        window = (format_month(months[0]), format_month(months[-1]))
        if window not in seen:
            seen.add(window)
            windows.append(window)
    out = [_null_variant(run, a, b) for a, b in windows]
    run.artefacts["window_nulls"] = out
    return out


def _step_comparison(run: StudyRun) -> None:
    """PSIS-LOO among models fitted to the same observations, against the null.

    The null on every shorter window was fitted in the fit step (:func:`window_nulls`).
    """
    from hybridflow.analysis.compare import loo_table

    null_names = {n for n in run.fits if n == run.spec.null_model
                  or n.startswith(f"{run.spec.null_model}_")}
    groups: dict[str, list[str]] = {}
    for name, fit in run.fits.items():
        obs = np.asarray(fit.idata.observed_data["y"].values)
        attrs = fit.idata.posterior.attrs
        gkey = step_key(obs.tolist(), attrs.get("window_start"), attrs.get("window_end"),
                        attrs.get("outcome"))
        groups.setdefault(gkey, []).append(name)
    frames = []
    for i, names in enumerate(groups.values()):
        fits = {n: run.fits[n].idata for n in names}
        base = next((n for n in names if n in null_names), None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = loo_table(fits, baseline=base)
        table = table.reset_index()
        a = run.fits[names[0]].idata.posterior.attrs
        table.insert(1, "comparison_set", i + 1)
        table.insert(2, "window", f"{a.get('window_start')} to {a.get('window_end')}")
        table.insert(3, "baseline", base or "")
        frames.append(table)
    run.write_table("comparison", pd.concat(frames, ignore_index=True))


def _step_diagnostics(run: StudyRun) -> None:
    rows = []
    for name, fit in run.fits.items():
        d = fit.diagnostics
        rows.append({
            "model": name,
            "converged": bool(d.converged),
            "divergences": d.n_divergences,
            "max_rhat": d.max_rhat,
            "min_ess_bulk": d.min_ess_bulk,
            "min_ess_tail": d.min_ess_tail,
            "chains": d.n_chains,
            "draws": d.n_draws,
            "failing": "; ".join(d.failing[:3]),
            "reused": name in run.reused,
        })
    run.write_table("diagnostics", pd.DataFrame(rows))


#: Optional steps provided by other modules; each is ``fn(run) -> None`` and may be absent.
EXTRA_STEPS: list[tuple[str, str]] = [
    ("checks", "hybridflow.study.steps_checks"),
    ("forecast", "hybridflow.study.steps_forecast"),
]


def run_study(
    study: str | Path,
    *,
    profile: str = "default",
    out: str | Path | None = None,
    data: str | Path | None = None,
    drivers: str | Path | None = None,
    events: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
    console: Console | None = None,
    skip: tuple[str, ...] = (),
) -> StudyRun:
    """Run (or resume) a study and write its briefing.

    Parameters
    ----------
    study
        The study folder (holding ``study.toml``) or the file.
    profile
        ``"default"`` or a profile of the study (``"quick"``).
    out
        Results folder (default ``results/<study name>`` or ``results/<name>-<profile>``).
    data, drivers
        Optional bring-your-own CSV files (see ``docs/data.md``).
    events
        An event catalogue CSV to use instead of the packaged one (validated before
        anything is written).
    workers, scheduler, dask_local
        Executor for many-fit checks: local processes (default), a dask scheduler
        address, or a local dask cluster of N workers.
    skip
        Names of optional steps to leave out (``"checks"``, ``"forecast"``).
    """
    spec, study_dir = load_study(study)
    spec = spec.with_profile(profile)
    console = console or Console(stderr=True)
    suffix = "" if profile == "default" else f"-{profile}"
    out_dir = Path(out) if out is not None else DEFAULT_RESULTS / f"{spec.name}{suffix}"
    t0 = time.perf_counter()
    run = StudyRun(
        spec=spec,
        study_dir=study_dir,
        out=out_dir.resolve(),  # absolute: the same files whatever the working directory
        profile=profile,
        panel=load_panel(detections=data, drivers=drivers),
        events=load_events(events),
        state=StudyState(out_dir),
        console=console,
        executor_options={"workers": workers, "scheduler": scheduler, "dask_local": dask_local},
    )
    check_hypotheses(run)  # before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]Study {spec.name}[/] (profile {profile}) -> {out_dir}")
    try:
        _run_steps(run, skip)
    finally:
        # One pool of workers serves every step, so compiled models are reused across them.
        ex = run.artefacts.pop("executor", None)
        if ex is not None:
            ex.close()
    run.timings["total"] = time.perf_counter() - t0
    run.write_json("timings", run.timings)
    console.print(f"[bold green]Briefing written:[/] {run.artefacts['briefing']['html']}")
    return run


def _run_steps(run: StudyRun, skip: tuple[str, ...]) -> None:
    with _timed(run, "replication"):
        _step_replication(run)
    with _timed(run, "fits"):
        _step_fits(run)
    with _timed(run, "comparison"):
        _step_comparison(run)
    for name, module in EXTRA_STEPS:
        if name in skip:
            continue
        step = _optional_step(module)
        if step is not None:
            with _timed(run, name):
                step(run)
    with _timed(run, "hypotheses"):
        _step_hypotheses(run)
    _step_diagnostics(run)
    with _timed(run, "briefing"):
        from hybridflow.study.assemble import write_study_briefing

        run.artefacts["briefing"] = write_study_briefing(run)


def _optional_step(module: str) -> Callable[[StudyRun], None] | None:
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise
    fn: Callable[[StudyRun], None] = mod.run_step
    return fn
