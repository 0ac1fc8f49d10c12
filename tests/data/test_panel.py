"""The analysis panel built from the embedded snapshot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hybridflow.data.panel import (
    EASTERN_BORDERS,
    group_nationalities,
    load_panel,
    panel_hash,
)
from hybridflow.errors import InputError


@pytest.fixture(scope="module")
def panel() -> xr.Dataset:
    return load_panel()


def test_panel_dims_and_variables(panel: xr.Dataset) -> None:
    assert panel["detections"].dims == ("month", "route", "nationality")
    assert panel["route_total"].dims == ("month", "route")
    assert panel["losses_personnel"].dims == ("month",)
    assert panel["acled_russia"].dims == ("month", "acled_event_type")
    assert panel["territory_net_change"].dims == ("month", "tracker")
    assert set(panel["tracker"].values) == {"liveuamap", "deepstate"}
    assert EASTERN_BORDERS in panel["route"].values
    months = pd.DatetimeIndex(panel["month"].values)
    assert (months.day == 1).all()
    assert (np.diff(months.to_period("M").asi8) == 1).all()  # consecutive months


def test_missing_is_nan_not_zero(panel: xr.Dataset) -> None:
    # Losses start with the full-scale invasion; before it the panel says "no data".
    assert np.isnan(panel["losses_personnel"].sel(month="2021-12-01"))
    assert panel["losses_personnel"].sel(month="2022-02-01") == 5300
    # Nationality-level detections end with the workbook (Apr 2025).
    assert panel["detections"].sel(month="2025-05-01").isnull().all()
    assert panel["detections"].sel(month="2025-04-01").notnull().all()


def test_route_total_is_extended_with_newer_vintage(panel: xr.Dataset) -> None:
    eb = panel["route_total"].sel(route=EASTERN_BORDERS)
    ext = panel["route_total_extended"].sel(route=EASTERN_BORDERS)
    assert not bool(ext.sel(month="2025-04-01"))
    assert bool(ext.sel(month="2025-05-01"))
    # The provisional Apr 2025 'Unknown' entry is revised: total 567, as in the newer vintage.
    assert float(eb.sel(month="2025-04-01")) == 567
    assert float(eb.sel(month="2025-05-01")) == float(
        panel["route_total_latest"].sel(route=EASTERN_BORDERS, month="2025-05-01")
    )
    # Within the workbook, the route total is the sum over nationalities.
    det_sum = panel["detections"].sel(route=EASTERN_BORDERS, month="2023-06-01").sum()
    assert float(eb.sel(month="2023-06-01")) == float(det_sum)


def test_provenance_attrs(panel: xr.Dataset) -> None:
    import json

    sources = json.loads(panel.attrs["sources"])
    assert {"detections", "route_totals", "losses", "territory"} <= set(sources)
    for inputs in sources.values():
        for item in inputs:
            assert len(item["sha256"]) == 64
            assert item["vintage"]


def test_group_ukrrussbel_sums_to_total(panel: xr.Dataset) -> None:
    grouped = group_nationalities(panel, "ukrrussbel")
    assert list(grouped["group"].values) == ["UkrRussBel", "Others"]
    assert grouped["detections"].dims == ("month", "route", "group")
    eb = grouped["detections"].sel(route=EASTERN_BORDERS, month="2023-01-01")
    total = panel["route_total"].sel(route=EASTERN_BORDERS, month="2023-01-01")
    assert float(eb.sum()) == float(total)
    ukr = panel["detections"].sel(route=EASTERN_BORDERS, month="2023-01-01",
                                  nationality=["UKR", "RUS", "BLR"]).sum()
    assert float(eb.sel(group="UkrRussBel")) == float(ukr)


def test_group_top_k_and_mapping(panel: xr.Dataset, tmp_path) -> None:
    top = group_nationalities(panel, "top_k", top_k=3, routes=[EASTERN_BORDERS],
                              since="2022-02")
    assert top.sizes["group"] == 4 and top["group"].values[-1] == "Others"
    assert "UKR" in top["group"].values
    mapping = tmp_path / "groups.csv"
    mapping.write_text("nationality,group\nSYR,MiddleEast\nIRQ,MiddleEast\nUKR,Ukraine\n")
    user = group_nationalities(panel, mapping)
    assert set(user["group"].values) == {"MiddleEast", "Ukraine", "Others"}
    bad = tmp_path / "bad.csv"
    bad.write_text("nationality,group\nSYR,A\nSYR,B\n")
    with pytest.raises(InputError, match=r"bad.csv, row 3, column 'nationality'"):
        group_nationalities(panel, bad)


def test_byo_detections_replace_snapshot(tmp_path) -> None:
    det = tmp_path / "det.csv"
    det.write_text(
        "month,route,nationality,detections\n"
        "2023-01,Eastern Borders Route,SYR,5\n"
        "2023-02,Eastern Borders Route,SYR,7\n"
        "2023-02,Eastern Borders Route,UKR,3\n"
    )
    drv = tmp_path / "drv.csv"
    drv.write_text("month,driver,value\n2023-01,my_index,1.5\n2023-02,my_index,2.5\n")
    panel = load_panel(detections=det, drivers=drv)
    eb = panel["detections"].sel(route=EASTERN_BORDERS)
    assert float(eb.sel(month="2023-02-01", nationality="SYR")) == 7
    assert float(eb.sel(month="2023-01-01", nationality="UKR")) == 0  # covered month, absent row
    assert eb.sel(month="2022-12-01").isnull().all()  # outside the user's coverage
    assert float(panel["my_index"].sel(month="2023-02-01")) == 2.5
    assert panel.attrs["detections_source"] == str(det)


def test_panel_hash_changes_with_data(panel: xr.Dataset) -> None:
    h1 = panel_hash(panel, ["losses_personnel"])
    changed = panel.copy()
    changed["losses_personnel"] = changed["losses_personnel"] + 1
    assert panel_hash(changed, ["losses_personnel"]) != h1
    assert panel_hash(panel, ["losses_personnel"]) == h1
