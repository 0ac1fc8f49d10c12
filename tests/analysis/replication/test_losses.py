"""The losses claims on the embedded snapshot."""

from __future__ import annotations

import pandas as pd

from tests.analysis.replication._panels import claim_row


def test_real_losses(real: object) -> None:
    assert claim_row(real, "losses_dec_2023")["status"] == "matches"
    assert claim_row(real, "losses_dec_vs_sep_2023")["status"] == "matches"
    cum = claim_row(real, "losses_cumulative_300k")
    assert "2023-10" in cum["our_text"] and cum["status"] == "matches"
    assert pd.isna(cum["difference"])  # a month is claimed, not an amount
