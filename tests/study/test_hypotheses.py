"""The hypotheses step: graded on the primary estimand, every group reported, checks read
strictly (a check that did not run caps the grade at weak). No fit: the posterior is made
by hand."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hybridflow.analysis.checks import CheckOutcome
from hybridflow.errors import SpecError
from hybridflow.inference.diagnostics import DiagnosticsReport
from hybridflow.inference.result import FitResult
from hybridflow.models.spec import parse_spec
from hybridflow.study.results import (
    ControlsResult,
    FitsResult,
    PlaceboResult,
    SensitivityResult,
    StudyResults,
)
from hybridflow.study.spec import Hypothesis
from hybridflow.study.steps import hypotheses as step

ROUTE = "Eastern Borders Route"
GROUPS = ("UkrRussBel", "Others")


def fake_fit(log_effects: dict[str, tuple[float, float]], sd: float = 0.03,
             name: str = "m") -> FitResult:
    """A converged fit whose driver ``d`` has log effects ``(UkrRussBel, Others)`` with
    posterior sd ``sd`` (2 chains x 500 draws), the population mean their average."""
    rng = np.random.default_rng(1)
    drivers = list(log_effects)
    eff = np.stack([np.stack([rng.normal(m, sd, (2, 500)) for m in log_effects[d]], -1)
                    for d in drivers], axis=2)[:, :, :, None, :]  # chain, draw, driver, route, group
    post = xr.Dataset(
        {"effect": (("chain", "draw", "driver", "route", "group"), eff),
         "effect_mean": (("chain", "draw", "driver"), eff.mean(axis=(3, 4))),
         "kernel_weights": (("chain", "draw", "driver", "lag"),
                            np.full((2, 500, len(drivers), 2), 0.5))},
        coords={"chain": [0, 1], "draw": np.arange(500), "driver": drivers, "route": [ROUTE],
                "group": list(GROUPS), "lag": [0, 1]},
        attrs={"outcome": "counts"})
    tree = xr.DataTree.from_dict({"posterior": post, "constant_data": xr.Dataset()})
    diag = DiagnosticsReport(converged=True, n_divergences=0, max_rhat=1.0,
                             min_ess_bulk=1000.0, min_ess_tail=1000.0, n_draws=500, n_chains=2)
    return FitResult(idata=tree, spec=parse_spec({"name": name}), diagnostics=diag)


def hyp(**kw: Any) -> Hypothesis:
    base = {"id": "H1", "title": "t", "claim": "c", "model": "m", "driver": "d"}
    return Hypothesis(**(base | kw))


def results(fit: FitResult, **checks: Any) -> StudyResults:
    return StudyResults(fits=FitsResult(fits={"m": fit}, reused=(), fallback_model=None),
                        **checks)


def outcome(check: str, passed: bool | None = True, hypothesis: str = "H1",
            reason: str = "") -> CheckOutcome:
    return CheckOutcome(check=check, hypothesis=hypothesis, ran=passed is not None,
                        passed=passed, n_requested=20, n_used=20, n_failed=0,
                        p_value=0.05 if check == "placebo" else float("nan"), reason=reason)


def passing_checks(hypothesis: str = "H1") -> dict[str, Any]:
    """Placebo (with its lead test), controls and sensitivity that all pass for H1."""
    none = pd.DataFrame()
    return {"placebo": PlaceboResult(checks=(), table=None, p_values={hypothesis: 0.05},
                                     outcomes={hypothesis: outcome("placebo")},
                                     lead_outcomes={hypothesis: outcome("lead")}),
            "controls": ControlsResult(table=none, p_direction={}, sampling={},
                                       outcomes={hypothesis: outcome("controls")}),
            "sensitivity": SensitivityResult(table=none, sampling={},
                                             outcomes={hypothesis: outcome("sensitivity")})}


def test_graded_on_others_with_every_group_reported_and_no_pooled_mean_when_they_differ() -> None:
    fit = fake_fit({"d": (0.0, np.log(1.4))})  # +40% on Others, none on UkrRussBel
    h = hyp()
    per_group = step.group_effects(h, "m", fit)
    assert list(per_group["group"]) == list(GROUPS)
    assert per_group.set_index("group")["pct_mean"]["Others"] == pytest.approx(40, abs=2)
    row = step.graded_row(h, "m", fit, per_group, results(fit))
    assert row["estimand"] == row["level"] == "Others"
    assert row["pct_mean"] == pytest.approx(40, abs=2)
    assert row["groups_agree"] is False and row["pooled_note"] == "groups differ"
    assert np.isnan(row["pooled_pct_mean"])
    # Asked for, the pooled estimand is graded instead (the population mean, about +18%).
    pooled = step.graded_row(hyp(estimand="pooled"), "m", fit, per_group, results(fit))
    assert pooled["level"] == "pooled" and pooled["pct_mean"] == pytest.approx(18.3, abs=2)


def test_a_pooled_mean_is_reported_where_the_groups_agree() -> None:
    fit = fake_fit({"d": (np.log(1.3), np.log(1.35))}, sd=0.05)
    per_group = step.group_effects(hyp(), "m", fit)
    assert step.groups_agree(per_group)
    row = step.graded_row(hyp(), "m", fit, per_group, results(fit))
    assert row["groups_agree"] is True and row["pooled_pct_mean"] == pytest.approx(32.5, abs=2)
    # Overlapping intervals with opposite-signed means do not agree.
    split = step.group_effects(hyp(), "m", fake_fit({"d": (-0.02, 0.03)}, sd=0.1))
    assert not step.groups_agree(split)


def test_missing_checks_cap_a_strong_effect_at_weak_and_say_why() -> None:
    fit = fake_fit({"d": (0.0, np.log(1.4))})
    h = hyp()
    per_group = step.group_effects(h, "m", fit)
    row = step.graded_row(h, "m", fit, per_group, results(fit))
    assert row["posterior_grade"] == "strong" and row["grade"] == "weak"
    for reason in ("placebo did not run", "negative control did not run",
                   "sensitivity did not run", "audit not run"):
        assert reason in row["grade_reasons"]
    assert row["check_placebo"] == "did not run" and np.isnan(row["audit_false_positive_rate"])
    # With every check run and passed, and an audit rate of 2%, the grade stands.
    full = results(fit, **passing_checks())
    object.__setattr__(full, "audit", SimpleNamespace(false_positive_rates={"H1": 0.02}))
    ok = step.graded_row(h, "m", fit, per_group, full)
    assert ok["grade"] == "strong" and ok["grade_reasons"] == ""
    assert ok["audit_false_positive_rate"] == 0.02 and ok["check_audit"] == "passed"


def test_checks_are_read_per_hypothesis_and_the_lead_test_belongs_to_the_placebo() -> None:
    fit = fake_fit({"d": (0.0, np.log(1.4))})
    h = hyp()
    # A check run for another hypothesis is a check that did not run for this one.
    other = results(fit, **passing_checks("H2"))
    for verdict in (step.placebo_outcome(h, other), step.control_outcome(h, other),
                    step.sensitivity_outcome(h, other)):
        assert verdict.ran is False and verdict.passed is None
    # A failed lead test fails the placebo; a lead test that did not run leaves it unknown.
    checks = passing_checks()
    leads = checks["placebo"].lead_outcomes
    object.__setattr__(checks["placebo"], "lead_outcomes",
                       {"H1": outcome("lead", False, reason="lead 2 as large")})
    failed = step.placebo_outcome(h, results(fit, **checks))
    assert failed.passed is False and "lead test failed: lead 2 as large" in failed.reason
    object.__setattr__(checks["placebo"], "lead_outcomes", {"H1": outcome("lead", None)})
    assert step.placebo_outcome(h, results(fit, **checks)).passed is None
    object.__setattr__(checks["placebo"], "lead_outcomes", leads)
    assert step.placebo_outcome(h, results(fit, **checks)).passed is True
    # A failed control lowers the grade one step and caps it.
    checks["controls"] = ControlsResult(table=pd.DataFrame(), p_direction={}, sampling={},
                                        outcomes={"H1": outcome("controls", False,
                                                                reason="W. Med shows one")})
    full = results(fit, **checks)
    object.__setattr__(full, "audit", SimpleNamespace(false_positive_rates={"H1": 0.02}))
    row = step.graded_row(h, "m", fit, step.group_effects(h, "m", fit), full)
    assert row["posterior_grade"] == "strong" and row["grade"] in ("moderate", "weak")
    assert "W. Med shows one" in row["grade_reasons"]

def test_an_estimand_group_the_model_lacks_is_a_clear_error() -> None:
    fit = fake_fit({"d": (0.0, 0.3)})
    h = hyp(group="Syrians")
    with pytest.raises(SpecError, match=r"H1: its estimand group 'Syrians' is not a group of "
                                        r"model 'm' \(groups: UkrRussBel, Others\)"):
        step.graded_row(h, "m", fit, step.group_effects(h, "m", fit), results(fit))


def test_run_writes_the_graded_table_and_every_groups_effect(tmp_path: Path) -> None:
    fit = fake_fit({"d": (0.0, np.log(1.4)), "e": (0.1, 0.1)})
    written: dict[str, pd.DataFrame] = {}
    spec = SimpleNamespace(hypotheses=[hyp(), hyp(id="H2", driver="e")])
    context = SimpleNamespace(spec=spec, profile="default",
                              write_table=lambda name, frame: written.setdefault(name, frame))
    out = step.run(context, results(fit))  # type: ignore[arg-type]
    assert list(out.table["hypothesis"]) == ["H1", "H2"]
    assert set(written) == {"hypotheses", "hypotheses_groups"}
    groups = out.groups
    assert len(groups) == 4 and groups["graded"].sum() == 2
    assert set(groups.loc[groups["graded"], "group"]) == {"Others"}
    assert (out.table["grade"] != "strong").all()  # no check ran: nothing above weak


def test_a_checks_own_outcomes_are_read_under_the_grades_names() -> None:
    # A check step that reports its own outcome per hypothesis (name, ran, passed, reason,
    # ...) is read as it is, filed under the grade's name for that check.
    fit = fake_fit({"d": (0.0, np.log(1.4))})
    own = SimpleNamespace(name="placebo-in-time", ran=True, passed=False, reason="p = 0.4",
                          p=0.4, n_used=90, n_failed=10)
    placebo = SimpleNamespace(outcomes={"H1": own}, p_values={"H1": 0.01})
    verdict = step.placebo_outcome(hyp(), results(fit, placebo=placebo))
    assert (verdict.name, verdict.passed, verdict.reason) == ("placebo", False, "p = 0.4")
    assert verdict.direction == "+" and verdict.n_failed == 10
