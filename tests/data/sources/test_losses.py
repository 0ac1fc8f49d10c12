"""Tests for the General Staff losses readers: daily JSON, monthly increments, quality."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hybridflow.data.sources.losses import (
    LossesQuality,
    losses_quality,
    monthly_increments,
    read_losses_daily,
)
from hybridflow.errors import InputError


def write_records(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def personnel_records() -> list[dict[str, Any]]:
    """25 Feb - 2 Apr 2022 with a gap (10-11 Mar) and a downward correction on 20 Mar."""
    recs: list[dict[str, Any]] = []
    value = 0
    for k, date in enumerate(pd.date_range("2022-02-25", "2022-04-02")):
        if date in (pd.Timestamp("2022-03-10"), pd.Timestamp("2022-03-11")):
            continue
        value += -5 if date == pd.Timestamp("2022-03-20") else 100
        rec: dict[str, Any] = {
            "date": f"{date:%Y-%m-%d}",
            "day": k + 2,
            "personnel": value,
            "personnel*": "more" if date == pd.Timestamp("2022-03-01") else "about",
        }
        if date <= pd.Timestamp("2022-03-30"):
            rec["POW"] = k
        recs.append(rec)
    return recs


@pytest.fixture
def synthetic(tmp_path: Path) -> pd.DataFrame:
    return read_losses_daily(write_records(tmp_path / "p.json", personnel_records()))


def test_daily_frame_shape_and_types(synthetic: pd.DataFrame) -> None:
    df = synthetic
    assert list(df.columns) == ["date", "personnel", "POW"]
    assert str(df["date"].dtype) == "datetime64[ns]"
    assert str(df["personnel"].dtype) == "Int64"
    assert df["date"].is_monotonic_increasing
    assert len(df) == 37 - 2
    assert df.attrs["dropped_fields"] == ["day", "personnel*"]
    assert df.attrs["personnel_lower_bound_dates"] == ["2022-03-01"]
    assert df["POW"].isna().sum() == 3  # 31 Mar - 2 Apr


def test_monthly_increments_from_origin(synthetic: pd.DataFrame) -> None:
    m = monthly_increments(synthetic, ["personnel"])
    assert list(m.columns) == [
        "month",
        "personnel",
        "n_reports",
        "days_covered",
        "last_report_date",
    ]
    assert m["month"].tolist() == [pd.Timestamp(f"2022-0{k}-01") for k in (2, 3, 4)]
    # Feb: 4 reports from 0 at the origin (23 Feb).
    assert m["personnel"].tolist() == [400, 28 * 100 - 5, 200]
    assert m["n_reports"].tolist() == [4, 29, 2]
    assert m["days_covered"].tolist() == [5, 31, 2]
    assert m["last_report_date"].tolist() == [
        pd.Timestamp("2022-02-28"),
        pd.Timestamp("2022-03-31"),
        pd.Timestamp("2022-04-02"),
    ]
    # Increments add back up to the last cumulative value.
    assert m["personnel"].sum() == synthetic["personnel"].iloc[-1]
    assert m.attrs["origin"] == "2022-02-23"


def test_monthly_increments_without_origin(synthetic: pd.DataFrame) -> None:
    m = monthly_increments(synthetic, ["personnel"], origin=None)
    assert pd.isna(m["personnel"].iloc[0])
    assert pd.isna(m["days_covered"].iloc[0])
    assert m["personnel"].iloc[1] == 2795


def test_far_origin_is_not_used_for_a_late_start(synthetic: pd.DataFrame) -> None:
    late = synthetic[synthetic["date"] >= "2022-03-05"]
    m = monthly_increments(late, ["personnel"])
    assert m.attrs["origin"] is None
    assert pd.isna(m["personnel"].iloc[0])


def test_field_missing_on_month_end_gives_na(synthetic: pd.DataFrame) -> None:
    m = monthly_increments(synthetic)
    # POW is not reported on 31 Mar or in April: both months are empty, Feb is from 0.
    assert m["POW"].iloc[0] == synthetic.loc[synthetic["date"] == "2022-02-28", "POW"].iloc[0]
    assert m["POW"].iloc[1:].isna().all()


def test_quality_lists_gaps_and_corrections(synthetic: pd.DataFrame) -> None:
    q = losses_quality(synthetic)
    assert isinstance(q, LossesQuality)
    assert q.missing_days == (pd.Timestamp("2022-03-10"), pd.Timestamp("2022-03-11"))
    assert q.corrections.to_dict("records") == [
        {"date": pd.Timestamp("2022-03-20"), "field": "personnel", "amount": -5}
    ]
    m = monthly_increments(synthetic, ["personnel"])
    assert m.attrs["quality"]["missing_days"] == ["2022-03-10", "2022-03-11"]
    assert m.attrs["quality"]["corrections"] == [
        {"date": "2022-03-20", "field": "personnel", "amount": -5}
    ]


def test_renamed_equipment_fields_are_spliced(tmp_path: Path) -> None:
    recs = [
        {"date": "2022-04-29", "day": 66, "tank": 5, "military auto": 10, "fuel tank": 2},
        {"date": "2022-04-30", "day": 67, "tank": 6, "military auto": 11, "fuel tank": 2},
        {"date": "2022-05-01", "day": 68, "tank": 6, "vehicles and fuel tanks": 15,
         "greatest losses direction": "Kharkiv"},
        {"date": "2022-05-02", "day": 69, "tank": 7, "vehicles and fuel tanks": 16},
    ]  # fmt: skip
    path = write_records(tmp_path / "e.json", recs)
    df = read_losses_daily(path)
    assert df["vehicles and fuel tanks"].tolist() == [12, 13, 15, 16]
    assert df["military auto"].tolist()[:2] == [10, 11]
    assert df["military auto"].isna().tolist() == [False, False, True, True]
    assert df.attrs["spliced"] == {"vehicles and fuel tanks": ["military auto", "fuel tank"]}
    assert "greatest losses direction" not in df
    assert "greatest losses direction" in df.attrs["dropped_fields"]
    raw = read_losses_daily(path, splice_renamed=False)
    assert raw["vehicles and fuel tanks"].isna().tolist() == [True, True, False, False]
    m = monthly_increments(df, ["vehicles and fuel tanks"], origin=None)
    assert m["vehicles and fuel tanks"].tolist()[1] == 16 - 13


@pytest.mark.parametrize(
    ("records", "pattern"),
    [
        ([{"date": "2022-02-25", "personnel": -1}], r"column '\[0\].personnel': .*got -1"),
        ([{"date": "2022-02-25", "personnel": 1.5}], r"got 1.5"),
        (
            [{"date": "2022-02-25", "personnel": 1}, {"date": "2022-02-26", "personnel": "abc"}],
            r"column '\[1\].personnel': expected a non-negative integer count, got 'abc'",
        ),
        ([{"date": "25.02.2022", "personnel": 1}], r"column '\[0\].date': expected a date"),
        ([{"date": "2022-02-30", "personnel": 1}], r"expected a date"),
        ([{"personnel": 1}], r"got None"),
        (
            [{"date": "2022-02-25", "personnel": 1}, {"date": "2022-02-25", "personnel": 2}],
            r"column '\[1\].date': date 2022-02-25 repeated",
        ),
        ([{"date": "2099-01-01", "personnel": 1}], r"in the future"),
        ({"date": "2022-02-25"}, r"expected a non-empty JSON list"),
    ],
)
def test_bad_records(tmp_path: Path, records: Any, pattern: str) -> None:
    path = write_records(tmp_path / "bad.json", records)
    with pytest.raises(InputError, match=pattern) as exc:
        read_losses_daily(path)
    assert str(exc.value).startswith(str(path))


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("[{", encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        read_losses_daily(path)


# ------------------------------------------------------------------------------- real data


def test_real_personnel_matches_derived_file(raw_dir: Path) -> None:
    daily = read_losses_daily(raw_dir / "losses" / "russia_losses_personnel.json")
    assert len(daily) == 1626
    assert (daily["date"].iloc[0], daily["date"].iloc[-1]) == (
        pd.Timestamp("2022-02-25"),
        pd.Timestamp("2026-08-08"),
    )
    m = monthly_increments(daily, ["personnel"])
    ref = pd.read_csv(raw_dir / "losses" / "russia_personnel_losses_monthly_derived.csv")
    assert m["month"].dt.strftime("%Y-%m").tolist() == ref["month"].tolist()
    assert m["personnel"].astype("int64").tolist() == ref["monthly_losses"].tolist()
    assert m["days_covered"].astype("int64").tolist() == ref["days_covered"].tolist()
    assert m["n_reports"].tolist() == ref["n_daily_reports"].tolist()
    assert (
        m["last_report_date"].dt.strftime("%Y-%m-%d").tolist() == ref["last_report_date"].tolist()
    )
    assert m["personnel"].iloc[0] == 5300
    q = m.attrs["quality"]
    assert q["missing_days"] == [] and q["corrections"] == []
    # Report's figure: "nearly 30,000 in Dec 2023, about double Sep 2023".
    dec23 = int(m.loc[m["month"] == "2023-12-01", "personnel"].iloc[0])
    assert 28_000 < dec23 < 31_000


def test_real_equipment_matches_derived_file(raw_dir: Path) -> None:
    path = raw_dir / "losses" / "russia_losses_equipment.json"
    m = monthly_increments(read_losses_daily(path, splice_renamed=False))
    ref = pd.read_csv(raw_dir / "losses" / "russia_equipment_losses_monthly_derived.csv")
    assert m["month"].dt.strftime("%Y-%m").tolist() == ref["month"].tolist()
    fields = [c for c in ref.columns if c != "month"]
    assert set(fields) <= set(m.columns)
    for c in fields:
        ours = m[c].astype("float64").to_numpy()
        np.testing.assert_array_equal(ours, ref[c].to_numpy(), err_msg=c)


def test_real_equipment_splice_and_corrections(raw_dir: Path) -> None:
    daily = read_losses_daily(raw_dir / "losses" / "russia_losses_equipment.json")
    m = monthly_increments(daily, ["vehicles and fuel tanks", "APC"])
    vft = m.set_index("month")["vehicles and fuel tanks"]
    assert vft.loc["2022-02-01"] == 291 + 60  # military auto + fuel tank
    assert vft.notna().all()
    q = losses_quality(daily)
    assert q.missing_days == ()
    rows = {
        (f"{r['date']:%Y-%m-%d}", r["field"]): r["amount"] for r in q.corrections.to_dict("records")
    }
    assert len(rows) == 13
    assert rows[("2022-10-13", "APC")] == -14
    assert rows[("2024-11-30", "special equipment")] == -83
