"""Command-line interface: thin typer commands over the public functions.

No logic lives here beyond argument parsing, printing, and turning hybridflow's errors
into a one-line message and exit code 2.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hybridflow.errors import HybridflowError

app = typer.Typer(
    name="hybridflow",
    help="Bayesian causal inference on migration pressure at borders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Load, inspect, build, export and validate data.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")

console = Console()
err_console = Console(stderr=True)

EXIT_BAD_INPUT = 2


def handle_errors[F: Callable[..., Any]](func: F) -> F:
    """Turn hybridflow's own errors into one red line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HybridflowError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except ValueError as exc:
            # pydantic and our own validators raise ValueError subclasses for bad specs.
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper  # type: ignore[return-value]


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


DetectionsOpt = Annotated[
    Path | None,
    typer.Option("--data", help="Your own detections CSV (month,route,nationality,detections)."),
]
DriversOpt = Annotated[
    Path | None, typer.Option("--drivers", help="Your own drivers CSV (month,driver,value).")
]
EventsOpt = Annotated[
    Path | None, typer.Option("--events", help="Your own event catalogue CSV.")
]


@data_app.command("show")
@handle_errors
def data_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    check_report: Annotated[
        bool, typer.Option("--check-report", help="Compare two headline figures with the report.")
    ] = False,
    data: DetectionsOpt = None,
    drivers: DriversOpt = None,
) -> None:
    """Print coverage per source: first and last month, cells, vintage."""
    from hybridflow.data.panel import load_panel
    from hybridflow.data.summary import check_report as _check
    from hybridflow.data.summary import coverage
    from hybridflow.numbers import format_number

    panel = load_panel(detections=data, drivers=drivers)
    cov = coverage(panel)
    check = _check(panel) if check_report else None
    if as_json:
        out: dict[str, Any] = {"coverage": cov.to_dict(orient="records")}
        if check is not None:
            out["check_report"] = check
        _print_json(out)
        return
    table = Table(title="hybridflow panel: coverage per source")
    for col in cov.columns:
        table.add_column(col, no_wrap=col != "vintage", overflow="fold")
    for rec in cov.itertuples(index=False):
        table.add_row(*[format_number(v) if isinstance(v, int) else str(v) for v in rec])
    console.print(table)
    if check is not None:
        _print_check(check)


def _print_check(check: dict[str, Any]) -> None:
    from hybridflow.data.sources.frontex import nationality_label
    from hybridflow.numbers import format_number

    eb = check["eastern_borders_mean"]
    console.print(
        f"\n[bold]Eastern Borders route, mean monthly detections, {eb['window']}[/]: "
        f"ours {eb['ours']:.0f} ({eb['months']} months; "
        f"newer vintage alone {eb['ours_newer_vintage_only']:.0f}), report {eb['report']:.0f}"
    )
    if eb["months_from_newer_vintage"]:
        console.print(
            "  months taken from the newer route-total vintage: "
            + ", ".join(eb["months_from_newer_vintage"])
        )
    top = check["top10_others"]
    table = Table(title=f"Top ten non-UkrRussBel nationalities, Eastern Borders, {top['window']}")
    table.add_column("rank")
    table.add_column("ours", no_wrap=True)  # "Syria (SYR)" on one line
    table.add_column("detections", justify="right")
    table.add_column("report", no_wrap=True)
    table.add_column("report figure", justify="right")
    table.add_column("ours for report's nationality", justify="right")
    for i, (ours, rep) in enumerate(zip(top["ours"], top["report"], strict=False), start=1):
        table.add_row(str(i), nationality_label(ours["nationality"]),
                      format_number(ours["detections"]), nationality_label(rep["nationality"]),
                      format_number(rep["detections"]),
                      format_number(top["report_ours"][rep["nationality"]]))
    console.print(table)
    console.print("See docs/data.md, 'Sanity against the report', for why the figures differ.")


@data_app.command("build")
@handle_errors
def data_build(
    raw: Annotated[Path, typer.Option("--raw", help="Folder of raw official files.")] = Path(
        "../shared/data/raw"
    ),
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: the embedded snapshot).")
    ] = None,
) -> None:
    """Regenerate the snapshot's derived monthly tables and MANIFEST from raw files."""
    from hybridflow.data.build import build_snapshot, default_snapshot_dir

    manifest = build_snapshot(raw, out)
    tables = manifest["tables"]
    assert isinstance(tables, dict)
    for name, info in tables.items():
        console.print(f"{name:18s} {info['rows']:>7d} rows  {info['first_month']} to "
                      f"{info['last_month']}")
    console.print(f"snapshot written to {out or default_snapshot_dir()}")


@data_app.command("export")
@handle_errors
def data_export(
    out: Annotated[
        Path,
        typer.Option("--out", help="File to write (panel.nc, panel.csv), or a folder for "
                                   "one CSV per variable."),
    ],
    fmt: Annotated[str, typer.Option("--format", help="csv or netcdf.")] = "netcdf",
    data: DetectionsOpt = None,
    drivers: DriversOpt = None,
) -> None:
    """Write the panel as one netCDF file, one tidy CSV file, or a folder of CSV files."""
    from hybridflow.data.export import check_export_target, export_panel
    from hybridflow.data.panel import load_panel

    check_export_target(out, fmt)  # before the panel is loaded: a wrong path fails at once
    written = export_panel(load_panel(detections=data, drivers=drivers), out, fmt)
    console.print(f"panel written to {written}", highlight=False, soft_wrap=True)


@data_app.command("validate")
@handle_errors
def data_validate(
    path: Annotated[Path, typer.Argument(help="A detections, drivers or events CSV.")],
    kind: Annotated[
        str | None, typer.Option("--kind", help="detections, drivers or events (default: guess).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Check a user's data file; exit code 2 with the first problem found."""
    from hybridflow.data.byo import validate_file

    summary = validate_file(path, kind=kind)
    if as_json:
        _print_json({"path": str(path), "ok": True, **summary.to_dict()})
        return
    console.print(f"[green]ok[/] {path}: {summary.text()}", highlight=False, soft_wrap=True)


@data_app.command("update")
@handle_errors
def data_update(
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only these sources (repeatable).")
    ] = None,
    url: Annotated[
        list[str] | None, typer.Option("--url", help="Override a source URL: NAME=URL.")
    ] = None,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir")] = None,
) -> None:
    """Download the newest official files into the user cache (validated before use)."""
    from hybridflow.data.fetch import update

    urls = dict(u.split("=", 1) for u in (url or []))
    report = update(source or None, cache_dir=cache_dir, urls=urls)
    console.print(report)
    if not report.ok:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command("replicate")
@handle_errors
def replicate_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    data: DetectionsOpt = None,
    drivers: DriversOpt = None,
) -> None:
    """Recompute every figure the report states, with its own method, beside ours."""
    from hybridflow.analysis.replication import replicate
    from hybridflow.data.events import load_events
    from hybridflow.data.panel import load_panel

    result = replicate(load_panel(detections=data, drivers=drivers), load_events())
    if as_json:
        sys.stdout.write(result.to_json(indent=2) + "\n")
    else:
        console.print(result.render_text(), highlight=False)


study_app = typer.Typer(help="Run studies: fits, checks and the briefing.", no_args_is_help=True)
app.add_typer(study_app, name="study")

WorkersOpt = Annotated[
    int | None, typer.Option("--workers", help="Local worker processes for many-fit checks.")
]
SchedulerOpt = Annotated[
    str | None, typer.Option("--scheduler", help="A dask scheduler address, tcp://HOST:PORT.")
]
DaskLocalOpt = Annotated[
    int | None, typer.Option("--dask-local", help="Start a local dask cluster of N workers.")
]


@app.command("fit")
@handle_errors
def fit_cmd(
    spec: Annotated[Path, typer.Argument(help="A model spec (TOML), e.g. models/full.toml.")],
    out: Annotated[Path | None, typer.Option("--out", help="Result folder.")] = None,
    data: DetectionsOpt = None,
    drivers: DriversOpt = None,
    events: EventsOpt = None,
    draws: Annotated[int, typer.Option(help="Posterior draws per chain.")] = 1000,
    tune: Annotated[int, typer.Option(help="Tuning steps per chain.")] = 1000,
    chains: Annotated[int, typer.Option(help="Number of chains.")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same numbers).")] = 1,
    sampler: Annotated[str, typer.Option(help="nutpie (default) or pymc.")] = "nutpie",
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with an error if the fit did not converge.")
    ] = False,
) -> None:
    """Fit a model spec and write the posterior (fit.nc), effects.csv and diagnostics."""
    from hybridflow.analysis.effects import effects_table
    from hybridflow.data.events import load_events
    from hybridflow.data.panel import load_panel
    from hybridflow.inference.fit import fit_spec
    from hybridflow.inference.sampling import Sampling
    from hybridflow.models.spec import load_spec

    model = load_spec(spec)
    out = out or Path("results") / "fits" / model.name
    sampling = Sampling(draws=draws, tune=tune, chains=chains, sampler=sampler)  # type: ignore[arg-type]
    result = fit_spec(
        model, load_panel(detections=data, drivers=drivers), load_events(events),
        sampling=sampling, seed=seed, out=out, effects=effects_table, strict=strict,
        progress=sys.stderr.isatty(),
    )
    style = "green" if result.converged else "bold red"
    console.print(f"[{style}]{result.diagnostics.summary_text()}[/]", highlight=False)
    console.print(f"result written to {result.path}")


@app.command("effects")
@handle_errors
def effects_cmd(
    result: Annotated[Path, typer.Argument(help="A result folder written by `hybridflow fit`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    hdi: Annotated[float, typer.Option("--hdi", help="HDI probability.")] = 0.9,
    rope: Annotated[float, typer.Option("--rope", help="ROPE half-width in percent.")] = 10.0,
) -> None:
    """Per driver and group: percent change, HDI, P(effect > 0), P(|effect| < ROPE)."""
    from hybridflow.analysis.effects import effects_table
    from hybridflow.inference.store import load_result

    fit = load_result(result)
    table = effects_table(fit.idata, hdi_prob=hdi, rope=rope)
    if not fit.converged:
        err_console.print(
            "[bold red]WARNING: this fit did NOT pass the convergence gate; "
            "do not rely on these numbers.[/]\n" + fit.diagnostics.summary_text(),
            highlight=False,
        )
    if as_json:
        _print_json({"converged": fit.converged, "effects": table.to_dict(orient="records")})
        return
    cols = ["level", "driver", "event", "group", "unit", "pct_mean", "pct_hdi_low",
            "pct_hdi_high", "p_positive", "p_rope", "peak_lag"]
    t = Table(title=f"Effects: {fit.spec.name} (% change in expected monthly detections, "
                    f"{int(hdi * 100)}% HDI)")
    for c in cols:
        t.add_column(c)
    for rec in table[[c for c in cols if c in table]].itertuples(index=False):
        t.add_row(*[f"{v:.2f}" if isinstance(v, float) else str(v) for v in rec])
    console.print(t)


@study_app.command("run")
@handle_errors
def study_run(
    study: Annotated[Path, typer.Argument(help="A study folder, e.g. studies/hjs-2025.")],
    quick: Annotated[
        bool, typer.Option("--quick", help="The quick profile: minutes, not for citing.")
    ] = False,
    profile: Annotated[str | None, typer.Option("--profile", help="A named profile.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Results folder.")] = None,
    data: DetectionsOpt = None,
    drivers: DriversOpt = None,
    events: EventsOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    dask_local: DaskLocalOpt = None,
) -> None:
    """Replication, fits, checks, comparison and the briefing; resumes where it stopped."""
    from hybridflow.study.runner import run_study

    name = profile or ("quick" if quick else "default")
    run = run_study(study, profile=name, out=out, data=data, drivers=drivers, events=events,
                    workers=workers, scheduler=scheduler, dask_local=dask_local,
                    console=err_console)
    paths = run.briefing
    console.print(f"Briefing: {paths['html']}\nMarkdown: {paths['markdown']}\n"
                  f"Results folder: {run.out}")


check_app = typer.Typer(help="Calibration and other model checks.", no_args_is_help=True)
app.add_typer(check_app, name="check")


def _make_executor(workers: int | None, scheduler: str | None, dask_local: int | None) -> Any:
    from hybridflow.inference.executor import make_executor

    if scheduler or dask_local:
        return make_executor("dask", scheduler=scheduler, dask_local=dask_local)
    return make_executor("process", workers=workers or 2)


@app.command("forecast")
@handle_errors
def forecast_cmd(
    result: Annotated[Path, typer.Argument(help="A result folder written by `hybridflow fit`.")],
    horizon: Annotated[int, typer.Option("--horizon", min=1, max=6, help="Months ahead.")] = 3,
    scenario: Annotated[
        list[Path] | None, typer.Option("--scenario", help="Scenario file(s) (TOML).")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Report P(detections > N).")
    ] = None,
    month: Annotated[
        str | None, typer.Option("--month", help="Month for --threshold (YYYY-MM).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for forecast files.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    data: DetectionsOpt = None,
    drivers: DriversOpt = None,
) -> None:
    """Posterior predictive detections for the next months, under scenarios."""
    from hybridflow.analysis.forecast import forecast, forecast_summary_text
    from hybridflow.briefing import figures
    from hybridflow.data.events import load_events
    from hybridflow.data.panel import load_panel
    from hybridflow.inference.store import load_result

    fit = load_result(result)
    fc = forecast(fit, load_panel(detections=data, drivers=drivers), load_events(),
                  horizon=horizon, scenarios=list(scenario or []), seed=seed)
    out = out or Path(result) / "forecast"
    fc.to_netcdf(out / "forecast.nc")
    fc.to_csv(out / "forecast.csv", threshold=threshold)
    from hybridflow.io import atomic_path

    with atomic_path(out / "fan_chart.png") as tmp:
        tmp.write_bytes(figures.to_png(figures.fan_chart(**fc.fan_chart_data(
            threshold=threshold))))
    for line in forecast_summary_text(fc, threshold=threshold, month=month):
        console.print(line, highlight=False)
    console.print(f"forecast written to {out}")


@app.command("backtest")
@handle_errors
def backtest_cmd(
    specs: Annotated[list[Path], typer.Argument(help="Model specs to compare (TOML).")],
    origins: Annotated[int, typer.Option("--origins", help="Forecast origins.")] = 24,
    draws: Annotated[int, typer.Option(help="Draws per refit.")] = 200,
    tune: Annotated[int, typer.Option(help="Tuning steps per refit.")] = 200,
    chains: Annotated[int, typer.Option(help="Chains per refit.")] = 2,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    out: Annotated[Path, typer.Option("--out", help="Folder for the tables.")] = Path(
        "results/backtest"
    ),
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    dask_local: DaskLocalOpt = None,
) -> None:
    """Rolling-origin backtests (horizons 1-3) against seasonal-naive and the null model."""
    from hybridflow.analysis.backtest import BACKTEST_SAMPLING, rolling_origin
    from hybridflow.data.events import load_events
    from hybridflow.data.panel import load_panel
    from hybridflow.models.spec import load_spec

    models = [load_spec(p) for p in specs]
    sampling = BACKTEST_SAMPLING.replace(draws=draws, tune=tune, chains=chains)
    with _make_executor(workers, scheduler, dask_local) as ex:
        res = rolling_origin(models, load_panel(), load_events(), origins=origins,
                             sampling=sampling, seed=seed, executor=ex)
    res.to_csv(out)
    for line in res.text():
        console.print(line, highlight=False)
    console.print(f"tables written to {out}")


@check_app.command("sbc")
@handle_errors
def sbc_cmd(
    spec: Annotated[Path, typer.Argument(help="A model spec (TOML).")],
    n: Annotated[int, typer.Option("--n", help="Simulated datasets.")] = 200,
    draws: Annotated[int, typer.Option(help="Draws per fit.")] = 500,
    tune: Annotated[int, typer.Option(help="Tuning steps per fit.")] = 500,
    chains: Annotated[int, typer.Option(help="Chains per fit.")] = 2,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder.")] = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    dask_local: DaskLocalOpt = None,
) -> None:
    """Simulation-based calibration: rank statistics and uniformity tests per parameter."""
    from hybridflow.analysis.sbc import SBC_SAMPLING, run_sbc, write_sbc
    from hybridflow.briefing.figures import sbc_rank_histogram, to_png
    from hybridflow.data.events import load_events
    from hybridflow.data.panel import load_panel
    from hybridflow.models.spec import load_spec

    model = load_spec(spec)
    sampling = SBC_SAMPLING.replace(draws=draws, tune=tune, chains=chains)
    with _make_executor(workers, scheduler, dask_local) as ex:
        res = run_sbc(model, load_panel(), load_events(), n=n, sampling=sampling, seed=seed,
                      executor=ex)
    folder = out or Path("results") / "sbc" / model.name
    write_sbc(res, folder, figure_png=lambda **kw: to_png(sbc_rank_histogram(**kw)))
    console.print(res.summary.to_string(), highlight=False)
    console.print(f"SBC written to {folder}")


@check_app.command("audit")
@handle_errors
def audit_cmd(
    study: Annotated[Path, typer.Argument(help="A study folder, e.g. studies/hjs-2025.")],
    worlds: Annotated[int, typer.Option("--worlds", min=1,
                                        help="Null worlds per hypothesis.")] = 20,
    effect_worlds: Annotated[int | None, typer.Option(
        "--effect-worlds", min=0, help="Effect worlds per hypothesis and effect size "
        "(default: --worlds).")] = None,
    hypothesis: Annotated[list[str] | None, typer.Option(
        "--hypothesis", help="Audit only these hypotheses (repeatable).")] = None,
    group: Annotated[str | None, typer.Option(
        help="The estimand's group (default: each hypothesis's own).")] = None,
    draws: Annotated[int | None, typer.Option(
        help="Draws per fit (default: the study's headline fits').")] = None,
    tune: Annotated[int | None, typer.Option(
        help="Tuning steps per fit (default: the study's).")] = None,
    chains: Annotated[int | None, typer.Option(
        help="Chains per fit (default: the study's).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Output folder (default: the study's [checks] audit folder).")] = None,
    merge: Annotated[bool, typer.Option(
        "--merge", help="Replace only these hypotheses' worlds in the audit already at "
        "--out (same seed, generator and sampling), keeping the others'.")] = False,
    extend: Annotated[bool, typer.Option(
        "--extend", help="As --merge, but take the worlds the audit at --out already holds "
        "(same settings, models and package versions) instead of refitting them: more "
        "--worlds then cost only the new ones.")] = False,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    dask_local: DaskLocalOpt = None,
) -> None:
    """The audit: false-positive rate, coverage, bias and power of each hypothesis' grade
    on fake worlds with the real drivers (docs/audit.md)."""
    from hybridflow.analysis.audit import AUDIT_SAMPLING, run_audit, write_audit
    from hybridflow.analysis.audit.runner import audit_settings
    from hybridflow.analysis.audit.store import check_mergeable, merge_audit, reusable_worlds
    from hybridflow.briefing.figures import audit_rates, to_png
    from hybridflow.data.events import load_events
    from hybridflow.data.panel import load_panel
    from hybridflow.study.spec import load_study
    from hybridflow.study.steps.audit import audit_path, audit_targets

    spec, study_dir = load_study(study)
    targets = audit_targets(spec, study_dir, hypothesis or (), group)
    # The worlds are fitted as the study fits its headline models (draws, tuning, chains,
    # step size target): at fewer draws the gate's R-hat <= 1.01 fails on Monte Carlo
    # noise alone, which says nothing about the study's own fits.
    s = spec.sampling
    sampling = AUDIT_SAMPLING.replace(
        draws=s.draws if draws is None else draws,
        tune=s.tune if tune is None else tune,
        chains=s.chains if chains is None else chains,
        target_accept=s.target_accept,
        sampler=s.sampler,
    )
    folder = out or audit_path(spec, study_dir).parent
    settings = audit_settings(spec.name, sampling=sampling, seed=seed)
    reuse = None
    if extend:
        from hybridflow.inference.fit import package_versions
        from hybridflow.models.spec import spec_hash

        merge = True
        reuse = reusable_worlds(folder, {**settings, "versions": package_versions()},
                                {t.hypothesis: spec_hash(t.spec) for t in targets})
    if merge and reuse is None:  # refuse before the fits (reusable_worlds has checked)
        check_mergeable(folder, settings)
    with _make_executor(workers, scheduler, dask_local) as ex:
        res = run_audit(spec.name, targets, load_panel(), load_events(), n_null=worlds,
                        n_effect=worlds if effect_worlds is None else effect_worlds,
                        sampling=sampling, seed=seed, executor=ex, progress=True,
                        reuse=reuse)
    if merge:
        res = merge_audit(folder, res)
    write_audit(res, folder, figure_png=lambda **kw: to_png(audit_rates(**kw)))
    console.print(res.summary_text(), highlight=False)
    console.print(f"audit written to {folder}")


@check_app.command("audit-placebo")
@handle_errors
def audit_placebo_cmd(
    study: Annotated[Path, typer.Argument(help="A study folder, e.g. studies/hjs-2025.")],
    hypothesis: Annotated[list[str] | None, typer.Option(
        "--hypothesis", help="Only these hypotheses (repeatable).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="The audit's folder (default: the study's [checks] audit folder).")] = None,
    nulls_only: Annotated[bool, typer.Option(
        "--nulls-only", help="Only the null worlds (the false-positive rate).")] = False,
    effect_size: Annotated[list[float] | None, typer.Option(
        "--effect-size", help="Only the effect worlds of these injected sizes in percent, "
        "e.g. 50 (repeatable; the null worlds are left out).")] = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    dask_local: DaskLocalOpt = None,
) -> None:
    """The study's placebo check on every audit world graded above "weak": the false
    "moderate+" rate and the power after the placebo (docs/audit.md). Resumable: worlds
    already in the audit's placebo file are kept."""
    import pandas as pd

    from hybridflow.analysis.audit.checked import CHECKED_FILE, checked_rates, placebo_worlds
    from hybridflow.analysis.audit.store import load_audit, read_worlds
    from hybridflow.data.events import load_events
    from hybridflow.data.panel import load_panel
    from hybridflow.study.spec import load_study
    from hybridflow.study.steps.audit import audit_path, audit_targets

    spec, study_dir = load_study(study)
    targets = audit_targets(spec, study_dir, hypothesis or ())
    folder = out or audit_path(spec, study_dir).parent
    audit = load_audit(folder / "audit.json")
    worlds = read_worlds(audit)
    path = folder / CHECKED_FILE
    done = pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.is_file() else None
    c = spec.checks
    within = (c.placebo_start, c.placebo_end) if c.placebo_start or c.placebo_end else None
    options = {"window": c.placebo_window, "within": within, "unit": c.placebo_unit,
               "min_offset": c.placebo_min_offset, "alpha": c.placebo_alpha}
    rows: list[dict[str, Any]] = [] if done is None else [
        {str(k): v for k, v in r.items()} for r in done.to_dict(orient="records")]
    keys = {(str(r["hypothesis"]), str(r["kind"]), float(r["truth_pct"]), int(r["seed"]))
            for r in rows}

    def keep(row: dict[str, Any]) -> None:
        key = (str(row["hypothesis"]), str(row["kind"]), float(row["truth_pct"]), int(row["seed"]))
        if key not in keys:
            keys.add(key)
            rows.append(row)
            tmp = path.with_suffix(".csv.tmp")  # each world lands whole, or not at all
            pd.DataFrame(rows).to_csv(tmp, index=False)
            tmp.replace(path)
        console.print(f"{row['hypothesis']} world {row['world']} ({row['kind']} "
                      f"{row['truth_pct']:+.0f}%): {row['grade']} -> {row['checked_grade']} "
                      f"(placebo p {row['placebo_p_graded']:.3f}, {row['seconds']:.0f} s)",
                      highlight=False)

    with _make_executor(workers, scheduler, dask_local) as ex:
        todo = worlds[worlds["kind"] == "null"] if nulls_only else worlds
        if effect_size:
            sizes = [abs(float(x)) for x in effect_size]
            todo = todo[(todo["kind"] == "effect")
                        & todo["truth_pct"].astype(float).abs().isin(sizes)]
        placebo_worlds(targets, todo, load_panel(), load_events(), n=c.placebo_n,
                       sampling=spec.gated_sampling(), options=options, executor=ex,
                       done=done, on_row=keep)
    table = checked_rates(worlds, pd.DataFrame(rows))
    console.print(table.to_string(index=False), highlight=False)
    console.print(f"placebo results written to {path}")


def main() -> None:  # pragma: no cover - console entry point
    import warnings

    # PyTensor's C backend warns once that pip-installed numpy has no BLAS it can link;
    # it only affects PyMC's own sampler (nutpie compiles with numba) and alarms readers.
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
