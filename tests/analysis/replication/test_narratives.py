"""Narratives: before/after means and their seasonal benchmark."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from hybridflow.analysis.replication import before_after


def test_before_after_and_seasonal_benchmark() -> None:
    months = pd.date_range("2022-01-01", periods=36, freq="MS")
    s = pd.Series(100.0, index=months)
    s.loc["2024-01-01":] = 150.0
    out = before_after(s, "2023-12", "2024-01", k=3)
    assert out["before"] == 100 and out["after"] == 150
    assert out["change_pct"] == pytest.approx(50.0)
    assert out["before_window"] == "2023-10 to 2023-12"
    assert out["after_window"] == "2024-01 to 2024-03"
    assert out["seasonal_benchmark_pct"] == pytest.approx(0.0)
    assert math.isnan(before_after(s, "2024-12", "2025-01")["change_pct"])  # beyond the data
