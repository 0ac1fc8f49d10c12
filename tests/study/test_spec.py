"""Study spec: defaults come from the vocabularies' owners; unknown kernels are errors."""

from __future__ import annotations

import pytest

from hybridflow.analysis.checks.controls import CONTROL_ROUTES
from hybridflow.analysis.checks.sensitivity import DEFAULT_KERNELS
from hybridflow.data.sources.frontex import EASTERN_BORDERS
from hybridflow.errors import SpecError
from hybridflow.schema import validate
from hybridflow.study.spec import Checks, Episode, Sensitivity


def test_defaults_are_the_owners_vocabularies() -> None:
    checks = Checks()
    assert checks.negative_control_routes == list(CONTROL_ROUTES)
    assert checks.sensitivity.kernels == list(DEFAULT_KERNELS) == ["immediate", "delayed", "fdl"]
    assert Episode(name="e", start="2021-06", end="2021-12").route == EASTERN_BORDERS


def test_an_unknown_sensitivity_kernel_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(
        SpecError,
        match=r"kernels\[1\]: unknown kernel 'delayd' \(did you mean 'delayed'\?\); "
        r"valid options: 'delayed', 'fdl', 'geometric', 'immediate'",
    ):
        validate(Sensitivity, {"kernels": ["fdl", "delayd"]}, what="sensitivity")
    assert validate(Sensitivity, {"kernels": ["geometric"]}, what="s").kernels == ["geometric"]


def test_every_hypothesis_has_a_placebo_and_gated_checks_sample_enough_for_the_gate() -> None:
    from hybridflow.study.spec import GatedSampling, Hypothesis, StudySpec

    h = Hypothesis(id="A", title="t", claim="c", model="m", driver="d")
    assert h.placebo is True
    study = StudySpec(name="s", title="t", models=["null", "m"], hypotheses=[h],
                      sampling={"target_accept": 0.97})  # fmt: skip
    gated = study.gated_sampling()
    # 2,000 draws in all: the gate's ESS >= 400 needs an ESS/draw ratio of 0.2 at least.
    assert gated.total_draws >= 2000 and gated.target_accept == 0.97
    assert GatedSampling(target_accept=0.9).sampling("nutpie", 0.97).target_accept == 0.9
    checks = Checks()
    assert checks.placebo_window == "exposure" and checks.placebo_unit == "months"
    assert checks.lead_months == [1, 2, 3] and checks.placebo_n >= 19
    with pytest.raises(SpecError, match="placebo_window"):
        validate(Checks, {"placebo_window": "all"}, what="checks")
