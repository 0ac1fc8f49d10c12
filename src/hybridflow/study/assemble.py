"""Turn a study's results into the briefing: the one place a :class:`Briefing` is assembled.

Every number in the briefing is read from the steps' results (the tables they wrote to
``tables/``) or computed here from the stored fits; nothing is typed in by hand. Figures
are drawn with :mod:`hybridflow.briefing.figures`; every caption and explanation comes
from :mod:`hybridflow.briefing.captions`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.analysis.audit.metrics import underpowered
from hybridflow.analysis.audit.store import figure_data as audit_figure_data
from hybridflow.analysis.checks.ppc import TOTAL
from hybridflow.analysis.effects import contributions, reference_counterfactual_draws, units_table
from hybridflow.briefing import captions, figures
from hybridflow.briefing.document import Briefing, FigureItem, TableItem
from hybridflow.inference.posterior import SAMPLE_DIMS, hdi_bounds, hdi_over_draws
from hybridflow.inference.result import FitResult
from hybridflow.numbers import format_number
from hybridflow.study.context import StudyContext
from hybridflow.study.results import (
    BacktestResult,
    ControlsResult,
    EpisodesResult,
    PlaceboResult,
    PredictiveChecksResult,
    ReplicationResult,
    StudyResults,
)

SAMPLE = SAMPLE_DIMS  # the posterior module owns the sample dims

#: The models whose predictive bands are drawn.
PPC_FIGURE_MODELS = ("null", "full")
#: The model whose counterfactuals are drawn.
COUNTERFACTUAL_MODEL = "full"


def build_briefing(context: StudyContext, results: StudyResults) -> Briefing:
    """Assemble the briefing from a finished run."""
    graded = results.graded()
    hyp = graded.table
    diag = results.diagnosed().table
    status, converged, warns = diagnostics_status(diag)
    if context.profile != "default":
        warns.insert(0, captions.profile_warning(context.profile))
    fits = results.fitted().fits
    units = hypothesis_units(fits, hyp)
    return Briefing(
        title=context.spec.title,
        subtitle=context.spec.subtitle,
        hypotheses=hypotheses_frame(hyp, headline_units(units), graded.groups),
        diagnostics_status=status,
        converged=converged,
        warnings=warns,
        figures=briefing_figures(results),
        tables=[*units_tables(units), *check_tables(results), *summary_tables(context, results)],
        sections=briefing_sections(context, results),
        provenance=provenance(context, results.fitted().fits),
        limits=captions.LIMITS,
    )


# ------------------------------------------------------------------ page one


def _pct(x: float) -> str:
    return f"{x:+.1f}%"


def group_effects_text(r: Mapping[Any, Any], groups: pd.DataFrame) -> str:
    """Every group's effect for the hypothesis of row ``r``, then the pooled mean or why
    it is not shown ("" for a one-series model)."""
    if "hypothesis" not in groups:
        return ""
    mine = groups[groups["hypothesis"] == r["hypothesis"]]
    if len(mine) < 2:
        return ""
    rows = [(str(g["group"]), float(g["pct_mean"]), float(g["pct_hdi_low"]),
             float(g["pct_hdi_high"])) for g in mine.to_dict(orient="records")]
    pooled = (f"{_pct(float(r['pooled_pct_mean']))} ({_pct(float(r['pooled_pct_hdi_low']))} "
              f"to {_pct(float(r['pooled_pct_hdi_high']))})" if r.get("groups_agree")
              else str(r.get("pooled_note") or "groups differ"))
    return captions.group_effects(rows, pooled)


def hypotheses_frame(hyp: pd.DataFrame, in_units: Mapping[str, str] | None = None,
                     groups: pd.DataFrame | None = None) -> pd.DataFrame:
    """The hypotheses table as the reader sees it: one formatted row per hypothesis, the
    graded estimand first and every group's effect beside it (``in_units``: each
    hypothesis's effect in readers' units, :func:`headline_units`)."""
    groups = pd.DataFrame() if groups is None else groups
    rows = []
    in_units = in_units or {}
    for r in hyp.to_dict(orient="records"):
        if r["grade"] == "not estimated":
            rows.append({"hypothesis": f"{r['hypothesis']}: {r['title']}", "claim": r["claim"],
                         "model": r["model"], "driver": r["driver"], "estimate": "-",
                         "interval": "-", "in_units": "-", "groups": "", "p_direction": "-",
                         "grade": r["grade"], "reading": r["reading"], "converged": True})
            continue
        unit = f" per {r['unit']}" if isinstance(r.get("unit"), str) and r["unit"] else ""
        if r.get("outcome") == "share":
            # A share model's effect is on the odds of the share, not on counts.
            unit = f" in the odds of the Others share{unit}"
        rows.append({
            "hypothesis": f"{r['hypothesis']}: {r['title']}",
            "claim": r["claim"],
            "model": r["model"],
            "driver": r["driver"],
            "estimate": f"{r.get('level') or 'pooled'}: {_pct(r['pct_mean'])}{unit}",
            "interval": f"{_pct(r['pct_hdi_low'])} to {_pct(r['pct_hdi_high'])}",
            "in_units": in_units.get(str(r["hypothesis"]), "-"),
            "groups": group_effects_text(r, groups),
            "p_direction": f"{r['p_direction']:.2f}",
            "grade": r["grade"],
            "reading": captions.hypothesis_reading({str(k): v for k, v in r.items()}),
            "converged": bool(r["converged"]),
        })
    return pd.DataFrame(rows)


def diagnostics_status(diag: pd.DataFrame) -> tuple[str, bool, list[str]]:
    """Page one's convergence status, whether every fit passed, and a warning per failure."""
    bad = diag[~diag["converged"].astype(bool)]
    n = len(diag)
    if bad.empty:
        return captions.all_fits_converged(n), True, []
    warnings = [captions.fit_not_converged(r.model, r.divergences, r.max_rhat, r.min_ess_bulk)
                for r in bad.itertuples()]
    return captions.fits_failed(len(bad), n), False, warnings


# ------------------------------------------------------------------ figures


def briefing_figures(results: StudyResults) -> list[FigureItem]:
    """Every figure, in the briefing's order (effects first, then the checks, forecasts)."""
    fits = results.fitted().fits
    figs = counterfactual_figures(fits, COUNTERFACTUAL_MODEL)
    figs += lag_figures(fits, results.graded().table)
    if results.ppc is not None:
        figs += ppc_figures(results.ppc)
    if results.placebo is not None:
        figs += placebo_figures(results.placebo)
    if results.audit is not None and results.audit.status == "ok":
        fig = figures.audit_rates(**audit_figure_data(results.audit.table, ""))
        figs.append(FigureItem("audit", "audit", captions.AUDIT_TABLE, figures.to_png(fig)))
    if results.sensitivity is not None:
        s = results.sensitivity.sampling
        fig = figures.forest_plot(results.sensitivity.table,
                                  title="Headline effects under alternative choices")
        figs.append(FigureItem("sensitivity", "sensitivity",
                               captions.sensitivity_figure(s["draws"], s["tune"], s["chains"]),
                               figures.to_png(fig)))
    if results.forecasts is not None:
        fc = results.forecasts
        fig = figures.fan_chart(**fc.forecast.fan_chart_data())
        figs.append(FigureItem("forecast_fan", "forecast",
                               captions.forecast_fan(fc.horizon, fc.model), figures.to_png(fig)))
    return figs


def counterfactual_figures(fits: Mapping[str, FitResult], model: str) -> list[FigureItem]:
    """Observed and expected counts of ``model``, and the counterfactual with each driver
    at its documented reference (:func:`~hybridflow.analysis.effects.default_reference`)."""
    fit = fits.get(model)
    if fit is None or "effect" not in fit.idata.posterior:
        return []
    post = fit.idata.posterior
    contrib = contributions(fit.idata)
    y = fit.idata.constant_data.get("y", None)
    if y is None:
        return []
    months = pd.DatetimeIndex(post["month"].values)
    observed = y.sum(["route", "group"], min_count=1).values
    items = []
    for d in [str(v) for v in contrib["driver"].values]:
        expected_d, cf_d, reference = reference_counterfactual_draws(fit.idata, d)
        expected, cf = expected_d.sum(["route", "group"]), cf_d.sum(["route", "group"])
        excess = (expected - cf).sum("month")
        low, high = hdi_bounds(excess.values, 0.9)
        excess_text = (f"{format_number(float(excess.mean()))} detections (90% HDI "
                       f"{format_number(low)} to {format_number(high)})")
        bands = [np.asarray(expected.quantile(q, SAMPLE).values) for q in (0.05, 0.5, 0.95)]
        cf_bands = [np.asarray(cf.quantile(q, SAMPLE).values) for q in (0.05, 0.5, 0.95)]
        # Start a year before the driver first moves the expected counts: the flat years
        # before it say nothing about the driver and squeeze the months that do.
        mean_contrib = np.asarray(contrib.sel(driver=d).mean(SAMPLE).transpose("month", ...))
        active = np.abs(mean_contrib).reshape(len(months), -1).max(axis=1)
        first = int(np.argmax(active > 1e-6)) if (active > 1e-6).any() else 0
        keep = slice(max(0, first - 12), None)
        fig = figures.counterfactual_plot(
            months[keep], observed[keep], np.vstack(bands)[:, keep],
            np.vstack(cf_bands)[:, keep],
            title=f"{model}: {d} (all groups, Eastern Borders)",
        )
        caption = captions.counterfactual_figure(d, reference, excess_text)
        items.append(FigureItem(f"cf_{model}_{d}", "counterfactual", caption,
                                figures.to_png(fig)))
    return items


def hypothesis_units(fits: Mapping[str, FitResult], hyp: pd.DataFrame) -> pd.DataFrame:
    """Every graded hypothesis's effect in readers' units
    (:func:`~hybridflow.analysis.effects.units_table` of its model and driver), at the
    hypothesis's group or, for a population-mean hypothesis, pooled and summed over groups."""
    frames = []
    for r in hyp.to_dict(orient="records"):
        if r["grade"] == "not estimated" or r["model"] not in fits:
            continue
        idata = fits[r["model"]].idata
        table = units_table(idata, drivers=[str(r["driver"])])
        groups = {str(g) for g in idata.posterior["group"].values}
        want = {str(r["level"])} if str(r.get("level")) in groups else {"(all)", "(pooled)"}
        table = table[table["group"].isin(want)]
        p_dir = table["p_positive"] if r["direction"] == "+" else 1.0 - table["p_positive"]
        frames.append(table.assign(hypothesis=r["hypothesis"], model=r["model"],
                                   p_direction=p_dir))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _unit_text(row: Mapping[Any, Any]) -> str:
    return captions.effect_in_units(str(row["measure"]), str(row["unit"]), row["mean"],
                                    row["hdi_low"], row["hdi_high"], row["p_direction"])


def headline_units(units: pd.DataFrame) -> dict[str, str]:
    """Page one's effect in readers' units, per hypothesis: the excess per event for
    events, else the percent per natural unit, else per IQR."""
    out: dict[str, str] = {}
    if units.empty:
        return out
    for measure in ("pct_per_iqr", "pct_per_unit", "excess_per_event"):  # last one wins
        for row in units[units["measure"] == measure].to_dict(orient="records"):
            out[str(row["hypothesis"])] = _unit_text(row)
    return out


def units_tables(units: pd.DataFrame) -> list[TableItem]:
    """The hypotheses' effects in readers' units, for the counterfactual section."""
    if units.empty:
        return []
    frame = pd.DataFrame({
        "hypothesis": units["hypothesis"], "model": units["model"], "driver": units["driver"],
        "group": units["group"], "measure": units["measure"].map(captions.measure_name),
        "estimate": [_unit_text(r) for r in units.to_dict(orient="records")],
    })
    return [TableItem("units", "counterfactual", captions.UNITS_TABLE, frame,
                      note=captions.UNITS_NOTE)]


def lag_figures(fits: Mapping[str, FitResult], hyp: pd.DataFrame) -> list[FigureItem]:
    """Percent effect at each lag of every graded hypothesis's driver."""
    items = []
    for r in hyp.to_dict(orient="records"):
        if r["grade"] == "not estimated" or r["model"] not in fits:
            continue
        fit = fits[r["model"]]
        post = fit.idata.posterior
        level = str(r.get("level") or "pooled")
        # The graded estimand's lags: its group's effect, or the population mean.
        beta = (post["effect_mean"].sel(driver=r["driver"]) if level == "pooled"
                else post["effect"].sel(driver=r["driver"], group=level).isel(route=0))
        w = post["kernel_weights"].sel(driver=r["driver"])
        lag_pct = 100.0 * (np.exp(beta * w) - 1.0)
        max_lag = int(fit.idata.constant_data["driver_max_lag"].sel(driver=r["driver"]))
        lag_pct = lag_pct.isel(lag=slice(0, max_lag + 1))
        low, high = hdi_over_draws(lag_pct, 0.9)
        fig = figures.effect_by_lag_plot(
            lag_pct["lag"].values, lag_pct.mean(SAMPLE).values,
            low.values, high.values,
            title=f"{r['hypothesis']}: {r['driver']}",
        )
        caption = captions.lag_figure(str(r["hypothesis"]), r.get("outcome"), r["unit"],
                                      str(r["driver"]),
                                      "population mean" if level == "pooled" else level)
        items.append(FigureItem(f"lag_{r['hypothesis']}", "lags", caption, figures.to_png(fig)))
    return items


def ppc_figures(ppc: PredictiveChecksResult) -> list[FigureItem]:
    """Observed counts inside the predictive bands of the null and the full model."""
    items = []
    for name in PPC_FIGURE_MODELS:
        bands = next((b for b in ppc.bands.values() if (b["model"] == name).all()), None)
        if bands is None:
            continue
        total = bands[bands["group"].astype(str) == TOTAL]
        sub = total if not total.empty else bands[bands["group"] == bands["group"].iloc[0]]
        sub = sub.sort_values("month")
        qcols = [c for c in sub.columns if c.startswith("q")]
        fig = figures.ppc_plot(pd.DatetimeIndex(pd.to_datetime(sub["month"])),
                               sub["observed"].to_numpy(),
                               sub[qcols].to_numpy().T,
                               title=f"{name}: observed vs posterior predictive "
                                     f"({sub['group'].iloc[0]})")
        items.append(FigureItem(f"ppc_{name}", "ppc", captions.ppc_figure(name),
                                figures.to_png(fig)))
    return items


def placebo_figures(placebo: PlaceboResult) -> list[FigureItem]:
    """The observed effect against its placebo distribution, per hypothesis."""
    items = []
    for check in placebo.checks:
        summ = check.row
        used = check.placebos[check.placebos["ok"].astype(bool)]  # refits that passed the gate
        fig = figures.placebo_histogram(
            used["pct_mean"].to_numpy(), float(summ["observed_pct_mean"]),
            title=f"{check.hypothesis} {check.driver}", rank_p=float(summ["rank_p"]),
        )
        items.append(FigureItem(
            f"placebo_{check.hypothesis}", "placebo",
            captions.placebo_figure(check.hypothesis, check.driver, int(summ["n_placebo"])),
            figures.to_png(fig)))
    return items


# ------------------------------------------------------------------ tables


def check_tables(results: StudyResults) -> list[TableItem]:
    """The checks' tables, in step order."""
    tables = []
    if results.ppc is not None:
        tables.append(TableItem("ppc", "ppc", captions.PPC_TABLE, results.ppc.coverage))
    if results.placebo is not None and results.placebo.table is not None:
        tables.append(placebo_table(results.placebo.table))
    if results.controls is not None:
        tables.append(controls_table(results.controls))
    if results.audit is not None and results.audit.status == "ok":
        tables.append(audit_table(results.audit.table))
    if results.episodes is not None:
        tables.append(episodes_table(results.episodes))
    if results.backtests is not None:
        tables.append(backtest_table(results.backtests))
    return tables


def placebo_table(table: pd.DataFrame) -> TableItem:
    cols = [c for c in ("hypothesis", "driver", "window", "n_placebo", "n_used", "n_failed",
                        "observed_pct_mean", "observed_z", "placebo_z_q05", "placebo_z_q95",
                        "p", "p_two_sided", "ran", "passed") if c in table]
    return TableItem("placebo", "placebo", captions.PLACEBO_TABLE, table[cols],
                     note=str(table["rule"].iloc[0]) if "rule" in table else "")


def audit_table(table: pd.DataFrame) -> TableItem:
    cols = [c for c in table.columns
            if c in ("hypothesis", "n_null", "false_positives", "false_positive_rate",
                     "fp_low", "fp_high", "false_positives_checked",
                     "false_positive_rate_checked", "placebo_complete", "coverage",
                     "null_hdi_width", "n_worlds", "n_failed")
            or c.startswith("power_")]
    return TableItem("audit", "audit", captions.AUDIT_TABLE, table[cols].round(3))


def controls_table(controls: ControlsResult) -> TableItem:
    table, s = controls.table, controls.sampling
    cols = [c for c in ("hypothesis", "route", "driver", "mean", "low", "high", "p_direction",
                        "p_either", "converged", "window") if c in table]
    return TableItem("controls", "placebo", captions.CONTROLS_TABLE, table[cols],
                     note=captions.controls_note(s["draws"], s["tune"], s["chains"]))


def episodes_table(episodes: EpisodesResult) -> TableItem:
    table = episodes.table
    cols = [c for c in ("episode", "mode", "series", "start", "end", "min_tail_p", "max_z",
                        "peak_month", "peak_rank", "n_months", "flagged", "converged")
            if c in table.columns]
    notes = [captions.EPISODES_FLAGGED_NOTE]
    if "removed" in table.columns and len(table) and str(table["removed"].iloc[0]) != "nan":
        notes.append(captions.episodes_removed_note(table["removed"].iloc[0]))
    return TableItem("episodes", "episodes", captions.EPISODES_TABLE, table[cols],
                     note=" ".join(notes))


def backtest_table(backtests: BacktestResult) -> TableItem:
    table = backtests.summary
    level = table[table["level"] == "total"] if "level" in table else table
    return TableItem("backtest", "forecast", captions.backtest_table(backtests.origins), level)


def summary_tables(context: StudyContext, results: StudyResults) -> list[TableItem]:
    """Comparison, leave-future-out, replication, diagnostics and data tables."""
    tables = []
    if results.comparison is not None:
        comparison = results.comparison.table
        cols = [c for c in ("model", "window", "baseline", "elpd_loo", "se", "p_loo",
                            "elpd_diff_vs_baseline", "se_diff", "stacking_weight",
                            "pareto_k_max", "n_pareto_k_bad") if c in comparison.columns]
        tables.append(TableItem("comparison", "comparison", captions.COMPARISON_TABLE,
                                comparison[cols], note=captions.COMPARISON_NOTE))
    if results.backtests is not None:
        tables += lfo_table(results.backtests.summary)
    if results.replication is not None:
        tables += replication_tables(results.replication)
    tables.append(TableItem("diagnostics", "diagnostics", captions.DIAGNOSTICS_TABLE,
                            results.diagnosed().table))
    tables.append(TableItem("vintages", "data", captions.VINTAGES_TABLE,
                            vintages(context.panel)))
    return tables


def lfo_table(backtest: pd.DataFrame) -> list[TableItem]:
    """The backtest's one-month-ahead route totals, as a model comparison (or nothing)."""
    if "level" not in backtest.columns:
        return []
    lfo = backtest[(backtest["level"] == "total") & (backtest["horizon"] == 1)]
    cols = [c for c in ("model", "n_origins", "crps", "skill_vs_null", "skill_vs_naive",
                        "origins_better_than_null", "coverage90") if c in lfo.columns]
    if lfo.empty:
        return []
    return [TableItem("lfo", "comparison", captions.LFO_TABLE, lfo[cols],
                      note=captions.LFO_NOTE)]


def replication_tables(rep: ReplicationResult) -> list[TableItem]:
    """The report's claims, its correlations and its misdated sanctions rounds."""
    tables = []
    cols = [c for c in ("id", "statement", "report_text", "our_text", "status", "cause")
            if c in rep.claims.columns]
    if not rep.claims[cols].empty:
        tables.append(TableItem("replication", "replication", captions.REPLICATION_TABLE,
                                rep.claims[cols]))
    corr = primary_correlations(rep.correlations)
    if not corr.empty:
        tables.append(TableItem("correlations", "replication", captions.CORRELATIONS_TABLE,
                                corr, note=captions.CORRELATIONS_NOTE))
    if not rep.misdated.empty:
        tables.append(TableItem("misdated", "replication", captions.MISDATED_TABLE,
                                rep.misdated))
    return tables


def primary_correlations(corr: pd.DataFrame) -> pd.DataFrame:
    """The report's own correlation variants only; the full grid stays in the CSV."""
    if corr.empty:
        return pd.DataFrame()
    if "primary" in corr.columns:
        corr = corr[corr["primary"].astype(str).str.lower().isin(["true", "yes", "1"])]
        if "encounters" in corr.columns:
            # One detections series (the primary one) per claim; vintages are in the CSV.
            first = corr.groupby("claim")["encounters"].transform("first")
            corr = corr[corr["encounters"] == first]
    cols = [c for c in ("claim", "x", "tracker", "transform", "window", "n", "r", "r2",
                        "p_naive", "n_eff", "p_adjusted") if c in corr.columns]
    return corr[cols].reset_index(drop=True)


def vintages(panel: xr.Dataset) -> pd.DataFrame:
    """One row per raw input of the panel: file, vintage and the start of its sha256."""
    sources = json.loads(panel.attrs.get("sources", "{}"))
    rows = []
    for table, inputs in sources.items():
        for i in inputs:
            rows.append({"table": table, "file": i["file"], "vintage": i["vintage"],
                         "sha256": i["sha256"][:12]})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ text


def briefing_sections(context: StudyContext, results: StudyResults) -> dict[str, str]:
    """The sections' explanatory text (grades, counterfactuals, sampling, what to expect)."""
    s = context.spec.sampling
    sections = {
        "grades": captions.grades_section(_audit_rates(results), len(results.graded().table)),
        "counterfactual": captions.COUNTERFACTUAL_SECTION,
        "diagnostics": captions.diagnostics_section(s.sampler, s.chains, s.draws, s.tune,
                                                    s.seed),
    }
    if results.audit is not None:
        a = results.audit
        low = underpowered(a.table) if a.status == "ok" else []
        sections["audit"] = captions.audit_section(a.status, str(a.path), a.message, low)
    forecast = forecast_text(results)
    if forecast is not None:
        sections["forecast"] = forecast
    return sections


def _audit_rates(results: StudyResults) -> list[float]:
    """The audit's false-positive rate of every graded hypothesis (NaN where not audited)."""
    hyp = results.graded().table
    if "audit_false_positive_rate" not in hyp:
        return [float("nan")] * len(hyp)
    return [float(v) for v in hyp["audit_false_positive_rate"]]


def forecast_text(results: StudyResults) -> str | None:
    """The baseline forecast, each scenario and the backtest in words (None if neither ran)."""
    text = None
    if results.forecasts is not None:
        lines = list(results.forecasts.text)
        for sc in results.forecasts.scenarios:
            lines.append(captions.scenario_not_forecast(sc.file, sc.window_end)
                         if sc.model is None else captions.scenario_read_from(sc.text, sc.model))
        text = " ".join(lines)
    if results.backtests is not None:
        text = ((text or "") + " " + " ".join(results.backtests.text)).strip()
    return text


def provenance(context: StudyContext, fits: Mapping[str, FitResult]) -> dict[str, str]:
    """Study, data snapshot, fits (with their spec hashes) and software versions."""
    attrs = context.panel.attrs
    return {
        "study": f"{context.spec.name} (profile {context.profile})",
        "data": f"snapshot {attrs.get('snapshot_sha256', '')[:12]}; detections "
                f"from {attrs.get('detections_source', 'snapshot')}",
        "fits": ", ".join(f"{n} ({f.idata.posterior.attrs.get('spec_hash', '')[:8]})"
                          for n, f in fits.items()),
        "software": versions(fits),
    }


def versions(fits: Mapping[str, FitResult]) -> str:
    """The package versions recorded in the first fit."""
    if not fits:
        return ""
    attrs = next(iter(fits.values())).idata.posterior.attrs
    return ", ".join(f"{k.removeprefix('version_')} {v}" for k, v in attrs.items()
                     if k.startswith("version_"))
