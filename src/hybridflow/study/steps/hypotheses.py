"""Step: grade every hypothesis from its primary estimand and the checks' verdicts.

A hypothesis is graded on its primary estimand (:class:`~hybridflow.study.spec.Hypothesis`
``estimand``/``group``: by default the effect on the instrumentalised nationalities,
``Others``); the effects on every group are always reported beside it
(``tables/hypotheses_groups.csv``), and the population mean across groups only where the
groups agree (:func:`groups_agree`), otherwise the table says "groups differ".

The grade (:func:`~hybridflow.analysis.evidence.grade_effect`) reads four checks per
hypothesis: the placebo, the negative controls, the sensitivity forest and the audit's
false-positive rate. A check that did not run, or whose result cannot be tied to the
graded estimand, caps the grade at "weak" with the reason recorded.

:func:`validate` runs before any fit: a hypothesis naming a model or driver the study
cannot read fails the run before anything is written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.analysis.effects import effect_draws
from hybridflow.analysis.evidence import (
    GRADE_READINGS,
    NEGATIVE_CONTROL,
    PLACEBO,
    REQUIRED_CHECKS,
    SENSITIVITY,
    CheckLike,
    CheckVerdict,
    Direction,
    EvidenceGrade,
    audit_check,
    grade_effect,
    not_run,
)
from hybridflow.errors import SpecError
from hybridflow.inference.posterior import hdi_bounds
from hybridflow.inference.result import FitResult
from hybridflow.study.context import StudyContext
from hybridflow.study.results import HypothesesResult, StudyResults
from hybridflow.study.spec import Hypothesis

#: HDI mass of every interval in the hypotheses tables (and of the agreement rule).
HDI_PROB = 0.9
ROPE = 10.0
#: Columns of the per-check outcome in words, one per required check.
CHECK_COLUMNS = {name: "check_" + name.replace(" ", "_") for name in REQUIRED_CHECKS}


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
    """One graded row per hypothesis, and its effect on every group."""
    fitted = results.fitted()
    rows, groups = [], []
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
        per_group = group_effects(h, model, fit)
        row = graded_row(h, model, fit, per_group, results)
        rows.append(row)
        groups.append(per_group.assign(graded=per_group["group"] == row["level"]))
    table = pd.DataFrame(rows)
    group_table = pd.concat(groups, ignore_index=True) if groups else pd.DataFrame()
    context.write_table("hypotheses", table)
    context.write_table("hypotheses_groups", group_table)
    return HypothesesResult(table, group_table)


def not_estimated_row(h: Hypothesis, profile: str) -> dict[str, Any]:
    return {"hypothesis": h.id, "title": h.title, "claim": h.claim,
            "model": f"{h.model} (not fitted in profile '{profile}')",
            "driver": h.driver, "estimand": h.estimand_label, "level": "", "unit": "",
            "direction": h.direction, "pct_mean": np.nan, "pct_hdi_low": np.nan,
            "pct_hdi_high": np.nan, "p_direction": np.nan, "p_rope": np.nan,
            "p_meaningful": np.nan, "placebo_p": np.nan,
            "negative_control_p_sign": np.nan, "grade": "not estimated",
            "posterior_grade": "not estimated", "grade_reasons": "",
            "reading": "not estimated in this profile", "converged": True}


def group_effects(h: Hypothesis, model: str, fit: FitResult) -> pd.DataFrame:
    """The driver's cumulative percent effect on every series of ``fit``: one row each."""
    pct = effect_draws(fit.idata)["cumulative_pct"].sel(driver=h.driver)
    rows = []
    for route in pct["route"].values:
        for group in pct["group"].values:
            vals = _flat(pct.sel(route=route, group=group))
            low, high = hdi_bounds(vals, HDI_PROB)
            rows.append({"hypothesis": h.id, "model": model, "driver": h.driver,
                         "route": str(route), "group": str(group),
                         "pct_mean": float(np.mean(vals)), "pct_hdi_low": low,
                         "pct_hdi_high": high,
                         "p_direction": float(np.mean(vals > 0 if h.direction == "+"
                                                      else vals < 0))})
    return pd.DataFrame(rows)


def groups_agree(per_group: pd.DataFrame) -> bool:
    """The documented rule for reporting a pooled mean: every group's 90% HDI overlaps every
    other's (for intervals: they share a point) and all posterior means have one sign."""
    if len(per_group) < 2:
        return True
    overlap = per_group["pct_hdi_low"].max() <= per_group["pct_hdi_high"].min()
    return bool(overlap and np.sign(per_group["pct_mean"]).nunique() == 1)


def graded_row(h: Hypothesis, model: str, fit: FitResult, per_group: pd.DataFrame,
               results: StudyResults) -> dict[str, Any]:
    """The hypothesis read from ``fit``: its primary estimand's percent effect, graded."""
    vals, level = _estimand_draws(h, model, fit)
    mean = float(np.mean(vals))
    checks = hypothesis_checks(h, results)
    grade = grade_effect(vals, h.direction, rope=ROPE, converged=fit.converged, checks=checks)
    low, high = hdi_bounds(vals, HDI_PROB)
    cd = fit.idata.constant_data
    unit = str(cd["driver_unit"].sel(driver=h.driver).values) if "driver_unit" in cd else ""
    return {
        "hypothesis": h.id, "title": h.title, "claim": h.claim, "model": model,
        "driver": h.driver, "estimand": h.estimand_label, "level": level, "unit": unit,
        "direction": h.direction, "pct_mean": mean, "pct_hdi_low": low, "pct_hdi_high": high,
        "p_direction": grade.p_direction, "p_rope": grade.p_rope,
        "p_meaningful": grade.p_meaningful,
        **_pooled_columns(fit, h, per_group),
        **_check_columns(grade, checks, results, h),
        "grade": grade.grade, "posterior_grade": grade.posterior_grade,
        "grade_reasons": "; ".join(grade.reasons), "reading": GRADE_READINGS[grade.grade],
        "converged": bool(fit.converged),
        "outcome": str(fit.idata.posterior.attrs.get("outcome", "counts")),
    }


def _flat(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.values, dtype=float).ravel()


def _estimand_draws(h: Hypothesis, model: str, fit: FitResult) -> tuple[np.ndarray, str]:
    """Draws of the primary estimand and its level label (the group, or "pooled")."""
    draws = effect_draws(fit.idata)
    if h.estimand == "pooled":
        return _flat(draws["pooled_pct"].sel(driver=h.driver)), "pooled"
    pct = draws["cumulative_pct"].sel(driver=h.driver)
    groups = [str(g) for g in pct["group"].values]
    if h.group not in groups:
        raise SpecError(f"hypothesis {h.id}: its estimand group '{h.group}' is not a group of "
                        f"model '{model}' (groups: {', '.join(groups)}); set the hypothesis's "
                        "`group`, or `estimand = \"pooled\"`")
    if pct.sizes["route"] != 1:
        raise SpecError(f"hypothesis {h.id}: model '{model}' has {pct.sizes['route']} routes; "
                        "a hypothesis is graded on a one-route model")
    return _flat(pct.sel(group=h.group).isel(route=0)), h.group


def _pooled_columns(fit: FitResult, h: Hypothesis, per_group: pd.DataFrame) -> dict[str, Any]:
    """The population mean across groups, only where the groups agree."""
    if len(per_group) < 2:
        return {"groups_agree": True, "pooled_pct_mean": np.nan, "pooled_pct_hdi_low": np.nan,
                "pooled_pct_hdi_high": np.nan, "pooled_note": "one series"}
    if not groups_agree(per_group):
        return {"groups_agree": False, "pooled_pct_mean": np.nan,
                "pooled_pct_hdi_low": np.nan, "pooled_pct_hdi_high": np.nan,
                "pooled_note": "groups differ"}
    vals = _flat(effect_draws(fit.idata)["pooled_pct"].sel(driver=h.driver))
    low, high = hdi_bounds(vals, HDI_PROB)
    return {"groups_agree": True, "pooled_pct_mean": float(np.mean(vals)),
            "pooled_pct_hdi_low": low, "pooled_pct_hdi_high": high, "pooled_note": ""}


def _check_columns(grade: EvidenceGrade, checks: list[CheckLike], results: StudyResults,
                   h: Hypothesis) -> dict[str, Any]:
    by_name = {c.name: c for c in checks}
    placebo = by_name.get(PLACEBO)
    control = by_name.get(NEGATIVE_CONTROL)
    return {
        "placebo_p": getattr(placebo, "p", np.nan),
        "negative_control_p_sign": getattr(control, "statistic", np.nan),
        "audit_false_positive_rate": audit_rate(results, h.id),
        **{col: grade.checks.get(name, "") for name, col in CHECK_COLUMNS.items()},
    }


# ------------------------------------------------------------------ the checks' verdicts


def hypothesis_checks(h: Hypothesis, results: StudyResults) -> list[CheckLike]:
    """The four checks' outcomes for ``h``, from the study's results: each check step
    gives its own verdict by hypothesis id (``outcomes``, :class:`CheckOutcome`); a
    check without one for ``h`` did not run."""
    return [placebo_outcome(h, results), control_outcome(h, results),
            sensitivity_outcome(h, results),
            audit_check(audit_rate(results, h.id))]


def _given(result: Any, hypothesis: str, name: str,
           direction: Direction | None = None) -> CheckVerdict | None:
    """The check's own outcome for ``hypothesis``, under the grade's name for the check
    (None: the result carries no outcomes)."""
    outcomes = getattr(result, "outcomes", None)
    given = outcomes.get(hypothesis) if isinstance(outcomes, Mapping) else None
    if given is None:
        return None
    return CheckVerdict(name, ran=bool(given.ran), passed=given.passed, reason=given.reason,
                        statistic=float(getattr(given, "statistic", np.nan)),
                        p=float(getattr(given, "p_value", getattr(given, "p", np.nan))),
                        n_used=int(getattr(given, "n_used", 0)),
                        n_failed=int(getattr(given, "n_failed", 0)),
                        direction=direction)


def placebo_outcome(h: Hypothesis, results: StudyResults) -> CheckLike:
    """The placebo's verdict, tested in the claimed direction. The lead test belongs to
    it: a driver whose future "predicts" detections' past fails the placebo too, and a
    lead test that did not run leaves the placebo without a verdict."""
    given = _given(results.placebo, h.id, PLACEBO, h.direction)
    if given is None:
        return CheckVerdict(PLACEBO, ran=False, passed=None, reason=not_run(PLACEBO),
                            direction=h.direction)
    leads = getattr(results.placebo, "lead_outcomes", None)
    return with_lead(given, leads.get(h.id) if isinstance(leads, Mapping) else None)


def with_lead(placebo: CheckVerdict, lead: Any) -> CheckVerdict:
    """The placebo's verdict joined with the lead test's (None: no lead test was asked)."""
    if lead is None or not placebo.ran or placebo.passed is False:
        return placebo
    if not lead.ran or lead.passed is None:
        return dataclasses.replace(placebo, passed=None,
                                   reason=f"{placebo.reason}; lead test did not run: "
                                          f"{lead.reason}")
    if lead.passed is False:
        return dataclasses.replace(placebo, passed=False,
                                   reason=f"lead test failed: {lead.reason}")
    return dataclasses.replace(placebo, reason=f"{placebo.reason}; lead test passed")


def control_outcome(h: Hypothesis, results: StudyResults) -> CheckLike:
    """The negative controls' verdict (they refit the hypothesis's own model)."""
    given = _given(results.controls, h.id, NEGATIVE_CONTROL)
    return given or CheckVerdict(NEGATIVE_CONTROL, ran=False, passed=None,
                                 reason=not_run(NEGATIVE_CONTROL))


def sensitivity_outcome(h: Hypothesis, results: StudyResults) -> CheckLike:
    """The sensitivity forest's verdict on the hypothesis's panel of the forest."""
    given = _given(results.sensitivity, h.id, SENSITIVITY)
    return given or CheckVerdict(SENSITIVITY, ran=False, passed=None,
                                 reason=not_run(SENSITIVITY))


def audit_rate(results: StudyResults, hypothesis: str) -> float:
    """The audit's false-positive rate for ``hypothesis`` (NaN: no audit, or not this one).

    Read from ``results.audit`` when the study has an audit step: its
    ``false_positive_rates`` mapping by hypothesis id, or its ``table`` with columns
    ``hypothesis`` and ``false_positive_rate``.
    """
    audit = getattr(results, "audit", None)
    if audit is None:
        return float("nan")
    rates = getattr(audit, "false_positive_rates", None)
    if isinstance(rates, Mapping):
        return float(rates.get(hypothesis, np.nan))
    table = getattr(audit, "table", None)
    if isinstance(table, pd.DataFrame) and {"hypothesis", "false_positive_rate"} <= set(table):
        hit = table.loc[table["hypothesis"] == hypothesis, "false_positive_rate"]
        return float(hit.iloc[0]) if len(hit) else float("nan")
    return float("nan")
