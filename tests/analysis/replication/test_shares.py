"""The Others share claims, on a synthetic panel and on the embedded snapshot."""

from __future__ import annotations

import pytest

from hybridflow.data.panel import EASTERN_BORDERS
from tests.analysis.replication._panels import claim_row


def test_shares_on_synthetic_panel(synthetic: tuple) -> None:
    panel, res = synthetic
    eb = panel["detections"].sel(route=EASTERN_BORDERS)
    total = eb.sum("nationality")
    others = eb.drop_sel(nationality=["UKR", "RUS", "BLR"]).sum("nationality")
    share = (others / total).sel(month=slice("2022-02-01", "2025-04-01")).to_series()
    assert claim_row(res, "others_share_max")["our_value"] == pytest.approx(0.6)
    assert claim_row(res, "others_share_max")["our_text"].endswith("(2022-02)")
    assert claim_row(res, "others_share_mean")["our_value"] == pytest.approx(share.mean())
    dec23 = claim_row(res, "others_share_2023_12")
    assert dec23["our_value"] == pytest.approx(share["2023-12-01"])
    assert dec23["difference"] == pytest.approx(share["2023-12-01"] - 0.13)
    assert claim_row(res, "others_share_min")["our_value"] == pytest.approx(share.min())
    maj = claim_row(res, "others_share_majority_months")
    assert maj["our_text"] == "2022-02" and maj["status"] == "matches"


def test_real_others_shares(real: object) -> None:
    mx = claim_row(real, "others_share_max")
    assert mx["our_value"] > 0.5 and mx["our_text"].endswith("(2022-02)")
    assert claim_row(real, "others_share_majority_months")["our_text"] == "2022-02"
    assert abs(claim_row(real, "others_share_mean")["our_value"] - 0.16) < 0.01
    assert claim_row(real, "others_share_min")["our_value"] < 0.01
    assert claim_row(real, "others_share_2023_04")["status"] == "matches"
    assert claim_row(real, "others_share_2025_max")["our_value"] <= 0.16
    # As published, the provisional Unknown entry made Apr 2025 an Others majority.
    assert "2025-04" in claim_row(real, "others_share_majority_months")["details"]["as_published"]
