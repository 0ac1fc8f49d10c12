"""The placebo check on the audit's flagged worlds: the pipeline's grade, not the posterior's.

A world is graded from its posterior alone (:mod:`hybridflow.analysis.audit.runner`). The
checks can only lower a grade, so a world graded "weak" or below cannot become a false (or
true) "moderate" whatever its checks say: only the worlds graded above "weak" (strong,
moderate, contrary) need them. For each such world, null and effect alike (a check applied
only where it helps would flatter the pipeline), this module

1. regenerates the world from its seed (the same counts as its fit),
2. runs the study's placebo-in-time check on those counts
   (:func:`~hybridflow.analysis.checks.placebo_in_time` with ``values``: the model compiled
   for the real design, the world's outcome swapped in; offsets and sampler seeds derived
   from the world's seed),
3. grades the world again with :func:`~hybridflow.analysis.evidence.apply_checks`, the
   placebo the only required check: the negative controls (which refit real control
   routes, the same in every world), the sensitivity forest and the lead test are taken as
   passed, so the checked rate is still an upper bound on the pipeline's.

The placebo is read in the direction of the world's grade: the claimed tail for a
"moderate" or "strong" grade, the other tail for a "contrary" one (the study reads only the
claimed tail, which caps every contrary grade at "leans contrary"; reading the graded tail
here can only count more false grades).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

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
from hybridflow.analysis.audit.metrics import FALSE_POSITIVE_GRADES
from hybridflow.analysis.audit.runner import AuditTarget
from hybridflow.analysis.evidence import PLACEBO, EvidenceGrade, apply_checks, placebo_check
from hybridflow.inference.executor import Executor, spawn_seeds
from hybridflow.inference.sampling import Sampling
from hybridflow.models.build import ModelData, build_model, prepare_data
from hybridflow.models.spec import spec_hash

__all__ = ["CHECKED_FILE", "checked_grade", "flagged", "placebo_worlds"]

#: The placebo results of the flagged worlds, beside ``audit_worlds.csv``.
CHECKED_FILE = "audit_placebo.csv"


def flagged(worlds: pd.DataFrame) -> pd.DataFrame:
    """The converged worlds graded above "weak" from the posterior (those a check can
    change)."""
    ok = worlds["converged"].astype(str).str.lower().isin(("true", "1"))
    return worlds[ok & worlds["grade"].isin(FALSE_POSITIVE_GRADES)]


def checked_grade(grade: str, direction: str, p_graded: float | None, *, n_used: int = 0,
                  n_failed: int = 0) -> tuple[str, str]:
    """A world's grade after its placebo (read in the graded direction), and why."""
    graded = direction if grade != "contrary" else ("-" if direction == "+" else "+")
    out = EvidenceGrade(grade, direction, np.nan, np.nan, np.nan, np.nan, np.nan,  # type: ignore[arg-type]
                        posterior_grade=grade)
    verdict = placebo_check(p_graded, graded, n_used=n_used, n_failed=n_failed)  # type: ignore[arg-type]
    apply_checks(out, [verdict], required=[PLACEBO])
    return out.grade, "; ".join(out.reasons)


def _placebo_seed(world_seed: int) -> int:
    """The placebo's root seed of a world: derived from its counts' seed, distinct from its
    sampler seed (the first spawned seed)."""
    return spawn_seeds(world_seed, 2)[1]


def placebo_world(
    data: ModelData,
    target: AuditTarget,
    row: dict[str, Any],
    events: pd.DataFrame | None,
    *,
    n: int,
    sampling: Sampling,
    config: WorldConfig = DEFAULT_CONFIG,
    options: dict[str, Any] | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """One flagged world's placebo and checked grade (a row of :data:`CHECKED_FILE`)."""
    from hybridflow.analysis.checks import placebo_in_time
    from hybridflow.inference.refit import data_values

    t0 = time.perf_counter()
    truth = float(row["truth_pct"])
    effect = Effect(target.driver, truth, target.group) if row["kind"] == "effect" else None
    world = generate_world(data, int(row["seed"]), effect, config)
    values = data_values(build_model(data.spec, world_model_data(data, world)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = placebo_in_time(
            target.spec, target.driver, xr.Dataset(), events, data=data, values=values, n=n,
            seed=_placebo_seed(int(row["seed"])), sampling=sampling,
            direction=target.direction, group=target.group, hypothesis=target.hypothesis,
            executor=executor, **(options or {}),
        )
    outcome = res.outcome()
    grade = str(row["grade"])
    contrary = grade == "contrary"
    p_claimed_other = res.p_lower if target.direction == "+" else res.p_upper
    p_graded = float(p_claimed_other if contrary else res.p) if outcome.ran else None
    new, why = checked_grade(grade, target.direction, p_graded, n_used=res.n_used,
                             n_failed=res.n_failed)
    return {
        "hypothesis": target.hypothesis, "spec_hash": spec_hash(target.spec),
        "world": int(row["world"]), "kind": row["kind"],
        "truth_pct": truth, "seed": int(row["seed"]), "grade": grade,
        "placebo_ran": bool(outcome.ran), "placebo_reason": outcome.reason,
        "observed_z": float(res.observed_z), "placebo_p_graded": np.nan if p_graded is None
        else p_graded, "n_used": int(res.n_used), "n_failed": int(res.n_failed),
        "checked_grade": new, "checked_reason": why,
        # The shifted timings' z (gated refits only): is the real timing exchangeable?
        "placebo_z": ";".join(f"{z:.3f}" for z in res.placebo_z[res.converged]),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def placebo_worlds(
    targets: Sequence[AuditTarget],
    worlds: pd.DataFrame,
    panel: xr.Dataset,
    events: pd.DataFrame | None,
    *,
    n: int,
    sampling: Sampling,
    config: WorldConfig = DEFAULT_CONFIG,
    options: dict[str, Any] | None = None,
    executor: Executor | None = None,
    done: pd.DataFrame | None = None,
    on_row: Any = None,
) -> pd.DataFrame:
    """The placebo of every flagged world of ``targets`` (:func:`flagged`), one row each.

    ``done``: rows of an earlier run (same worlds by hypothesis, kind, truth and seed) that
    are kept instead of recomputed. ``on_row(row)`` is called after each world (progress,
    incremental writing).
    """
    kept = {} if done is None or done.empty else {
        (str(r["hypothesis"]), str(r["kind"]), float(r["truth_pct"]), int(r["seed"])): r
        for r in done.to_dict(orient="records")
    }
    rows: list[dict[str, Any]] = []
    for target in targets:
        mine = flagged(worlds[worlds["hypothesis"] == target.hypothesis])
        if mine.empty:
            continue
        data = prepare_data(target.spec, panel, events)
        for record in mine.to_dict(orient="records"):
            row = {str(k): v for k, v in record.items()}
            key = (target.hypothesis, str(row["kind"]), float(row["truth_pct"]), int(row["seed"]))
            if key in kept:
                out = {str(k): v for k, v in kept[key].items()}
            else:
                out = placebo_world(data, target, row, events, n=n, sampling=sampling,
                                    config=config, options=options, executor=executor)
            rows.append(out)
            if on_row is not None:
                on_row(out)
    return pd.DataFrame(rows)


def _key(row: Any) -> tuple[str, str, float, int]:
    return (str(row["hypothesis"]), str(row["kind"]), float(row["truth_pct"]), int(row["seed"]))


def checked_rates(worlds: pd.DataFrame, checked: pd.DataFrame) -> pd.DataFrame:
    """Per hypothesis: false moderate+/contrary grades and power at each size after the
    placebo, beside the posterior-only figures. A flagged world without a placebo result
    keeps its posterior grade (an upper bound); ``n_flagged_null`` and ``n_checked_null``
    say how many null worlds needed the placebo and how many have it
    (``placebo_complete``: all)."""
    from hybridflow.analysis.audit.metrics import POWER_GRADES, clopper_pearson

    ok = worlds[worlds["converged"].astype(str).str.lower().isin(("true", "1"))].copy()
    by_key = {} if checked.empty else {
        _key(r): str(r["checked_grade"]) for r in checked.to_dict(orient="records")}
    keys = [_key(r) for r in ok.to_dict(orient="records")]
    ok["has_check"] = [k in by_key for k in keys]
    ok["checked_grade"] = [by_key.get(k, g) for k, g in zip(keys, ok["grade"], strict=True)]
    rows = []
    for h, sub in ok.groupby("hypothesis", sort=True):
        null = sub[sub["kind"] == "null"]
        need = null["grade"].isin(FALSE_POSITIVE_GRADES)
        k = int(null["checked_grade"].isin(FALSE_POSITIVE_GRADES).sum())
        lo, hi = clopper_pearson(k, len(null))
        row: dict[str, Any] = {
            "hypothesis": h, "n_flagged_null": int(need.sum()),
            "n_checked_null": int((need & null["has_check"]).sum()),
            "placebo_complete": bool((null["has_check"] | ~need).all()),
            "false_positives_checked": k,
            "false_positive_rate_checked": k / len(null) if len(null) else np.nan,
            "fp_checked_low": lo, "fp_checked_high": hi,
        }
        for truth, eff in sub[sub["kind"] == "effect"].groupby("truth_pct"):
            label = f"{abs(float(str(truth))):.0f}"
            flagged_eff = eff["grade"].isin(POWER_GRADES)
            row[f"power_{label}_checked"] = float(eff["checked_grade"].isin(POWER_GRADES).mean())
            row[f"placebo_complete_{label}"] = bool((eff["has_check"] | ~flagged_eff).all())
        rows.append(row)
    return pd.DataFrame(rows)
