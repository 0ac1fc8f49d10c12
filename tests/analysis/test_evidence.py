"""The evidence-grade rule: the posterior grade, then the checks that can only lower it."""

from __future__ import annotations

import numpy as np
import pytest

from hybridflow.analysis.evidence import (
    GRADE_READINGS,
    GRADES,
    REQUIRED_CHECKS,
    CheckVerdict,
    Direction,
    audit_check,
    control_check,
    grade_effect,
    placebo_check,
    sensitivity_check,
)

rng = np.random.default_rng(0)


def draws(mean: float, sd: float, n: int = 4000) -> np.ndarray:
    return rng.normal(mean, sd, n)


def all_passed(placebo_direction: Direction = "+") -> list[CheckVerdict]:
    """Every required check ran and passed for a graded effect of about +40% (the placebo
    in ``placebo_direction``)."""
    return [
        placebo_check(0.02, placebo_direction),
        control_check(["Western Mediterranean Route"], [0.55], [True]),
        sensitivity_check([30.0, 45.0], [True, True], graded_mean=40.0),
        audit_check(0.03),
    ]


def replaced(checks: list[CheckVerdict], new: CheckVerdict) -> list[CheckVerdict]:
    return [new if c.name == new.name else c for c in checks]


def test_posterior_bands_when_every_check_passed() -> None:
    g = grade_effect(draws(40, 10), "+", checks=all_passed())
    assert g.grade == g.posterior_grade == "strong" and not g.reasons
    assert g.p_direction > 0.99 and g.p_meaningful > 0.95
    assert set(g.checks.values()) == {"passed"} and set(g.checks) == set(REQUIRED_CHECKS)
    assert grade_effect(draws(12, 5.5), "+", checks=all_passed()).grade == "moderate"
    assert grade_effect(draws(11, 7), "+", checks=all_passed()).grade == "weak"  # P = 0.94
    assert grade_effect(draws(12, 14), "+", checks=all_passed()).grade == "weak"
    assert grade_effect(draws(0, 3), "+", checks=all_passed()).grade == "practically null"
    assert grade_effect(draws(2, 30), "+", checks=all_passed()).grade == "inconclusive"
    # The same draws against a hypothesis of a negative effect are contrary (with the
    # placebo run in the direction of the estimate, '+').
    assert grade_effect(draws(40, 10), "-", checks=all_passed("+")).grade == "contrary"


def test_a_calibrated_posterior_of_no_effect_is_graded_moderate_or_more_at_most_5pct() -> None:
    # Worlds without an effect whose posteriors are exactly calibrated: the estimate's
    # error is drawn from the posterior's own spread. The rule's thresholds, not luck,
    # must keep false "moderate+ or contrary" grades under the audit's 5%.
    gen = np.random.default_rng(5)
    false = 0
    n = 2000
    for _ in range(n):
        sd = gen.uniform(5.0, 40.0)  # percent: narrow and wide posteriors alike
        grade = grade_effect(gen.normal(gen.normal(0.0, sd), sd, 2000), "+",
                             checks=all_passed()).posterior_grade
        false += grade in ("moderate", "strong", "contrary")
    assert false / n <= 0.05  # nominal 2.5% + 2.5% (both tails) minus the ROPE's share


def test_no_checks_means_nothing_above_weak_and_each_missing_check_is_named() -> None:
    g = grade_effect(draws(40, 10), "+")
    assert g.posterior_grade == "strong" and g.grade == "weak"
    assert len(g.reasons) == 1 and g.reasons[0].startswith("capped at weak: ")
    for name in ("placebo did not run", "negative control did not run",
                 "sensitivity did not run", "audit not run"):
        assert name in g.reasons[0]
    assert set(g.checks.values()) == {"did not run"}


@pytest.mark.parametrize("missing", [
    placebo_check(None, "+"),
    control_check([], [], []),
    sensitivity_check([], [], graded_mean=40.0),
    audit_check(None),
    audit_check(float("nan")),
])
def test_each_check_that_did_not_run_caps_a_strong_grade_at_weak(missing: CheckVerdict) -> None:
    g = grade_effect(draws(40, 10), "+", checks=replaced(all_passed(), missing))
    assert g.grade == "weak", missing
    assert g.reasons == [f"capped at weak: {missing.reason}"]
    assert g.checks[missing.name] == "did not run"
    # A weak grade is not lowered by a check that did not run.
    assert grade_effect(draws(12, 14), "+", checks=replaced(all_passed(), missing)).grade == "weak"


@pytest.mark.parametrize(("failing", "words"), [
    (placebo_check(0.30, "+"), "placebo-in-time p = 0.30 > 0.10"),
    (control_check(["Western African Route"], [0.03], [True]), "Western African Route"),
    (sensitivity_check([30.0, -5.0], [True, True], graded_mean=40.0), "1 of 2 sensitivity"),
    (audit_check(0.12), "false-positive rate 0.12 > 0.05"),
])
def test_each_failed_check_lowers_one_step_and_caps(failing: CheckVerdict, words: str) -> None:
    checks = replaced(all_passed(), failing)
    g = grade_effect(draws(40, 10), "+", checks=checks)
    assert g.grade == "weak"  # strong -> moderate (lowered) -> weak (capped)
    assert g.reasons[0].startswith("lowered one step: ") and words in g.reasons[0]
    assert g.reasons[1].startswith("capped at weak")
    assert g.checks[failing.name] == "failed"
    # Lowering is real, not only the cap: a weak grade with a failed check is inconclusive.
    assert grade_effect(draws(12, 14), "+", checks=checks).grade == "inconclusive"


def test_failures_accumulate_and_null_grades_are_untouched() -> None:
    checks = replaced(replaced(all_passed(), placebo_check(0.5, "+")), audit_check(0.4))
    g = grade_effect(draws(12, 5.5), "+", checks=checks)  # moderate -> weak -> inconclusive
    assert g.posterior_grade == "moderate" and g.grade == "inconclusive"
    assert sum(r.startswith("lowered") for r in g.reasons) == 2
    assert grade_effect(draws(0, 3), "+", checks=checks).grade == "practically null"
    assert grade_effect(draws(0, 3), "+").grade == "practically null"


def test_negative_control_is_judged_on_the_size_of_either_sign() -> None:
    # An opposite-signed control effect fails as a same-signed one does.
    assert control_check(["r"], [0.02], [True]).passed is False
    assert control_check(["r"], [0.97], [True]).passed is False
    assert control_check(["r", "s"], [0.6, 0.3], [True, True]).passed is True
    # An unconverged refit gives no verdict (never a pass) unless another route fails.
    unknown = control_check(["r", "s"], [0.6, 0.5], [True, False])
    assert unknown.ran and unknown.passed is None and "1 of 2 refits" in unknown.reason
    assert control_check(["r", "s"], [0.99, 0.5], [True, False]).passed is False
    g = grade_effect(draws(40, 10), "+", checks=replaced(all_passed(), unknown))
    assert g.grade == "weak" and "1 of 2 refits" in g.reasons[0]
    assert g.checks["negative control"] == "no verdict"


def test_sensitivity_needs_every_variant_converged_and_the_same_sign() -> None:
    assert sensitivity_check([-3.0, -9.0], [True, True], graded_mean=-20.0).passed is True
    assert sensitivity_check([-3.0, 2.0], [True, True], graded_mean=-20.0).passed is False
    partial = sensitivity_check([10.0, 20.0, np.nan], [True, False, True], graded_mean=15.0)
    assert partial.passed is None and partial.n_used == 1 and partial.n_failed == 2


def test_a_contrary_grade_needs_its_own_direction_placebo() -> None:
    # The study's placebo tests the claimed direction; it cannot confirm a contrary grade.
    g = grade_effect(draws(40, 10), "-", checks=all_passed("-"))
    assert g.posterior_grade == "contrary" and g.grade == "leans contrary"
    assert "placebo was run for the '-' direction only" in g.reasons[0]
    # Confirmed in its direction it stands; a failed check lowers it.
    assert grade_effect(draws(40, 10), "-", checks=all_passed("+")).grade == "contrary"
    failed = replaced(all_passed("+"), audit_check(0.2))
    assert grade_effect(draws(40, 10), "-", checks=failed).grade == "leans contrary"


def test_every_grade_has_a_reading_and_unconverged_fits_are_never_graded() -> None:
    assert set(GRADE_READINGS) == set(GRADES)
    g = grade_effect(draws(40, 10), "+", converged=False, checks=all_passed())
    assert g.grade == "unreliable" and "convergence" in g.reasons[0]
    assert g.to_dict()["grade"] == "unreliable"


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="direction"):
        grade_effect(draws(1, 1), "up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no finite"):
        grade_effect(np.array([np.nan]), "+")
