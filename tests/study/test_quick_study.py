"""The quick profile of the hjs-2025 study, end to end: the briefing says what the fits say.

This is the slowest test of the suite (it fits real models: the quick profile runs in
about four minutes on two cores); it is the one that proves
`make run`'s pipeline works and that every number on the briefing's first page comes from
the effects files of the run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hybridflow.inference.store import load_result
from hybridflow.study.runner import run_study

# About four minutes of real fits on two cores; every test shares one run (one xdist worker).
pytestmark = pytest.mark.xdist_group("quick_study")

STUDY = Path(__file__).resolve().parents[2] / "studies" / "hjs-2025"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("hjs-quick")
    return run_study(STUDY, profile="quick", out=out)


def test_results_folder_has_fits_tables_and_briefing(quick_run) -> None:
    out = quick_run.out
    for name in ("null", "full"):
        assert (out / "fits" / name / "fit.nc").is_file()
        assert (out / "fits" / name / "effects.csv").is_file()
    for table in ("hypotheses", "comparison", "diagnostics", "replication_claims",
                  "ppc_coverage", "placebo_summary", "negative_controls", "episodes",
                  "backtest_summary"):
        assert (out / "tables" / f"{table}.csv").is_file(), table
    html = (out / "briefing.html").read_text()
    assert html.count("<img") >= 4 and 'src="http' not in html


def test_briefing_hypotheses_match_effects_files(quick_run) -> None:
    out = quick_run.out
    hyp = pd.read_csv(out / "tables" / "hypotheses.csv")
    assert list(hyp["hypothesis"]) == [f"H{i}" for i in range(1, 9)]
    html = (out / "briefing.html").read_text()
    md = (out / "briefing.md").read_text()
    for row in hyp.itertuples():
        if row.grade == "not estimated":
            assert "not estimated" in md
            continue
        # The headline is the pooled effect in the model's own effects.csv.
        eff = pd.read_csv(out / "fits" / row.model / "effects.csv")
        pooled = eff[(eff["level"] == "pooled") & (eff["driver"] == row.driver)]
        assert len(pooled) == 1
        assert row.pct_mean == pytest.approx(float(pooled["pct_mean"].iloc[0]), rel=1e-6)
        shown = f"{row.pct_mean:+.1f}%"
        assert shown in html and shown in md, (row.hypothesis, shown)
        assert f"{row.pct_hdi_low:+.1f}% to {row.pct_hdi_high:+.1f}%" in md
        assert f"{row.p_direction:.2f}" in md
        assert row.grade in html


def test_unconverged_fits_are_flagged_on_page_one(quick_run) -> None:
    out = quick_run.out
    diag = pd.read_csv(out / "tables" / "diagnostics.csv")
    html = (out / "briefing.html").read_text()
    page_one = html.split('<h2 id="')[0]
    assert "profile" in page_one  # the quick profile says it is not for citing
    for row in diag.itertuples():
        fit = load_result(out / "fits" / row.model, warn=False)
        assert bool(row.converged) == fit.converged
        if not row.converged:
            assert f"Fit '{row.model}' did NOT pass" in page_one
    if not diag["converged"].all():
        assert 'class="status bad"' in page_one


def test_rerun_reuses_every_step(quick_run) -> None:
    again = run_study(STUDY, profile="quick", out=quick_run.out)
    assert set(again.reused) >= {"null", "full"}
    before = pd.read_csv(quick_run.out / "tables" / "hypotheses.csv")
    np.testing.assert_allclose(
        before["pct_mean"].to_numpy(dtype=float),
        pd.read_csv(again.out / "tables" / "hypotheses.csv")["pct_mean"].to_numpy(dtype=float),
    )
