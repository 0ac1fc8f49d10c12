"""The attacks claims and the rise of encounters, on the embedded snapshot."""

from __future__ import annotations

from tests.analysis.replication._panels import claim_row


def test_real_growth_and_attacks(real: object) -> None:
    assert 190 < claim_row(real, "encounters_rise_2023_2024")["our_value"] < 210
    assert claim_row(real, "attacks_2022")["status"] == "not_reproducible"
