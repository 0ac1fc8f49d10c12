"""The Claim record and its constructor from a report figure."""

from __future__ import annotations

import math

import pytest

from hybridflow.analysis.replication import Claim, figure_claim
from hybridflow.data.report_figures import report_figure


def test_claim_rejects_unknown_status() -> None:
    with pytest.raises(ValueError, match="unknown status"):
        Claim(
            id="x",
            statement="",
            report_value=None,
            report_text="",
            our_value=None,
            our_text="",
            difference=None,
            tolerance=None,
            unit="",
            window="",
            grouping="",
            method="",
            cause="",
            status="close",
        )


def test_figure_claim_takes_the_figure_from_the_table() -> None:
    c = figure_claim(
        "eb_mean", 817.4, report_text="832/month", our_text="817.4", window="w", grouping="g",
        method="m",
    )  # fmt: skip
    assert (c.id, c.report_value, c.unit) == ("eb_mean", 832.0, "detections/month")
    assert c.statement == report_figure("eb_mean").statement
    assert c.difference == pytest.approx(817.4 - 832.0)
    assert c.tolerance == pytest.approx(41.6)
    assert c.status == "matches"  # within 5% of 832
    far = figure_claim(
        "eb_mean", 700.0, report_text="", our_text="", window="", grouping="", method=""
    )
    assert far.status == "differs"


def test_figure_claim_without_a_value_is_not_reproducible() -> None:
    for ours in (None, math.nan):
        c = figure_claim(
            "eb_mean", ours, report_text="", our_text="n/a", window="", grouping="", method=""
        )
        assert c.status == "not_reproducible"
        assert c.our_value is None and c.difference is None


def test_figure_without_tolerance_needs_a_stated_status() -> None:
    with pytest.raises(ValueError, match="no tolerance"):
        figure_claim(
            "attacks_2022", 584.0, report_text="", our_text="", window="", grouping="", method=""
        )
    c = figure_claim(
        "attacks_2022", 584.0, report_text="", our_text="", window="", grouping="", method="",
        status="not_reproducible",
    )  # fmt: skip
    assert c.difference == 564.0 and c.tolerance is None


def test_unknown_figure_id_is_refused() -> None:
    with pytest.raises(KeyError, match="no figure"):
        figure_claim("nope", 1.0, report_text="", our_text="", window="", grouping="", method="")
