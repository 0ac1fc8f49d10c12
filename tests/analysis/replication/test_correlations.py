"""The correlation claims and the four-way correlation table."""

from __future__ import annotations

import pytest

from hybridflow.analysis.replication import pearson
from hybridflow.data.panel import EASTERN_BORDERS
from tests.analysis.replication._panels import claim_row


def test_correlations_recomputed_four_ways(synthetic: tuple) -> None:
    panel, res = synthetic
    corr = res.correlations
    sel = corr.loc[(corr["claim"] == "losses") & (corr["encounters"] == "route_total")]
    assert list(sel["transform"]) == ["levels", "first_difference", "trend_season_residual"]
    months = slice("2022-02-01", "2025-07-01")
    x = panel["losses_personnel"].sel(month=months).to_series()
    y = panel["route_total"].sel(route=EASTERN_BORDERS, month=months).to_series()
    lv = sel.set_index("transform").loc["levels"]
    assert lv["r"] == pytest.approx(pearson(x, y)[0])
    assert lv["n"] == 42
    fd = sel.set_index("transform").loc["first_difference"]
    assert fd["r"] == pytest.approx(pearson(x.diff(), y.diff())[0])
    assert fd["n"] == 41
    claim = claim_row(res, "losses_vs_encounters_r")
    assert claim["our_value"] == pytest.approx(lv["r"])
    assert claim_row(res, "losses_vs_encounters_r2")["our_value"] == pytest.approx(lv["r"] ** 2)
    trend = res.trend.set_index("claim").loc["losses"]
    assert trend["share_lost_first_difference"] == pytest.approx(1 - fd["r"] / lv["r"])
    # Territory: the primary tracker covers Mar 2022 - Jan 2025 only.
    uk = corr.loc[
        (corr["claim"] == "ukr_gains")
        & corr["primary"]
        & (corr["transform"] == "levels")
        & (corr["encounters"] == "route_total")
    ]
    assert uk.iloc[0]["tracker"] == "liveuamap"
    assert (uk.iloc[0]["first_month"], uk.iloc[0]["last_month"]) == ("2022-03", "2025-01")
    net = panel["territory_net_change"].sel(
        tracker="liveuamap", month=slice("2022-03-01", "2025-07-01")
    )
    gains = (-net).clip(min=0).to_series()
    y2 = (
        panel["route_total"]
        .sel(route=EASTERN_BORDERS, month=slice("2022-03-01", "2025-07-01"))
        .to_series()
    )
    assert uk.iloc[0]["r"] == pytest.approx(pearson(gains, y2)[0])


def test_report_r_r2_inconsistency_is_flagged(synthetic: tuple) -> None:
    _, res = synthetic
    flag = claim_row(res, "ukr_gains_r_r2_consistency")
    assert flag["status"] == "inconsistent"
    assert flag["our_value"] == pytest.approx(0.64)
    assert "implies r^2 = 0.64" in flag["cause"]
    assert "supports" in flag["cause"]
    assert claim_row(res, "losses_r_r2_consistency")["status"] == "matches"
    assert claim_row(res, "rus_gains_r_r2_consistency")["status"] == "matches"


def test_real_correlations(real: object) -> None:
    r = claim_row(real, "losses_vs_encounters_r")["our_value"]
    assert 0.4 < r < 0.55
    ukr = claim_row(real, "ukr_gains_vs_encounters_r")["our_value"]
    assert abs(ukr) < 0.3  # nowhere near the report's -0.8
    flag = claim_row(real, "ukr_gains_r_r2_consistency")
    assert flag["status"] == "inconsistent" and "supports r^2 = 0.007" in flag["cause"]
    trend = real.trend.set_index("claim")  # type: ignore[attr-defined]
    # Losses and detections both trend: far fewer effective months than 42.
    assert trend.loc["losses", "n_eff_levels"] < 15
    assert trend.loc["losses", "p_adjusted_levels"] > trend.loc["losses", "p_naive_levels"]
