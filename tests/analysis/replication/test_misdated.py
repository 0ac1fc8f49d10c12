"""The report's mis-dated sanctions rounds."""

from __future__ import annotations

import pandas as pd
import pytest

from hybridflow.analysis.replication import misdated_rounds, report_sanctions_dates


def test_report_sanctions_dates_table() -> None:
    table = report_sanctions_dates()
    assert list(table.columns) == [
        "report_table",
        "report_label",
        "report_month",
        "event_id",
        "note",
    ]
    assert set(table["event_id"]) == {"EU-RU-05", "EU-RU-06", "US-17", "US-22", ""}
    assert all(len(m) == 7 for m in table["report_month"])


def test_misdated_rounds_on_a_synthetic_catalogue() -> None:
    events = pd.DataFrame(
        {
            "event_id": ["EU-RU-05", "EU-RU-06", "US-17", "US-22"],
            "kind": ["sanctions_package", "sanctions_package", "sanctions_action", "bill"],
            "direction": ["tighten", "tighten", "tighten", "none"],
            "effective_date": pd.to_datetime(["2022-04-08", "2022-03-20", "2024-02-23", None]),
            "announced_date": pd.to_datetime([None, None, None, "2025-04-01"]),
        }
    )
    out = misdated_rounds(events).set_index("report_label")
    assert out.loc["5th package", "issue"] == "wrong month"
    assert out.loc["5th package", "months_off"] == 1
    assert out.loc["5th package", "catalogue_date"] == "2022-04-08"
    assert out.loc["6th package", "issue"] == "consistent"  # this stand-in agrees
    assert out.loc["Mar 2024 action", "months_off"] == -1
    assert out.loc["Sanctioning Russia Act", "issue"] == "not a sanction"
    assert out.loc["Sanctioning Russia Act", "catalogue_date"] == "2025-04-01"
    assert out.loc["Feb 2025 action", "issue"] == "no matching action"
    missing = misdated_rounds(events.iloc[:1]).set_index("report_label")
    assert missing.loc["6th package", "issue"] == "not in catalogue"
    assert (misdated_rounds(None)["issue"].iloc[0]) == "catalogue not given"


def test_misdated_rounds_with_the_packaged_catalogue() -> None:
    events_mod = pytest.importorskip("hybridflow.data.events")
    out = misdated_rounds(events_mod.load_events()).set_index("event_id")
    assert out.loc["EU-RU-05", "catalogue_date"] == "2022-04-08"
    assert out.loc["EU-RU-06", "catalogue_date"] == "2022-06-03"
    assert out.loc["EU-RU-06", "months_off"] == 3
    assert out.loc["US-17", "catalogue_date"] == "2024-02-23"
    assert out.loc["US-22", "issue"] == "not a sanction"
    issues = set(out["issue"])
    assert "consistent" not in issues
