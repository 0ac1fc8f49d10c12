"""Step: grade every hypothesis from its model's effect and the checks' verdicts.

:func:`validate` runs before any fit: a hypothesis naming a model or driver the study
cannot read fails the run before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from hybridflow.analysis.effects import effect_draws
from hybridflow.analysis.evidence import GRADE_READINGS, grade_effect
from hybridflow.errors import SpecError
from hybridflow.inference.posterior import hdi_bounds
from hybridflow.inference.result import FitResult
from hybridflow.study.context import StudyContext
from hybridflow.study.results import HypothesesResult, StudyResults
from hybridflow.study.spec import Hypothesis


def validate(context: StudyContext) -> None:
    """Fail before any fit if a hypothesis names a model or driver the study cannot read.

    A hypothesis is read from its own model when the profile fits it, otherwise from the
    fallback model (where a missing driver is reported as "not estimated", not an error).
    """
    spec, where = context.spec, context.study_dir / "study.toml"
    for h in spec.hypotheses:
        if h.model not in spec.models:
            if spec.fallback_model is None:
                raise SpecError(f"{where}: hypothesis {h.id} names model "
                                f"'{h.model}', which is not among the study's models")
            continue
        drivers = [d.name for d in context.model_spec(h.model).drivers]
        if h.driver not in drivers:
            raise SpecError(f"{where}: hypothesis {h.id}: model "
                            f"'{h.model}' has no driver '{h.driver}'; its drivers: "
                            f"{', '.join(drivers) or '(none)'}")


def run(context: StudyContext, results: StudyResults) -> HypothesesResult:
    """One row per hypothesis: headline effect, probabilities, grade and its reading."""
    fitted = results.fitted()
    placebo = dict(results.placebo.p_values) if results.placebo else {}
    negctl = dict(results.controls.p_direction) if results.controls else {}
    rows = []
    for h in context.spec.hypotheses:
        model = fitted.hypothesis_model(h.model)
        if model not in fitted.fits:
            raise SpecError(f"hypothesis {h.id}: model '{h.model}' was not fitted")
        fit = fitted.fits[model]
        has_driver = "effect" in fit.idata.posterior and h.driver in fit.idata.posterior["driver"]
        if not has_driver and model != h.model:
            # A reduced profile reads hypotheses from its fallback model; one whose driver
            # is not there is not estimated in this profile (said so, never invented).
            rows.append(not_estimated_row(h, context.profile))
            continue
        if not has_driver:
            raise SpecError(f"hypothesis {h.id}: driver '{h.driver}' not in model '{model}'")
        rows.append(graded_row(h, model, fit, placebo, negctl))
    table = pd.DataFrame(rows)
    context.write_table("hypotheses", table)
    return HypothesesResult(table)


def not_estimated_row(h: Hypothesis, profile: str) -> dict[str, Any]:
    return {"hypothesis": h.id, "title": h.title, "claim": h.claim,
            "model": f"{h.model} (not fitted in profile '{profile}')",
            "driver": h.driver, "level": "", "unit": "",
            "direction": h.direction, "pct_mean": np.nan, "pct_hdi_low": np.nan,
            "pct_hdi_high": np.nan, "p_direction": np.nan, "p_rope": np.nan,
            "p_meaningful": np.nan, "placebo_p": np.nan,
            "negative_control_p_direction": np.nan, "grade": "not estimated",
            "grade_reasons": "", "reading": "not estimated in this profile",
            "converged": True}


def graded_row(h: Hypothesis, model: str, fit: FitResult, placebo: Mapping[str, float],
               negctl: Mapping[str, float]) -> dict[str, Any]:
    """The hypothesis read from ``fit``: its headline percent effect, graded."""
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
    return {
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
    }
