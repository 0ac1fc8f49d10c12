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


def test_coinciding_sanctions_drivers_are_graded_from_one_model_that_builds() -> None:
    # Issue 12: EU and US rounds coincide (9 of 14 EU package months hold a US action), and
    # Belarus measures overlap both: H1, H2 and H8 are judged together in one model.
    import warnings
    from pathlib import Path

    from hybridflow.data.events import load_events
    from hybridflow.data.panel import load_panel
    from hybridflow.models.build import build_model, prepare_data
    from hybridflow.models.spec import load_spec
    from hybridflow.models.terms.drivers import select_driver_events
    from hybridflow.study.spec import INSTRUMENTALISED_GROUP, load_study

    study, folder = load_study(Path(__file__).resolve().parents[2] / "studies" / "hjs-2025")
    by_id = {h.id: h for h in study.hypotheses}
    joint = {by_id[i].model for i in ("H1", "H2", "H8")}
    assert len(joint) == 1 and joint <= set(study.models)
    for separate in ("h1_eu_sanctions", "h2_us_sanctions", "h8_belarus_sanctions"):
        assert separate not in study.models  # kept as comparisons, not fitted by default
    assert {h.estimand_label for h in study.hypotheses} == {INSTRUMENTALISED_GROUP}
    spec = load_spec(folder / study.models_dir / f"{joint.pop()}.toml")
    assert [d.name for d in spec.drivers] == [by_id[i].driver for i in ("H1", "H2", "H8")]
    events = load_events()
    ids = [set(select_driver_events(events, d.filter)["event_id"]) for d in spec.drivers]
    assert all(ids) and not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = prepare_data(spec, load_panel(), events)
        model = build_model(spec, data).model
    assert data.groups == ["UkrRussBel", INSTRUMENTALISED_GROUP]
    assert model.named_vars_to_dims["effect"] == ("driver", "route", "group")
    assert list(model.coords["driver"]) == [d.name for d in spec.drivers]
    # Partial pooling over the two groups, with the between-group sd fixed (the default).
    assert "effect_z" in model.named_vars and "effect_group_sd" not in model.named_vars


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
