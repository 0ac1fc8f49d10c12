"""The packaged event catalogue, its loader and its filters."""

from __future__ import annotations

import csv
import datetime as dt
import re
from difflib import SequenceMatcher
from pathlib import Path

import pandas as pd
import pytest

from hybridflow.data.events import (
    COLUMNS,
    CONFIDENCE_LEVELS,
    KINDS,
    SECTORS,
    catalogue_path,
    filter_events,
    load_events,
)
from hybridflow.errors import InputError, SpecError

SOURCE_FILES = {
    "eu_sanctions_russia.csv": 22,
    "us_sanctions_russia.csv": 27,
    "eu_sanctions_belarus.csv": 19,
    "border_policy_events.csv": 58,
}
#: Rows looked up for the project, in none of the compiled source tables: Ukraine's
#: martial-law exit ban, mobilisation laws and exit rules.
OWN_ROWS = ("UA-01", "UA-02", "UA-03", "UA-04", "UA-05")


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return load_events()


def _read_source(events_dir: Path) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for name in SOURCE_FILES:
        with open(events_dir / name, encoding="utf-8", newline="") as fh:
            for rec in csv.DictReader(fh):
                rows[rec["event_id"]] = rec
    return rows


def _date(text: str) -> pd.Timestamp:
    return pd.Timestamp(text) if text else pd.NaT


# --------------------------------------------------------------------------- the catalogue


def test_catalogue_shape_and_types(events: pd.DataFrame) -> None:
    assert len(events) == 131
    assert list(events.columns) == [*COLUMNS, "effective_date"]
    assert events["event_id"].is_unique
    for col in ("announced_date", "start_date", "end_date", "effective_date"):
        assert events[col].dtype == "datetime64[ns]", col
    assert events["package_number"].dtype == "Int64"
    assert all(isinstance(s, tuple) for s in events["sectors"])
    assert all(isinstance(b, tuple) for b in events["border"])
    prefixes = events["event_id"].str.extract(r"^(EU-RU|US|EU-BY|BP|UA)-")[0].value_counts()
    assert prefixes.to_dict() == {"BP": 58, "US": 27, "EU-RU": 22, "EU-BY": 19, "UA": 5}
    assert events["confidence"].value_counts().to_dict() == {"high": 103, "medium": 26, "low": 2}
    assert events.attrs["path"].endswith("events.csv") and len(events.attrs["sha256"]) == 64


def test_catalogue_schema_rules(events: pd.DataFrame) -> None:
    sanc = events[events["family"] == "sanctions"]
    bord = events[events["family"] == "border_policy"]
    assert set(sanc["target"]) == {"Russia", "Belarus", "both"}
    assert set(bord["target"]) == {""}
    assert all(len(s) > 0 and set(s) <= set(SECTORS) for s in sanc["sectors"])
    assert all(s == () for s in bord["sectors"]) and all(b == () for b in sanc["border"])
    assert set(sanc["direction"]) == {"tighten", "relax", "none"}
    assert set(bord["direction"]) <= {"", "tighten", "relax", "none"}
    assert set(events["kind"]) <= set(KINDS)
    # Package numbers only on sanctions_package rows, and every package row has one.
    assert (sanc["kind"] == "sanctions_package").equals(sanc["package_number"].notna())
    # effective_date = start_date, else announced_date.
    expected = events["start_date"].fillna(events["announced_date"])
    pd.testing.assert_series_equal(events["effective_date"], expected, check_names=False)
    assert events["effective_date"].notna().all()


def test_catalogue_known_facts(events: pd.DataFrame) -> None:
    ev = events.set_index("event_id")
    assert ev.loc["EU-RU-05", "start_date"] == pd.Timestamp("2022-04-08")
    assert ev.loc["EU-RU-05", "announced_date"] == pd.Timestamp("2022-04-05")
    assert pd.isna(ev.loc["EU-RU-22", "start_date"])
    assert ev.loc["EU-RU-22", "effective_date"] == pd.Timestamp("2026-10-07")
    assert ev.loc["EU-RU-22", "confidence"] == "low"
    assert (ev.loc["US-22", "kind"], ev.loc["US-22", "direction"]) == ("bill", "none")
    assert ev.loc["US-26", "kind"] == "sanctions_relief" and ev.loc["US-26", "direction"] == "relax"
    assert ev.loc["BP-017", "actor"] == "TR;IQ"
    assert ev.loc["BP-039", "border"] == ("RU-FI",) and pd.isna(ev.loc["BP-039", "end_date"])
    assert ev.loc["BP-020", "end_date"] == pd.Timestamp("2022-06-30")
    assert ev.loc["BP-034", "announced_date"] == pd.Timestamp("2023-11-16")
    month_rows = set(ev.index[ev["date_precision"] == "month"])
    assert month_rows == {"BP-001", "BP-003", "BP-005", "BP-022", "BP-029", "BP-030", "BP-042"}
    assert all(ev.loc[i, "start_date"].day == 1 for i in month_rows)


def test_catalogue_matches_source_tables(events: pd.DataFrame, events_dir: Path) -> None:
    src = _read_source(events_dir)
    # Every compiled row is in the catalogue; the only others are the project's own rows.
    assert set(events["event_id"]) - set(src) == set(OWN_ROWS)
    assert set(src) <= set(events["event_id"])
    for rec in events.to_dict("records"):
        if rec["event_id"] in OWN_ROWS:
            continue
        s = src[rec["event_id"]]
        assert rec["source"] == s["source"], rec["event_id"]
        assert rec["confidence"] == s["confidence"], rec["event_id"]
        if rec["family"] == "sanctions":
            assert (rec["actor"], rec["target"]) == (s["actor"], s["target"])
            if s["adopted_date"]:
                assert rec["start_date"] == _date(s["adopted_date"])
            else:
                assert pd.isna(rec["start_date"])
            if s["announced_date"]:
                assert rec["announced_date"] == _date(s["announced_date"])
            else:
                assert pd.isna(rec["announced_date"])
            assert rec["sectors"] == tuple(s["sectors"].split(";"))
            assert rec["direction"] == s["direction"]
            expected_pkg = int(s["package_number"]) if s["package_number"] else None
            assert (
                None if pd.isna(rec["package_number"]) else rec["package_number"]
            ) == expected_pkg
        else:
            assert rec["actor"] == s["country"]
            assert rec["kind"] == s["kind"]
            assert rec["start_date"] == _date(s["date_start"])
            assert pd.isna(rec["end_date"]) == (s["date_end"] == "")
            if s["date_end"]:
                assert rec["end_date"] == _date(s["date_end"])
            assert rec["border"] == tuple(s["border"].split(";"))
            flagged = (
                "month-level" in s["note"].lower()
                or "day-level start approximate" in s["note"].lower()
            )
            assert (rec["date_precision"] == "month") == flagged, rec["event_id"]


def test_ukraine_exit_rule_rows(events: pd.DataFrame) -> None:
    """The project's own rows: dated as looked up, each source with URLs and an access date."""
    ev = events.set_index("event_id").loc[list(OWN_ROWS)]
    assert set(ev["family"]) == {"border_policy"} and set(ev["actor"]) == {"UA"}
    assert set(ev["border"]) == {("UA-PL", "UA-SK", "UA-HU", "UA-RO")}
    assert set(ev["confidence"]) == {"high"} and set(ev["date_precision"]) == {"day"}
    starts = {i: ev.loc[i, "start_date"].date().isoformat() for i in OWN_ROWS}
    assert starts == {
        "UA-01": "2022-02-24",  # martial law and the exit ban for men aged 18-60
        "UA-02": "2024-04-03",  # mobilisation age 27 -> 25 in force (signed 2 Apr)
        "UA-03": "2024-04-23",  # consular services suspended for men abroad
        "UA-04": "2024-05-18",  # law No. 3633-IX in force (passed 11 Apr)
        "UA-05": "2025-08-28",  # men aged 18-22 may leave (resolution of 26 Aug)
    }
    assert ev.loc["UA-04", "announced_date"] == pd.Timestamp("2024-04-11")
    assert ev.loc["UA-03", "end_date"] == pd.Timestamp("2024-05-17")
    assert list(ev["direction"]) == ["tighten"] * 4 + ["relax"]
    for event_id, source in ev["source"].items():
        assert source.count("https://") >= 2, event_id
        accessed = re.search(r"accessed (\d{4}-\d{2}-\d{2})$", source)
        assert accessed is not None, event_id
        assert dt.date.fromisoformat(accessed.group(1)) <= dt.date.today(), event_id


def _words(text: str) -> list[str]:
    return re.findall(r"[\w'.%-]+", text.lower())


def test_catalogue_text_is_not_copied(events: pd.DataFrame, events_dir: Path) -> None:
    """Summaries and notes are paraphrased: no long run of words shared with the source."""
    src = _read_source(events_dir)
    for rec in events.to_dict("records"):
        if rec["event_id"] in OWN_ROWS:
            continue
        s = src[rec["event_id"]]
        for mine, theirs in ((rec["summary"], s["summary"]), (rec["note"], s["note"])):
            if not theirs:
                continue
            assert mine != theirs, rec["event_id"]
            a, b = _words(mine), _words(theirs)
            run = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(
                0, len(a), 0, len(b)
            )
            # Legal-act titles and citations can legitimately repeat up to ~10 words.
            assert run.size <= 10, (rec["event_id"], " ".join(a[run.a : run.a + run.size]))


def test_load_events_explicit_path_equals_default(events: pd.DataFrame) -> None:
    again = load_events(catalogue_path())
    pd.testing.assert_frame_equal(again, events)


def test_today_rejects_later_dates() -> None:
    with pytest.raises(InputError) as info:
        load_events(today=dt.date(2022, 1, 1))
    msg = str(info.value)
    assert "events.csv, row 2, column 'start_date'" in msg
    assert "2022-02-23 is in the future" in msg


# --------------------------------------------------------------------------- filters


def test_default_filter_drops_low_and_none(events: pd.DataFrame) -> None:
    out = filter_events(events)
    assert len(out) == 125
    assert not set(out["event_id"]) & {"EU-RU-22", "US-27", "US-22", "BP-019", "BP-048", "BP-049"}
    assert list(out.index) == list(range(len(out)))


def test_filters_accept_str_or_sequence(events: pd.DataFrame) -> None:
    a = filter_events(events, family="sanctions", actor="US")
    b = filter_events(events, family=["sanctions"], actor=("US",))
    pd.testing.assert_frame_equal(a, b)
    assert set(a["event_id"].str[:3]) == {"US-"}
    # US-27 is low confidence, US-22 a bill (direction none).
    assert len(a) == 25


def test_target_belarus_includes_both(events: pd.DataFrame) -> None:
    out = filter_events(events, target="Belarus", min_confidence=None)
    assert set(out["target"]) == {"Belarus", "both"}
    assert {"EU-RU-03", "EU-RU-18", "EU-BY-09", "US-14"} <= set(out["event_id"])
    only_both = filter_events(events, target="both")
    assert set(only_both["event_id"]) == {
        "EU-RU-03",
        "EU-RU-05",
        "EU-RU-06",
        "EU-RU-16",
        "EU-RU-18",
        "EU-RU-19",
    }


def test_sectors_any_of_and_kinds(events: pd.DataFrame) -> None:
    out = filter_events(events, sectors=["shadow_fleet", "energy_gas"])
    assert all({"shadow_fleet", "energy_gas"} & set(s) for s in out["sectors"])
    assert "EU-RU-14" in set(out["event_id"]) and "EU-RU-01" not in set(out["event_id"])
    closures = filter_events(events, kinds="closure", actor="FI")
    assert set(closures["event_id"]) == {"BP-002", "BP-034", "BP-035", "BP-036", "BP-039"}


def test_actor_matches_any_listed_state(events: pd.DataFrame) -> None:
    out = filter_events(events, actor="IQ")
    assert list(out["event_id"]) == ["BP-017"]
    assert "BP-023" in set(filter_events(events, actor="EE")["event_id"])


def test_direction_and_confidence(events: pd.DataFrame) -> None:
    relax = filter_events(events, direction="relax")
    assert set(relax["event_id"]) == {"US-24", "US-26", "BP-006", "UA-05"}
    with_none = filter_events(events, direction="none", min_confidence="low")
    assert set(with_none["event_id"]) == {"US-22", "BP-019", "BP-048", "BP-049"}
    high = filter_events(events, min_confidence="high")
    # 103 high rows, less the three high rows with direction none (US-22, BP-019, BP-049).
    assert set(high["confidence"]) == {"high"} and len(high) == 100
    everything = filter_events(events, min_confidence="low", direction=["tighten", "relax", "none"])
    assert len(everything) == 131 - 15  # the 15 border rows with no direction drop out


def test_event_ids_bring_back_none_rows_and_exclude(events: pd.DataFrame) -> None:
    out = filter_events(events, event_ids=["US-22", "US-01"])
    assert list(out["event_id"]) == ["US-01", "US-22"]
    out = filter_events(events, family="sanctions", exclude_ids=["US-01", "BP-999"])
    assert "US-01" not in set(out["event_id"])


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"sectors": "oil"}, "unknown sector 'oil'"),
        ({"family": "sanction"}, "unknown family 'sanction'"),
        ({"kinds": ["closure", "wall"]}, "unknown kind 'wall'"),
        ({"target": "Ukraine"}, "unknown target 'Ukraine'"),
        ({"direction": "up"}, "unknown direction 'up'"),
        ({"min_confidence": "certain"}, "unknown min_confidence 'certain'"),
        ({"event_ids": ["EU-RU-99"]}, "EU-RU-99"),
    ],
)
def test_filter_rejects_unknown_values(events: pd.DataFrame, kwargs: dict, fragment: str) -> None:
    with pytest.raises(SpecError, match=re.escape(fragment)):
        filter_events(events, **kwargs)


def test_constants() -> None:
    assert CONFIDENCE_LEVELS == ("low", "medium", "high")
    assert len(SECTORS) == 12 and "shadow_fleet" in SECTORS
    assert len(KINDS) == 10


# --------------------------------------------------------------------------- validation errors

SANCTION = {
    "event_id": "X-01",
    "family": "sanctions",
    "actor": "EU",
    "target": "Russia",
    "kind": "sanctions_package",
    "announced_date": "2022-06-01",
    "start_date": "2022-06-03",
    "end_date": "",
    "package_number": "6",
    "sectors": "energy_oil;finance",
    "border": "",
    "direction": "tighten",
    "confidence": "high",
    "date_precision": "day",
    "summary": "A test package.",
    "source": "Test source",
    "note": "",
}
BORDER = {
    "event_id": "X-02",
    "family": "border_policy",
    "actor": "PL",
    "target": "",
    "kind": "closure",
    "announced_date": "",
    "start_date": "2023-02-10",
    "end_date": "2023-03-01",
    "package_number": "",
    "sectors": "",
    "border": "BY-PL",
    "direction": "tighten",
    "confidence": "medium",
    "date_precision": "day",
    "summary": "A test closure.",
    "source": "Test source",
    "note": "",
}


def _write(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def test_minimal_user_catalogue_loads(tmp_path: Path) -> None:
    out = load_events(_write(tmp_path / "ev.csv", [SANCTION, BORDER]))
    assert list(out["event_id"]) == ["X-01", "X-02"]
    assert out.loc[0, "sectors"] == ("energy_oil", "finance")
    assert out.loc[1, "border"] == ("BY-PL",)
    assert out.loc[0, "package_number"] == 6 and pd.isna(out.loc[1, "package_number"])


BAD_CELLS = [
    # (row index 0|1, column, value, expected message fragment)
    (0, "sectors", "energy_oil;oil", "unknown sector 'oil'"),
    (0, "start_date", "03/06/2022", "expected a date as YYYY-MM-DD, got '03/06/2022'"),
    (0, "start_date", "2022-02-30", "valid calendar date"),
    (1, "end_date", "2023-01-01", "end_date 2023-01-01 is before start_date 2023-02-10"),
    (0, "confidence", "certain", "unknown confidence 'certain'"),
    (1, "start_date", "2099-01-01", "is in the future"),
    (0, "announced_date", "2099-01-01", "is in the future"),
    (0, "start_date", "2022-05-01", "start_date 2022-05-01 is before announced_date"),
    (0, "family", "sanction", "expected one of sanctions, border_policy"),
    (0, "target", "", "sanctions rows need a target"),
    (1, "target", "Belarus", "border_policy rows have a blank target"),
    (0, "kind", "closure", "unknown kind 'closure'"),
    (1, "kind", "sanctions_package", "unknown kind 'sanctions_package'"),
    (0, "package_number", "six", "expected a positive whole number"),
    (1, "package_number", "3", "border_policy rows have no package_number"),
    (0, "actor", "eu", "upper-case codes"),
    (1, "border", "Belarus-Poland", "expected border dyads"),
    (1, "border", "", "need at least one border dyad"),
    (0, "border", "BY-PL", "sanctions rows have a blank border"),
    (1, "sectors", "finance", "border_policy rows have no sectors"),
    (0, "sectors", "", "need at least one sector"),
    (0, "direction", "", "sanctions rows need a direction"),
    (1, "direction", "harder", "expected blank or one of"),
    (1, "date_precision", "month", "month precision means the date is the 1st"),
    (1, "date_precision", "year", "expected one of day, month"),
    (0, "summary", "  ", "summary must not be blank"),
    (0, "source", "", "source must not be blank"),
    (0, "event_id", "X 01", "expected an id"),
]


@pytest.mark.parametrize(("index", "column", "value", "fragment"), BAD_CELLS)
def test_bad_cell_names_file_row_column(
    tmp_path: Path, index: int, column: str, value: str, fragment: str
) -> None:
    rows = [dict(SANCTION), dict(BORDER)]
    rows[index][column] = value
    path = _write(tmp_path / "ev.csv", rows)
    with pytest.raises(InputError) as info:
        load_events(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}, row {index + 2}, column '{column}': "), msg
    assert fragment in msg, msg
    assert "\n" not in msg


def test_blank_start_and_announced(tmp_path: Path) -> None:
    row = dict(SANCTION, start_date="", announced_date="")
    path = _write(tmp_path / "ev.csv", [row])
    with pytest.raises(InputError, match=r"row 2, column 'start_date': needs a start_date"):
        load_events(path)
    # Blank adoption is fine when an announced date is given (e.g. an unconfirmed package).
    ok = load_events(_write(tmp_path / "ok.csv", [dict(SANCTION, start_date="")]))
    assert ok.loc[0, "effective_date"] == pd.Timestamp("2022-06-01")


def test_duplicate_event_id(tmp_path: Path) -> None:
    path = _write(tmp_path / "ev.csv", [SANCTION, BORDER, dict(BORDER, start_date="2023-05-01")])
    path.write_text(path.read_text().replace("X-02", "X-01"))
    with pytest.raises(InputError) as info:
        load_events(path)
    assert str(info.value).startswith(
        f"{path}, row 3, column 'event_id': duplicate event_id 'X-01'"
    )
    assert "first used on row 2" in str(info.value)


def test_missing_and_unexpected_columns(tmp_path: Path) -> None:
    cols = tuple("level" if c == "confidence" else c for c in COLUMNS)
    rows = [dict(SANCTION, level="high")]
    path = _write(tmp_path / "renamed.csv", rows, cols)
    with pytest.raises(InputError) as info:
        load_events(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}, row 1, column 'confidence': missing column 'confidence'")
    assert "unexpected column(s): 'level'" in msg

    path = _write(tmp_path / "extra.csv", [dict(SANCTION, extra="x")], (*COLUMNS, "extra"))
    with pytest.raises(InputError, match=r"row 1, column 'extra': unexpected column 'extra'"):
        load_events(path)


def test_wrong_field_count_and_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "ev.csv", [SANCTION])
    text = path.read_text()
    # A blank line, then a row cut short: the reported row is its line in the file.
    path.write_text(text + "\nX-03,sanctions,EU\n")
    with pytest.raises(InputError) as info:
        load_events(path)
    assert str(info.value).startswith(
        f"{path}, row 4, column 'target': expected 17 fields, found 3"
    )


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty\.csv, row 1: file is empty"):
        load_events(empty)
    header_only = _write(tmp_path / "header.csv", [])
    with pytest.raises(InputError, match=r"header\.csv, row 2: no events"):
        load_events(header_only)
    with pytest.raises(InputError, match="file not found"):
        load_events(tmp_path / "nope.csv")
