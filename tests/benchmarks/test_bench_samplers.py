"""benchmarks/bench_samplers.py: placebo re-dating, CPU metering, tables, and a smoke run."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hybridflow.models.spec import parse_spec

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_samplers.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_samplers", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_samplers"] = module
    spec.loader.exec_module(module)
    return module


def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": ["S1", "S2", "B1"],
            "family": ["sanctions", "sanctions", "border_policy"],
            "announced_date": pd.to_datetime(["2022-02-20", None, None]),
            "start_date": pd.to_datetime(["2022-02-23", "2023-06-23", "2021-08-01"]),
            "end_date": pd.to_datetime([None, None, "2021-11-15"]),
            "effective_date": pd.to_datetime(["2022-02-23", "2023-06-23", "2021-08-01"]),
        }
    )


def test_placebo_events_redate_only_driver_families(bench: ModuleType) -> None:
    spec = parse_spec(
        {
            "name": "p",
            "data": {"start": "2020-01", "end": "2021-12"},
            "drivers": [{"name": "s", "source": "events", "filter": {"family": "sanctions"}}],
        }
    )
    events = _events()
    moved = [bench.placebo_events(spec, events, np.random.default_rng(s)) for s in range(40)]
    window = (pd.Timestamp("2020-01-01"), pd.Timestamp("2021-12-31"))
    for out in moved:
        eff = out["effective_date"].iloc[:2]
        assert eff.between(*window).all()
        assert list(eff.dt.day) == [23, 23]  # day of month kept
        # The announcement stays 3 days before the start; the border event is untouched.
        assert out["start_date"].iloc[0] - out["announced_date"].iloc[0] == pd.Timedelta(days=3)
        pd.testing.assert_series_equal(out.iloc[2], events.iloc[2])
    months = {d.strftime("%Y-%m") for out in moved for d in out["effective_date"].iloc[:2]}
    assert len(months) > 15  # spread over the 24 months, not a fixed shift
    again = bench.placebo_events(spec, events, np.random.default_rng(3))
    pd.testing.assert_frame_equal(again, moved[3])


def test_cpu_meter_counts_child_processes(bench: ModuleType) -> None:
    meter = bench.CpuMeter(interval=0.05)
    if not meter.available:
        pytest.skip("no /proc on this platform")
    before = meter.read()
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)
    used = meter.read() - before
    meter.close()
    assert used >= 0.4


def test_sampler_table_ratios_against_pymc(bench: ModuleType) -> None:
    stats = {"ess_bulk_min": 100.0, "ess_bulk_median": 200.0, "rhat_max": 1.0, "divergences": 0}
    rows: list[dict[str, Any]] = [
        bench._row("pymc", 10.0, 100.0, 110.0, dict(stats), 200.0, 220.0),
        bench._row("nutpie", 40.0, 20.0, 60.0, {**stats, "ess_bulk_min": 150.0}, 40.0, 80.0),
        {"sampler": "numpyro", "skipped": "jax is not installed"},
    ]
    text, ratios = bench.sampler_table(rows)
    assert ratios["pymc"]["ess_per_s_min"] == 1.0
    # nutpie: 150/20 = 7.5 ESS/s against pymc's 100/100 = 1.0
    assert ratios["nutpie"]["ess_per_s_min"] == 7.5
    assert ratios["nutpie"]["ess_per_s_median"] == 5.0  # (200/20) / (200/100)
    assert ratios["nutpie"]["ess_per_s_min_incl_compile"] == round(2.5 / (100 / 110), 2)
    assert ratios["nutpie"]["ess_per_cpu_s_min"] == round((150 / 40) / (100 / 200), 2)
    assert "numpyro" in text and "skipped: jax is not installed" in text
    assert "numpyro" not in ratios


def test_smoke_arguments_are_clamped(bench: ModuleType, tmp_path: Path) -> None:
    a = bench.parse_args(["--smoke", "--out", str(tmp_path)])
    assert (a.draws, a.tune, a.placebo_n, a.per_fit_k) == (100, 100, 3, 1)
    assert a.name == "smoke" and a.out == tmp_path
    with pytest.raises(SystemExit):
        bench.parse_args(["--samplers", "pymc,stan"])


@pytest.mark.slow
def test_smoke_run_writes_results(tmp_path: Path) -> None:
    # About a minute on a quiet 2-core machine: three numba compiles of a tiny model.
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--smoke",
            "--samplers",
            "pymc,nutpie",
            "--placebo-n",
            "2",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = tmp_path.glob("smoke-*.json")
    result = json.loads(path.read_text())
    assert [r["sampler"] for r in result["samplers"]] == ["pymc", "nutpie"]
    assert all(r["ess_bulk_min"] > 0 for r in result["samplers"])
    assert result["machine"]["cpu_count"] >= 1 and result["machine"]["packages"]["pymc"]
    assert len(result["placebo"]["compile_once"]["refits"]) == 2
    assert result["placebo"]["per_fit_compile"]["total_is"] == "extrapolated from 1 fits"
    assert "x pymc" in proc.stdout
