"""Tests for the ACLED readers: country-month workbook, event-type CSV, event-level export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from hybridflow.data.sources.acled import (
    read_event_level_csv,
    read_event_type_monthly_csv,
    read_pv_country_month_xlsx,
)
from hybridflow.errors import InputError

PV_HEADER = ["COUNTRY", "MONTH", "YEAR", "EVENTS"]


def write_pv(path: Path, rows: list[list[Any]], header: list[str] = PV_HEADER) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def test_pv_workbook(tmp_path: Path) -> None:
    path = write_pv(
        tmp_path / "pv.xlsx",
        [
            ["Ukraine", "January", 2022, 500],
            ["Russia", "February", 2022, 12],
            ["Russia", "January", 2022, 10],
            ["Ukraine", "February", 2022, 900],
        ],
    )
    df = read_pv_country_month_xlsx(path)
    assert list(df.columns) == ["month", "country", "events"]
    assert str(df["month"].dtype) == "datetime64[ns]"
    assert str(df["events"].dtype) == "int64"
    assert df.values.tolist() == [
        [pd.Timestamp("2022-01-01"), "Russia", 10],
        [pd.Timestamp("2022-02-01"), "Russia", 12],
        [pd.Timestamp("2022-01-01"), "Ukraine", 500],
        [pd.Timestamp("2022-02-01"), "Ukraine", 900],
    ]
    assert df.attrs["last_month"] == "2022-02"
    assert df.attrs["partial_months"] == ["2022-02"]


@pytest.mark.parametrize(
    ("row", "pattern"),
    [
        (["Russia", "Janvier", 2022, 1], r"row 2, column 'MONTH': expected an English month name"),
        (["Russia", "January", 2022, -1], r"row 2, column 'EVENTS': .*got -1"),
        (["Russia", "January", 2022, "many"], r"column 'EVENTS': .*got 'many'"),
        (["Russia", "January", 2099, 1], r"column 'MONTH': month 2099-01 is in the future"),
        (["Russia", "January", "2022", 1], r"column 'YEAR'"),
        ([None, "January", 2022, 1], r"column 'COUNTRY': empty country"),
    ],
)
def test_pv_workbook_bad_rows(tmp_path: Path, row: list[Any], pattern: str) -> None:
    path = write_pv(tmp_path / "pv.xlsx", [row])
    with pytest.raises(InputError, match=pattern) as exc:
        read_pv_country_month_xlsx(path)
    assert str(exc.value).startswith(f"{path}, sheet 'Sheet'")


def test_pv_workbook_repeated_country_month(tmp_path: Path) -> None:
    path = write_pv(
        tmp_path / "pv.xlsx", [["Russia", "January", 2022, 1], ["Russia", "January", 2022, 2]]
    )
    with pytest.raises(InputError, match=r"row 3, column 'COUNTRY': Russia 2022-01 repeated"):
        read_pv_country_month_xlsx(path)


def test_pv_workbook_missing_columns(tmp_path: Path) -> None:
    path = write_pv(
        tmp_path / "pv.xlsx", [["Russia", "January", 1]], header=["COUNTRY", "MONTH", "N"]
    )
    with pytest.raises(InputError, match=r"row 1: missing columns 'YEAR', 'EVENTS'"):
        read_pv_country_month_xlsx(path)


def test_pv_workbook_not_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "pv.xlsx"
    path.write_text("COUNTRY,MONTH,YEAR,EVENTS\n")
    with pytest.raises(InputError, match="not a readable .xlsx workbook"):
        read_pv_country_month_xlsx(path)


# ------------------------------------------------------------------------------- CSVs


def test_event_type_monthly_csv(tmp_path: Path) -> None:
    path = tmp_path / "et.csv"
    path.write_text(
        "country,month,event_type,events,fatalities\n"
        "Russia,2022-02,Battles,3,10\n"
        "Russia,2022-01,Battles,1,0\n"
        "Ukraine,2022-01,Protests,7,0\n"
    )
    df = read_event_type_monthly_csv(path)
    assert list(df.columns) == ["month", "country", "event_type", "events", "fatalities"]
    assert df.values.tolist() == [
        [pd.Timestamp("2022-01-01"), "Russia", "Battles", 1, 0],
        [pd.Timestamp("2022-02-01"), "Russia", "Battles", 3, 10],
        [pd.Timestamp("2022-01-01"), "Ukraine", "Protests", 7, 0],
    ]


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("country,month,event_type,events\nRussia,2022-01,Battles,1\n", r"row 1: missing required columns 'fatalities'"),
        ("country,month,event_type,events,fatalities\nRussia,2022-13,Battles,1,0\n", r"row 2, column 'month'"),
        ("country,month,event_type,events,fatalities\nRussia,2022-01,Battles,x,0\n", r"row 2, column 'events': .*got 'x'"),
        ("country,month,event_type,events,fatalities\nRussia,2022-01,Battles,1,-2\n", r"row 2, column 'fatalities'"),
        (
            "country,month,event_type,events,fatalities\nRussia,2022-01,Battles,1,0\nRussia,2022-01,Battles,2,0\n",
            r"row 3, column 'event_type': country x month x event type repeated",
        ),
    ],
)  # fmt: skip
def test_event_type_monthly_csv_bad(tmp_path: Path, body: str, pattern: str) -> None:
    path = tmp_path / "et.csv"
    path.write_text(body)
    with pytest.raises(InputError, match=pattern):
        read_event_type_monthly_csv(path)


EVENTS_CSV = (
    "event_id_cnty,event_date,year,disorder_type,event_type,sub_event_type,actor1,country,admin1,fatalities\n"
    "RUS1,2023-05-14,2023,Political violence,Explosions/Remote violence,Air/drone strike,Military Forces of Ukraine,Russia,Belgorod,2\n"
    "RUS2,14 May 2023,2023,Political violence,Explosions/Remote violence,Air/drone strike,Military Forces of Ukraine,Russia,Kursk,0\n"
    "RUS3,2023-05-20,2023,Political violence,Explosions/Remote violence,Shelling/artillery/missile attack,Military Forces of Ukraine,Russia,Kursk,1\n"
    "RUS4,03 July 2023,2023,Political violence,Battles,Armed clash,Military Forces of Russia,Russia,Belgorod,5\n"
    "UKR1,2023-05-01,2023,Political violence,Battles,Armed clash,Military Forces of Russia,Ukraine,Donetsk,3\n"
)  # fmt: skip


def test_event_level_csv_aggregates_by_sub_event(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(EVENTS_CSV)
    df = read_event_level_csv(path, complete=False)
    assert list(df.columns) == [
        "month",
        "country",
        "event_type",
        "sub_event_type",
        "events",
        "fatalities",
    ]
    assert df.values.tolist() == [
        [pd.Timestamp("2023-07-01"), "Russia", "Battles", "Armed clash", 1, 5],
        [pd.Timestamp("2023-05-01"), "Russia", "Explosions/Remote violence", "Air/drone strike", 2, 2],
        [pd.Timestamp("2023-05-01"), "Russia", "Explosions/Remote violence", "Shelling/artillery/missile attack", 1, 1],
        [pd.Timestamp("2023-05-01"), "Ukraine", "Battles", "Armed clash", 1, 3],
    ]  # fmt: skip
    assert df.attrs["n_events"] == 5
    assert df.attrs["last_event_date"] == "2023-07-03"


def test_event_level_csv_complete_fills_zero_months(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(EVENTS_CSV)
    df = read_event_level_csv(path, sub_event=False)
    assert "sub_event_type" not in df
    # 3 country x event type combinations x 3 months (May-Jul 2023).
    assert len(df) == 9
    rus_ex = df[(df.country == "Russia") & (df.event_type == "Explosions/Remote violence")]
    assert rus_ex["events"].tolist() == [3, 0, 0]
    assert rus_ex["fatalities"].tolist() == [3, 0, 0]
    assert df["events"].sum() == 5
    assert df["fatalities"].sum() == 11


def test_event_level_csv_without_sub_event_column(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("event_date,event_type,country,fatalities\n2023-01-02,Battles,Russia,1\n")
    df = read_event_level_csv(path)
    assert list(df.columns) == ["month", "country", "event_type", "events", "fatalities"]
    assert df.values.tolist() == [[pd.Timestamp("2023-01-01"), "Russia", "Battles", 1, 1]]
    with pytest.raises(InputError, match="missing column 'sub_event_type'"):
        read_event_level_csv(path, sub_event=True)


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("event_date,country,fatalities\n2023-01-02,Russia,1\n", r"row 1: missing required columns 'event_type'"),
        ("event_date,event_type,country,fatalities\n2023/01/02,Battles,Russia,1\n", r"row 2, column 'event_date': expected a date"),
        ("event_date,event_type,country,fatalities\n2023-01-02,Battles,Russia,1\n31 February 2023,Battles,Russia,1\n", r"row 3, column 'event_date'"),
        ("event_date,event_type,country,fatalities\n2099-01-02,Battles,Russia,1\n", r"row 2, column 'event_date': date 2099-01-02 is in the future"),
        ("event_date,event_type,country,fatalities\n2023-01-02,Battles,Russia,-1\n", r"row 2, column 'fatalities'"),
        ("event_date,event_type,country,fatalities\n2023-01-02,,Russia,1\n", r"row 2, column 'event_type': empty value"),
    ],
)  # fmt: skip
def test_event_level_csv_bad(tmp_path: Path, body: str, pattern: str) -> None:
    path = tmp_path / "events.csv"
    path.write_text(body)
    with pytest.raises(InputError, match=pattern) as exc:
        read_event_level_csv(path)
    assert "\n" not in str(exc.value)


# ------------------------------------------------------------------------------- real data


@pytest.mark.parametrize(
    ("name", "suffix", "last"),
    [
        ("acled.xlsx", "mar2026", "2026-03"),
        ("number_of_political_violence_events_by_country-month-year_as-of-27Feb2026.xlsx", "27feb2026", "2026-02"),
    ],
)  # fmt: skip
def test_real_pv_workbooks_match_derived(raw_dir: Path, name: str, suffix: str, last: str) -> None:
    df = read_pv_country_month_xlsx(raw_dir / "acled" / name)
    assert df.attrs["last_month"] == last
    assert df.attrs["vintage"] == (None if name == "acled.xlsx" else "2026-02-27")
    assert df.attrs["partial_months"] == [last]
    assert df["country"].nunique() > 200
    ref = pd.read_csv(
        raw_dir / "acled" / "acled_political_violence_events_monthly_russia_ukraine_2021-2026.csv"
    )
    ref["month"] = pd.to_datetime(ref["month"])
    for country in ("Russia", "Ukraine"):
        ours = df[(df.country == country) & (df.month >= "2021-01-01")].set_index("month")["events"]
        theirs = ref.set_index("month")[f"{country.lower()}_pv_events_v_{suffix}"].dropna()
        assert ours.index.tolist() == theirs.index.tolist()
        assert ours.tolist() == theirs.astype("int64").tolist()


def test_real_event_type_csv(raw_dir: Path) -> None:
    df = read_event_type_monthly_csv(
        raw_dir / "acled" / "acled_events_by_event_type_monthly_russia_ukraine_2021-01_2024-09.csv"
    )
    assert len(df) == 540
    assert set(df["country"]) == {"Russia", "Ukraine"}
    assert df["event_type"].nunique() == 6
    assert (df["month"].min(), df["month"].max()) == (
        pd.Timestamp("2021-01-01"),
        pd.Timestamp("2024-09-01"),
    )
