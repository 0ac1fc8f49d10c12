"""The placebo on the audit's flagged worlds: which worlds, the regrade, the rates, and that
the placebo's refits see the world's counts, not the real ones."""

from __future__ import annotations

import warnings

import pandas as pd

from hybridflow.analysis.audit.checked import checked_grade, checked_rates, flagged
from hybridflow.analysis.checks import placebo_in_time
from hybridflow.analysis.checks._common import REFIT_SAMPLING
from hybridflow.inference.refit import data_values
from hybridflow.models.build import build_model, prepare_data

from ._checks_sim import sim_events, sim_panel, sim_spec


def _worlds(grades: list[str], kinds: list[str], truths: list[float]) -> pd.DataFrame:
    n = len(grades)
    return pd.DataFrame({"hypothesis": "H1", "world": range(n), "kind": kinds,
                         "truth_pct": truths, "seed": range(100, 100 + n),
                         "converged": [True] * n, "grade": grades})


def test_only_converged_worlds_above_weak_are_flagged() -> None:
    w = _worlds(["moderate", "weak", "contrary", "strong", "inconclusive"],
                ["null"] * 5, [0.0] * 5)
    w.loc[3, "converged"] = False
    assert list(flagged(w)["world"]) == [0, 2]


def test_a_passed_placebo_keeps_the_grade_and_a_failed_or_missing_one_lowers_it() -> None:
    assert checked_grade("moderate", "+", 0.04)[0] == "moderate"
    assert checked_grade("strong", "+", 0.08)[0] == "strong"
    grade, why = checked_grade("moderate", "+", 0.30)
    assert grade == "weak" and "p = 0.30" in why
    assert checked_grade("strong", "+", 0.30)[0] == "weak"  # lowered, then capped
    grade, why = checked_grade("moderate", "+", None)
    assert grade == "weak" and "did not run" in why
    # A contrary grade is tested in its own (the other) direction and can stand.
    assert checked_grade("contrary", "+", 0.04)[0] == "contrary"
    assert checked_grade("contrary", "-", 0.50)[0] == "leans contrary"


def test_checked_rates_count_the_regraded_worlds_beside_the_posterior_ones() -> None:
    w = _worlds(["moderate", "moderate", "weak", "strong", "strong", "weak"],
                ["null", "null", "null", "effect", "effect", "effect"],
                [0.0, 0.0, 0.0, 50.0, 50.0, 50.0])
    checked = pd.DataFrame({"hypothesis": "H1", "kind": ["null", "null", "effect"],
                            "truth_pct": [0.0, 0.0, 50.0], "seed": [100, 101, 103],
                            "checked_grade": ["weak", "moderate", "weak"]})
    row = checked_rates(w, checked).iloc[0]
    assert row["n_flagged_null"] == 2 and row["n_checked_null"] == 2 and row["placebo_complete"]
    assert row["false_positives_checked"] == 1 and row["false_positive_rate_checked"] == 1 / 3
    assert row["power_50_checked"] == 1 / 3 and not row["placebo_complete_50"]  # world 4 unchecked
    # Without placebo results, the checked figures are the posterior's (an upper bound).
    same = checked_rates(w, pd.DataFrame()).iloc[0]
    assert same["false_positives_checked"] == 2 and same["power_50_checked"] == 2 / 3
    assert same["n_checked_null"] == 0 and not same["placebo_complete"]


def test_placebo_refits_use_the_values_they_are_given(seed_shift: int) -> None:
    """The model is prepared on counts without any effect; the refits get the outcome of a
    panel with a large one (+232%) through ``values``: the observed refit must see it."""
    spec, events = sim_spec(), sim_events()
    flat = prepare_data(spec, sim_panel(3, effect=0.0), events)
    strong = build_model(spec, prepare_data(spec, sim_panel(3), events))
    values = {"y_obs": data_values(strong)["y_obs"]}
    sampling = REFIT_SAMPLING.replace(draws=150, tune=300, chains=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seen = placebo_in_time(spec, "treat", sim_panel(3), events, n=1, data=flat,
                               values=values, seed=7 + seed_shift, sampling=sampling)
    # One short chain estimates the +232% anywhere from about +70% to +250% (measured in
    # test_checks_placebo); the flat counts alone give about 0.
    assert seen.observed > 60.0 and seen.observed_z > 1.0
