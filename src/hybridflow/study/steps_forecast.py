"""The study's "what to expect" step: forecasts under scenarios and rolling-origin backtests.

Forecasts come from the null model (the model whose window reaches furthest: the last month
of nationality-level data), under the baseline and the example scenarios in
``scenarios/``. Backtests score the null, the full and each hypothesis model against a
seasonal-naive forecast, out of sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from hybridflow.models.spec import spec_hash
from hybridflow.report import figures
from hybridflow.report.briefing import FigureItem, TableItem
from hybridflow.study.cache import step_key

if TYPE_CHECKING:
    from hybridflow.study.runner import StudyRun

#: Scenario files shown in the briefing, relative to the repository's scenarios/ folder.
SCENARIOS = ("eu_package_energy.toml", "losses_high.toml")


def _scenario_paths(run: StudyRun) -> list[Path]:
    folder = (run.study_dir / run.spec.models_dir / ".." / "scenarios").resolve()
    return [folder / s for s in SCENARIOS if (folder / s).is_file()]


def forecasts(run: StudyRun) -> None:
    from hybridflow.analysis.forecast import forecast, forecast_summary_text

    name = run.spec.null_model
    fit = run.fits.get(name)
    if fit is None:
        return
    horizon = run.spec.checks.forecast_horizon
    fc = forecast(fit, run.panel, run.events, horizon=horizon,
                  scenarios=_scenario_paths(run), seed=run.spec.sampling.seed)
    out = run.out / "tables"
    fc.to_netcdf(out / "forecast.nc")
    fc.to_csv(out / "forecast.csv")
    summary = fc.summary()
    run.tables["forecast"] = summary
    lines = forecast_summary_text(fc)
    kwargs = fc.fan_chart_data()
    fig = figures.fan_chart(**kwargs)
    run.artefacts.setdefault("figures", []).append(FigureItem(
        "forecast_fan", "forecast",
        f"The next {horizon} months from the {name} model (baseline scenario: no new events, "
        "drivers at their last values): median, 50% and 90% predictive intervals.",
        figures.to_png(fig)))
    run.artefacts.setdefault("sections", {})["forecast"] = " ".join(lines)


def backtests(run: StudyRun) -> None:
    from hybridflow.analysis.backtest import rolling_origin
    from hybridflow.study.runner import resolve_model
    from hybridflow.study.steps_checks import _executor, _refit_sampling

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
            draws=s["draws"], tune=s["tune"], chains=s["chains"], seed=s["seed"],
            sampler=s["sampler"], executor=_executor(run), null=run.spec.null_model,
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
    """Forecasts, then backtests (which use the executor for their refits)."""
    try:
        run.console.print("  - forecasts")
        forecasts(run)
        run.console.print("  - backtests")
        backtests(run)
    finally:
        ex = run.artefacts.pop("executor", None)
        if ex is not None:
            ex.close()
