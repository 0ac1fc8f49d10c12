"""Sensitivity of a headline effect to the analyst's choices, one choice at a time.

Starting from a headline model (a spec and one of its drivers), each variant changes one
choice and is refitted:

- ``prior xS``: every driver's effect prior scale (``prior.sigma``) multiplied by ``S``;
- ``kernel K``: the headline driver's lag kernel replaced by ``K`` (same ``max_lag``,
  default kernel options);
- ``start YYYY-MM``: the window starts then (same end). A regime that is constant in the
  shorter window (e.g. the war onset in a window starting Feb 2022) cannot be estimated:
  :func:`~hybridflow.models.build.prepare_data` drops it and says so in the variant's
  ``note``;
- ``grouping G``: nationalities grouped by ``G`` (``"ukrrussbel"``, ``"none"``,
  ``{"top_k": k}`` or a CSV path). The pooled effect then averages over other groups,
  and a group-specific headline needs its group to exist;
- ``trend xS``: the latent trend's flexibility, its innovation sd per knot step
  (``baseline.priors.trend_sd``, a value or its prior's scale) multiplied by ``S``: a
  stiffer trend leaves slow movements to the drivers, a looser one can absorb their pulses.

A variant identical to the baseline (say ``start 2016-01`` when the spec starts in 2016) is
left out. Each variant has its own structure, hence its own compile; they run in parallel
on the executor. The result is the table :func:`hybridflow.briefing.figures.forest_plot`
draws: ``panel``, ``label``, ``mean``, ``low``, ``high`` (percent, HDI), ``converged``.

Every variant's fit is gated like a headline fit (``converged``); ``attempted`` says a fit
was made (the variant could be built), ``usable`` that it passed the gate.

Sign stability (:func:`sensitivity_outcome`)
--------------------------------------------
The check passes when every usable variant's posterior mean has the headline's sign (the
baseline row: the headline fit itself when the study passes it). It did not run when the
baseline is not usable or fewer than 80% of the attempted variants passed the gate
(:func:`~hybridflow.analysis.checks._common.enough_usable`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.analysis.checks._common import (
    VARIANT_SAMPLING,
    CheckOutcome,
    Direction,
    Headline,
    did_not_run,
    enough_usable,
    fit_row,
    fit_task,
    headline_draws,
    no_estimate_row,
    run_tasks,
    summarise_draws,
)
from hybridflow.data.panel import REPORT_GROUPING
from hybridflow.design.kernels import DelayedPeakKernel, FiniteDistributedLagKernel, ImmediateKernel
from hybridflow.errors import SpecError
from hybridflow.inference.executor import Executor, Task, TaskResult, spawn_seeds
from hybridflow.inference.posterior import as_posterior, n_divergences
from hybridflow.inference.sampling import Sampling
from hybridflow.models.build import ModelData, prepare_data
from hybridflow.models.spec import ModelSpec, TopK, parse_spec, spec_hash
from hybridflow.months import format_month

__all__ = [
    "DEFAULT_KERNELS",
    "SENSITIVITY_COLUMNS",
    "Variant",
    "grouping_label",
    "sensitivity_grid",
    "sensitivity_outcome",
    "sensitivity_variants",
]

#: The kernels a headline driver's kernel is swapped for by default.
DEFAULT_KERNELS: tuple[str, ...] = tuple(
    k.name for k in (ImmediateKernel, DelayedPeakKernel, FiniteDistributedLagKernel)
)

SENSITIVITY_COLUMNS = [
    "panel",
    "label",
    "kind",
    "mean",
    "low",
    "high",
    "p_direction",
    "p_positive",
    "converged",
    "attempted",
    "usable",
    "divergences",
    "window",
    "groups",
    "seconds",
    "spec_hash",
    "note",
]


@dataclass(frozen=True)
class Variant:
    """One model of the grid: a label (``"prior x0.5"``), its kind (``baseline``,
    ``prior``, ``kernel``, ``window``, ``grouping``), the spec (None if the variant could
    not be built) and a note (why not)."""

    label: str
    kind: str
    spec: ModelSpec | None
    note: str = ""


def grouping_label(grouping: Any) -> str:
    """``"ukrrussbel"``, ``"none"``, ``"top_5"`` or the CSV file's stem."""
    if isinstance(grouping, TopK):
        return f"top_{grouping.top_k}"
    if isinstance(grouping, dict) and "top_k" in grouping:
        return f"top_{int(grouping['top_k'])}"
    text = str(grouping)
    return Path(text).stem if text.endswith(".csv") else text


def _normal_grouping(grouping: Any) -> Any:
    if isinstance(grouping, TopK):
        return grouping.model_dump(mode="python")
    return grouping


def sensitivity_variants(
    spec: ModelSpec,
    driver: str,
    *,
    prior_scales: Sequence[float] = (0.5, 2.0),
    kernels: Sequence[str] = DEFAULT_KERNELS,
    window_starts: Sequence[str] = ("2016-01", "2021-01", "2022-02"),
    groupings: Sequence[Any] = (REPORT_GROUPING, {"top_k": 5}),
    trend_scales: Sequence[float] = (0.5, 2.0),
) -> list[Variant]:
    """The baseline and every one-choice-at-a-time variant of ``spec``.

    Raises
    ------
    KeyError
        ``driver`` is not in the spec.
    """
    head = spec.driver(driver)
    out = [Variant("baseline", "baseline", spec)]
    seen = {spec_hash(spec)}

    def add(label: str, kind: str, dumped: dict[str, Any]) -> None:
        dumped["name"] = spec.name
        try:
            new = parse_spec(dumped)
        except SpecError as exc:
            out.append(Variant(label, kind, None, str(exc)))
            return
        h = spec_hash(new)
        if h in seen:  # same model as the baseline or an earlier variant
            return
        seen.add(h)
        out.append(Variant(label, kind, new))

    for s in prior_scales:
        if not s > 0:
            raise ValueError(f"prior scales must be > 0, got {s}")
        d = spec.model_dump(mode="python")
        for drv in d["drivers"]:
            drv["prior"]["sigma"] = float(drv["prior"]["sigma"]) * float(s)
        add(f"prior x{s:g}", "prior", d)
    for k in kernels:
        d = spec.model_dump(mode="python")
        for drv in d["drivers"]:
            if drv["name"] == driver:
                drv["kernel"] = {"name": k, "max_lag": head.kernel.max_lag}
        add(f"kernel {k}", "kernel", d)
    for ws in window_starts:
        d = spec.model_dump(mode="python")
        d["data"]["start"] = str(ws)
        add(f"start {ws}", "window", d)
    for g in groupings:
        d = spec.model_dump(mode="python")
        d["data"]["grouping"] = _normal_grouping(g)
        add(f"grouping {grouping_label(g)}", "grouping", d)
    for s in trend_scales:
        # Trend flexibility: the knots' innovation sd (its value, or its prior's scale).
        if not s > 0:
            raise ValueError(f"trend scales must be > 0, got {s}")
        d = spec.model_dump(mode="python")
        if d["baseline"]["trend"] == "none":
            continue
        d["baseline"]["priors"]["trend_sd"] = float(d["baseline"]["priors"]["trend_sd"]) * float(s)
        add(f"trend x{s:g}", "trend", d)
    return out


def _idata_converged(idata: Any) -> bool:
    attrs = as_posterior(idata)["posterior"].attrs
    return bool(int(attrs.get("converged", 0)))


def _variant_data(
    variants: Sequence[Variant],
    panel: xr.Dataset,
    events: pd.DataFrame | None,
    group: str | None,
) -> tuple[list[ModelData | None], list[str]]:
    """Each variant's model data (None where it cannot be built or lacks ``group``) and
    its note (why not)."""
    datas: list[ModelData | None] = []
    notes: list[str] = []
    for v in variants:
        data: ModelData | None = None
        note = v.note
        if v.spec is not None:
            try:
                data = prepare_data(v.spec, panel, events)
            except SpecError as exc:
                note = str(exc)
        if data is not None and group is not None and group not in data.groups:
            note = f"group {group!r} does not exist under this variant (groups: {data.groups})"
            data = None
        datas.append(data)
        notes.append(note)
    return datas, notes


def _existing_fit_row(
    baseline: Any, headline: Headline, data: ModelData, hdi_prob: float
) -> dict[str, Any]:
    """The estimate columns of the baseline row, read from an existing fit."""
    idata = as_posterior(baseline)
    draws = headline_draws(idata, headline)
    return summarise_draws(draws, direction=headline.direction, hdi_prob=hdi_prob) | {
        "converged": _idata_converged(idata),
        "divergences": n_divergences(idata),
        "seconds": 0.0,
        "note": "; ".join(["existing fit", *data.notes]),
    }


def _variant_columns(label: str, variant: Variant, data: ModelData | None) -> dict[str, Any]:
    """The descriptive columns of a variant's row (``panel`` is ``label``)."""
    window = f"{format_month(data.months[0])}..{format_month(data.months[-1])}" if data else ""
    return {
        "panel": label,
        "label": variant.label,
        "kind": variant.kind,
        "window": window,
        "groups": ",".join(data.groups) if data else "",
        "spec_hash": spec_hash(variant.spec) if variant.spec is not None else "",
    }


def _reuses_baseline(variant: Variant, baseline: Any) -> bool:
    return variant.kind == "baseline" and baseline is not None


def _fit_variants(
    variants: Sequence[Variant],
    datas: Sequence[ModelData | None],
    baseline: Any,
    headline: Headline,
    sampling: Sampling,
    seed: int,
    executor: Executor | None,
    progress: bool,
) -> dict[str, TaskResult]:
    """Fit every variant that has data (the baseline too unless an existing fit is
    given), variant ``i`` with the ``i``-th seed of ``spawn_seeds(seed, len(variants))``;
    the results by task key ``variant-<i>``."""
    seeds = spawn_seeds(seed, len(variants))
    fit_args = ([headline.driver], headline.group, headline.route, sampling)
    tasks = [
        Task(f"variant-{i:02d}", fit_task, (data, *fit_args), seed=seeds[i])
        for i, (v, data) in enumerate(zip(variants, datas, strict=True))
        if data is not None and not _reuses_baseline(v, baseline)
    ]
    return {r.key: r for r in run_tasks(tasks, executor, progress=progress)}


def _variant_estimate(
    i: int,
    variant: Variant,
    data: ModelData | None,
    note: str,
    results: Mapping[str, TaskResult],
    baseline: Any,
    headline: Headline,
    hdi_prob: float,
) -> dict[str, Any]:
    """The estimate columns of variant ``i``'s row: none (``note`` says why), the
    existing baseline fit, or its task's fit."""
    if data is None:
        return no_estimate_row(note)
    if _reuses_baseline(variant, baseline):
        return _existing_fit_row(baseline, headline, data, hdi_prob)
    res = results[f"variant-{i:02d}"]
    return fit_row(res, headline.driver, direction=headline.direction, hdi_prob=hdi_prob)


def sensitivity_grid(
    spec: ModelSpec,
    driver: str,
    panel: xr.Dataset,
    events: pd.DataFrame | None,
    *,
    prior_scales: Sequence[float] = (0.5, 2.0),
    kernels: Sequence[str] = DEFAULT_KERNELS,
    window_starts: Sequence[str] = ("2016-01", "2021-01", "2022-02"),
    groupings: Sequence[Any] = (REPORT_GROUPING, {"top_k": 5}),
    trend_scales: Sequence[float] = (0.5, 2.0),
    direction: Direction = "+",
    group: str | None = None,
    route: str | None = None,
    panel_label: str | None = None,
    baseline: Any = None,
    seed: int = 0,
    sampling: Sampling = VARIANT_SAMPLING,
    hdi_prob: float = 0.9,
    executor: Executor | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Refit a headline model under each variant; one row per variant.

    Parameters
    ----------
    spec, driver, panel, events
        The headline model, its driver, the panel and the event catalogue.
    prior_scales, kernels, window_starts, groupings, trend_scales
        The variants (see the module docstring); each changes one choice.
    direction
        Predicted direction, for ``p_direction``.
    group, route
        Effect reported (None: the driver's pooled effect).
    panel_label
        The ``panel`` column (default ``"<hypothesis or spec name> <driver>"``).
    baseline
        An existing fit of ``spec`` (FitResult or posterior tree) to use for the baseline
        row instead of refitting it.
    sampling, seed
        Sampler settings of each variant's fit (default
        :data:`~hybridflow.analysis.checks._common.VARIANT_SAMPLING`: 500 draws after 500
        tuning steps x 2 chains, target acceptance 0.9) and the root seed.
    hdi_prob
        HDI mass of ``low``/``high``.
    executor
        Runs the fits (default: in this process, one after another).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SENSITIVITY_COLUMNS`. ``label`` names the variant (``baseline``,
        ``prior x0.5``, ``kernel delayed``, ``start 2022-02``, ``grouping top_5``...),
        ``mean``, ``low``, ``high`` are percent changes (``hdi_prob`` HDI), ``note`` holds
        the builder's notes (e.g. dropped regimes) or why a variant has no estimate.
    """
    t0 = time.perf_counter()
    label = panel_label or f"{spec.hypothesis or spec.name} {driver}"
    variants = sensitivity_variants(
        spec,
        driver,
        prior_scales=prior_scales,
        kernels=kernels,
        window_starts=window_starts,
        groupings=groupings,
        trend_scales=trend_scales,
    )
    headline = Headline(driver, group=group, route=route, direction=direction)
    datas, notes = _variant_data(variants, panel, events, group)
    results = _fit_variants(variants, datas, baseline, headline, sampling, seed, executor, progress)
    rows = [
        _variant_columns(label, v, data)
        | _variant_estimate(i, v, data, note, results, baseline, headline, hdi_prob)
        for i, (v, data, note) in enumerate(zip(variants, datas, notes, strict=True))
    ]
    table = pd.DataFrame(rows)
    table["converged"] = table["converged"].astype(bool)
    table["attempted"] = [d is not None for d in datas]
    table["usable"] = table["attempted"] & table["converged"] & table["mean"].notna()
    table = table[SENSITIVITY_COLUMNS]
    table.attrs.update(hdi_prob=hdi_prob, seconds=time.perf_counter() - t0)
    return table


def sensitivity_outcome(table: pd.DataFrame, *, hypothesis: str = "") -> CheckOutcome:
    """Is the headline's sign stable across the forest? (module docstring)"""
    base = table[table["kind"] == "baseline"]
    tried = table[table["attempted"].astype(bool)]
    ok = tried[tried["usable"].astype(bool)]
    n, n_used = len(tried), len(ok)
    if base.empty or not bool(base["usable"].iloc[0]):
        return did_not_run("sensitivity", hypothesis, "the baseline (headline) fit is not "
                           "usable", n_requested=n, n_used=n_used)  # fmt: skip
    why = enough_usable(n_used, n, permutation=False)
    if why:
        return did_not_run("sensitivity", hypothesis, why, n_requested=n, n_used=n_used)
    sign = np.sign(float(base["mean"].iloc[0]))
    same = np.sign(ok["mean"].to_numpy(dtype=float)) == sign
    flipped = list(ok.loc[~same, "label"])
    passed = not flipped
    reason = (f"passed: all {n_used} usable variants share the headline's sign"
              if passed else f"failed: sign flips under {', '.join(map(str, flipped))}")
    return CheckOutcome("sensitivity", hypothesis, True, passed, n, n_used, n - n_used,
                        statistic=float(np.mean(same)), reason=reason)  # fmt: skip
