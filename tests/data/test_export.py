"""Exporting the panel: exactly the path given, a layout that suits it, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hybridflow.data.export import check_export_target, export_panel
from hybridflow.errors import InputError


@pytest.fixture
def panel() -> xr.Dataset:
    months = pd.date_range("2024-01-01", periods=2, freq="MS", name="month")
    return xr.Dataset(
        {
            "detections": (
                ("month", "route", "nationality"),
                np.array([[[1.0, np.nan]], [[3.0, 4.0]]]),
            ),
            "extended": (("month", "route"), np.array([[False], [True]])),
            "losses": (("month",), np.array([np.nan, 9120.0])),
        },
        coords={"month": months, "route": ["EB"], "nationality": ["SYR", "AFG"]},
    )


def test_csv_path_gets_one_tidy_file(tmp_path: Path, panel: xr.Dataset) -> None:
    out = tmp_path / "panel.csv"
    assert export_panel(panel, out, "csv") == out
    assert [p.name for p in tmp_path.iterdir()] == ["panel.csv"]
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(df.columns) == ["variable", "month", "route", "nationality", "value"]
    rows = list(df.itertuples(index=False, name=None))
    assert rows == [
        ("detections", "2024-01", "EB", "SYR", "1.0"),
        ("detections", "2024-02", "EB", "SYR", "3.0"),
        ("detections", "2024-02", "EB", "AFG", "4.0"),
        ("extended", "2024-01", "EB", "", "0.0"),  # flags as 0/1
        ("extended", "2024-02", "EB", "", "1.0"),
        ("losses", "2024-02", "", "", "9120.0"),
    ]


def test_folder_gets_one_table_per_variable(tmp_path: Path, panel: xr.Dataset) -> None:
    out = tmp_path / "tables"
    export_panel(panel, out, "csv")
    assert sorted(p.name for p in out.iterdir()) == ["detections.csv", "extended.csv", "losses.csv"]
    assert (out / "detections.csv").read_text().splitlines()[0] == "month,route,nationality,value"


def test_netcdf_is_the_file_given(tmp_path: Path, panel: xr.Dataset) -> None:
    out = tmp_path / "panel.nc"
    export_panel(panel, out)
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds["extended"].dtype == np.int8


@pytest.mark.parametrize(
    ("name", "fmt", "expected"),
    [
        ("panel.csv", "csv", "csv_file"),
        ("PANEL.CSV", "csv", "csv_file"),
        ("tables", "csv", "csv_folder"),
        ("panel.nc", "netcdf", "netcdf"),
        ("panel", "netcdf", "netcdf"),
    ],
)
def test_layout_follows_the_path(tmp_path: Path, name: str, fmt: str, expected: str) -> None:
    assert check_export_target(tmp_path / name, fmt) == expected


def test_existing_folder_with_a_suffix_is_still_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "exports.v2"
    folder.mkdir()
    assert check_export_target(folder, "csv") == "csv_folder"


@pytest.mark.parametrize(
    ("name", "fmt", "says"),
    [
        ("panel.nc", "csv", "--format csv writes one .csv file"),
        ("panel.txt", "csv", "got a path ending in .txt"),
        ("panel.csv", "netcdf", "give a path ending in .nc"),
        ("made.csv", "csv", "is a folder"),
        ("made.csv", "netcdf", "is a folder"),
    ],
)
def test_unsuitable_path_is_refused_before_writing(
    tmp_path: Path, panel: xr.Dataset, name: str, fmt: str, says: str
) -> None:
    (tmp_path / "made.csv").mkdir()
    out = tmp_path / name
    with pytest.raises(InputError) as info:
        export_panel(panel, out, fmt)
    msg = str(info.value)
    assert msg.startswith(f"{out}: ") and says in msg and "\n" not in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["made.csv"]
    assert not any((tmp_path / "made.csv").iterdir())


def test_unknown_format_is_a_value_error(tmp_path: Path, panel: xr.Dataset) -> None:
    with pytest.raises(ValueError, match="unknown export format 'xlsx'"):
        export_panel(panel, tmp_path / "panel.xlsx", "xlsx")
    assert not any(tmp_path.iterdir())
