"""Tests for the Frontex IBC readers: workbook, route-total JSON, nationality/revision tables."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from hybridflow.data.sources import frontex
from hybridflow.data.sources.frontex import (
    UKRRUSSBEL,
    RevisionWarning,
    ibc_vintage,
    nationality_codes,
    nationality_label,
    nationality_names,
    read_ibc_workbook,
    read_route_totals_json,
    revisions_table,
)
from hybridflow.errors import InputError

HEADER = ["Route", "Border type or inland", "Nationality"]
EB = "Eastern Borders Route"


def write_ibc(
    path: Path,
    rows: list[list[Any]],
    *,
    months: tuple[str, ...] = ("JAN2009", "FEB2009"),
    header: list[str] | None = None,
    title_rows: int = 0,
    sheet: str = "Detections_of_IBC",
    notes: str | None = "Source: FRAN data as of 03JUN25",
) -> Path:
    """A small Frontex-like workbook: optional title rows, header, data rows, Notes sheet."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for i in range(title_rows):
        ws.append([f"Detections of illegal border-crossings, title line {i + 1}"])
    ws.append((header or HEADER) + list(months))
    for row in rows:
        ws.append(row)
    if notes is not None:
        wb.create_sheet("Notes").append([notes])
    wb.save(path)
    return path


def one_line(exc: pytest.ExceptionInfo[InputError]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ibc") / "small.xlsx"
    return write_ibc(
        path,
        [
            [EB, "Land", "Syria", 3, 4],
            [EB, "Land", "Russia", 1, 0],
            ["Central Mediterranean Route", "Sea", "Türkiye", 7, 8],
            ["Central Mediterranean Route", "Sea", "Kosovo*", 0, 2],
        ],
    )


# ------------------------------------------------------------------------------- workbook: good


def test_small_workbook_is_long_and_typed(small: Path) -> None:
    df = read_ibc_workbook(small)
    assert list(df.columns) == [
        "month",
        "route",
        "border_type",
        "nationality",
        "nationality_name",
        "detections",
        "revised",
        "original_detections",
    ]
    assert len(df) == 4 * 2
    assert df["original_detections"].isna().all()
    assert str(df["month"].dtype) == "datetime64[ns]"
    assert str(df["detections"].dtype) == "int64"
    assert set(df["month"]) == {pd.Timestamp("2009-01-01"), pd.Timestamp("2009-02-01")}
    syr = df[(df.route == EB) & (df.nationality == "SYR")].set_index("month")["detections"]
    assert syr.to_dict() == {pd.Timestamp("2009-01-01"): 3, pd.Timestamp("2009-02-01"): 4}
    tur = df[df.nationality == "TUR"]
    assert set(tur["nationality_name"]) == {"Türkiye"}
    assert tur["detections"].tolist() == [7, 8]
    assert set(df[df.nationality_name == "Kosovo*"]["nationality"]) == {"XKX"}
    assert not df["revised"].any()
    assert df.attrs["vintage"] == "2025-06-03"
    assert df.attrs["header_row"] == 1
    assert df.attrs["revisions"] == []


def test_header_in_row_two_after_title_row(tmp_path: Path) -> None:
    rows = [[EB, "Land", "Afghanistan", 5, 6]]
    one = read_ibc_workbook(write_ibc(tmp_path / "a.xlsx", rows))
    two = read_ibc_workbook(write_ibc(tmp_path / "b.xlsx", rows, title_rows=1))
    three = read_ibc_workbook(write_ibc(tmp_path / "c.xlsx", rows, title_rows=2))
    assert two.attrs["header_row"] == 2
    assert three.attrs["header_row"] == 3
    pd.testing.assert_frame_equal(one, two)
    pd.testing.assert_frame_equal(one, three)


def test_column_order_is_found_by_header_cells(tmp_path: Path) -> None:
    path = write_ibc(
        tmp_path / "x.xlsx",
        [["Syria", EB, "Land", 9, 1]],
        header=["Nationality", "Route", "Border type or inland"],
    )
    df = read_ibc_workbook(path)
    assert df[["route", "border_type", "nationality"]].drop_duplicates().values.tolist() == [
        [EB, "Land", "SYR"]
    ]
    assert df["detections"].tolist() == [9, 1]


def test_footer_note_row_is_skipped_and_gives_vintage(tmp_path: Path) -> None:
    path = write_ibc(
        tmp_path / "x.xlsx",
        [[EB, "Land", "Iraq", 1, 2], [], ["Source: FRAN data as of 04AUG26"]],
        notes=None,
    )
    df = read_ibc_workbook(path)
    assert len(df) == 2
    assert df.attrs["vintage"] == "2026-08-04"
    assert df.attrs["note_rows"] == [{"row": 4, "text": "Source: FRAN data as of 04AUG26"}]


def test_ibc_vintage(small: Path, tmp_path: Path) -> None:
    assert ibc_vintage(small) == "2025-06-03"
    assert (
        ibc_vintage(write_ibc(tmp_path / "n.xlsx", [[EB, "Land", "Iraq", 1, 2]], notes=None))
        is None
    )


def test_blank_cell_is_error_unless_zero_requested(tmp_path: Path) -> None:
    path = write_ibc(tmp_path / "x.xlsx", [[EB, "Land", "Iraq", 1, None]])
    with pytest.raises(InputError, match=r"row 2, column 'FEB2009': blank cell") as exc:
        read_ibc_workbook(path)
    one_line(exc)
    df = read_ibc_workbook(path, blank="zero")
    assert df["detections"].tolist() == [1, 0]
    assert df.attrs["blank_cells"] == 1


def test_extra_codes_extend_the_table(tmp_path: Path) -> None:
    path = write_ibc(tmp_path / "x.xlsx", [[EB, "Land", "Atlantis", 1, 2]])
    df = read_ibc_workbook(path, extra_codes={"Atlantis": "XAT"})
    assert set(df["nationality"]) == {"XAT"}


def test_number_stored_as_text_is_accepted(tmp_path: Path) -> None:
    path = write_ibc(tmp_path / "x.xlsx", [[EB, "Land", "Iraq", "12", 2.0]])
    assert read_ibc_workbook(path)["detections"].tolist() == [12, 2]


# ------------------------------------------------------------------------------- workbook: bad


def test_truncated_workbook(small: Path, tmp_path: Path) -> None:
    data = small.read_bytes()
    bad = tmp_path / "truncated.xlsx"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="not a readable .xlsx workbook") as exc:
        read_ibc_workbook(bad)
    assert one_line(exc).startswith(str(bad))


def test_csv_renamed_to_xlsx(tmp_path: Path) -> None:
    bad = tmp_path / "ibc.xlsx"
    bad.write_text("Route,Border type or inland,Nationality,JAN2009\nX,Land,Syria,1\n")
    with pytest.raises(InputError, match=r"not a readable .xlsx workbook.*CSV") as exc:
        read_ibc_workbook(bad)
    one_line(exc)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_ibc_workbook(tmp_path / "nope.xlsx")


def test_renamed_header_names_the_expected_column(tmp_path: Path) -> None:
    path = write_ibc(
        tmp_path / "x.xlsx",
        [[EB, "Land", "Syria", 1, 2]],
        header=["Route", "Border type or inland", "Citizenship"],
    )
    with pytest.raises(InputError) as exc:
        read_ibc_workbook(path)
    msg = one_line(exc)
    assert "sheet 'Detections_of_IBC', row 1" in msg
    assert "header row lacks 'Nationality'" in msg
    assert "'Citizenship'" in msg


def test_missing_sheet_lists_sheets_found(tmp_path: Path) -> None:
    path = write_ibc(tmp_path / "x.xlsx", [[EB, "Land", "Syria", 1, 2]], sheet="Data")
    with pytest.raises(InputError) as exc:
        read_ibc_workbook(path)
    msg = one_line(exc)
    assert "sheet 'Detections_of_IBC'" in msg
    assert "sheets found: 'Data', 'Notes'" in msg


def test_non_numeric_count(tmp_path: Path) -> None:
    path = write_ibc(
        tmp_path / "x.xlsx", [[EB, "Land", "Syria", 1, 2], [EB, "Land", "Iraq", 1, "abc"]]
    )
    with pytest.raises(InputError) as exc:
        read_ibc_workbook(path)
    assert one_line(exc) == (
        f"{path}, sheet 'Detections_of_IBC', row 3, column 'FEB2009': "
        "expected a non-negative integer count, got 'abc'"
    )


def test_fractional_count(tmp_path: Path) -> None:
    path = write_ibc(tmp_path / "x.xlsx", [[EB, "Land", "Syria", 1.5, 2]])
    with pytest.raises(InputError, match=r"row 2, column 'JAN2009': .*got 1.5"):
        read_ibc_workbook(path)


def test_negative_count(tmp_path: Path) -> None:
    path = write_ibc(tmp_path / "x.xlsx", [[EB, "Land", "Syria", -3, 2]])
    with pytest.raises(InputError, match=r"row 2, column 'JAN2009': .*got -3 \(negative\)") as exc:
        read_ibc_workbook(path)
    one_line(exc)


def test_duplicate_row(tmp_path: Path) -> None:
    path = write_ibc(
        tmp_path / "x.xlsx",
        [[EB, "Land", "Syria", 1, 2], [EB, "Land", "Iraq", 1, 2], [EB, "Land", "Syria", 5, 5]],
    )
    with pytest.raises(InputError) as exc:
        read_ibc_workbook(path)
    msg = one_line(exc)
    assert "row 4, column 'Nationality'" in msg
    assert "duplicate row" in msg
    assert "first seen in row 2" in msg


def test_two_names_for_one_code_are_a_duplicate(tmp_path: Path) -> None:
    path = write_ibc(
        tmp_path / "x.xlsx", [[EB, "Land", "Turkey", 1, 2], [EB, "Land", "Türkiye", 1, 2]]
    )
    with pytest.raises(InputError, match=r"row 3, column 'Nationality': .*maps to TUR.*row 2"):
        read_ibc_workbook(path)


def test_unknown_nationality_names_row_and_value(tmp_path: Path) -> None:
    path = write_ibc(
        tmp_path / "x.xlsx", [[EB, "Land", "Syria", 1, 2], [EB, "Land", "Atlantis", 1, 2]]
    )
    with pytest.raises(InputError) as exc:
        read_ibc_workbook(path)
    msg = one_line(exc)
    assert msg.startswith(f"{path}, sheet 'Detections_of_IBC', row 3, column 'Nationality': ")
    assert "unknown nationality 'Atlantis'" in msg


def test_unparseable_month_label(tmp_path: Path) -> None:
    path = write_ibc(
        tmp_path / "x.xlsx", [[EB, "Land", "Syria", 1, 2]], months=("JAN2019", "FOO2019")
    )
    with pytest.raises(InputError) as exc:
        read_ibc_workbook(path)
    msg = one_line(exc)
    assert "row 1, column 'FOO2019'" in msg
    assert "expected a month column labelled like 'JAN2009'" in msg


def test_future_month_label(tmp_path: Path) -> None:
    path = write_ibc(
        tmp_path / "x.xlsx", [[EB, "Land", "Syria", 1, 2]], months=("JAN2019", "JAN2099")
    )
    with pytest.raises(
        InputError, match=r"row 1, column 'JAN2099': month 2099-01 is in the future"
    ):
        read_ibc_workbook(path)


def test_duplicate_month_label(tmp_path: Path) -> None:
    path = write_ibc(
        tmp_path / "x.xlsx", [[EB, "Land", "Syria", 1, 2]], months=("JAN2019", "jan2019")
    )
    with pytest.raises(InputError, match=r"column 'jan2019': month 2019-01 appears twice"):
        read_ibc_workbook(path)


def test_empty_id_cell_in_data_row(tmp_path: Path) -> None:
    path = write_ibc(tmp_path / "x.xlsx", [[EB, None, "Syria", 1, 2]])
    with pytest.raises(InputError, match=r"row 2, column 'Border type or inland': empty"):
        read_ibc_workbook(path)


# ------------------------------------------------------------------------------- revisions


def _apr2025(tmp_path: Path, unknown: int) -> Path:
    return write_ibc(
        tmp_path / f"apr{unknown}.xlsx",
        [[EB, "Land", "Unknown", 0, unknown], [EB, "Land", "Ukraine", 10, 567]],
        months=("MAR2025", "APR2025"),
    )


def test_known_provisional_value_is_revised_visibly(tmp_path: Path) -> None:
    path = _apr2025(tmp_path, 2388)
    with pytest.warns(RevisionWarning, match=r"2025-04, Eastern Borders Route, XUN: 2388 -> 0"):
        df = read_ibc_workbook(path)
    row = df[(df.month == "2025-04-01") & (df.nationality == "XUN")]
    assert row["detections"].tolist() == [0]
    assert row["revised"].tolist() == [True]
    assert row["original_detections"].tolist() == [2388]
    assert int(df["original_detections"].notna().sum()) == 1
    assert int(df["revised"].sum()) == 1
    assert df[df.month == "2025-04-01"]["detections"].sum() == 567
    (rev,) = df.attrs["revisions"]
    assert (rev["original"], rev["revised"], rev["border_type"]) == (2388, 0, "Land")


def test_revisions_can_be_turned_off(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_ibc_workbook(_apr2025(tmp_path, 2388), apply_revisions=False)
    assert df[df.month == "2025-04-01"]["detections"].sum() == 2955
    assert not df["revised"].any()
    assert df.attrs["revisions"] == []


def test_revision_not_applied_when_file_differs(tmp_path: Path) -> None:
    with pytest.warns(RevisionWarning, match="file holds 12, not the table's original 2388"):
        df = read_ibc_workbook(_apr2025(tmp_path, 12))
    assert df[(df.month == "2025-04-01") & (df.nationality == "XUN")]["detections"].tolist() == [12]
    assert not df["revised"].any()
    assert df.attrs["skipped_revisions"][0]["found"] == 12


def test_revisions_table_shape() -> None:
    table = revisions_table()
    assert list(table.columns) == [
        "source",
        "month",
        "route",
        "nationality",
        "original",
        "revised",
        "reason",
        "reference",
    ]
    row = table.iloc[0]
    assert (row["month"], row["route"], row["nationality"]) == (
        pd.Timestamp("2025-04-01"),
        EB,
        "XUN",
    )
    assert (row["original"], row["revised"]) == (2388, 0)


# ------------------------------------------------------------------------------- nationality table


def test_nationality_table_codes() -> None:
    codes = nationality_codes()
    expected = {
        "Unknown": "XUN",
        "Stateless": "XXA",
        "Unspecified sub-Saharan nationals": "XSS",
        "Third-country": "XTC",
        "Kosovo*": "XKX",
        "Palestine^": "PSE",
        "Türkiye": "TUR",
        "Turkey": "TUR",
        "Swaziland": "SWZ",
        "Congo (Brazzaville)": "COG",
        "Congo (Kinshasa)": "COD",
        "Hong Kong": "HKG",
        "Macao": "MAC",
        "Taiwan": "TWN",
        "Western Sahara": "ESH",
        "Gibraltar": "GIB",
        "Russia": "RUS",
        "Ukraine": "UKR",
        "Belarus": "BLR",
        "Syria": "SYR",
    }
    assert {k: codes[k] for k in expected} == expected
    assert all(re.fullmatch(r"[A-Z]{3}", c) for c in codes.values())
    assert UKRRUSSBEL == ("UKR", "RUS", "BLR")


def test_nationality_table_notes_document_non_iso_codes() -> None:
    table = pd.read_csv(
        Path(frontex.__file__).parents[1] / "tables" / "nationalities.csv", keep_default_na=False
    )
    assert table["name"].is_unique
    user_assigned = table[table["iso3"].str.startswith("X")]
    assert (user_assigned["note"].str.len() > 0).all()
    assert set(user_assigned["iso3"]) >= {"XUN", "XXA", "XSS", "XTC", "XKX"}


def test_every_code_has_one_plain_english_label() -> None:
    table = pd.read_csv(
        Path(frontex.__file__).parents[1] / "tables" / "nationalities.csv", keep_default_na=False
    )
    assert (table["label"].str.strip().str.len() > 0).all()
    # Every spelling of a code carries the same label, free of Frontex's footnote marks.
    assert (table.groupby("iso3")["label"].nunique() == 1).all()
    assert not table["label"].str.contains(r"[*^]").any()
    names = nationality_names()
    assert set(names) == set(table["iso3"])
    assert names["TUR"] == "Türkiye" and names["XKX"] == "Kosovo" and names["PSE"] == "Palestine"


def test_nationality_label_names_countries_and_non_countries() -> None:
    assert nationality_label("SYR") == "Syria (SYR)"
    assert nationality_label("COD") == "DR Congo (COD)"
    # Codes that are not countries get readable labels too.
    assert nationality_label("XUN") == "Unknown (XUN)"
    assert nationality_label("XXA") == "Stateless (XXA)"
    assert nationality_label("XXX") == "Not specified (XXX)"
    assert nationality_label("XSS") == "Unspecified sub-Saharan national (XSS)"
    assert nationality_label("QQQ") == "QQQ"  # not in the table: the code as it is


def test_every_panel_nationality_has_a_label() -> None:
    from hybridflow.data.panel import load_panel

    codes = [str(c) for c in load_panel()["nationality"].values]
    assert all(nationality_label(c) != c for c in codes)


# ------------------------------------------------------------------------------- route JSON


def write_json(path: Path, monthly: dict[str, Any]) -> Path:
    doc = {"source": "test", "retrieved": "2026-08-06", "data": {"monthly": monthly, "annual": []}}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_route_json_drops_note_keys_and_records_vintage(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "f.json",
        {
            EB: [{"m": "2025-03", "v": 400}, {"m": "2025-04", "v": 567}],
            "Source: FRAN data as of 04AUG26": [{"m": "2025-03", "v": 0}, {"m": "2025-04", "v": 0}],
        },
    )
    df = read_route_totals_json(path)
    assert list(df.columns) == ["month", "route", "detections"]
    assert df["route"].unique().tolist() == [EB]
    assert df["detections"].tolist() == [400, 567]
    assert df["month"].tolist() == [pd.Timestamp("2025-03-01"), pd.Timestamp("2025-04-01")]
    assert df.attrs["vintage"] == "2026-08-04"
    assert df.attrs["dropped_keys"] == ["Source: FRAN data as of 04AUG26"]


@pytest.mark.parametrize(
    ("entry", "pattern"),
    [
        ({"m": "2025-13", "v": 1}, r"column 'data.monthly\['Eastern Borders Route'\]\[0\].m'"),
        ({"m": "2099-01", "v": 1}, r"in the future"),
        ({"m": "2025-01", "v": -1}, r"\[0\].v': expected a non-negative integer count, got -1"),
        ({"m": "2025-01", "v": "x"}, r"got 'x'"),
        ({"month": "2025-01"}, r"expected an object with keys m and v"),
    ],
)
def test_route_json_bad_entries(tmp_path: Path, entry: dict[str, Any], pattern: str) -> None:
    path = write_json(tmp_path / "f.json", {EB: [entry]})
    with pytest.raises(InputError, match=pattern):
        read_route_totals_json(path)


def test_route_json_not_json(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        read_route_totals_json(path)


# ------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real(raw_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    with pytest.warns(RevisionWarning):
        revised = read_ibc_workbook(raw_dir / "frontex" / "ibc.xlsx")
    raw = read_ibc_workbook(raw_dir / "frontex" / "ibc.xlsx", apply_revisions=False)
    return revised, raw


def test_real_workbook_shape(real: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    df, _ = real
    assert len(df) == 885 * 196
    months = df["month"].drop_duplicates()
    assert (months.min(), months.max(), len(months)) == (
        pd.Timestamp("2009-01-01"),
        pd.Timestamp("2025-04-01"),
        196,
    )
    assert df["route"].nunique() == 9
    eb = df[df.route == EB]
    assert eb[["border_type", "nationality"]].drop_duplicates().shape[0] == 102
    assert set(eb["border_type"]) == {"Land"}
    assert set(UKRRUSSBEL) <= set(eb["nationality"])
    assert df.attrs["vintage"] == "2025-06-03"
    assert (df["detections"] >= 0).all()


def test_real_workbook_revision(real: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    revised, raw = real
    apr = pd.Timestamp("2025-04-01")

    def eb_total(df: pd.DataFrame) -> int:
        return int(df[(df.route == EB) & (df.month == apr)]["detections"].sum())

    assert eb_total(raw) == 2955
    assert eb_total(revised) == 567
    assert revised.loc[revised["revised"], "nationality"].tolist() == ["XUN"]
    assert len(revised.attrs["revisions"]) == 1
    diff = revised["detections"] != raw["detections"]
    assert int(diff.sum()) == 1


def test_real_route_totals_agree_with_newer_vintage(
    real: tuple[pd.DataFrame, pd.DataFrame], raw_dir: Path
) -> None:
    revised, _ = real
    newer = read_route_totals_json(raw_dir / "frontex" / "frontex.json")
    assert newer.attrs["vintage"] == "2026-08-04"
    assert newer["route"].nunique() == 9
    ours = revised.groupby(["route", "month"])["detections"].sum()
    theirs = newer.set_index(["route", "month"])["detections"]
    both = pd.concat([ours.rename("june25"), theirs.rename("aug26")], axis=1, join="inner")
    assert len(both) == 9 * 196
    delta = both["aug26"] - both["june25"]
    # After the revision the vintages agree except for small later revisions on two routes.
    changed = delta[delta != 0]
    assert set(changed.index.get_level_values("route")) == {EB, "Eastern Mediterranean Route"}
    assert changed.abs().max() <= 50
    assert delta.loc[(EB, pd.Timestamp("2025-04-01"))] == 0


def test_real_dictionary_names_all_have_codes(raw_dir: Path) -> None:
    wb = openpyxl.load_workbook(raw_dir / "frontex" / "ibc.xlsx", read_only=True)
    try:
        names = [
            r[0] for r in wb["Dictionary"].iter_rows(min_row=2, max_col=1, values_only=True) if r[0]
        ]
    finally:
        wb.close()
    codes = nationality_codes()
    assert len(names) > 200
    assert [n for n in names if n not in codes] == []
