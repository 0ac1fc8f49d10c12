"""Run a study: replication, fits, comparison, checks, forecasts, hypotheses, briefing.

``hybridflow study run studies/hjs-2025 [--quick] [--out DIR]`` calls :func:`run_study`,
which runs :data:`STEPS` in order. Every step writes its outputs atomically into the
results folder and records a key in ``state.json`` (:mod:`hybridflow.study.cache`):
re-running reuses every step whose inputs are unchanged, and an interrupted run resumes
where it stopped.

Results folder::

    fits/<model>/           one fit each (fit.nc, effects.csv, diagnostics...)
    tables/*.csv, *.json    replication, hypotheses, comparison, checks, forecasts
    figures/*.png           every figure of the briefing
    briefing.html           self-contained (figures embedded); briefing.md its twin
    state.json              completed steps and their keys
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from hybridflow.data.events import load_events
from hybridflow.data.panel import load_panel
from hybridflow.study.cache import StudyState
from hybridflow.study.context import ExecutorOptions, StudyContext
from hybridflow.study.results import StudyResults
from hybridflow.study.spec import load_study
from hybridflow.study.steps import (
    audit,
    backtests,
    briefing,
    compare,
    controls,
    diagnostics,
    episodes,
    fits,
    forecasts,
    hypotheses,
    placebo,
    ppc,
    replication,
    sensitivity,
)

DEFAULT_RESULTS = Path("results")


@dataclass(frozen=True)
class Step:
    """One step of a study.

    ``name`` is the :class:`StudyResults` field its result is filed under. A step with a
    ``group`` is optional: ``skip`` names the group or the step; a group's steps are timed
    together and each under ``"<group>: <label>"``.
    """

    name: str
    run: Callable[[StudyContext, StudyResults], Any]
    group: str | None = None
    label: str = ""


#: Every step, in the order it runs: each reads the results of the steps above it.
STEPS: tuple[Step, ...] = (
    Step("replication", replication.run),
    Step("fits", fits.run),
    Step("comparison", compare.run),
    Step("ppc", ppc.run, group="checks", label="predictive checks"),
    Step("placebo", placebo.run, group="checks", label="placebo"),
    Step("controls", controls.run, group="checks", label="negative controls"),
    Step("episodes", episodes.run, group="checks", label="episodes"),
    Step("sensitivity", sensitivity.run, group="checks", label="sensitivity"),
    Step("audit", audit.run, group="checks", label="audit (read)"),
    Step("forecasts", forecasts.run, group="forecast", label="forecasts"),
    Step("backtests", backtests.run, group="forecast", label="backtests"),
    Step("hypotheses", hypotheses.run),
    Step("diagnostics", diagnostics.run),
    Step("briefing", briefing.run),
)


@dataclass(frozen=True)
class StudyRun:
    """A finished run: what it read and what every step produced."""

    context: StudyContext
    results: StudyResults

    @property
    def out(self) -> Path:
        return self.context.out

    @property
    def reused(self) -> list[str]:
        """Fits read back from an earlier run instead of fitted now."""
        return list(self.results.fitted().reused)

    @property
    def briefing(self) -> Mapping[str, Path]:
        """Paths of the briefing files (``html``, ``markdown``...)."""
        if self.results.briefing is None:
            return {}
        return self.results.briefing.paths

    @property
    def timings(self) -> dict[str, float]:
        return self.context.timings


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
        Optional steps to leave out: a group (``"checks"``, ``"forecast"``) or one of
        their steps (``"placebo"``, ``"backtests"``...; see :data:`STEPS`).
    """
    t0 = time.perf_counter()
    context = make_context(study, profile=profile, out=out, data=data, drivers=drivers,
                           events=events, console=console,
                           executor=ExecutorOptions(workers, scheduler, dask_local))
    hypotheses.validate(context)  # before anything is written
    context.out.mkdir(parents=True, exist_ok=True)
    context.console.print(f"[bold]Study {context.spec.name}[/] (profile {profile}) -> "
                          f"{context.out}")
    try:
        results = run_steps(context, skip)
    finally:
        # One pool of workers serves every step, so compiled models are reused across them.
        context.close_executor()
    context.timings["total"] = time.perf_counter() - t0
    context.write_json("timings", context.timings)
    done = StudyRun(context, results)
    context.console.print(f"[bold green]Briefing written:[/] {done.briefing['html']}")
    return done


def make_context(study: str | Path, *, profile: str, out: str | Path | None,
                 data: str | Path | None, drivers: str | Path | None,
                 events: str | Path | None, console: Console | None,
                 executor: ExecutorOptions) -> StudyContext:
    """Load the study, its profile, the panel and the events (nothing is written)."""
    spec, study_dir = load_study(study)
    spec = spec.with_profile(profile)
    suffix = "" if profile == "default" else f"-{profile}"
    out_dir = Path(out) if out is not None else DEFAULT_RESULTS / f"{spec.name}{suffix}"
    return StudyContext(
        spec=spec,
        study_dir=study_dir,
        out=out_dir.resolve(),  # absolute: the same files whatever the working directory
        profile=profile,
        panel=load_panel(detections=data, drivers=drivers),
        events=load_events(events),
        state=StudyState(out_dir),
        console=console or Console(stderr=True),
        executor_options=executor,
    )


def run_steps(context: StudyContext, skip: tuple[str, ...] = ()) -> StudyResults:
    """Run :data:`STEPS` in order, leaving out the optional ones named in ``skip``."""
    results = StudyResults()
    steps = [s for s in STEPS if s.group is None or not {s.group, s.name} & set(skip)]
    for group, members in itertools.groupby(steps, key=lambda s: s.group or s.name):
        grouped = list(members)
        with _timed(context, group):
            for step in grouped:
                if step.group is None:
                    results = _run_one(step, context, results)
                    continue
                t0 = time.perf_counter()
                results = _run_one(step, context, results)
                seconds = time.perf_counter() - t0
                context.timings[f"{step.group}: {step.label}"] = seconds
                context.console.print(f"  - {step.label}: {seconds:.0f} s")
    return results


def _run_one(step: Step, context: StudyContext, results: StudyResults) -> StudyResults:
    return dataclasses.replace(results, **{step.name: step.run(context, results)})


@contextmanager
def _timed(context: StudyContext, name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    context.console.print(f"[bold]{name}[/] ...")
    yield
    context.timings[name] = time.perf_counter() - t0
    context.console.print(f"  done in {context.timings[name]:.1f} s")
