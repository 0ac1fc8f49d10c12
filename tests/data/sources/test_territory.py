"""Tests for the territory readers and the monthly area/net-change summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hybridflow.data.sources.territory import (
    DEEPSTATE_SOURCES,
    monthly_area,
    read_deepstate_daily_csv,
    read_liveuamap_csv,
    read_nzz_json,
)
from hybridflow.errors import InputError

CY, DR = DEEPSTATE_SOURCES
DS_HEADER = "date,source,quality,area_total_occupied_km2,area_occupied_since_2022_km2\n"


def test_liveuamap_reader(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text("date,area\n2022-02-21 00:00:00,100.5\n2022-02-20 00:00:00,100\n")
    df = read_liveuamap_csv(path)
    assert list(df.columns) == ["date", "area_km2"]
    assert df["date"].tolist() == [pd.Timestamp("2022-02-20"), pd.Timestamp("2022-02-21")]
    assert df["area_km2"].tolist() == [100.0, 100.5]
    assert str(df["date"].dtype) == "datetime64[ns]"


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("day,area\n2022-02-20,1\n", r"row 1: missing required columns 'date'"),
        ("date,area\n2022-02-20,1\n2022-02-30,1\n", r"row 3, column 'date': expected a date"),
        ("date,area\n2022-02-20 12:00:00,1\n", r"row 2, column 'date'"),
        (
            "date,area\n2022-02-20,1\n2022-02-20,2\n",
            r"row 3, column 'date': date 2022-02-20 repeated",
        ),
        ("date,area\n2022-02-20,-5\n", r"row 2, column 'area': expected a non-negative area"),
        ("date,area\n2022-02-20,lots\n", r"got 'lots'"),
        ("date,area\n2099-02-20,1\n", r"in the future"),
    ],
)
def test_liveuamap_bad(tmp_path: Path, body: str, pattern: str) -> None:
    path = tmp_path / "l.csv"
    path.write_text(body)
    with pytest.raises(InputError, match=pattern):
        read_liveuamap_csv(path)


def test_deepstate_splice_prefers_cyterat_and_drops_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        DS_HEADER
        + f"2022-09-24,{DR},layer_structure_break_do_not_use,50,1\n"
        + f"2022-09-26,{DR},ok,100,1\n"
        + f"2024-07-08,{DR},ok,200,1\n"
        + f"2024-07-08,{CY},ok,190,\n"
        + f"2024-07-09,{CY},ok,191,\n"
    )
    df = read_deepstate_daily_csv(path)
    assert list(df.columns) == ["date", "area_km2", "source"]
    assert df["date"].dt.strftime("%Y-%m-%d").tolist() == ["2022-09-26", "2024-07-08", "2024-07-09"]
    assert df["area_km2"].tolist() == [100.0, 190.0, 191.0]
    assert df["source"].tolist() == [DR, CY, CY]
    assert df.attrs["dropped_rows"] == 1
    assert df.attrs["rows_by_source"] == {CY: 2, DR: 1}


def test_deepstate_unknown_source_and_repeats(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(DS_HEADER + "2022-09-26,someone/else,ok,1,1\n")
    with pytest.raises(InputError, match=r"row 2, column 'source': unknown source 'someone/else'"):
        read_deepstate_daily_csv(path)
    path.write_text(DS_HEADER + f"2022-09-26,{DR},ok,1,1\n2022-09-26,{DR},ok,2,1\n")
    with pytest.raises(InputError, match=r"row 3, column 'date': date 2022-09-26 repeated"):
        read_deepstate_daily_csv(path)
    path.write_text(DS_HEADER + f"2022-09-26,{DR},ok,,1\n")
    with pytest.raises(InputError, match=r"row 2, column 'area_total_occupied_km2'"):
        read_deepstate_daily_csv(path)


def test_nzz_reader(tmp_path: Path) -> None:
    path = tmp_path / "n.json"
    path.write_text(json.dumps({"2022-02-25T00:00:00.000": 2.5, "2022-02-24T00:00:00.000": 1.0}))
    df = read_nzz_json(path)
    assert df["date"].tolist() == [pd.Timestamp("2022-02-24"), pd.Timestamp("2022-02-25")]
    assert df["area_km2"].tolist() == [1.0, 2.5]
    path.write_text(json.dumps({"yesterday": 1.0}))
    with pytest.raises(InputError, match=r"column 'yesterday': expected an ISO date key"):
        read_nzz_json(path)
    path.write_text(json.dumps({"2022-02-24": "x"}))
    with pytest.raises(InputError, match=r"got 'x'"):
        read_nzz_json(path)


def daily(values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"date": pd.to_datetime(list(values)), "area_km2": list(values.values())})


def test_monthly_area_uses_last_day_and_origin() -> None:
    d = daily(
        {
            "2022-02-20": 100.0,
            "2022-02-23": 110.0,
            "2022-02-28": 150.0,
            "2022-03-15": 170.0,
            "2022-03-30": 160.0,
            "2022-05-02": 200.0,
        }
    )
    m = monthly_area(d, "liveuamap")
    assert list(m.columns) == ["month", "tracker", "area_end_km2", "net_change_km2", "last_obs"]
    assert m["month"].dt.strftime("%Y-%m").tolist() == ["2022-02", "2022-03", "2022-04", "2022-05"]
    assert set(m["tracker"]) == {"liveuamap"}
    np.testing.assert_array_equal(m["area_end_km2"], [150.0, 160.0, np.nan, 200.0])
    # Feb from the eve of the invasion (110 on 23 Feb); May has no April value to compare with.
    np.testing.assert_array_equal(m["net_change_km2"], [40.0, 10.0, np.nan, np.nan])
    assert m["last_obs"].dt.strftime("%Y-%m-%d").fillna("").tolist() == [
        "2022-02-28",
        "2022-03-30",
        "",
        "2022-05-02",
    ]
    assert m.attrs["baseline_date"] == "2022-02-23"
    no_origin = monthly_area(d, "liveuamap", origin=None)
    assert np.isnan(no_origin["net_change_km2"].iloc[0])


def test_monthly_area_origin_needs_an_observation() -> None:
    m = monthly_area(daily({"2022-02-24": 1.0, "2022-02-28": 5.0, "2022-03-31": 7.0}), "nzz")
    assert np.isnan(m["net_change_km2"].iloc[0])
    assert m["net_change_km2"].iloc[1] == 2.0


# ------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def derived(raw_dir: Path) -> pd.DataFrame:
    ref = pd.read_csv(raw_dir / "territory" / "territory_monthly_net_change_derived.csv")
    ref["month"] = pd.to_datetime(ref["month"])
    return ref


def _compare(ours: pd.DataFrame, ref: pd.DataFrame, prefix: str) -> pd.DataFrame:
    both = ref.merge(ours, on="month", how="inner")
    has = both[f"{prefix}_last_obs"].notna()
    assert has.sum() > 0
    both = both[has]
    # The derived file is rounded to 0.1 km².
    np.testing.assert_allclose(both["area_end_km2"], both[f"{prefix}_area_end_km2"], atol=0.051)
    np.testing.assert_allclose(
        both["net_change_km2"], both[f"{prefix}_net_change_km2"], atol=0.101, equal_nan=True
    )
    assert (both["last_obs"].dt.strftime("%Y-%m-%d") == both[f"{prefix}_last_obs"]).all()
    return both


def test_real_liveuamap_matches_derived(raw_dir: Path, derived: pd.DataFrame) -> None:
    d = read_liveuamap_csv(raw_dir / "territory" / "liveuamap_territory.csv")
    assert len(d) == 1062
    m = monthly_area(d, "liveuamap")
    both = _compare(m, derived, "liveuamap")
    assert len(both) == 36  # 2022-02 .. 2025-01
    feb = m.set_index("month").loc["2022-02-01"]
    assert feb["net_change_km2"] == pytest.approx(84926.106 - 42980.991)


def test_real_deepstate_matches_derived(raw_dir: Path, derived: pd.DataFrame) -> None:
    d = read_deepstate_daily_csv(
        raw_dir / "territory" / "deepstate_occupied_area_daily_derived.csv"
    )
    assert d["date"].min() == pd.Timestamp("2022-09-26")
    assert d.attrs["dropped_rows"] == 162
    # From 2024-07-08 cyterat wins wherever it exists; DanielRose fills its 5 missing days.
    late = d[d["date"] >= "2024-07-08"]
    filled = late.loc[late["source"] == DR, "date"].dt.strftime("%Y-%m-%d").tolist()
    assert filled == ["2024-08-18", "2024-08-19", "2025-01-01", "2025-03-31", "2025-04-01"]
    assert d.attrs["rows_by_source"] == {CY: 769, DR: 586}
    m = monthly_area(d, "deepstate")
    both = _compare(m, derived, "deepstate")
    assert both["month"].min() == pd.Timestamp("2022-09-01")
    assert np.isnan(m["net_change_km2"].iloc[0])


def test_real_nzz(raw_dir: Path) -> None:
    d = read_nzz_json(raw_dir / "territory" / "nzz_area_occupied.json")
    assert len(d) == 384
    assert d["area_km2"].iloc[0] == pytest.approx(30619.84572184)
