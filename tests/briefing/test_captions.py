"""Captions: the words around the briefing's numbers."""

from __future__ import annotations

from hybridflow.briefing import captions


def test_hypothesis_reading_names_the_expected_direction_and_probabilities() -> None:
    row = {"direction": "+", "reading": "weak evidence", "p_direction": 0.812,
           "p_rope": 0.3, "grade_reasons": "placebo rank not extreme"}
    assert captions.hypothesis_reading(row) == (
        "The report expects more detections. Weak evidence: P(predicted direction) = 0.81, "
        "P(|effect| < 10%) = 0.30. (placebo rank not extreme.)")
    share = {**row, "direction": "-", "outcome": "share", "grade_reasons": ""}
    assert captions.hypothesis_reading(share).startswith("The report expects a lower share.")


def test_refit_captions_state_the_refit_settings() -> None:
    assert "200 draws after 100 tuning steps x 2 chains" in captions.controls_note(200, 100, 2)
    assert "200 draws after 100 tuning steps x 2 chains" in captions.sensitivity_figure(200, 100, 2)


def test_grades_box_states_the_expected_false_grades_or_that_the_audit_did_not_run() -> None:
    nan = float("nan")
    assert "audit was not run" in captions.grades_section([nan, nan], 2)
    text = captions.grades_section([0.02, 0.05, nan], 3)
    assert "across the 2 audited hypotheses is 0.07" in text
    assert "1 hypotheses were not audited" in text
    assert captions.group_effects([("Others", 40.0, 20.0, 60.0)], "groups differ") == (
        "Others +40.0% (+20.0% to +60.0%); pooled: groups differ")
