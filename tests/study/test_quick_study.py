"""The quick profile of the hjs-2025 study, end to end: the briefing says what the fits say.

This is the slowest test of the suite (it fits real models: the quick profile runs in
about four minutes on two cores); it is the one that proves
`make run`'s pipeline works and that every number on the briefing's first page comes from
the effects files of the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hybridflow.inference.store import load_result
from hybridflow.study.runner import run_study

# About four to five minutes of real fits on two cores. One test function runs the study
# once and makes every check: pytest-xdist's grouping marks do not keep a module-scoped
# fixture to one worker with this pytest, and two runs would double the suite's time.

STUDY = Path(__file__).resolve().parents[2] / "studies" / "hjs-2025"


def _read(path: Path) -> pd.DataFrame:
    # pandas reads the word "null" as missing; here it is the null model's name.
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def test_quick_profile_end_to_end(tmp_path: Path) -> None:
    quick_run = run_study(STUDY, profile="quick", out=tmp_path / "hjs-quick")
    check_results_folder_has_fits_tables_and_briefing(quick_run)
    check_briefing_hypotheses_match_effects_files(quick_run)
    check_unconverged_fits_are_flagged_on_page_one(quick_run)
    check_rerun_reuses_every_step(quick_run)


def check_results_folder_has_fits_tables_and_briefing(quick_run: Any) -> None:
    out = quick_run.out
    for name in ("null", "full"):
        assert (out / "fits" / name / "fit.nc").is_file()
        assert (out / "fits" / name / "effects.csv").is_file()
    for table in ("hypotheses", "hypotheses_groups", "comparison", "diagnostics", "replication_claims",
                  "ppc_coverage", "placebo_summary", "negative_controls", "episodes",
                  "backtest_summary"):
        assert (out / "tables" / f"{table}.csv").is_file(), table
    html = (out / "briefing.html").read_text()
    assert html.count("<img") >= 4 and 'src="http' not in html


def check_briefing_hypotheses_match_effects_files(quick_run: Any) -> None:
    out = quick_run.out
    hyp = _read(out / "tables" / "hypotheses.csv")
    assert list(hyp["hypothesis"]) == [f"H{i}" for i in range(1, 9)]
    html = (out / "briefing.html").read_text()
    md = (out / "briefing.md").read_text()
    for row in hyp.itertuples():
        if row.grade == "not estimated":
            assert "not estimated" in md
            continue
        # The headline is the graded estimand's effect (issue 12: the Others group, not the
        # pooled mean) in the model's own effects.csv.
        eff = pd.read_csv(out / "fits" / row.model / "effects.csv")
        assert row.level == "Others"
        graded = eff[(eff["level"] == "series") & (eff["driver"] == row.driver)
                     & (eff["group"] == row.level)]
        assert len(graded) == 1
        assert row.pct_mean == pytest.approx(float(graded["pct_mean"].iloc[0]), rel=1e-6)
        shown = f"{row.pct_mean:+.1f}%"
        assert shown in html and shown in md, (row.hypothesis, shown)
        assert f"{row.pct_hdi_low:+.1f}% to {row.pct_hdi_high:+.1f}%" in md
        assert f"{row.p_direction:.2f}" in md
        assert row.grade in html


def check_unconverged_fits_are_flagged_on_page_one(quick_run: Any) -> None:
    out = quick_run.out
    diag = _read(out / "tables" / "diagnostics.csv")
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


def check_rerun_reuses_every_step(quick_run: Any) -> None:
    again = run_study(STUDY, profile="quick", out=quick_run.out)
    assert set(again.reused) >= {"null", "full"}
    before = _read(quick_run.out / "tables" / "hypotheses.csv")
    np.testing.assert_allclose(
        before["pct_mean"].to_numpy(dtype=float),
        _read(again.out / "tables" / "hypotheses.csv")["pct_mean"].to_numpy(dtype=float),
    )
