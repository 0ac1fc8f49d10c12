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


def test_data_export_csv_to_a_csv_path_writes_that_one_file(tmp_path: Path) -> None:
    out = tmp_path / "panel.csv"
    result = runner.invoke(app, ["data", "export", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["panel.csv"]  # no folder, no temp files
    with out.open(encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
        first = fh.readline().strip().split(",")
    assert header[:3] == ["variable", "month", "route"] and header[-1] == "value"
    assert {"nationality", "equipment", "tracker"} <= set(header)
    assert first[0] == "detections" and len(first[1]) == 7  # month as YYYY-MM


def test_data_export_refuses_a_path_that_does_not_suit_the_format(tmp_path: Path) -> None:
    folder = tmp_path / "old.csv"
    folder.mkdir()
    for fmt, out in (("csv", tmp_path / "panel.nc"), ("netcdf", tmp_path / "panel.csv"),
                     ("csv", folder), ("netcdf", folder)):
        result = runner.invoke(app, ["data", "export", "--format", fmt, "--out", str(out)])
        assert result.exit_code == 2, (fmt, out, result.output)
        line = result.stderr.strip()
        assert len(line.splitlines()) == 1 and str(out) in line, line
        assert f"--format {fmt}" in line or "is a folder" in line, line
    assert [p.name for p in tmp_path.iterdir()] == ["old.csv"]  # nothing written
    assert not any(folder.iterdir())


def test_validate_prints_a_summary_in_words(tmp_path: Path) -> None:
    good = tmp_path / "det.csv"
    good.write_text("month,route,nationality,detections\n2023-01,Eastern Borders Route,SYR,5\n"
                    "2023-03,Eastern Borders Route,AFG,1205\n")
    result = runner.invoke(app, ["data", "validate", str(good)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "ValidationSummary" not in text and "Timestamp" not in text
    assert (f"ok {good}: detections file with 2 rows, months 2023-01..2023-03 (3 months), "
            "1 route, 2 nationalities") in text


def test_validate_json_has_the_same_summary_with_iso_months(tmp_path: Path) -> None:
    drivers = tmp_path / "drv.csv"
    drivers.write_text("month,driver,value\n2023-01,a,1\n2023-02,a,2\n2023-02,b,-1.5\n")
    result = runner.invoke(app, ["data", "validate", str(drivers), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload == {"path": str(drivers), "ok": True, "kind": "drivers", "rows": 3,
                       "first_month": "2023-01", "last_month": "2023-02", "routes": None,
                       "nationalities": None, "drivers": 2, "events": None}


def test_data_show_check_report_names_nationalities() -> None:
    result = runner.invoke(app, ["data", "show", "--check-report"])
    assert result.exit_code == 0, result.output
    assert "Syria (SYR)" in result.stdout and "Afghanistan (AFG)" in result.stdout


def test_study_run_bad_events_file_exits_2_before_writing(tmp_path: Path) -> None:
    study = Path(__file__).resolve().parents[1] / "studies" / "hjs-2025"
    events = tmp_path / "events.csv"
    events.write_text("event_id,family\nX-1,sanctions\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["study", "run", str(study), "--quick", "--events", str(events),
                                 "--out", str(out)])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert line.startswith(f"error: {events}, row 1, column 'actor': missing column"), line
    assert not out.exists()


def test_check_audit_unknown_hypothesis_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "audit", "studies/hjs-2025", "--hypothesis", "H99",
                                 "--out", str(tmp_path / "audit")])
    assert result.exit_code == 2
    assert "unknown hypotheses ['H99']" in result.output
    assert not (tmp_path / "audit").exists()


def test_check_audit_placebo_without_an_audit_names_the_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "audit-placebo", "studies/hjs-2025", "--hypothesis",
                                 "H4", "--out", str(tmp_path / "audit")])
    assert result.exit_code == 2, result.output
    assert f"{tmp_path / 'audit' / 'audit.json'}: no audit file" in result.output
    assert not (tmp_path / "audit").exists()
