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


def test_effects_in_units_state_the_unit_interval_and_direction() -> None:
    text = captions.effect_in_units("excess_per_event", "detections per event", 1234.4,
                                    -30.0, 2500.0, 0.812)
    assert text == ("+1,234 detections per event (90% HDI -30 to +2,500; "
                    "P(direction) = 0.81)")
    pct = captions.effect_in_units("pct_per_unit", "% per 10,000 losses a month", 5.24,
                                   -1.0, 11.5, 0.9)
    assert pct == "+5.2% per 10,000 losses a month (90% HDI -1.0% to +11.5%; P(direction) = 0.90)"


def test_counterfactual_caption_names_its_reference() -> None:
    text = captions.counterfactual_figure("ru_gains", "zero", "+1,200 detections")
    assert "with 'ru_gains' at zero" in text and "Excess over the window: +1,200" in text
    assert "without 'eu'" in captions.counterfactual_figure("eu")


def test_grades_box_states_the_expected_false_grades_or_that_the_audit_did_not_run() -> None:
    nan = float("nan")
    assert "audit was not run" in captions.grades_section([nan, nan], 2)
    text = captions.grades_section([0.02, 0.05, nan], 3)
    assert "across the 2 audited hypotheses is 0.07" in text
    assert "1 hypotheses were not audited" in text
    assert captions.group_effects([("Others", 40.0, 20.0, 60.0)], "groups differ") == (
        "Others +40.0% (+20.0% to +60.0%); pooled: groups differ")


def test_audit_section_names_the_hypotheses_the_audit_finds_underpowered() -> None:
    low = [("H2", "50", 0.6), ("H3", "50", float("nan"))]
    text = captions.audit_section("ok", "a.json", underpowered=low)
    assert "Power below 70% (H2 60% at 50%; H3 no usable worlds at 50%)" in text
    assert "weak evidence that there is no effect" in text
    assert "Power below" not in captions.audit_section("ok", "a.json")
