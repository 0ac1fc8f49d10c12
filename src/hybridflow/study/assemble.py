"""Turn a study run's tables and fits into the briefing.

Every number in the briefing is read from the run's tables (written to ``tables/``) or
computed here from the stored fits; nothing is typed in by hand. Figures are drawn with
:mod:`hybridflow.briefing.figures`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.briefing import figures
from hybridflow.briefing.document import Briefing, FigureItem, TableItem, write_briefing
from hybridflow.inference.posterior import SAMPLE_DIMS, hdi_over_draws

if TYPE_CHECKING:
    from pathlib import Path

    from hybridflow.study.runner import StudyRun

SAMPLE = SAMPLE_DIMS  # the posterior module owns the sample dims

LIMITS = [
    "These are associations under stated model assumptions (a count model with trend, "
    "seasonality, known regime changes and lagged driver effects). They are not proof that "
    "any state directed migrants: that needs documented evidence (directives, intelligence "
    "assessments, communications, consistent facilitation), which statistics cannot supply.",
    "At most, a well-graded effect is 'consistent patterns' evidence in the evidence framework "
    "of docs/report-claims.md; a null or contrary effect is evidence against the report's "
    "specific statistical claim, not against instrumentalisation as such.",
    "Detections are not persons and depend on enforcement: walls, closures, push-back laws "
    "and asylum suspensions change counts independently of any sender. The models include "
    "the major ones as regimes, but unrecorded changes in enforcement remain a confounder.",
    "Sanctions rounds, losses and strikes cluster in time with each other and with the war's "
    "phases; effects estimated jointly share information and can trade off against each "
    "other. The sensitivity and placebo checks show how fragile each headline is.",
    "Russian losses are Ukrainian official claims; ACLED counts events located inside Russia "
    "(not only Ukrainian strikes); territory series come from open-source trackers. Errors in "
    "these drivers bias effects towards zero.",
    "Monthly data cannot resolve effects faster than a month, and the nationality-level "
    "series end in April 2025 (later months only have route totals).",
    "Many hypotheses and variants were examined; a single 'strong' grade among many tests is "
    "weaker evidence than it looks in isolation.",
]


def _pct(x: float) -> str:
    return f"{x:+.1f}%"


def _hypotheses_frame(hyp: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in hyp.to_dict(orient="records"):
        if r["grade"] == "not estimated":
            rows.append({"hypothesis": f"{r['hypothesis']}: {r['title']}", "claim": r["claim"],
                         "model": r["model"], "driver": r["driver"], "estimate": "-",
                         "interval": "-", "p_direction": "-", "grade": r["grade"],
                         "reading": r["reading"], "converged": True})
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
            "estimate": f"{_pct(r['pct_mean'])}{unit}",
            "interval": f"{_pct(r['pct_hdi_low'])} to {_pct(r['pct_hdi_high'])}",
            "p_direction": f"{r['p_direction']:.2f}",
            "grade": r["grade"],
            "reading": _reading({str(k): v for k, v in r.items()}),
            "converged": bool(r["converged"]),
        })
    return pd.DataFrame(rows)


def _reading(r: dict[str, Any]) -> str:
    if r.get("outcome") == "share":
        expects = "a higher share" if r["direction"] == "+" else "a lower share"
    else:
        expects = ("more" if r["direction"] == "+" else "fewer") + " detections"
    base = (f"The report expects {expects}. {r['reading'].capitalize()}: "
            f"P(predicted direction) = {r['p_direction']:.2f}, "
            f"P(|effect| < 10%) = {r['p_rope']:.2f}.")
    if isinstance(r.get("grade_reasons"), str) and r["grade_reasons"]:
        base += f" ({r['grade_reasons']}.)"
    return base


def _diagnostics_status(diag: pd.DataFrame) -> tuple[str, bool, list[str]]:
    bad = diag[~diag["converged"].astype(bool)]
    n = len(diag)
    if bad.empty:
        return (f"all {n} fits passed the convergence gate (R-hat <= 1.01, bulk and tail "
                "ESS >= 400, no divergences) on every reported parameter", True, [])
    warnings = [
        f"Fit '{r.model}' did NOT pass the convergence gate ({r.divergences} divergences, "
        f"max R-hat {r.max_rhat:.3f}, min bulk ESS {r.min_ess_bulk:.0f}); numbers from it "
        "are shown but must not be relied on."
        for r in bad.itertuples()
    ]
    return f"{len(bad)} of {n} fits FAILED the convergence gate", False, warnings


def _counterfactual_figures(run: StudyRun, model: str) -> list[FigureItem]:
    from hybridflow.analysis.effects import contributions

    fit = run.fits.get(model)
    if fit is None or "effect" not in fit.idata.posterior:
        return []
    post = fit.idata.posterior
    log_mu = post["log_mu"]
    contrib = contributions(fit.idata)
    y = fit.idata.constant_data.get("y", None)
    if y is None:
        return []
    months = pd.DatetimeIndex(post["month"].values)
    observed = y.sum(["route", "group"], min_count=1).values
    expected = np.exp(log_mu).sum(["route", "group"])
    items = []
    for d in [str(v) for v in contrib["driver"].values]:
        cf = np.exp(log_mu - contrib.sel(driver=d)).sum(["route", "group"])
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
        items.append(FigureItem(f"cf_{model}_{d}", "counterfactual",
                                f"Observed detections, the model's expected detections (median, "
                                f"90% band) and the counterfactual without '{d}'.",
                                figures.to_png(fig)))
    return items


def _lag_figures(run: StudyRun, hyp: pd.DataFrame) -> list[FigureItem]:
    items = []
    for r in hyp.to_dict(orient="records"):
        if r["grade"] == "not estimated" or r["model"] not in run.fits:
            continue
        fit = run.fits[r["model"]]
        post = fit.idata.posterior
        beta = post["effect_mean"].sel(driver=r["driver"])
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
        what = ("the odds of the Others share" if r.get("outcome") == "share"
                else "expected detections")
        items.append(FigureItem(f"lag_{r['hypothesis']}", "lags",
                                f"{r['hypothesis']}: percent change in {what} at each "
                                f"lag after one unit ({r['unit'] or 'unit'}) of '{r['driver']}' "
                                "(population mean; 90% HDI).", figures.to_png(fig)))
    return items


def _vintages(panel: xr.Dataset) -> pd.DataFrame:
    sources = json.loads(panel.attrs.get("sources", "{}"))
    rows = []
    for table, inputs in sources.items():
        for i in inputs:
            rows.append({"table": table, "file": i["file"], "vintage": i["vintage"],
                         "sha256": i["sha256"][:12]})
    return pd.DataFrame(rows)


def _replication_table(run: StudyRun) -> pd.DataFrame:
    claims = run.tables.get("replication_claims")
    if claims is None:
        return pd.DataFrame()
    cols = [c for c in ("id", "statement", "report_text", "our_text", "status", "cause")
            if c in claims.columns]
    return claims[cols]


def _correlations_table(run: StudyRun) -> pd.DataFrame:
    """The report's own correlation variants only; the full grid stays in the CSV."""
    corr = run.tables.get("replication_correlations")
    if corr is None or corr.empty:
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


def build_briefing(run: StudyRun) -> Briefing:
    """Assemble the briefing from a finished run."""
    hyp = run.tables["hypotheses"]
    diag = run.tables["diagnostics"]
    status, converged, warns = _diagnostics_status(diag)
    if run.profile != "default":
        warns.insert(0, f"This is the '{run.profile}' profile: fewer draws and smaller checks "
                        "than the default study. Use it to check the pipeline, not to cite.")
    s = run.spec.sampling
    figs: list[FigureItem] = []
    tables: list[TableItem] = []
    figs += _counterfactual_figures(run, "full")
    figs += _lag_figures(run, hyp)
    figs += run.artefacts.get("figures", [])
    tables += run.artefacts.get("tables", [])
    comparison = run.tables.get("comparison")
    if comparison is not None:
        cols = [c for c in ("model", "window", "baseline", "elpd_loo", "se", "p_loo",
                            "elpd_diff_vs_baseline", "se_diff", "stacking_weight",
                            "pareto_k_max", "n_pareto_k_bad") if c in comparison.columns]
        tables.append(TableItem("comparison", "comparison",
                                "PSIS-LOO by comparison set (models fitted to the same months); "
                                "elpd differences vs the null model with paired SE (positive: "
                                "the model predicts held-out months better); stacking "
                                "weights within each set", comparison[cols],
                                note="Pareto k > 0.7 marks months the LOO estimate handles "
                                     "poorly; counts are given per model."))
    backtest = run.tables.get("backtest_summary")
    if backtest is not None and "level" in backtest.columns:
        lfo = backtest[(backtest["level"] == "total") & (backtest["horizon"] == 1)]
        cols = [c for c in ("model", "n_origins", "crps", "skill_vs_null", "skill_vs_naive",
                            "origins_better_than_null", "coverage90") if c in lfo.columns]
        if not lfo.empty:
            tables.append(TableItem(
                "lfo", "comparison",
                "Leave-future-out: one-month-ahead forecasts of the route total from models "
                "refitted at each origin (CRPS, lower is better; skill = 1 - CRPS / CRPS of the "
                "null; positive skill means the drivers help out of sample)", lfo[cols],
                note="All horizons are in the backtest table under 'What to expect'."))
    rep = _replication_table(run)
    if not rep.empty:
        tables.append(TableItem("replication", "replication",
                                "Every figure the report states, recomputed with the report's "
                                "own method (window, grouping, Pearson r)", rep))
    corr = _correlations_table(run)
    if not corr.empty:
        tables.append(TableItem("correlations", "replication",
                                "The report's correlations (its own variable choices) in levels, "
                                "first differences and after removing trend and seasonality; "
                                "p adjusted for autocorrelation uses the effective sample size",
                                corr, note="Every variant (trackers, signed and one-sided "
                                "territory series, data vintages) is in "
                                "tables/replication_correlations.csv."))
    mis = run.tables.get("replication_misdated")
    if mis is not None and not mis.empty:
        tables.append(TableItem("misdated", "replication",
                                "Sanctions rounds the report dates wrongly", mis))
    tables.append(TableItem("diagnostics", "diagnostics", "Convergence gate per fit", diag))
    tables.append(TableItem("vintages", "data", "Data vintages (sha256 of each raw input)",
                            _vintages(run.panel)))
    sections = {
        "grades": "Evidence grades follow one fixed rule (docs/tutorial.md): strong = "
                  "P(direction) >= 0.975 and P(effect beyond +-10% in that direction) >= 0.75; "
                  "moderate = 0.90 and 0.50; weak = P(direction) >= 0.75; practically null = "
                  "P(|effect| < 10%) >= 0.90; contrary = P(effect beyond 10% the other way) >= "
                  "0.90. A non-extreme placebo rank or a same-signed negative-control effect "
                  "lowers a grade by one step. Unconverged fits get no grade.",
        "counterfactual": "What the full model expects with and without each driver. The gap "
                          "between the two lines is the driver's estimated contribution.",
        "diagnostics": f"Sampler {s.sampler}, {s.chains} chains x {s.draws} draws after "
                       f"{s.tune} tuning steps, seed {s.seed}.",
    }
    sections.update(run.artefacts.get("sections", {}))
    title = run.spec.title
    return Briefing(
        title=title,
        subtitle=run.spec.subtitle,
        hypotheses=_hypotheses_frame(hyp),
        diagnostics_status=status,
        converged=converged,
        warnings=warns,
        figures=figs,
        tables=tables,
        sections=sections,
        provenance={
            "study": f"{run.spec.name} (profile {run.profile})",
            "data": f"snapshot {run.panel.attrs.get('snapshot_sha256', '')[:12]}; detections "
                    f"from {run.panel.attrs.get('detections_source', 'snapshot')}",
            "fits": ", ".join(f"{n} ({f.idata.posterior.attrs.get('spec_hash', '')[:8]})"
                              for n, f in run.fits.items()),
            "software": _versions(run),
        },
        limits=LIMITS,
    )


def _versions(run: StudyRun) -> str:
    if not run.fits:
        return ""
    attrs = next(iter(run.fits.values())).idata.posterior.attrs
    return ", ".join(f"{k.removeprefix('version_')} {v}" for k, v in attrs.items()
                     if k.startswith("version_"))


def write_study_briefing(run: StudyRun) -> dict[str, Path]:
    """Build and write the briefing into the run's results folder."""
    return write_briefing(build_briefing(run), run.out)
