"""Bring-your-own data files: readers, format detection and validation errors."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from hybridflow.data.byo import (
    ValidationSummary,
    detect_format,
    read_detections_csv,
    read_drivers_csv,
    read_events_csv,
    validate_file,
)
from hybridflow.data.events import catalogue_path, load_events
from hybridflow.errors import InputError

FRONTEX = "hybridflow.data.sources.frontex"


@pytest.fixture
def no_frontex(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend the Frontex module is absent: only ISO3 codes are accepted."""
    monkeypatch.setitem(sys.modules, FRONTEX, None)  # import now raises ImportError


@pytest.fixture
def fake_frontex(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in Frontex module with a small name -> ISO3 table."""
    module = types.ModuleType(FRONTEX)
    table = {"Syria": "SYR", "Afghanistan": "AFG", "Türkiye": "TUR", "Unknown": None}
    module.nationality_codes = lambda: dict(table)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, FRONTEX, module)


def _csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _assert_where(exc: pytest.ExceptionInfo[InputError], path: Path, row: int, column: str) -> str:
    msg = str(exc.value)
    assert msg.startswith(f"{path}, row {row}, column '{column}': "), msg
    assert exc.value.row == row and exc.value.column == column
    return msg


DETECTIONS = (
    "month,route,nationality,detections\n"
    "2023-09,Eastern Borders,SYR,10\n"
    "2023-08,Eastern Borders,SYR,412\n"
    "2023-08,Eastern Borders,AFG,97.0\n"
    "2023-08,Baltic,IRQ,0\n"
)


# --------------------------------------------------------------------------- detections


def test_read_detections_iso3(tmp_path: Path, no_frontex: None) -> None:
    df = read_detections_csv(_csv(tmp_path, "det.csv", DETECTIONS))
    assert list(df.columns) == ["month", "route", "nationality", "detections"]
    assert df["month"].dtype == "datetime64[ns]" and df["detections"].dtype == "int64"
    # Sorted by month, route, nationality.
    assert list(df.itertuples(index=False, name=None)) == [
        (pd.Timestamp("2023-08-01"), "Baltic", "IRQ", 0),
        (pd.Timestamp("2023-08-01"), "Eastern Borders", "AFG", 97),
        (pd.Timestamp("2023-08-01"), "Eastern Borders", "SYR", 412),
        (pd.Timestamp("2023-09-01"), "Eastern Borders", "SYR", 10),
    ]


def test_header_order_spaces_and_bom(tmp_path: Path, no_frontex: None) -> None:
    text = "\ufeffdetections, nationality ,route,month\n5,SYR,Eastern Borders,2024-01-15\n"
    df = read_detections_csv(_csv(tmp_path, "det.csv", text))
    assert df.loc[0, "month"] == pd.Timestamp("2024-01-01") and df.loc[0, "detections"] == 5


def test_names_mapped_through_frontex(tmp_path: Path, fake_frontex: None) -> None:
    text = (
        "month,route,nationality,detections\n"
        "2023-08,Eastern Borders,syria,4\n"
        "2023-08,Eastern Borders,Türkiye,2\n"
        "2023-08,Eastern Borders,AFG,1\n"
    )
    df = read_detections_csv(_csv(tmp_path, "det.csv", text))
    assert list(df["nationality"]) == ["AFG", "SYR", "TUR"]


def test_name_and_code_for_same_key_is_a_duplicate(tmp_path: Path, fake_frontex: None) -> None:
    text = "month,route,nationality,detections\n2023-08,E,SYR,4\n2023-08,E,Syria,2\n"
    path = _csv(tmp_path, "det.csv", text)
    with pytest.raises(InputError) as info:
        read_detections_csv(path)
    msg = _assert_where(info, path, 3, "nationality")
    assert "duplicate row" in msg and "already on row 2" in msg


@pytest.mark.parametrize(
    ("fixture", "value"),
    [
        ("no_frontex", "Syria"),
        ("no_frontex", "syr"),
        ("fake_frontex", "XYZ"),
        ("fake_frontex", "Unknown"),
    ],
)
def test_unknown_nationality(
    tmp_path: Path, request: pytest.FixtureRequest, fixture: str, value: str
) -> None:
    request.getfixturevalue(fixture)
    path = _csv(tmp_path, "det.csv", f"month,route,nationality,detections\n2023-08,E,{value},4\n")
    with pytest.raises(InputError) as info:
        read_detections_csv(path)
    assert f"unknown nationality '{value}'" in _assert_where(info, path, 2, "nationality")


def test_real_frontex_names_if_available(tmp_path: Path) -> None:
    frontex = pytest.importorskip(FRONTEX, reason="frontex source module not written yet")
    if not hasattr(frontex, "nationality_codes"):
        pytest.skip("frontex.nationality_codes not available yet")
    path = _csv(tmp_path, "det.csv", "month,route,nationality,detections\n2023-08,E,Syria,4\n")
    assert list(read_detections_csv(path)["nationality"]) == ["SYR"]


BAD_DETECTIONS = [
    # (cell to replace in row 3, new value, column, message fragment)
    ("412", "abc", "detections", "expected a non-negative whole number, got 'abc'"),
    ("412", "-3", "detections", "must not be negative"),
    ("412", "2.5", "detections", "expected a whole number"),
    ("412", "NaN", "detections", "missing value (NaN)"),
    ("412", "", "detections", "missing value (blank)"),
    ("412", "inf", "detections", "expected a finite count"),
    ("2023-08", "Aug 2023", "month", "expected a month as YYYY-MM"),
    ("2023-08", "2023-13", "month", "expected a month as YYYY-MM"),
    ("2023-08", "2099-01", "month", "is in the future"),
    ("2023-08", "", "month", "expected a month as YYYY-MM"),
    ("Eastern Borders", "", "route", "missing route name"),
    ("SYR", "", "nationality", "missing nationality"),
]


@pytest.mark.parametrize(("old", "new", "column", "fragment"), BAD_DETECTIONS)
def test_bad_detection_cells(
    tmp_path: Path, no_frontex: None, old: str, new: str, column: str, fragment: str
) -> None:
    lines = DETECTIONS.splitlines()
    cells = lines[2].split(",")
    cells[cells.index(old)] = new
    lines[2] = ",".join(cells)
    path = _csv(tmp_path, "det.csv", "\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        read_detections_csv(path)
    assert fragment in _assert_where(info, path, 3, column)


def test_duplicate_detection_key(tmp_path: Path, no_frontex: None) -> None:
    path = _csv(tmp_path, "det.csv", DETECTIONS + "2023-08,Eastern Borders,SYR,1\n")
    with pytest.raises(InputError) as info:
        read_detections_csv(path)
    msg = _assert_where(info, path, 6, "nationality")
    assert "month 2023-08, route 'Eastern Borders', nationality 'SYR' (already on row 3)" in msg


def test_renamed_and_extra_columns(tmp_path: Path, no_frontex: None) -> None:
    renamed = _csv(tmp_path, "renamed.csv", DETECTIONS.replace("detections\n", "count\n", 1))
    with pytest.raises(InputError) as info:
        read_detections_csv(renamed)
    msg = _assert_where(info, renamed, 1, "detections")
    assert "missing column 'detections'" in msg and "unexpected column(s): 'count'" in msg

    extra = _csv(
        tmp_path, "extra.csv", "month,route,nationality,detections,notes\n2023-08,E,SYR,1,x\n"
    )
    with pytest.raises(InputError) as info:
        read_detections_csv(extra)
    assert "unexpected column 'notes'" in _assert_where(info, extra, 1, "notes")

    twice = _csv(tmp_path, "twice.csv", "month,route,nationality,detections,month\n")
    with pytest.raises(InputError) as info:
        read_detections_csv(twice)
    assert "appears twice" in _assert_where(info, twice, 1, "month")


def test_short_row_and_empty_files(tmp_path: Path, no_frontex: None) -> None:
    short = _csv(tmp_path, "short.csv", "month,route,nationality,detections\n2023-08,E,SYR\n")
    with pytest.raises(InputError) as info:
        read_detections_csv(short)
    assert "expected 4 fields, found 3" in _assert_where(info, short, 2, "detections")

    header_only = _csv(tmp_path, "h.csv", "month,route,nationality,detections\n")
    with pytest.raises(InputError, match=r"h\.csv, row 2: no data rows"):
        read_detections_csv(header_only)
    with pytest.raises(InputError, match=r"e\.csv, row 1: file is empty"):
        read_detections_csv(_csv(tmp_path, "e.csv", ""))


# --------------------------------------------------------------------------- drivers

DRIVERS = (
    "month,driver,value\n"
    "2023-09,russian_losses,9500\n"
    "2023-08,russian_losses,9120\n"
    "2023-08,territory_change_km2,-35.5\n"
)


def test_read_drivers(tmp_path: Path) -> None:
    df = read_drivers_csv(_csv(tmp_path, "drv.csv", DRIVERS))
    assert list(df.columns) == ["month", "driver", "value"]
    assert df["value"].dtype == "float64"
    assert list(df.itertuples(index=False, name=None)) == [
        (pd.Timestamp("2023-08-01"), "russian_losses", 9120.0),
        (pd.Timestamp("2023-09-01"), "russian_losses", 9500.0),
        (pd.Timestamp("2023-08-01"), "territory_change_km2", -35.5),
    ]


@pytest.mark.parametrize(
    ("old", "new", "column", "fragment"),
    [
        ("9120", "lots", "value", "expected a number, got 'lots'"),
        ("9120", "nan", "value", "missing value (nan)"),
        ("9120", "", "value", "missing value (blank)"),
        ("9120", "-inf", "value", "expected a finite number"),
        ("2023-08", "2023/08", "month", "expected a month as YYYY-MM"),
        ("2023-08", "2999-08", "month", "is in the future"),
        ("russian_losses", "", "driver", "missing driver name"),
    ],
)
def test_bad_driver_cells(tmp_path: Path, old: str, new: str, column: str, fragment: str) -> None:
    lines = DRIVERS.splitlines()
    cells = lines[2].split(",")
    cells[cells.index(old)] = new
    lines[2] = ",".join(cells)
    path = _csv(tmp_path, "drv.csv", "\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        read_drivers_csv(path)
    assert fragment in _assert_where(info, path, 3, column)


def test_duplicate_driver_key_and_renamed_column(tmp_path: Path) -> None:
    dup = _csv(tmp_path, "dup.csv", DRIVERS + "2023-08-20,russian_losses,1\n")
    with pytest.raises(InputError) as info:
        read_drivers_csv(dup)
    assert "already on row 3" in _assert_where(info, dup, 5, "driver")

    renamed = _csv(tmp_path, "ren.csv", DRIVERS.replace("value\n", "amount\n", 1))
    with pytest.raises(InputError) as info:
        read_drivers_csv(renamed)
    assert "missing column 'value'" in _assert_where(info, renamed, 1, "value")


# --------------------------------------------------------------------------- detection & summary


def test_detect_format(tmp_path: Path) -> None:
    assert detect_format(_csv(tmp_path, "a.csv", DETECTIONS)) == "detections"
    assert detect_format(_csv(tmp_path, "b.csv", DRIVERS)) == "drivers"
    assert detect_format(catalogue_path()) == "events"
    # One renamed column: still recognised, so the reader can name what is missing.
    assert detect_format(_csv(tmp_path, "c.csv", "month,route,nationality,count\n")) == "detections"
    assert detect_format(_csv(tmp_path, "d.csv", "month,driver,amount\n")) == "drivers"
    unrelated = _csv(tmp_path, "e.csv", "date,country,n\n")
    with pytest.raises(InputError) as info:
        detect_format(unrelated)
    assert "cannot tell the format" in _assert_where(info, unrelated, 1, "country")


def test_validate_file_summaries(tmp_path: Path, no_frontex: None) -> None:
    det = validate_file(_csv(tmp_path, "det.csv", DETECTIONS))
    assert det == ValidationSummary(
        kind="detections",
        rows=4,
        first_month=pd.Timestamp("2023-08-01"),
        last_month=pd.Timestamp("2023-09-01"),
        routes=2,
        nationalities=3,
    )
    drv = validate_file(_csv(tmp_path, "drv.csv", DRIVERS), kind="drivers")
    assert (drv.kind, drv.rows, drv.drivers, drv.routes) == ("drivers", 3, 2, None)
    ev = validate_file(catalogue_path())
    assert (ev.kind, ev.rows, ev.events) == ("events", 131, 131)
    assert ev.first_month == pd.Timestamp("2016-01-01")
    assert ev.last_month == pd.Timestamp("2026-10-01")


def test_validation_summary_in_words_and_as_json(tmp_path: Path, no_frontex: None) -> None:
    det = validate_file(_csv(tmp_path, "det.csv", DETECTIONS))
    assert det.text() == (
        "detections file with 4 rows, months 2023-08..2023-09 (2 months), 2 routes, 3 nationalities"
    )
    assert det.to_dict() == {
        "kind": "detections",
        "rows": 4,
        "first_month": "2023-08",
        "last_month": "2023-09",
        "routes": 2,
        "nationalities": 3,
        "drivers": None,
        "events": None,
    }
    one = ValidationSummary(
        kind="drivers",
        rows=1,
        first_month=pd.Timestamp("2024-02-01"),
        last_month=pd.Timestamp("2024-02-01"),
        drivers=1,
    )
    assert one.text() == "drivers file with 1 row, months 2024-02..2024-02 (1 month), 1 driver"
    ev = validate_file(catalogue_path())
    assert ev.text() == "events file with 131 events, effective dates in 2016-01..2026-10"
    big = ValidationSummary(
        kind="detections",
        rows=284004,
        first_month=None,
        last_month=None,
        routes=9,
        nationalities=161,
    )
    assert big.text() == "detections file with 284,004 rows, 9 routes, 161 nationalities"
    assert big.to_dict()["first_month"] is None


def test_validate_file_errors(tmp_path: Path, no_frontex: None) -> None:
    renamed = _csv(tmp_path, "det.csv", DETECTIONS.replace("detections\n", "count\n", 1))
    with pytest.raises(InputError) as info:
        validate_file(renamed)
    _assert_where(info, renamed, 1, "detections")
    # An explicit kind that does not fit the file.
    with pytest.raises(InputError) as info:
        validate_file(_csv(tmp_path, "ok.csv", DETECTIONS), kind="drivers")
    assert "missing column 'driver'" in str(info.value)
    with pytest.raises(ValueError, match="unknown kind 'panel'"):
        validate_file(tmp_path / "ok.csv", kind="panel")


def test_read_events_csv_is_load_events(tmp_path: Path) -> None:
    pd.testing.assert_frame_equal(read_events_csv(catalogue_path()), load_events())
    bad = tmp_path / "ev.csv"
    bad.write_text(
        catalogue_path().read_text(encoding="utf-8").replace(",high,day,", ",sure,day,", 1)
    )
    with pytest.raises(InputError) as info:
        validate_file(bad)
    assert "unknown confidence 'sure'" in _assert_where(info, bad, 2, "confidence")
