"""The study's checks: predictive checks, placebo-in-time, negative controls, known
episodes and sensitivity. Each is a resumable step (re-run only when its inputs change);
its tables go to ``tables/`` and its figures into the briefing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from hybridflow.briefing import figures
from hybridflow.briefing.document import FigureItem, TableItem
from hybridflow.inference.sampling import Sampling
from hybridflow.models.spec import spec_hash
from hybridflow.study.cache import step_key

if TYPE_CHECKING:
    from hybridflow.inference.executor import Executor
    from hybridflow.study.runner import StudyRun


def _executor(run: StudyRun) -> Executor:
    from hybridflow.inference.executor import make_executor

    if "executor" not in run.artefacts:
        opts = run.executor_options
        if opts.get("scheduler") or opts.get("dask_local"):
            ex = make_executor("dask", scheduler=opts.get("scheduler"),
                               dask_local=opts.get("dask_local"))
        else:
            ex = make_executor("process", workers=opts.get("workers") or 2)
        run.artefacts["executor"] = ex
    ex = run.artefacts["executor"]
    return ex  # type: ignore[no-any-return]


def _refit_sampling(run: StudyRun) -> dict[str, Any]:
    """The checks' refit settings and seed as their cache keys and notes record them."""
    c = run.spec.checks
    return {"draws": c.refit_draws, "tune": c.refit_tune, "chains": c.refit_chains,
            "sampler": run.spec.sampling.sampler, "seed": run.spec.sampling.seed}


def _check_sampling(run: StudyRun, *, target_accept: float = 0.9) -> Sampling:
    """The checks' refit settings as a Sampling. Target acceptance 0.9 is the checks' own
    default; the backtests pass 0.95, a headline fit's, as they always have."""
    c = run.spec.checks
    return Sampling(draws=c.refit_draws, tune=c.refit_tune, chains=c.refit_chains,
                    sampler=run.spec.sampling.sampler, target_accept=target_accept)


def _cached(run: StudyRun, name: str, key: str, names: list[str],
            compute: Callable[[], dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """Run ``compute`` unless step ``name`` is done with ``key``; tables by name."""
    files = [f"tables/{n}.csv" for n in names]
    if run.state.is_done(name, key):
        return {n: run.read_table(n) for n in names}
    tables = compute()
    for n in names:
        run.write_table(n, tables[n])
    run.state.mark(name, key, files)
    return tables


def _add_figure(run: StudyRun, item: FigureItem) -> None:
    run.artefacts.setdefault("figures", []).append(item)


def _add_table(run: StudyRun, item: TableItem) -> None:
    run.artefacts.setdefault("tables", []).append(item)


def _hyp_model(run: StudyRun, model: str) -> str:
    from hybridflow.study.runner import hypothesis_model

    return hypothesis_model(run, model)


# ------------------------------------------------------------------ predictive checks


def predictive_checks(run: StudyRun) -> None:
    from hybridflow.analysis.checks.ppc import TOTAL, posterior_predictive, predictive_check

    frames, band_frames = [], []
    for name, fit in run.fits.items():
        key = step_key("ppc", fit.idata.posterior.attrs.get("spec_hash"), run.data_key(),
                       run.sampling())

        def compute(fit: Any = fit, name: str = name) -> dict[str, pd.DataFrame]:
            ppd = posterior_predictive(fit, n_draws=1000, seed=run.spec.sampling.seed)
            counts = fit.idata.posterior.attrs.get("outcome", "counts") == "counts"
            check = predictive_check(ppd, seed=run.spec.sampling.seed, totals=counts)
            cov = check.coverage.copy()
            cov.insert(0, "model", name)
            bands = check.bands_table()
            bands.insert(0, "model", name)
            return {f"ppc_{name}": cov, f"ppc_bands_{name}": bands}

        t = _cached(run, f"ppc:{name}", key, [f"ppc_{name}", f"ppc_bands_{name}"], compute)
        frames.append(t[f"ppc_{name}"])
        band_frames.append(t[f"ppc_bands_{name}"])
    coverage = pd.concat(frames, ignore_index=True)
    run.write_table("ppc_coverage", coverage)
    _add_table(run, TableItem(
        "ppc", "ppc", "Posterior predictive coverage of the observed monthly counts (share of "
        "months inside the central 50% and 90% intervals; well calibrated: about 0.5 and 0.9) "
        "and PIT uniformity", coverage))
    for name in ("null", "full"):
        bands = next((b for b in band_frames if (b["model"] == name).all()), None)
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
        _add_figure(run, FigureItem(f"ppc_{name}", "ppc",
                                    f"Posterior predictive 50% and 90% intervals of monthly "
                                    f"detections from the {name} model, with the observed counts.",
                                    figures.to_png(fig)))


# ------------------------------------------------------------------ placebo


def placebo(run: StudyRun) -> None:
    from hybridflow.analysis.checks.placebo import placebo_in_time
    from hybridflow.study.runner import resolve_model

    c = run.spec.checks
    if c.placebo_n <= 0 or not c.placebo_enabled:
        return
    placebo_p: dict[str, float] = {}
    summaries = []
    s = _refit_sampling(run)
    for h in run.spec.hypotheses:
        if not h.placebo or (c.placebo_hypotheses and h.id not in c.placebo_hypotheses):
            continue
        model = _hyp_model(run, h.model)
        spec = resolve_model(run, model)
        key = step_key("placebo", spec_hash(spec), h.driver, h.direction, c.placebo_n, s,
                       run.data_key())
        name = f"placebo_{h.id}"

        def compute(spec: Any = spec, h: Any = h, name: str = name) -> dict[str, pd.DataFrame]:
            res = placebo_in_time(
                spec, h.driver, run.panel, run.events, n=c.placebo_n, seed=s["seed"],
                sampling=_check_sampling(run), direction=h.direction, executor=_executor(run),
            )
            table = res.table()
            summary = pd.DataFrame([{"hypothesis": h.id, "model": spec.name, **res.summary()}])
            return {name: table, f"{name}_summary": summary}

        t = _cached(run, f"placebo:{h.id}", key, [name, f"{name}_summary"], compute)
        summ = t[f"{name}_summary"].iloc[0].to_dict()
        placebo_p[h.id] = float(summ["rank_p"])
        summaries.append(t[f"{name}_summary"])
        fig = figures.placebo_histogram(
            t[name]["pct_mean"].to_numpy(), float(summ["observed_pct_mean"]),
            title=f"{h.id} {h.driver}", rank_p=float(summ["rank_p"]),
        )
        _add_figure(run, FigureItem(
            f"placebo_{h.id}", "placebo",
            f"{h.id}: the effect of '{h.driver}' at its real dates (line) against "
            f"{int(summ['n_placebo'])} random re-datings of the same number of events.",
            figures.to_png(fig)))
    run.artefacts["placebo_p"] = placebo_p
    if summaries:
        table = pd.concat(summaries, ignore_index=True)
        run.write_table("placebo_summary", table)
        cols = [c for c in ("hypothesis", "driver", "n_events", "n_placebo", "n_failed",
                            "observed_pct_mean", "placebo_pct_median", "placebo_pct_q05",
                            "placebo_pct_q95", "rank_p") if c in table]
        _add_table(run, TableItem(
            "placebo", "placebo", "Placebo-in-time: observed effect vs random re-datings "
            "(rank_p = share of placebo effects at least as large in the claimed direction)",
            table[cols], note=str(table["rule"].iloc[0]) if "rule" in table else ""))


# ------------------------------------------------------------------ negative controls


def controls(run: StudyRun) -> None:
    from hybridflow.analysis.checks.controls import negative_controls
    from hybridflow.study.runner import resolve_model

    c = run.spec.checks
    if not c.controls_enabled or not c.negative_control_routes:
        return
    hyps = [h for h in run.spec.hypotheses if h.id in c.negative_control_hypotheses]
    if not hyps:
        return
    spec = resolve_model(run, run.spec.fallback_model or "full")
    drivers = [h.driver for h in hyps]
    directions = {h.driver: h.direction for h in hyps}
    s = _refit_sampling(run)
    key = step_key("controls", spec_hash(spec), drivers, c.negative_control_routes, s,
                   run.data_key())

    def compute() -> dict[str, pd.DataFrame]:
        table = negative_controls(
            spec, run.panel, run.events, c.negative_control_routes, drivers=drivers,
            directions=directions, sampling=_check_sampling(run), seed=s["seed"],
            executor=_executor(run),
        )
        return {"negative_controls": table}

    table = _cached(run, "controls", key, ["negative_controls"], compute)["negative_controls"]
    negctl: dict[str, float] = {}
    for h in hyps:
        rows = table[table["driver"] == h.driver]
        if not rows.empty and rows["p_direction"].notna().any():
            negctl[h.id] = float(rows["p_direction"].max())
    run.artefacts["negative_control_p"] = negctl
    cols = [c for c in ("route", "driver", "mean", "low", "high", "p_direction", "converged",
                        "window") if c in table]
    _add_table(run, TableItem(
        "controls", "placebo", "Negative controls: the same drivers on routes with no land "
        "border with Russia or Belarus (percent effect, 90% HDI); an effect here points to "
        "confounding (EU-wide trends, shared seasonality), not instrumentalisation", table[cols],
        note=f"Each control is a refit with {s['draws']} draws after {s['tune']} tuning steps x "
             f"{s['chains']} chains; 'converged' applies the full gate (ESS >= 400), which so "
             "few draws alone can fail."))


# ------------------------------------------------------------------ known episodes


def episodes(run: StudyRun) -> None:
    from hybridflow.analysis.checks.episodes import episode_anomaly
    from hybridflow.study.runner import resolve_model

    c = run.spec.checks
    if not c.episodes_enabled or not c.episodes:
        return
    spec = resolve_model(run, c.episode_model)
    eps = [(e.name, e.start, e.end) for e in c.episodes]
    s = _refit_sampling(run)
    key = step_key("episodes", spec_hash(spec), eps, s, c.episode_modes, run.data_key())

    def compute() -> dict[str, pd.DataFrame]:
        summaries, scores = [], []
        for mode in c.episode_modes:
            res = episode_anomaly(spec, run.panel, run.events, eps,
                                  sampling=_check_sampling(run), seed=s["seed"],
                                  holdout=mode == "holdout")
            summary = res.summary.copy()
            summary.insert(1, "mode", mode)
            summary["converged"] = res.converged
            summary["removed"] = "; ".join(res.removed)
            summaries.append(summary)
            sc = res.scores.copy()
            sc.insert(0, "mode", mode)
            scores.append(sc)
        return {"episodes": pd.concat(summaries, ignore_index=True),
                "episode_scores": pd.concat(scores, ignore_index=True)}

    t = _cached(run, "episodes", key, ["episodes", "episode_scores"], compute)
    table = t["episodes"]
    cols = [c for c in ("episode", "mode", "series", "start", "end", "min_tail_p", "max_z",
                        "peak_month", "peak_rank", "n_months", "flagged", "converged")
            if c in table.columns]
    notes = ["Flagged: some month of the episode has tail probability < 0.05. In-sample: the "
             "model saw the episode's counts (only not as an event), so its trend can absorb "
             "part of it; holdout: the episode's months were left out of the fit."]
    if "removed" in table.columns and len(table) and str(table["removed"].iloc[0]) != "nan":
        notes.append(f"Taken out of the model: {table['removed'].iloc[0]}.")
    _add_table(run, TableItem(
        "episodes", "episodes", "Would the baseline model (fitted without the episodes) have "
        "flagged them? Smallest monthly tail probability P(replicated >= observed), largest "
        "z-score, and the peak month's rank among all months (1 = most anomalous)",
        table[cols], note=" ".join(notes)))


# ------------------------------------------------------------------ sensitivity


def sensitivity(run: StudyRun) -> None:
    from hybridflow.analysis.checks.sensitivity import sensitivity_grid
    from hybridflow.study.runner import resolve_model

    c = run.spec.checks
    sens = c.sensitivity
    if not c.sensitivity_enabled or not sens.hypotheses:
        return
    frames = []
    s = _refit_sampling(run)
    for h in run.spec.hypotheses:
        if h.id not in sens.hypotheses:
            continue
        model = _hyp_model(run, h.model)
        spec = resolve_model(run, model)
        starts = [spec.data.start, *[w for w in sens.window_starts if w != spec.data.start]]
        groupings = ["ukrrussbel", *sens.groupings]
        key = step_key("sensitivity", spec_hash(spec), h.driver, sens.model_dump(), s,
                       run.data_key())
        name = f"sensitivity_{h.id}"

        def compute(spec: Any = spec, h: Any = h, starts: Any = starts,
                    groupings: Any = groupings, name: str = name) -> dict[str, pd.DataFrame]:
            table = sensitivity_grid(
                spec, h.driver, run.panel, run.events, prior_scales=sens.prior_scales,
                kernels=sens.kernels, window_starts=starts, groupings=groupings,
                direction=h.direction, panel_label=f"{h.id} {h.driver}",
                sampling=_check_sampling(run), seed=s["seed"], executor=_executor(run),
            )
            return {name: table}

        frames.append(_cached(run, f"sensitivity:{h.id}", key, [name], compute)[name])
    if not frames:
        return
    table = pd.concat(frames, ignore_index=True)
    run.write_table("sensitivity", table)
    fig = figures.forest_plot(table, title="Headline effects under alternative choices")
    _add_figure(run, FigureItem(
        "sensitivity", "sensitivity",
        "Each row changes one choice (prior scale, lag kernel, window start, grouping); "
        "filled dots passed the convergence gate, hollow did not; grey band is the +-10% ROPE. "
        f"Every row is a refit with {s['draws']} draws after {s['tune']} tuning steps x "
        f"{s['chains']} chains (the checks' refit settings), so its 'baseline' row can differ "
        "a little from the headline fit, and few draws alone can fail the gate's ESS >= 400: "
        "read hollow rows as indicative.",
        figures.to_png(fig)))


STEPS = (
    ("predictive checks", predictive_checks),
    ("placebo", placebo),
    ("negative controls", controls),
    ("episodes", episodes),
    ("sensitivity", sensitivity),
)


def run_step(run: StudyRun) -> None:
    """All checks, in order (the run's executor stays open for the next steps)."""
    import time

    for label, fn in STEPS:
        t0 = time.perf_counter()
        fn(run)
        run.timings[f"checks: {label}"] = seconds = time.perf_counter() - t0
        run.console.print(f"  - {label}: {seconds:.0f} s")
