"""The table of the report's figures: its contents, and one clear error per kind of bad row."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hybridflow.data import summary
from hybridflow.data.report_figures import (
    COLUMNS,
    figures_matching,
    load_report_figures,
    report_figure,
    report_figures_path,
    top10_others,
)
from hybridflow.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[2]
HEADER = ",".join(COLUMNS)
GOOD = "eb_mean,Mean monthly detections,832,detections/month,5%,summary: mean encounters"


def _write(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "figures.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_packaged_table_reads_and_derives_tolerances() -> None:
    figures = load_report_figures()
    assert len(figures) == 36
    eb = figures["eb_mean"]
    assert eb.value == 832.0 and eb.unit == "detections/month"
    assert eb.tolerance == 0.05 * 832.0  # "5%": the same arithmetic as 0.05 * value
    assert figures["top10_IND"].tolerance == 5.0  # absolute
    assert figures["losses_cumulative_300k"].tolerance is None  # empty cell
    # The printed precision, which the r / r^2 consistency check needs.
    assert figures["ukr_gains_vs_encounters_r"].decimals == 1
    assert figures["ukr_gains_vs_encounters_r2"].decimals == 3
    assert all(f.source for f in figures.values())
    assert report_figure("eb_mean") == eb


def test_groups_of_figures_keep_the_table_order() -> None:
    assert list(top10_others()) == [
        "SYR", "SOM", "ETH", "ERI", "AFG", "IRQ", "IRN", "SDN", "YEM", "IND",
    ]  # fmt: skip
    assert top10_others()["SYR"] == 685
    months = figures_matching(r"others_share_(\d{4}_\d{2})")
    assert list(months) == ["2023_03", "2023_04", "2023_12", "2024_06", "2024_12"]


def test_summary_constants_come_from_the_table() -> None:
    assert report_figure("eb_mean").value == summary.REPORT_EB_MEAN_FEB2022_JUN2025
    assert top10_others() == summary.REPORT_TOP10_OTHERS
    # ... and the table holds the report's own numbers (not just whatever it holds).
    assert summary.REPORT_EB_MEAN_FEB2022_JUN2025 == 832
    assert len(summary.REPORT_TOP10_OTHERS) == 10
    assert summary.REPORT_TOP10_OTHERS["SYR"] == 685


def test_unknown_figure_names_the_table() -> None:
    with pytest.raises(KeyError, match="no figure 'nope' in .*report_figures.csv"):
        report_figure("nope")


@pytest.mark.parametrize(
    ("row", "column", "expected"),
    [
        ("eb_mean,Mean,abc,detections,5%,s", "value", "expected a plain decimal number"),
        ("eb_mean,Mean,1e3,detections,5%,s", "value", "expected a plain decimal number"),
        ("eb_mean,Mean,832,detections,five,s", "tolerance", "expected a plain decimal number"),
        ("eb_mean,Mean,832,detections,-1,s", "tolerance", "expected a tolerance of 0 or more"),
        ("eb_mean,,832,detections,5%,s", "statement", "expected a value, found an empty cell"),
        ("eb_mean,Mean,832,detections,5%,", "source", "expected a value, found an empty cell"),
        ("eb mean,Mean,832,detections,5%,s", "id", "letters, digits and underscores"),
        ("eb_mean,Mean,832,detections,5%", "source", "expected 6 fields, found 5"),
    ],
)
def test_bad_row_names_file_row_column_and_expectation(
    tmp_path: Path, row: str, column: str, expected: str
) -> None:
    path = _write(tmp_path, GOOD.replace("eb_mean", "first"), row)
    with pytest.raises(InputError, match=re.escape(expected)) as err:
        load_report_figures(path)
    assert (err.value.path, err.value.row, err.value.column) == (path, 3, column)
    assert str(err.value).startswith(f"{path}, row 3, column '{column}': ")


def test_duplicate_id_names_both_rows(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD, GOOD)
    with pytest.raises(
        InputError, match=r"row 3, column 'id': id 'eb_mean' appears twice \(first on row 2\)"
    ):
        load_report_figures(path)


def test_bad_header_names_the_missing_column(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "eb_mean,Mean,832,detections,s", header="id,statement,value,unit,source"
    )
    with pytest.raises(InputError, match="missing column 'tolerance'") as err:
        load_report_figures(path)
    assert err.value.row == 1


def test_a_good_file_reads(tmp_path: Path) -> None:
    figures = load_report_figures(_write(tmp_path, GOOD))
    assert figures["eb_mean"].tolerance == pytest.approx(41.6)
    assert figures["eb_mean"].row == 2


def test_doc_lists_every_figure_with_its_value() -> None:
    """docs/report-claims.md's table of figures says the same as the CSV."""
    doc = (REPO_ROOT / "docs" / "report-claims.md").read_text(encoding="utf-8")
    rows = {
        cells[0].strip("` "): cells
        for line in doc.splitlines()
        if line.startswith("| `")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    for fid, fig in load_report_figures().items():
        assert fid in rows, f"{fid} missing from docs/report-claims.md"
        assert rows[fid][1] == f"{fig.value:g}", fid
    assert report_figures_path().name == "report_figures.csv"
