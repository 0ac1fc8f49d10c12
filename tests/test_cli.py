"""The command line: thin commands, clear errors, exit code 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import xarray as xr
from typer.testing import CliRunner

from hybridflow.cli import app

runner = CliRunner()


def test_data_show_json_lists_every_source() -> None:
    result = runner.invoke(app, ["data", "show", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    variables = {row["variable"] for row in payload["coverage"]}
    assert {"detections", "route_total", "losses_personnel", "acled_russia",
            "territory_net_change"} <= variables


def test_data_show_check_report_prints_both_figures() -> None:
    result = runner.invoke(app, ["data", "show", "--check-report", "--json"])
    assert result.exit_code == 0, result.output
    check = json.loads(result.stdout)["check_report"]
    assert check["eastern_borders_mean"]["report"] == 832
    table = runner.invoke(app, ["data", "show", "--check-report"])
    assert "report 832" in table.stdout and "SYR" in table.stdout


def test_data_export_netcdf_and_csv(tmp_path: Path) -> None:
    nc = tmp_path / "panel.nc"
    result = runner.invoke(app, ["data", "export", "--format", "netcdf", "--out", str(nc)])
    assert result.exit_code == 0, result.output
    ds = xr.open_dataset(nc, engine="h5netcdf")
    assert ds["detections"].dims == ("month", "route", "nationality")
    ds.close()
    out = tmp_path / "csv"
    result = runner.invoke(app, ["data", "export", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    header = (out / "detections.csv").read_text().splitlines()[0]
    assert header == "month,route,nationality,value"


def test_bad_export_format_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "panel.xyz"
    result = runner.invoke(app, ["data", "export", "--format", "xlsx", "--out", str(out)])
    assert result.exit_code == 2
    assert "unknown export format" in result.stderr
    assert not out.exists()


def test_validate_good_and_bad_files(tmp_path: Path) -> None:
    good = tmp_path / "det.csv"
    good.write_text("month,route,nationality,detections\n2023-01,Eastern Borders Route,SYR,5\n")
    result = runner.invoke(app, ["data", "validate", str(good)])
    assert result.exit_code == 0, result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("month,route,nationality,detections\n2023-01,Eastern Borders Route,SYR,-5\n")
    result = runner.invoke(app, ["data", "validate", str(bad)])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "bad.csv, row 2, column 'detections'" in line
    assert len(line.splitlines()) == 1


def test_byo_error_through_data_show_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "det.csv"
    bad.write_text("month,route,nationality,detections\n2099-01,Eastern Borders Route,SYR,5\n")
    result = runner.invoke(app, ["data", "show", "--data", str(bad)])
    assert result.exit_code == 2
    assert "future" in result.stderr


def test_check_sbc_bad_spec_exits_2_naming_the_field(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('name = "bad"\n[likelihood]\nfamily = "gaussian"\n')
    result = runner.invoke(app, ["check", "sbc", str(spec), "--n", "4", "--out",
                                 str(tmp_path / "sbc")])
    assert result.exit_code == 2
    assert "likelihood.family" in result.output and "gaussian" in result.output
    assert not (tmp_path / "sbc").exists()


def test_check_sbc_missing_spec_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "sbc", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "nope.toml" in result.output


def test_study_run_missing_study_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["study", "run", str(tmp_path / "no-study"),
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "no-study" in result.output
    assert not (tmp_path / "out").exists()
