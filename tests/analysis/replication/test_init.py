"""replicate(): every claim once, JSON and text forms, model residuals, missing variables."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from hybridflow.analysis.replication import (
    REPORT_OTHERS_SHARE_MONTHS,
    REPORT_TOP10_OTHERS,
    STATUSES,
    claim_ids,
    replicate,
)
from tests.analysis.replication._panels import claim_row, synthetic_panel


def test_every_claim_present_once_with_a_valid_status(synthetic: tuple) -> None:
    _, res = synthetic
    assert list(res.claims["id"]) == list(claim_ids())
    assert set(res.claims["status"]) <= set(STATUSES)
    for code in REPORT_TOP10_OTHERS:
        assert f"top10_{code}" in set(res.claims["id"])
    for month in REPORT_OTHERS_SHARE_MONTHS:
        assert f"others_share_{month.replace('-', '_')}" in set(res.claims["id"])


def test_json_round_trip(synthetic: tuple) -> None:
    _, res = synthetic
    text = res.to_json()  # strict JSON: fails on NaN
    back = json.loads(text)
    assert back == res.to_dict()
    assert len(back["claims"]) == len(claim_ids())
    assert {"claims", "correlations", "trend", "misdated", "notes"} <= set(back)
    assert all(isinstance(c["details"], dict) for c in back["claims"])
    text_summary = res.render_text()
    assert "[inconsistent] ukr_gains_r_r2_consistency" in text_summary


def test_model_residuals_add_a_transform() -> None:
    panel = synthetic_panel(1)
    months = panel["month"].values
    rng = np.random.default_rng(9)
    resid = xr.DataArray(
        rng.normal(size=(2, 5, len(months))),
        coords={"chain": [0, 1], "draw": range(5), "month": months},
        dims=("chain", "draw", "month"),
    )
    res = replicate(panel, model_residuals=resid)
    corr = res.correlations
    mr = corr.loc[corr["transform"] == "model_residual"]
    assert set(mr["claim"]) == {"losses", "ukr_gains", "rus_gains"}
    assert mr["r"].abs().max() < 0.6  # noise residuals
    assert np.isfinite(res.trend["r_model_residual"]).all()
    with pytest.raises(ValueError, match="month"):
        replicate(panel, model_residuals=xr.DataArray(np.zeros(3), dims="x"))


def test_missing_variables_give_not_reproducible() -> None:
    panel = synthetic_panel().drop_vars(["territory_net_change", "acled_russia"])
    res = replicate(panel)
    assert claim_row(res, "ukr_gains_vs_encounters_r")["status"] == "not_reproducible"
    assert claim_row(res, "attacks_ratio_2024_2023")["status"] == "not_reproducible"
    assert claim_row(res, "eb_mean")["status"] in {"matches", "differs"}
    assert list(res.claims["id"]) == list(claim_ids())


def test_every_figure_is_used_and_every_figure_used_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    """No orphan rows in report_figures.csv, and no figure id in the code that it lacks."""
    from hybridflow.data import report_figures

    table = report_figures.load_report_figures()
    asked: list[str] = []
    lookup = report_figures.report_figure

    def recording(figure_id: str) -> report_figures.ReportFigure:
        asked.append(figure_id)
        return lookup(figure_id)  # raises KeyError for an id the table lacks

    monkeypatch.setattr(report_figures, "report_figure", recording)
    panel = synthetic_panel()
    for p in (panel, panel.drop_vars(["detections"])):  # with and without nationalities
        assert set(table) <= set(replicate(p).claims["id"])  # each figure has its claim
    assert set(asked) <= set(table)
    assert set(table) <= set(asked), sorted(set(table) - set(asked))


def test_without_nationality_data_every_claim_is_still_listed() -> None:
    """A panel without nationality-level detections: the same ids, the report's side filled."""
    res = replicate(synthetic_panel().drop_vars(["detections"]))
    assert list(res.claims["id"]) == list(claim_ids())
    top = claim_row(res, "top10_set")
    assert top["status"] == "not_reproducible"
    assert top["report_text"] == ", ".join(REPORT_TOP10_OTHERS)
    mean = claim_row(res, "others_share_mean")
    assert mean["status"] == "not_reproducible"
    assert (mean["report_value"], mean["report_text"]) == (0.16, "16%")
    assert mean["statement"] == "Mean monthly share of Others"
