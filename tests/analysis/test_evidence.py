"""The evidence-grade rule."""

from __future__ import annotations

import numpy as np
import pytest

from hybridflow.analysis.evidence import grade_effect

rng = np.random.default_rng(0)


def draws(mean: float, sd: float, n: int = 4000) -> np.ndarray:
    return rng.normal(mean, sd, n)


def test_strong_positive_and_sign_flip() -> None:
    g = grade_effect(draws(40, 10), "+")
    assert g.grade == "strong"
    assert g.p_direction > 0.99 and g.p_meaningful > 0.95
    # The same draws against a hypothesis of a negative effect are contrary.
    assert grade_effect(draws(40, 10), "-").grade == "contrary"


def test_practically_null_and_inconclusive() -> None:
    assert grade_effect(draws(0, 3), "+").grade == "practically null"
    assert grade_effect(draws(2, 30), "+").grade == "inconclusive"


def test_moderate_and_weak_bands() -> None:
    assert grade_effect(draws(11, 7), "+").grade == "moderate"
    assert grade_effect(draws(12, 14), "+").grade == "weak"


def test_unconverged_fit_is_never_graded() -> None:
    g = grade_effect(draws(40, 10), "+", converged=False)
    assert g.grade == "unreliable"
    assert "convergence" in g.reasons[0]


def test_checks_lower_but_never_raise() -> None:
    g = grade_effect(draws(40, 10), "+", placebo_p=0.3)
    assert g.grade == "moderate" and "placebo" in g.reasons[0]
    g2 = grade_effect(draws(40, 10), "+", placebo_p=0.3, negative_control_p_direction=0.95)
    assert g2.grade == "weak" and len(g2.reasons) == 2
    g3 = grade_effect(draws(40, 10), "+", placebo_p=0.01, negative_control_p_direction=0.5)
    assert g3.grade == "strong" and not g3.reasons
    # A null result is not lowered or raised by checks.
    assert grade_effect(draws(0, 3), "+", placebo_p=0.5).grade == "practically null"


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="direction"):
        grade_effect(draws(1, 1), "up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no finite"):
        grade_effect(np.array([np.nan]), "+")
