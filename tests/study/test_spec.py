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
