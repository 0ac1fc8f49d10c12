"""Run the audit: fit each hypothesis' own model on many fake worlds and grade each fit.

For each :class:`AuditTarget` (a hypothesis: its model spec, driver and direction) the
runner makes ``n_null`` null worlds and ``n_effect`` effect worlds per effect size
(:mod:`hybridflow.analysis.audit.generator`), all on the model's real design. Each world
is one executor task:

1. the world's counts replace the outcome (for share models, outcome and trials), the
   model is rebuilt on them (graph only: the data-dependent containers such as the
   intercept's centre follow the world) and refitted with the model compiled once per
   worker (:func:`~hybridflow.inference.refit.cached_refitter`);
2. the refit passes or fails the study's convergence gate
   (:func:`~hybridflow.inference.diagnostics.check_convergence` on the model's reported
   parameters); a failed gate or an error is counted and reported, never graded;
3. the estimand is read as the study reads it: the ``cumulative_pct`` of the driver for
   :attr:`AuditTarget.group` (Others by default,
   :func:`~hybridflow.analysis.effects.effect_draws`) and graded with
   :func:`~hybridflow.analysis.evidence.grade_effect` from the posterior alone.

The checks (placebo, negative controls, sensitivity) can only lower a grade, so the
posterior-only rate of false "moderate or stronger" grades is an upper bound on the full
pipeline's (docs/audit.md). Seeds: the hypothesis' root seed comes from the audit's and the hypothesis' id
(:func:`hypothesis_seed`); the ``j``-th world of a block (the nulls, each effect size)
gets the ``j``-th of :func:`~hybridflow.inference.executor.spawn_seeds` of the block's
stream for its counts, and a seed derived from it for the sampler, so the same root seed
gives the same table on every executor, whichever hypotheses are audited and however many
worlds.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.analysis.audit.generator import (
    DEFAULT_CONFIG,
    Effect,
    WorldConfig,
    generate_world,
    world_model_data,
)
from hybridflow.analysis.audit.metrics import audit_table
from hybridflow.analysis.effects import effect_draws
from hybridflow.analysis.evidence import grade_effect
from hybridflow.inference.executor import (
    Executor,
    ProgressArg,
    SerialExecutor,
    Task,
    TaskResult,
    spawn_seeds,
)
from hybridflow.inference.posterior import hdi_bounds
from hybridflow.inference.sampling import Sampling
from hybridflow.models.build import ModelData, prepare_data
from hybridflow.models.spec import ModelSpec, spec_hash

__all__ = [
    "AUDIT_SAMPLING",
    "EFFECT_SIZES",
    "AuditResult",
    "AuditTarget",
    "audit_settings",
    "audit_world",
    "hypothesis_seed",
    "run_audit",
    "run_worlds",
    "world_plan",
]

#: Sampling of each world's fit: the study's draws per chain halved, four chains, the
#: default target acceptance (0.95), so the gate's 400 bulk and tail ESS can be met.
AUDIT_SAMPLING = Sampling(draws=500, tune=500, chains=4)

#: HDI mass of the interval whose coverage of the truth is reported.
HDI_PROB = 0.9


@dataclass(frozen=True)
class AuditTarget:
    """One hypothesis to audit.

    Attributes
    ----------
    hypothesis
        Its id (``H1``...).
    spec
        The model the study grades it with.
    driver
        The driver whose effect is graded.
    direction
        The sign the hypothesis predicts.
    group
        The group whose effect is the estimand (and where effects are injected).
    """

    hypothesis: str
    spec: ModelSpec
    driver: str
    direction: Literal["+", "-"] = "+"
    group: str = "Others"


@dataclass(frozen=True)
class WorldPlan:
    """What one world is: its hypothesis, index, kind, truth and seed."""

    hypothesis: str
    index: int
    kind: Literal["null", "effect"]
    truth_pct: float
    seed: int

    @property
    def key(self) -> str:
        return f"audit-{self.hypothesis}-{self.index:04d}"


def world_plan(
    target: AuditTarget, n_null: int, n_effect: int, effect_sizes: Sequence[float], seed: int
) -> list[WorldPlan]:
    """The worlds of one hypothesis, in a fixed order: ``n_null`` nulls, then ``n_effect``
    worlds per effect size (signed in the hypothesis' direction). Each block (the nulls,
    each size) draws its seeds from its own stream, so the ``j``-th world of a block is the
    same whatever the blocks' lengths: more null worlds extend an audit, never change it."""
    sign = 1.0 if target.direction == "+" else -1.0
    blocks: list[tuple[Literal["null", "effect"], float, int]] = [("null", 0.0, n_null)]
    blocks += [("effect", sign * float(size), n_effect) for size in effect_sizes]
    plans: list[WorldPlan] = []
    for b, (kind, truth, n) in enumerate(blocks):
        stream = int(np.random.SeedSequence([seed, b]).generate_state(1, dtype=np.uint32)[0])
        for seed_j in spawn_seeds(stream, n):
            plans.append(WorldPlan(target.hypothesis, len(plans), kind, truth, seed_j))
    return plans


def audit_world(
    data: ModelData,
    target: AuditTarget,
    plan: WorldPlan,
    config: WorldConfig,
    sampling: Sampling,
) -> dict[str, Any]:
    """One world (an executor task): generate, refit compile-once, gate, grade.

    Returns a small dict: the gate's verdict and, when it passed, the estimand's posterior
    mean, 90% HDI and grade.
    """
    from hybridflow.inference.diagnostics import check_convergence
    from hybridflow.inference.fit import gate_vars
    from hybridflow.inference.refit import cached_refitter
    from hybridflow.models.build import build_model

    effect = (
        Effect(target.driver, plan.truth_pct, target.group) if plan.kind == "effect" else None
    )
    world = generate_world(data, plan.seed, effect, config)
    refitter = cached_refitter(data, sampling.sampler)
    t0 = time.perf_counter()
    bundle = build_model(data.spec, world_model_data(data, world))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = refitter.refit_bundle(bundle, sampling, seed=_sampler_seed(plan.seed))
        report = check_convergence(idata, gate_vars(refitter.bundle))
    out: dict[str, Any] = {
        "converged": bool(report.converged),
        "divergences": int(report.n_divergences),
        "rhat_max": float(report.max_rhat),
        "ess_min": float(min(report.min_ess_bulk, report.min_ess_tail)),
        "gate": "; ".join(report.failing[:3]),
        "fit_seconds": time.perf_counter() - t0,
    }
    pct = effect_draws(idata)["cumulative_pct"].sel(driver=target.driver, group=target.group)
    values = np.asarray(pct.isel(route=0).values, dtype=float).ravel()
    grade = grade_effect(values, target.direction, converged=report.converged)
    low, high = hdi_bounds(values, HDI_PROB)
    out.update(
        pct_mean=float(np.mean(values)),
        hdi_low=low,
        hdi_high=high,
        p_direction=grade.p_direction,
        grade=grade.posterior_grade,  # the checks can only lower it: an upper bound
    )
    return out


def hypothesis_seed(seed: int, hypothesis: str) -> int:
    """A hypothesis' root seed: from the audit's root seed and the hypothesis' id (not its
    position), so that the worlds do not depend on which other hypotheses are audited."""
    ss = np.random.SeedSequence([seed, zlib.crc32(hypothesis.encode())])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def _sampler_seed(world_seed: int) -> int:
    """The sampler's seed of a world: derived from its counts' seed, independent of it."""
    return spawn_seeds(world_seed, 1)[0]


def run_worlds(
    targets: Sequence[AuditTarget],
    panel: xr.Dataset,
    events: pd.DataFrame | None,
    *,
    n_null: int,
    n_effect: int,
    effect_sizes: Sequence[float],
    config: WorldConfig,
    sampling: Sampling,
    seed: int,
    executor: Executor | None = None,
    progress: ProgressArg = False,
    reuse: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every world of every target on ``executor``: one row per world.

    ``reuse``: rows of an earlier run with the same settings, models and package versions
    (:func:`hybridflow.analysis.audit.store.reusable_worlds`); a world whose hypothesis,
    kind, truth and seed are among them is taken from there, not refitted (its fit would
    be the same), so extending an audit costs only its new worlds.

    Columns: ``hypothesis, world, kind, truth_pct, seed, ok`` (the task ran), ``error``,
    ``converged``, ``divergences``, ``rhat_max``, ``ess_min``, ``gate`` (why the gate
    failed), ``pct_mean, hdi_low, hdi_high, p_direction, grade`` (NaN/"" unless converged
    and ok), ``seconds`` (the task) and ``worker``. Hypothesis ``k`` of ``targets`` uses
    :func:`hypothesis_seed` ``(seed, hypothesis)`` as its root seed, so auditing one
    hypothesis alone gives the same worlds as auditing it among others.
    """
    done = _reusable_rows(reuse)
    tasks: list[Task] = []
    plans: list[WorldPlan] = []
    for target in targets:
        root = hypothesis_seed(seed, target.hypothesis)
        data = prepare_data(target.spec, panel, events)
        for plan in world_plan(target, n_null, n_effect, effect_sizes, root):
            plans.append(plan)
            if _row_key(dataclasses.asdict(plan)) not in done:
                tasks.append(Task(plan.key, audit_world, (data, target, plan, config, sampling)))
    if not tasks:
        results: list[TaskResult] = []
    elif executor is None:
        with SerialExecutor() as ex:
            results = ex.map(tasks, progress=progress)
    else:
        results = executor.map(tasks, progress=progress)
    fitted = iter(results)
    rows = []
    for p in plans:
        earlier = done.get(_row_key(dataclasses.asdict(p)))
        rows.append({**earlier, "world": p.index} if earlier else _row(p, next(fitted)))
    return pd.DataFrame(rows)


def _row_key(row: Mapping[Any, Any]) -> tuple[str, str, float, int]:
    """What makes a world the same world: a row of the worlds table or a plan's fields."""
    return (str(row["hypothesis"]), str(row["kind"]), float(row["truth_pct"]), int(row["seed"]))


def _reusable_rows(reuse: pd.DataFrame | None) -> dict[tuple[str, str, float, int], dict[str, Any]]:
    """Earlier worlds by (hypothesis, kind, truth, seed); a task that errored is refitted
    (an error may be the machine's, not the world's)."""
    if reuse is None or reuse.empty:
        return {}
    out: dict[tuple[str, str, float, int], dict[str, Any]] = {}
    for row in reuse.to_dict(orient="records"):
        if str(row.get("ok")).lower() not in ("true", "1"):
            continue
        out[_row_key(row)] = {str(k): v for k, v in row.items()} | {"ok": True}
    return out


def _row(plan: WorldPlan, res: TaskResult) -> dict[str, Any]:
    """One world's row; an unconverged fit keeps its numbers (graded "unreliable") for
    the record, and the metrics leave it out."""
    value: dict[str, Any] = dict(res.value) if res.ok and res.value else {}
    row: dict[str, Any] = {
        "hypothesis": plan.hypothesis,
        "world": plan.index,
        "kind": plan.kind,
        "truth_pct": plan.truth_pct,
        "seed": plan.seed,
        "ok": bool(res.ok),
        "error": "" if res.ok else _last_line(res.error),
        "converged": bool(value.get("converged", False)),
        "gate": value.get("gate", ""),
        "grade": value.get("grade", ""),
    }
    for col in ("divergences", "rhat_max", "ess_min", "pct_mean", "hdi_low", "hdi_high",
                "p_direction", "fit_seconds"):
        row[col] = value.get(col, np.nan)
    row["seconds"] = round(float(res.seconds), 2)
    row["worker"] = res.worker
    return row


def _last_line(text: str | None) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else "unknown error"


#: Injected effects, percent in the hypothesis' direction.
EFFECT_SIZES: tuple[float, ...] = (30.0, 50.0)


@dataclass(frozen=True)
class AuditResult:
    """What :func:`run_audit` found.

    Attributes
    ----------
    study
        The study's name.
    table
        One row per hypothesis (:func:`~hybridflow.analysis.audit.metrics.audit_table`).
    worlds
        One row per world (:func:`run_worlds`).
    provenance
        Study, per-hypothesis model and spec hash, generator config, seeds, sampling,
        effect sizes, package versions.
    """

    study: str
    table: pd.DataFrame
    worlds: pd.DataFrame
    provenance: dict[str, Any]

    def summary_text(self) -> str:
        """A few lines for a terminal."""
        lines = [f"Audit of '{self.study}': {len(self.worlds)} worlds."]
        for _, r in self.table.iterrows():
            parts = [
                f"false moderate+/contrary {r['false_positives']}/{r['n_null']} null worlds "
                f"(95% CI {_share(r['fp_low'])}-{_share(r['fp_high'])})",
                f"coverage {_share(r['coverage'])}",
            ]
            parts += [
                f"power at {c.removeprefix('power_')}% {_share(r[c])}"
                for c in self.table.columns
                if c.startswith("power_")
            ]
            parts.append(f"{r['n_failed']} of {r['n_worlds']} worlds failed")
            lines.append(f"  {r['hypothesis']}: " + ", ".join(parts))
        return "\n".join(lines)


def _share(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.0%}"


def run_audit(
    study: str,
    targets: Sequence[AuditTarget],
    panel: xr.Dataset,
    events: pd.DataFrame | None = None,
    *,
    n_null: int = 20,
    n_effect: int = 20,
    effect_sizes: Sequence[float] = EFFECT_SIZES,
    config: WorldConfig = DEFAULT_CONFIG,
    sampling: Sampling = AUDIT_SAMPLING,
    seed: int = 0,
    executor: Executor | None = None,
    progress: ProgressArg = False,
    reuse: pd.DataFrame | None = None,
) -> AuditResult:
    """Audit each target's pipeline on fake worlds (module docstring).

    Parameters
    ----------
    study
        The study's name (recorded).
    targets
        The hypotheses to audit, each with its own model.
    panel, events
        The real data: they fix each model's design; only the counts are replaced.
    n_null, n_effect
        Null worlds, and effect worlds per effect size, per hypothesis.
    effect_sizes
        Injected cumulative effects in percent, applied in each hypothesis' direction.
    config
        The world generator's parameters.
    sampling
        Each world's fit (default :data:`AUDIT_SAMPLING`).
    seed
        Root seed: same seed, same worlds and fits, whichever executor.
    executor, progress
        Where the worlds run (default serial, here) and the executor's progress display.
    reuse
        Worlds of an earlier audit to take instead of refitting (:func:`run_worlds`).
    """
    if not targets:
        raise ValueError("the audit needs at least one hypothesis")
    if n_null < 1 or n_effect < 0:
        raise ValueError(f"need n_null >= 1 and n_effect >= 0, got {n_null} and {n_effect}")
    for t in targets:
        if t.driver not in [d.name for d in t.spec.drivers]:
            raise ValueError(
                f"hypothesis {t.hypothesis}: model '{t.spec.name}' has no driver '{t.driver}'"
            )
    worlds = run_worlds(
        targets, panel, events, n_null=n_null, n_effect=n_effect, effect_sizes=effect_sizes,
        config=config, sampling=sampling, seed=seed, executor=executor, progress=progress,
        reuse=reuse,
    )
    provenance = _provenance(study, targets, n_null, n_effect, effect_sizes, config, sampling,
                             seed)
    if reuse is not None:  # per hypothesis: how many worlds were taken, not refitted
        taken = _reusable_rows(reuse).keys() & {_row_key(r) for r in worlds.to_dict("records")}
        provenance["reused_worlds"] = {t.hypothesis: sum(k[0] == t.hypothesis for k in taken)
                                       for t in targets}
    return AuditResult(study, audit_table(worlds, effect_sizes), worlds, provenance)


def _provenance(
    study: str,
    targets: Sequence[AuditTarget],
    n_null: int,
    n_effect: int,
    effect_sizes: Sequence[float],
    config: WorldConfig,
    sampling: Sampling,
    seed: int,
) -> dict[str, Any]:
    from hybridflow.inference.fit import package_versions

    return {
        **audit_settings(study, effect_sizes, config, sampling, seed),
        "hypotheses": {
            t.hypothesis: {
                "model": t.spec.name,
                "spec_hash": spec_hash(t.spec),
                "driver": t.driver,
                "direction": t.direction,
                "group": t.group,
            }
            for t in targets
        },
        "n_null": n_null,
        "n_effect": n_effect,
        "versions": package_versions(),
    }


def audit_settings(
    study: str,
    effect_sizes: Sequence[float] = EFFECT_SIZES,
    config: WorldConfig = DEFAULT_CONFIG,
    sampling: Sampling = AUDIT_SAMPLING,
    seed: int = 1,
) -> dict[str, Any]:
    """What decides an audit's worlds and fits (besides each hypothesis' model and id):
    the provenance two audits must share to be merged, known before any fit."""
    return {
        "study": study,
        "effect_sizes_pct": [float(s) for s in effect_sizes],
        "generator": config.to_dict(),
        "sampling": sampling.record(),
        "seed": seed,
        "hdi_prob": HDI_PROB,
        "grading": "posterior only (analysis.evidence.grade_effect, no checks)",
    }
