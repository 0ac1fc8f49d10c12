"""The audit end to end on a small simulated study, its metrics, and its files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hybridflow.analysis.audit import (
    AUDIT_SAMPLING,
    AuditResult,
    AuditTarget,
    StaleAuditError,
    WorldConfig,
    audit_table,
    hypothesis_seed,
    load_audit,
    run_audit,
    world_plan,
    write_audit,
)
from hybridflow.analysis.audit.metrics import clopper_pearson, underpowered
from hybridflow.analysis.audit.store import MERGE_KEYS, merge_audit
from hybridflow.errors import SpecError
from hybridflow.models.spec import spec_hash

from ._checks_sim import sim_events, sim_panel, sim_spec

#: The simulated window (2016-2021) has no war: two eras, no bumps.
SIM_CONFIG = WorldConfig(era_breaks=("2019-01",), bumps=())


@pytest.fixture(scope="module")
def tiny_audit(seed_shift: int) -> AuditResult:
    """2 null and 2 effect worlds (one each at +30% and +50%), small draws, serial."""
    target = AuditTarget("H1", sim_spec(), "treat", "+", "Others")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_audit(
            "sim-study", [target], sim_panel(0), sim_events(), n_null=2, n_effect=1,
            config=SIM_CONFIG, sampling=AUDIT_SAMPLING.replace(draws=500, tune=300, chains=2),
            seed=11 + seed_shift,
        )


def test_tiny_audit_runs_every_world_and_tables_it(tiny_audit: AuditResult) -> None:
    w = tiny_audit.worlds
    assert list(w["kind"]) == ["null", "null", "effect", "effect"]
    assert list(w["truth_pct"]) == [0.0, 0.0, 30.0, 50.0]
    assert w["ok"].all(), w["error"].tolist()
    assert w["seed"].nunique() == 4
    done = w[w["converged"]]
    assert set(done["grade"]) <= {"strong", "moderate", "weak", "inconclusive",
                                  "practically null", "contrary"}
    assert (w.loc[~w["converged"], "grade"] == "unreliable").all()
    assert (done["hdi_low"] <= done["pct_mean"]).all() and (done["pct_mean"] <= done["hdi_high"]).all()
    row = tiny_audit.table.iloc[0]
    assert row["hypothesis"] == "H1" and row["n_worlds"] == 4
    assert row["n_failed"] == (~w["converged"]).sum()
    assert row["n_null"] == (done["kind"] == "null").sum()
    prov = tiny_audit.provenance
    assert prov["hypotheses"]["H1"]["spec_hash"] == spec_hash(sim_spec())
    assert WorldConfig.from_dict(prov["generator"]) == SIM_CONFIG
    assert "H1" in tiny_audit.summary_text()


def test_audit_files_round_trip_and_stale_hashes_are_refused(
    tiny_audit: AuditResult, tmp_path: Path
) -> None:
    out = tmp_path / "audit"
    paths = write_audit(tiny_audit, out, figure_png=lambda **kw: b"PNG" + repr(kw).encode())
    assert {p.name for p in out.iterdir()} == {"audit.json", "audit.csv", "audit_worlds.csv",
                                               "audit.png"}
    assert paths["figure"].read_bytes().startswith(b"PNG")
    assert len(pd.read_csv(paths["worlds"])) == 4
    assert json.loads(paths["json"].read_text())["provenance"]["study"] == "sim-study"
    audit = load_audit(out, {"H1": spec_hash(sim_spec())})
    expected = tiny_audit.table["false_positive_rate"].iloc[0]
    got = audit.false_positive_rate("H1")
    assert (got is None and np.isnan(expected)) or got == pytest.approx(expected)
    assert audit.false_positive_rate("H9") is None
    changed = spec_hash(sim_spec(description="another model"))
    with pytest.raises(StaleAuditError, match=r"stale audit.*H1: model 'sim' changed"):
        load_audit(out / "audit.json", {"H1": changed})
    assert load_audit(out).stale({"H1": changed})


def test_a_failing_write_leaves_the_previous_audit(tiny_audit: AuditResult, tmp_path: Path) -> None:
    out = tmp_path / "audit"
    write_audit(tiny_audit, out)
    before = (out / "audit.json").read_text()

    def broken(**_: object) -> bytes:
        raise RuntimeError("renderer failed")

    with pytest.raises(RuntimeError):
        write_audit(tiny_audit, out, figure_png=broken)
    assert (out / "audit.json").read_text() == before
    assert not (out / "audit.png").exists()


def test_load_audit_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no audit file"):
        load_audit(tmp_path)
    (tmp_path / "audit.json").write_text('{"rows": []}')
    with pytest.raises(SpecError, match="not an audit file"):
        load_audit(tmp_path / "audit.json")


def _worlds(kinds: list[tuple[str, float, str, bool, float, float, float]]) -> pd.DataFrame:
    rows = [
        {"hypothesis": "H", "kind": k, "truth_pct": t, "grade": g, "ok": True, "converged": c,
         "pct_mean": m, "hdi_low": lo, "hdi_high": hi}
        for k, t, g, c, m, lo, hi in kinds
    ]
    return pd.DataFrame(rows)


def test_metrics_count_false_positives_coverage_bias_and_power() -> None:
    worlds = _worlds([
        ("null", 0.0, "moderate", True, 20.0, 5.0, 40.0),       # false positive, misses 0
        ("null", 0.0, "contrary", True, -25.0, -40.0, -12.0),   # false positive too
        ("null", 0.0, "weak", True, 5.0, -10.0, 20.0),
        ("null", 0.0, "strong", False, 90.0, 80.0, 99.0),       # failed gate: not counted
        ("effect", 50.0, "strong", True, 55.0, 30.0, 80.0),
        ("effect", 50.0, "weak", True, 20.0, -5.0, 45.0),       # misses the truth
        ("effect", 30.0, "moderate", True, 30.0, 10.0, 50.0),
    ])
    worlds.loc[len(worlds)] = {**worlds.iloc[0].to_dict(), "ok": False, "converged": False}
    row = audit_table(worlds, (30.0, 50.0)).iloc[0]
    assert row["n_worlds"] == 8 and row["n_failed"] == 2 and row["n_errors"] == 1
    assert row["n_null"] == 3 and row["false_positives"] == 2
    assert row["false_positive_rate"] == pytest.approx(2 / 3)
    assert row["fp_low"] < 2 / 3 < row["fp_high"]
    assert row["coverage"] == pytest.approx(3 / 6)
    assert row["bias_null"] == pytest.approx(0.0)
    assert row["null_hdi_width"] == pytest.approx(30.0)  # median of 35, 28, 30
    assert row["bias_50"] == pytest.approx(-12.5)
    assert row["power_50"] == pytest.approx(0.5) and row["power_30"] == pytest.approx(1.0)


def test_underpowered_lists_hypotheses_below_the_target_at_the_largest_size() -> None:
    table = pd.DataFrame({"hypothesis": ["H1", "H2", "H3"], "power_30": [0.1, 0.9, 0.9],
                          "power_50": [0.8, 0.6, np.nan]})
    assert underpowered(table) == [("H2", "50", 0.6), ("H3", "50", pytest.approx(np.nan,
                                                                                nan_ok=True))]
    assert underpowered(table.drop(columns=["power_30", "power_50"])) == []
    # After the placebo, the checked power is the one judged (never above the posterior's).
    checked = table.assign(power_50_checked=[0.5, 0.6, np.nan], power_30_checked=0.0)
    assert [h for h, _, _ in underpowered(checked)] == ["H1", "H2", "H3"]


def test_clopper_pearson_interval() -> None:
    low, high = clopper_pearson(0, 20)
    assert low == 0.0 and high == pytest.approx(0.1684, abs=1e-4)
    assert all(np.isnan(clopper_pearson(0, 0)))


def test_run_audit_rejects_bad_targets() -> None:
    with pytest.raises(ValueError, match="no driver 'nope'"):
        run_audit("s", [AuditTarget("H1", sim_spec(), "nope")], sim_panel(0), sim_events())
    with pytest.raises(ValueError, match="at least one hypothesis"):
        run_audit("s", [], sim_panel(0), sim_events())


def test_worlds_do_not_depend_on_the_other_hypotheses_or_the_blocks_lengths() -> None:
    # Auditing H5 alone must give the worlds it gets among all eight, and adding null
    # worlds must extend an audit, not reshuffle its effect worlds.
    target = AuditTarget("H5", sim_spec(), "acled_strikes", "-")
    root = hypothesis_seed(1, "H5")
    assert root == hypothesis_seed(1, "H5") != hypothesis_seed(1, "H1")
    assert root != hypothesis_seed(2, "H5")
    short = world_plan(target, 3, 2, (30.0, 50.0), root)
    long = world_plan(target, 5, 2, (30.0, 50.0), root)
    assert [p.kind for p in short] == ["null"] * 3 + ["effect"] * 4
    assert [p.truth_pct for p in short[3:]] == [-30.0, -30.0, -50.0, -50.0]
    assert [p.seed for p in long[:3]] == [p.seed for p in short[:3]]
    assert [p.seed for p in long[5:]] == [p.seed for p in short[3:]]
    assert len({p.seed for p in long}) == len(long)
    assert [p.index for p in long] == list(range(9))


def _fake_result(hyps: dict[str, list[float]], seed: int = 1) -> AuditResult:
    """An audit without fits: per hypothesis, the null worlds' posterior means."""
    rows = []
    for h, means in hyps.items():
        for i, m in enumerate(means):
            rows.append({"hypothesis": h, "world": i, "kind": "null", "truth_pct": 0.0,
                         "seed": i, "ok": True, "error": "", "converged": True, "gate": "",
                         "grade": "moderate" if m > 50 else "weak", "divergences": 0,
                         "rhat_max": 1.0, "ess_min": 900.0, "pct_mean": m, "hdi_low": m - 20,
                         "hdi_high": m + 20, "p_direction": 0.5, "fit_seconds": 1.0,
                         "seconds": 1.0, "worker": "w"})
    worlds = pd.DataFrame(rows)
    prov = {"study": "s", "hypotheses": {h: {"model": f"m{h}", "spec_hash": h * 3}
                                         for h in hyps},
            "n_null": len(next(iter(hyps.values()))), "n_effect": 0,
            "effect_sizes_pct": [30.0, 50.0], "generator": {"a": (1, 2)},
            "sampling": {"draws": 10}, "seed": seed, "hdi_prob": 0.9, "grading": "g",
            "versions": {"hybridflow": "x"}}
    return AuditResult("s", audit_table(worlds, (30.0, 50.0)), worlds, prov)


def test_merge_replaces_only_the_rerun_hypotheses(tmp_path: Path) -> None:
    write_audit(_fake_result({"H1": [0.0, 60.0], "H2": [1.0, 2.0]}), tmp_path / "a")
    merged = merge_audit(tmp_path / "a", _fake_result({"H2": [70.0, 3.0, 4.0, 5.0]}))
    assert list(merged.table["hypothesis"]) == ["H1", "H2"]
    h1, h2 = merged.table.iloc[0], merged.table.iloc[1]
    assert h1["n_null"] == 2 and h1["false_positives"] == 1  # kept as it was
    assert h2["n_null"] == 4 and h2["false_positives"] == 1  # the rerun's four worlds
    assert merged.worlds.loc[merged.worlds["hypothesis"] == "H2", "pct_mean"].tolist() == [
        70.0, 3.0, 4.0, 5.0]
    assert (merged.worlds.loc[merged.worlds["hypothesis"] == "H1", "error"] == "").all()
    assert merged.provenance["hypotheses"]["H1"]["n_null"] == 2
    assert merged.provenance["hypotheses"]["H2"]["n_null"] == 4
    assert merged.provenance["merged"] == [["H2"]]
    write_audit(merged, tmp_path / "a")
    assert load_audit(tmp_path / "a").false_positive_rate("H2") == pytest.approx(0.25)


def test_merge_refuses_an_audit_with_other_seeds(tmp_path: Path) -> None:
    write_audit(_fake_result({"H1": [0.0]}), tmp_path / "a")
    with pytest.raises(SpecError, match="cannot merge: 'seed' differs"):
        merge_audit(tmp_path / "a", _fake_result({"H1": [0.0]}, seed=2))
    with pytest.raises(SpecError, match="no audit file"):
        merge_audit(tmp_path / "none", _fake_result({"H1": [0.0]}))


def test_settings_known_before_the_fits_are_the_run_s_provenance(tiny_audit: AuditResult) -> None:
    # --merge refuses an incompatible audit before fitting, from these settings alone.
    from hybridflow.analysis.audit.runner import audit_settings

    before = audit_settings("sim-study", config=SIM_CONFIG,
                            sampling=AUDIT_SAMPLING.replace(draws=500, tune=300, chains=2),
                            seed=int(tiny_audit.provenance["seed"]))
    assert before == {k: tiny_audit.provenance[k] for k in before}
    assert set(before) == set(MERGE_KEYS)


def test_extend_fits_only_the_new_worlds(tiny_audit: AuditResult, tmp_path: Path,
                                         seed_shift: int) -> None:
    # --extend: one more null world costs one fit; the stored ones are taken as they are.
    from hybridflow.analysis.audit.store import reusable_worlds
    from hybridflow.inference.executor import SerialExecutor

    class Counting(SerialExecutor):
        def __init__(self) -> None:
            super().__init__()
            self.keys: list[str] = []

        def map(self, tasks, progress=False):  # type: ignore[no-untyped-def]
            self.keys.extend(t.key for t in tasks)
            return super().map(tasks, progress=progress)

    write_audit(tiny_audit, tmp_path / "a")
    prov = tiny_audit.provenance
    reuse = reusable_worlds(tmp_path / "a", prov, {"H1": spec_hash(sim_spec())})
    assert len(reuse) == 4
    target = AuditTarget("H1", sim_spec(), "treat", "+", "Others")
    with warnings.catch_warnings(), Counting() as ex:
        warnings.simplefilter("ignore")
        longer = run_audit(
            "sim-study", [target], sim_panel(0), sim_events(), n_null=3, n_effect=1,
            config=SIM_CONFIG, sampling=AUDIT_SAMPLING.replace(draws=500, tune=300, chains=2),
            seed=11 + seed_shift, executor=ex, reuse=reuse,
        )
    assert ex.keys == ["audit-H1-0002"]  # the third null world, nothing else
    w, old = longer.worlds, tiny_audit.worlds
    assert list(w["kind"]) == ["null"] * 3 + ["effect"] * 2 and list(w["world"]) == [0, 1, 2, 3, 4]
    kept = w.drop(index=2).reset_index(drop=True)
    for col in ("seed", "truth_pct", "pct_mean", "hdi_low", "grade"):
        assert kept[col].tolist() == old[col].tolist(), col
    assert longer.provenance["reused_worlds"] == {"H1": 4}
    merged = merge_audit(tmp_path / "a", longer)
    assert merged.provenance["hypotheses"]["H1"]["reused_worlds"] == 4
    assert merged.provenance["hypotheses"]["H1"]["n_null"] == 3
    # Another model, or other package versions, is not the same fit.
    assert reusable_worlds(tmp_path / "a", prov, {"H1": "other"}).empty
    with pytest.raises(SpecError, match="cannot extend H1: .*package versions"):
        reusable_worlds(tmp_path / "a", {**prov, "versions": {"pymc": "0"}},
                        {"H1": spec_hash(sim_spec())})


def test_placebo_results_join_the_table_survive_a_rewrite_and_never_a_changed_model(
    tiny_audit: AuditResult, tmp_path: Path
) -> None:
    from hybridflow.analysis.audit.checked import CHECKED_FILE
    from hybridflow.study.steps.audit import usable_rates

    out = tmp_path / "audit"
    write_audit(tiny_audit, out)
    w = tiny_audit.worlds
    null = w[(w["kind"] == "null") & w["converged"]]
    assert len(null), "the tiny audit needs a converged null world"
    first = null.iloc[0]
    current = spec_hash(sim_spec())
    rows = [{"hypothesis": "H1", "spec_hash": current, "kind": "null", "truth_pct": 0.0,
             "seed": int(first["seed"]), "checked_grade": "moderate"},
            {"hypothesis": "H1", "spec_hash": "another-model", "kind": "null",
             "truth_pct": 0.0, "seed": int(null.iloc[-1]["seed"]), "checked_grade": "strong"}]
    pd.DataFrame(rows).to_csv(out / CHECKED_FILE, index=False)
    row = load_audit(out).table.iloc[0]
    # The first world counts as checked-moderate; the row of another model is ignored.
    assert row["false_positives_checked"] == 1 + int(
        null.iloc[1:]["grade"].isin(["strong", "moderate", "contrary"]).sum()
        if len(null) > 1 else 0)
    write_audit(tiny_audit, out)  # a rewrite (merge, extend) keeps the placebo results
    assert (out / CHECKED_FILE).is_file()
    table = load_audit(out).table
    rates, _ = usable_rates(table.assign(n_null=100), ["H1"])
    expected = (float(table.iloc[0]["false_positive_rate_checked"])
                if bool(table.iloc[0]["placebo_complete"])
                else float(table.iloc[0]["false_positive_rate"]))
    assert rates["H1"] == expected
