"""The study's "what to expect" step: forecasts under scenarios and rolling-origin backtests.

Forecasts come from the null model (the model whose window reaches furthest: the last month
of nationality-level data), under the baseline and the example scenarios in
``scenarios/``. Backtests score the null, the full and each hypothesis model against a
seasonal-naive forecast, out of sample.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hybridflow.briefing import figures
from hybridflow.briefing.document import FigureItem, TableItem
from hybridflow.models.spec import spec_hash
from hybridflow.study.cache import step_key

if TYPE_CHECKING:
    from hybridflow.study.runner import StudyRun

#: Scenario files shown in the briefing, relative to the repository's scenarios/ folder.
SCENARIOS = ("eu_package_energy.toml", "losses_high.toml")


def _scenario_paths(run: StudyRun) -> list[Path]:
    folder = (run.study_dir / run.spec.models_dir / ".." / "scenarios").resolve()
    return [folder / s for s in SCENARIOS if (folder / s).is_file()]


def forecasts(run: StudyRun) -> None:
    """Baseline forecast from the null model; each scenario from a model that can feel it.

    The null model has no drivers, so a scenario (a new sanctions package, a level of
    losses) changes nothing in it. Each scenario is therefore read from the fitted count
    model that reaches the latest month (the same forecast months as the baseline) and
    has a driver the scenario moves, preferring the model with the fewest drivers (the
    hypothesis model). If no such model is fitted, the briefing says so.
    """
    from hybridflow.analysis.forecast import forecast, forecast_summary_text

    name = run.spec.null_model
    fit = run.fits.get(name)
    if fit is None:
        return
    horizon = run.spec.checks.forecast_horizon
    seed = run.spec.sampling.seed
    fc = forecast(fit, run.panel, run.events, horizon=horizon, seed=seed)
    out = run.out / "tables"
    fc.to_netcdf(out / "forecast.nc")
    fc.to_csv(out / "forecast.csv")
    run.tables["forecast"] = fc.summary()
    lines = forecast_summary_text(fc)
    fig = figures.fan_chart(**fc.fan_chart_data())
    run.artefacts.setdefault("figures", []).append(FigureItem(
        "forecast_fan", "forecast",
        f"The next {horizon} months from the {name} model (baseline scenario: no new events, "
        "drivers at their last values): median, 50% and 90% predictive intervals.",
        figures.to_png(fig)))
    end = str(fit.idata.posterior.attrs.get("window_end"))
    for path in _scenario_paths(run):
        lines.append(_scenario_text(run, path, end, horizon, seed))
    run.artefacts.setdefault("sections", {})["forecast"] = " ".join(lines)


def _scenario_text(run: StudyRun, path: Path, end: str, horizon: int, seed: int) -> str:
    """One scenario, read from the first candidate model it changes (see forecasts)."""
    from hybridflow.analysis.forecast import forecast, forecast_summary_text

    candidates = []
    for model, fit in run.fits.items():
        attrs = fit.idata.posterior.attrs
        if (model == run.spec.null_model or model not in run.spec.models
                or attrs.get("outcome", "counts") != "counts"
                or str(attrs.get("window_end")) != end or "driver" not in fit.idata.posterior):
            continue
        candidates.append((fit.idata.posterior.sizes["driver"], model))
    for _, model in sorted(candidates):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = forecast(run.fits[model], run.panel, run.events, horizon=horizon,
                          scenarios=[path], seed=seed)
        scen = [n for n in fc.scenario_names if n != fc.baseline]
        if not scen:
            continue
        diff = fc.difference(scen[0])
        if float(np.abs(diff.values).max()) > 0:
            text = " ".join(t for t in forecast_summary_text(fc) if scen[0] in t)
            fc.to_csv(run.out / "tables" / f"forecast_{scen[0]}.csv")
            return f"{text} (Read from model '{model}', which has a driver the scenario moves.)"
    return (f"Scenario file '{path.name}': no model fitted in this profile both reaches "
            f"{end} and has a driver the scenario moves, so it is not forecast here.")


def backtests(run: StudyRun) -> None:
    from hybridflow.analysis.backtest import rolling_origin
    from hybridflow.study.runner import resolve_model
    from hybridflow.study.steps_checks import _check_sampling, _executor, _refit_sampling

    c = run.spec.checks
    if c.backtest_origins <= 0:
        return
    names = [n for n in run.spec.models if n in run.fits
             and run.fits[n].idata.posterior.attrs.get("outcome", "counts") == "counts"]
    if c.backtest_models:
        names = [n for n in names if n in c.backtest_models]
    specs = [resolve_model(run, n) for n in names]
    s = _refit_sampling(run)
    key = step_key("backtest", [spec_hash(sp) for sp in specs], c.backtest_origins, s,
                   run.data_key())
    files = ["backtest", "backtest_summary"]
    if run.state.is_done("backtest", key):
        table = pd.read_csv(run.tables_dir / "backtest_summary.csv",
                            keep_default_na=False, na_values=[""])
        text = run.state.info("backtest").get("text", [])
    else:
        res = rolling_origin(
            specs, run.panel, run.events, origins=c.backtest_origins, horizons=(1, 2, 3),
            sampling=_check_sampling(run, target_accept=0.95), seed=s["seed"],
            executor=_executor(run), null=run.spec.null_model,
        )
        run.write_table("backtest", res.table)
        run.write_table("backtest_summary", res.summary)
        table = res.summary
        text = res.text()
        run.state.mark("backtest", key, [f"tables/{f}.csv" for f in files], text=text)
    run.tables["backtest_summary"] = table
    level = table[table["level"] == "total"] if "level" in table else table
    run.artefacts.setdefault("tables", []).append(TableItem(
        "backtest", "forecast",
        f"Out-of-sample backtest: expanding window, {c.backtest_origins} origins, horizons 1-3 "
        "months; CRPS (lower is better), interval coverage and MAE of route totals; skill = "
        "1 - CRPS / CRPS of the comparison", level))
    sections = run.artefacts.setdefault("sections", {})
    sections["forecast"] = (sections.get("forecast", "") + " " + " ".join(text)).strip()


def run_step(run: StudyRun) -> None:
    """Forecasts, then backtests (which refit on the run's executor)."""
    import time

    for label, fn in (("forecasts", forecasts), ("backtests", backtests)):
        t0 = time.perf_counter()
        fn(run)
        run.timings[f"forecast: {label}"] = seconds = time.perf_counter() - t0
        run.console.print(f"  - {label}: {seconds:.0f} s")
