"""Step: what to expect, the null model's forecast and the example scenarios.

Forecasts come from the null model (the model whose window reaches furthest: the last month
of nationality-level data), under the baseline and the example scenarios in
``scenarios/``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from hybridflow.analysis.forecast import forecast, forecast_summary_text
from hybridflow.study.context import StudyContext
from hybridflow.study.results import FitsResult, ForecastResult, ScenarioOutcome, StudyResults

#: Scenario files shown in the briefing, relative to the repository's scenarios/ folder.
SCENARIOS = ("eu_package_energy.toml", "losses_high.toml")


def scenario_paths(context: StudyContext) -> list[Path]:
    folder = (context.study_dir / context.spec.models_dir / ".." / "scenarios").resolve()
    return [folder / s for s in SCENARIOS if (folder / s).is_file()]


def run(context: StudyContext, results: StudyResults) -> ForecastResult | None:
    """Baseline forecast from the null model; each scenario from a model that can feel it.

    The null model has no drivers, so a scenario (a new sanctions package, a level of
    losses) changes nothing in it. Each scenario is therefore read from the fitted count
    model that reaches the latest month (the same forecast months as the baseline) and
    has a driver the scenario moves, preferring the model with the fewest drivers (the
    hypothesis model). If no such model is fitted, the briefing says so.
    """
    fitted = results.fitted()
    name = context.spec.null_model
    fit = fitted.fits.get(name)
    if fit is None:
        return None
    horizon = context.spec.checks.forecast_horizon
    seed = context.spec.sampling.seed
    fc = forecast(fit, context.panel, context.events, horizon=horizon, seed=seed)
    out = context.out / "tables"
    fc.to_netcdf(out / "forecast.nc")
    fc.to_csv(out / "forecast.csv")
    end = str(fit.idata.posterior.attrs.get("window_end"))
    scenarios = tuple(scenario_forecast(context, fitted, path, end, horizon, seed)
                      for path in scenario_paths(context))
    return ForecastResult(model=name, horizon=horizon, forecast=fc,
                          text=tuple(forecast_summary_text(fc)), scenarios=scenarios)


def scenario_forecast(context: StudyContext, fitted: FitsResult, path: Path, end: str,
                      horizon: int, seed: int) -> ScenarioOutcome:
    """One scenario, read from the first candidate model it changes (see :func:`run`)."""
    candidates = []
    for model, fit in fitted.fits.items():
        attrs = fit.idata.posterior.attrs
        if (model == context.spec.null_model or model not in context.spec.models
                or attrs.get("outcome", "counts") != "counts"
                or str(attrs.get("window_end")) != end or "driver" not in fit.idata.posterior):
            continue
        candidates.append((fit.idata.posterior.sizes["driver"], model))
    for _, model in sorted(candidates):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = forecast(fitted.fits[model], context.panel, context.events, horizon=horizon,
                          scenarios=[path], seed=seed)
        scen = [n for n in fc.scenario_names if n != fc.baseline]
        if not scen:
            continue
        diff = fc.difference(scen[0])
        if float(np.abs(diff.values).max()) > 0:
            text = " ".join(t for t in forecast_summary_text(fc) if scen[0] in t)
            fc.to_csv(context.out / "tables" / f"forecast_{scen[0]}.csv")
            return ScenarioOutcome(file=path.name, window_end=end, model=model, text=text)
    return ScenarioOutcome(file=path.name, window_end=end)
