"""Benchmark: NUTS samplers on the flagship model, and compile-once placebo refits.

One run on one machine measures, for ``models/full.toml`` on the real panel:

1. **Samplers** (same draws, tune, chains, seed and ``target_accept`` for each): PyMC's own
   NUTS (``nuts_sampler="pymc"``, the baseline), nutpie, and numpyro (through PyMC's
   ``nuts_sampler="numpyro"``) when ``numpyro`` imports; otherwise that row is skipped with
   the reason. For each: time to first draw (compilation), sampling wall time, bulk ESS
   of the effect parameters (``effect_mean`` and ``effect``, every component; min and
   median), ESS per second (sampling only, and including compilation), divergences and
   the largest R-hat of those parameters.
2. **Placebo refits**: ``--placebo-n`` placebo re-datings of the catalogue events the
   spec's event drivers use (each event moved to a uniformly random month of the window),
   each one fitted with small draws, the same for both arms: (a) per-fit compilation
   (prepare data, build, compile, sample; measured on ``--per-fit-k`` fits and
   extrapolated linearly to ``--placebo-n``, labelled as such, since 100 compiles take
   over an hour), and (b) compile once (one :class:`~hybridflow.inference.refit.Refitter`,
   then prepare data, build, swap the data in and sample, for all ``--placebo-n`` fits).

It prints a table with ratios against the baselines measured in the same run (PyMC NUTS
for ESS/s, per-fit compilation for placebo) and writes
``benchmarks/results/<name>-<YYYY-MM-DD>.json`` with the figures, the settings and machine
information (CPU count and model, load average before and after each phase, Python and
package versions).

Usage::

    .venv/bin/python benchmarks/bench_samplers.py [--draws 1000] [--tune 1000] [--chains 2]
        [--samplers pymc,nutpie,numpyro] [--placebo-n 100] [--per-fit-k 5]
        [--placebo-draws 200] [--placebo-tune 200] [--placebo-chains 2]
        [--skip-samplers] [--skip-placebo] [--seed 1] [--name samplers] [--out DIR]
    .venv/bin/python benchmarks/bench_samplers.py --smoke      # a tiny model, about a minute

numpyro is not a hybridflow dependency. To measure it without adding it to the project's
environment, install it into a separate folder and put that on ``PYTHONPATH``::

    .venv/bin/python -m pip install --target /tmp/jaxsite --no-deps jax jaxlib numpyro \\
        ml_dtypes opt_einsum tqdm
    PYTHONPATH=/tmp/jaxsite .venv/bin/python benchmarks/bench_samplers.py

Targets (issue 5): nutpie at least 3x PyMC's NUTS in ESS per second; compile-once placebo
refits at least 5x faster than per-fit compilation.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import io
import json
import logging
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
EFFECT_VARS = ("effect_mean", "effect")
TARGET_ESS_RATIO = 3.0
TARGET_PLACEBO_SPEEDUP = 5.0


# --------------------------------------------------------------------------- machine


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or platform.processor())."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def load() -> list[float]:
    """1, 5 and 15 minute load averages (how busy the machine is with anyone's work)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


class CpuMeter:
    """CPU seconds (user + system) used by this process and all its descendants.

    On a shared machine wall time depends on what others run; CPU time much less so. A
    background thread reads ``/proc/<pid>/stat`` of every descendant (PyMC's sampling
    processes, started through a forkserver, included) every ``interval`` seconds and
    keeps each process's last reading, so a process that has ended still counts (minus at
    most ``interval`` of its last CPU time). Linux only; elsewhere readings are NaN.
    """

    def __init__(self, interval: float = 0.2) -> None:
        import threading

        self.interval = interval
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.available = Path("/proc/self/stat").exists()
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        if self.available:
            self._poll()
            self._thread.start()

    def _stat(self, pid: int) -> tuple[int, float] | None:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        fields = text[text.rindex(")") + 2 :].split()
        # fields[1] = ppid; fields[11], fields[12] = utime, stime (clock ticks)
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / self.tick

    def _poll(self) -> None:
        me = os.getpid()
        stats: dict[int, tuple[int, float]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                st = self._stat(int(entry))
                if st is not None:
                    stats[int(entry)] = st
        family = {me}
        grew = True
        while grew:  # descendants: processes whose parent is already in the family
            new = {pid for pid, (ppid, _) in stats.items() if ppid in family} - family
            grew = bool(new)
            family |= new
        with self._lock:
            for pid in family:
                if pid in stats:
                    self._last[pid] = stats[pid][1]

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._poll()

    def read(self) -> float:
        """CPU seconds so far (NaN where /proc is missing)."""
        if not self.available:
            return float("nan")
        self._poll()
        with self._lock:
            return float(sum(self._last.values()))

    def close(self) -> None:
        self._stop.set()


CPU: CpuMeter | None = None


def cpu_now() -> float:
    """CPU seconds of this process tree so far (see :class:`CpuMeter`)."""
    global CPU
    if CPU is None:
        CPU = CpuMeter()
    return CPU.read()


def machine_info() -> dict[str, Any]:
    versions: dict[str, str] = {}
    for name in (
        "hybridflow",
        "pymc",
        "pytensor",
        "nutpie",
        "arviz",
        "numpy",
        "numba",
        "jax",
        "jaxlib",
        "numpyro",
    ):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": versions,
        "load_average_at_start": load(),
    }
    spec = importlib.util.find_spec("numpyro")
    if spec is not None and spec.origin:
        # Say where numpyro came from: it is not a project dependency.
        info["numpyro_location"] = str(Path(spec.origin).parent.parent)
    with contextlib.suppress(OSError, ValueError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        info["memory_gib"] = round(mem_kb / 2**20, 1)
    return info


# --------------------------------------------------------------------------- inputs


def smoke_inputs() -> tuple[Any, xr.Dataset, pd.DataFrame, str]:
    """A tiny spec (one EU-sanctions events driver, 3 years, no trend or seasonality) on a
    synthetic two-group panel, with the real event catalogue."""
    from hybridflow.data.events import load_events
    from hybridflow.models.spec import parse_spec
    from hybridflow.months import month_range

    rng = np.random.default_rng(0)
    months = month_range("2020-01", "2023-12")
    det = rng.negative_binomial(10, 10 / (10 + np.array([40.0, 15.0])), size=(len(months), 2))
    panel = xr.Dataset(
        {"detections": (("month", "route", "group"), det.astype(float)[:, None, :])},
        coords={"month": months, "route": ["Eastern Borders Route"], "group": ["A", "B"]},
    )
    spec = parse_spec(
        {
            "name": "smoke",
            "data": {"start": "2021-01", "end": "2023-12"},
            "baseline": {"trend": "none", "fourier_order": 0},
            "drivers": [
                {
                    "name": "eu_sanctions",
                    "source": "events",
                    "filter": {"family": "sanctions", "actor": ["EU"], "target": ["Russia"]},
                    "kernel": {"name": "geometric", "max_lag": 2},
                }
            ],
        }
    )
    return spec, panel, load_events(), "synthetic two-group panel (smoke)"


def real_inputs(spec_path: Path) -> tuple[Any, xr.Dataset, pd.DataFrame, str]:
    from hybridflow.data.events import load_events
    from hybridflow.data.panel import load_panel
    from hybridflow.models.spec import load_spec

    panel = load_panel()
    source = f"real panel ({panel.attrs.get('detections_source', 'snapshot')})"
    return load_spec(spec_path), panel, load_events(), source


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence sampler chatter and warnings (the figures are what matters here)."""
    loggers = [logging.getLogger(n) for n in ("pymc", "pytensor", "jax", "numpyro")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lvl in zip(loggers, levels, strict=True):
            lg.setLevel(lvl)


# --------------------------------------------------------------------------- samplers


def effect_stats(bundle: Any, idata: Any) -> dict[str, Any]:
    """Bulk ESS (min, median over components) and max R-hat of the effect parameters."""
    import arviz as az
    import pymc as pm

    free = [v.name for v in bundle.model.free_RVs]
    post = idata["posterior"].to_dataset()[free]
    with quiet():
        dets = pm.compute_deterministics(
            post, var_names=list(EFFECT_VARS), model=bundle.model, progressbar=False
        )
        ess = az.ess(dets, method="bulk")
        rhat = az.rhat(dets)
    ess_vals = np.concatenate([ess[v].values.ravel() for v in EFFECT_VARS])
    rhat_vals = np.concatenate([rhat[v].values.ravel() for v in EFFECT_VARS])
    div = int(idata.sample_stats["diverging"].values.sum())
    return {
        "n_effect_components": int(ess_vals.size),
        "ess_bulk_min": float(ess_vals.min()),
        "ess_bulk_median": float(np.median(ess_vals)),
        "rhat_max": float(rhat_vals.max()),
        "divergences": div,
    }


def _row(
    name: str,
    ttfd: float,
    sampling: float,
    total: float,
    st: dict[str, Any],
    cpu_sampling: float = float("nan"),
    cpu_total: float = float("nan"),
) -> dict:
    return {
        "sampler": name,
        "time_to_first_draw_s": round(ttfd, 2),
        "sampling_s": round(sampling, 2),
        "total_s": round(total, 2),
        "cpu_sampling_s": round(cpu_sampling, 2),
        "cpu_total_s": round(cpu_total, 2),
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in st.items()},
        "ess_per_s_min": round(st["ess_bulk_min"] / sampling, 3),
        "ess_per_s_median": round(st["ess_bulk_median"] / sampling, 3),
        "ess_per_s_min_incl_compile": round(st["ess_bulk_min"] / total, 3),
        "ess_per_s_median_incl_compile": round(st["ess_bulk_median"] / total, 3),
        "ess_per_cpu_s_min": round(st["ess_bulk_min"] / cpu_sampling, 3),
    }


def bench_pymc(bundle: Any, a: argparse.Namespace) -> dict[str, Any]:
    """PyMC's NUTS; time to first draw = until the first (tuning) draw reaches the caller."""
    import pymc as pm

    first: list[float] = []

    def on_draw(trace: Any, draw: Any) -> None:
        if not first:
            first.extend([time.perf_counter(), cpu_now()])

    free = [v.name for v in bundle.model.free_RVs]
    c0 = cpu_now()
    t0 = time.perf_counter()
    with bundle.model, quiet():
        idata = pm.sample(
            draws=a.draws,
            tune=a.tune,
            chains=a.chains,
            cores=a.cores,
            random_seed=a.seed,
            target_accept=a.target_accept,
            progressbar=False,
            compute_convergence_checks=False,
            var_names=free,
            nuts_sampler="pymc",
            callback=on_draw,
        )
    t1 = time.perf_counter()
    c1 = cpu_now()
    ttfd = (first[0] if first else t0) - t0
    c_first = first[1] if first else c0
    row = _row(
        "pymc", ttfd, t1 - t0 - ttfd, t1 - t0, effect_stats(bundle, idata), c1 - c_first, c1 - c0
    )
    row["time_to_first_draw_how"] = "until PyMC's first draw callback (compile + start)"
    row["total_how"] = "pm.sample wall time"
    return row


def bench_nutpie(bundle: Any, a: argparse.Namespace, *, low_rank: bool = False) -> dict[str, Any]:
    """nutpie; time to first draw = numba compilation of the log-density. ``low_rank``: a
    low-rank modified mass matrix (what :func:`hybridflow.inference.sample.sample_model`
    uses by default) instead of nutpie's default diagonal one."""
    import nutpie

    from hybridflow.inference.sample import compile_model

    c0 = cpu_now()
    t0 = time.perf_counter()
    with quiet():
        compiled = compile_model(bundle, "nutpie")
    t1 = time.perf_counter()
    c1 = cpu_now()
    with quiet():
        idata = nutpie.sample(
            compiled,
            draws=a.draws,
            tune=a.tune,
            chains=a.chains,
            cores=a.cores,
            seed=a.seed,
            progress_bar=False,
            target_accept=a.target_accept,
            adaptation="low_rank" if low_rank else "diag",
        )
    t2 = time.perf_counter()
    c2 = cpu_now()
    name = "nutpie_lowrank" if low_rank else "nutpie"
    row = _row(name, t1 - t0, t2 - t1, t2 - t0, effect_stats(bundle, idata), c2 - c1, c2 - c0)
    row["time_to_first_draw_how"] = "numba compilation (nutpie.compile_pymc_model)"
    row["total_how"] = "compilation + nutpie.sample wall time"
    row["mass_matrix"] = "low-rank modified" if low_rank else "diagonal"
    return row


def bench_nutpie_lowrank(bundle: Any, a: argparse.Namespace) -> dict[str, Any]:
    return bench_nutpie(bundle, a, low_rank=True)


def numpyro_missing() -> str | None:
    for mod in ("jax", "numpyro"):
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not installed (optional; see this script's docstring)"
    return None


def bench_numpyro(bundle: Any, a: argparse.Namespace) -> dict[str, Any]:
    """numpyro via PyMC. JAX compiles inside every ``pm.sample`` call (a new jitted function
    each time), so compilation is measured with 1-tune, 1-draw runs: the first one's wall
    time is the time to first draw (it also pays JAX's one-off start-up); a second one
    measures the per-call compilation, which is subtracted from the full run's wall time
    to give the sampling time."""
    import jax
    import pymc as pm

    free = [v.name for v in bundle.model.free_RVs]
    chain_method = "parallel" if jax.local_device_count() >= a.chains else "vectorized"
    kwargs: dict[str, Any] = {
        "chains": a.chains,
        "random_seed": a.seed,
        "target_accept": a.target_accept,
        "progressbar": False,
        "compute_convergence_checks": False,
        "var_names": free,
        "nuts_sampler": "numpyro",
        "nuts_sampler_kwargs": {"chain_method": chain_method},
        "idata_kwargs": {"log_likelihood": False},
    }
    walls, cpus = [], []
    for draws, tune in ((1, 1), (1, 1), (a.draws, a.tune)):
        c0 = cpu_now()
        t0 = time.perf_counter()
        with bundle.model, quiet():
            idata = pm.sample(draws=draws, tune=tune, **kwargs)
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_now() - c0)
    first, per_call, full = walls
    sampling = max(full - per_call, 1e-3)
    row = _row(
        "numpyro",
        first,
        sampling,
        full,
        effect_stats(bundle, idata),
        cpus[2] - cpus[1],
        cpus[2],
    )
    row["time_to_first_draw_how"] = "wall time of a first 1-tune 1-draw run (cold)"
    row["compile_per_call_s"] = round(per_call, 2)
    row["sampling_how"] = "full run wall time minus a warm 1-tune 1-draw run's wall time"
    row["total_how"] = "full run wall time (its own compile included, JAX start-up not)"
    row["chain_method"] = chain_method
    row["jax_devices"] = jax.local_device_count()
    return row


SAMPLERS: dict[str, Callable[[Any, argparse.Namespace], dict[str, Any]]] = {
    "pymc": bench_pymc,
    "nutpie": bench_nutpie,
    "nutpie_lowrank": bench_nutpie_lowrank,
    "numpyro": bench_numpyro,
}


def run_samplers(spec: Any, panel: xr.Dataset, events: pd.DataFrame, a: argparse.Namespace) -> list:
    from hybridflow.models.build import build_model, prepare_data

    rows: list[dict[str, Any]] = []
    for rep in range(a.repeats):
        # Repeats alternate the order, so no sampler always runs at the same time of day.
        order = a.samplers if rep % 2 == 0 else a.samplers[::-1]
        for name in order:
            if name == "numpyro" and (reason := numpyro_missing()):
                rows.append({"sampler": name, "repeat": rep, "skipped": reason})
                print(f"  {name}: skipped ({reason})", flush=True)
                continue
            # A fresh model per sampler: nothing compiled by one is reused by another.
            with quiet():
                bundle = build_model(spec, prepare_data(spec, panel, events))
            before = load()
            print(f"  {name} (repeat {rep + 1}/{a.repeats}): sampling ...", flush=True)
            try:
                row = {"repeat": rep, **SAMPLERS[name](bundle, a)}
            except Exception as exc:  # one failing backend must not lose the others' figures
                row = {
                    "sampler": name,
                    "repeat": rep,
                    "skipped": f"failed: {type(exc).__name__}: {exc}",
                }
            row["load_average_before"] = before
            row["load_average_after"] = load()
            rows.append(row)
            print(f"  {name}: {json.dumps(row)}", flush=True)
    return rows


# --------------------------------------------------------------------------- placebo


def placebo_events(spec: Any, events: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Re-date the events the spec's event drivers draw on: each event of those families
    moves to a uniformly random month of the window (day of month and the spacing of its
    announced/start/end dates kept)."""
    families = {d.filter.family for d in spec.drivers if d.source == "events"}
    pick = events["family"].isin(families) if None not in families else events["family"].notna()
    months = pd.date_range(spec.start_month, spec.end_month, freq="MS")
    out = events.copy()
    eff = pd.to_datetime(out["effective_date"])
    target = months[rng.integers(0, len(months), size=len(out))]
    shift = (target.year - eff.dt.year) * 12 + (target.month - eff.dt.month)
    for col in ("announced_date", "start_date", "end_date", "effective_date"):
        if col not in out:
            continue
        col_dates = pd.to_datetime(out[col])
        moved = [
            d + pd.DateOffset(months=int(s)) if (p and pd.notna(d) and pd.notna(s)) else d
            for d, s, p in zip(col_dates, shift, pick, strict=True)
        ]
        out[col] = pd.to_datetime(pd.Series(moved, index=out.index))
    return out


def run_placebo(spec: Any, panel: xr.Dataset, events: pd.DataFrame, a: argparse.Namespace) -> dict:
    import arviz as az

    from hybridflow.inference.refit import Refitter
    from hybridflow.inference.sample import sample_model
    from hybridflow.inference.sampling import Sampling
    from hybridflow.models.build import build_model, prepare_data

    n, k = a.placebo_n, min(a.per_fit_k, a.placebo_n)
    sampling = Sampling(
        draws=a.placebo_draws,
        tune=a.placebo_tune,
        chains=a.placebo_chains,
        target_accept=a.target_accept,
    )
    seeds = np.random.SeedSequence(a.seed).spawn(n)
    catalogues = [placebo_events(spec, events, np.random.default_rng(s)) for s in seeds]

    def diag(idata: Any) -> tuple[int, float]:
        rhat = az.rhat(idata["posterior"].to_dataset()[["effect_mean"]])["effect_mean"].values
        return int(idata.sample_stats["diverging"].values.sum()), float(np.nanmax(rhat))

    # The two arms are interleaved (compile once; then per-fit fit j, then the j-th block of
    # n/k refits, for j = 1..k) so that both see the same machine load over time.
    per_fit: list[dict[str, float]] = []
    refits: list[dict[str, float]] = []
    cpu_fit = cpu_refit = 0.0

    def per_fit_one(i: int) -> None:
        nonlocal cpu_fit
        c0 = cpu_now()
        t0 = time.perf_counter()
        with quiet():
            bundle = build_model(spec, prepare_data(spec, panel, catalogues[i]))
            tm: dict[str, float] = {}
            idata = sample_model(bundle, sampling, seed=i, timings=tm, log_likelihood=False)
        total = time.perf_counter() - t0
        cpu_fit += cpu_now() - c0
        div, rhat = diag(idata)
        per_fit.append(
            {
                "placebo": i,
                "total_s": round(total, 2),
                "compile_s": round(tm["compile_s"], 2),
                "sample_s": round(tm["sample_s"], 2),
                "divergences": div,
                "rhat_max_effect_mean": round(rhat, 4),
                "load_average": load(),
            }
        )
        print(f"  per-fit compile {len(per_fit)}/{k}: {per_fit[-1]}", flush=True)

    def refit_one(i: int) -> None:
        nonlocal cpu_refit
        c0 = cpu_now()
        t1 = time.perf_counter()
        with quiet():
            bundle = build_model(spec, prepare_data(spec, panel, catalogues[i]))
            t2 = time.perf_counter()
            idata = refitter.refit_bundle(bundle, sampling, seed=i)
        total = time.perf_counter() - t1
        cpu_refit += cpu_now() - c0
        div, rhat = diag(idata)
        refits.append(
            {
                "placebo": i,
                "total_s": round(total, 2),
                "build_s": round(t2 - t1, 2),
                "divergences": div,
                "rhat_max_effect_mean": round(rhat, 4),
            }
        )
        if len(refits) % 10 == 0 or len(refits) == n:
            done = sum(r["total_s"] for r in refits)
            print(f"  compile-once refits {len(refits)}/{n}: {done:.0f} s so far", flush=True)

    load_a = load()
    c0 = cpu_now()
    t0 = time.perf_counter()
    with quiet():
        refitter = Refitter(build_model(spec, prepare_data(spec, panel, events)))
    compile_s = time.perf_counter() - t0
    cpu_compile = cpu_now() - c0
    print(f"  compile once: {compile_s:.1f} s", flush=True)
    blocks = np.array_split(np.arange(n), k)
    for j in range(k):
        per_fit_one(j)
        for i in blocks[j]:
            refit_one(int(i))
    load_b = load()
    cpu_per_fit = cpu_fit / k
    cpu_once = cpu_compile + cpu_refit
    once_total = compile_s + sum(r["total_s"] for r in refits)
    per_fit_mean = float(np.mean([r["total_s"] for r in per_fit]))
    per_fit_total = per_fit_mean * n
    return {
        "placebo_n": n,
        "fit_settings": sampling.model_dump(exclude={"sampler"}),
        "placebo": "each catalogue event of the event drivers' families moved to a uniformly "
        "random month of the window; same catalogues and seeds in both arms",
        "per_fit_compile": {
            "measured_fits": k,
            "mean_fit_s": round(per_fit_mean, 2),
            "mean_compile_s": round(float(np.mean([r["compile_s"] for r in per_fit])), 2),
            "total_s": round(per_fit_total, 1),
            "total_is": f"extrapolated from {k} fits" if k < n else f"measured ({n} fits)",
            "cpu_per_fit_s": round(cpu_per_fit, 2),
            "cpu_total_s": round(cpu_per_fit * n, 1),
            "fits": per_fit,
        },
        "compile_once": {
            "compile_s": round(compile_s, 2),
            "mean_refit_s": round(float(np.mean([r["total_s"] for r in refits])), 2),
            "total_s": round(once_total, 1),
            "total_is": f"measured ({n} refits + 1 compile)",
            "cpu_total_s": round(cpu_once, 1),
            "refits_with_divergences": int(sum(r["divergences"] > 0 for r in refits)),
            "refits": refits,
        },
        "order": f"interleaved: 1 compile, then {k} x (1 per-fit-compile fit, {n // k}+ refits)",
        "load_average_before": load_a,
        "load_average_after": load_b,
        "speedup": round(per_fit_total / once_total, 2),
        "speedup_cpu": round(cpu_per_fit * n / cpu_once, 2),
    }


# --------------------------------------------------------------------------- report


RATIO_KEYS = (
    "ess_per_s_min",
    "ess_per_s_median",
    "ess_per_s_min_incl_compile",
    "ess_per_s_median_incl_compile",
    "ess_per_cpu_s_min",
)


def sampler_table(rows: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The printed table, and ratios to PyMC's NUTS of the same repeat (median over
    repeats, plus each repeat's under ``"per_repeat"``)."""
    head = (
        f"{'sampler':<15}{'1st draw s':>11}{'sample s':>10}{'ESS min':>9}{'ESS med':>9}"
        f"{'ESS/s min':>11}{'x pymc':>8}{'ESS/s med':>11}{'x pymc':>8}{'w/ comp':>9}"
        f"{'x pymc':>8}{'ESS/cpu-s':>10}{'x pymc':>8}{'div':>5}{'R-hat':>7}"
    )
    lines = [head, "-" * len(head)]
    per_repeat: dict[str, list[dict[str, float]]] = {}
    repeats = sorted({int(r.get("repeat", 0)) for r in rows})
    for rep in repeats:
        these = [r for r in rows if int(r.get("repeat", 0)) == rep]
        base = next((r for r in these if r["sampler"] == "pymc" and "skipped" not in r), None)
        if len(repeats) > 1:
            lines.append(f"repeat {rep + 1}:")
        for r in sorted(these, key=lambda r: list(SAMPLERS).index(r["sampler"])):
            if "skipped" in r:
                lines.append(f"{r['sampler']:<15}skipped: {r['skipped']}")
                continue

            def x(key: str, r: dict[str, Any] = r, base: Any = base) -> float:
                return r[key] / base[key] if base else float("nan")

            per_repeat.setdefault(r["sampler"], []).append({k: round(x(k), 2) for k in RATIO_KEYS})
            lines.append(
                f"{r['sampler']:<15}{r['time_to_first_draw_s']:>11.1f}{r['sampling_s']:>10.1f}"
                f"{r['ess_bulk_min']:>9.0f}{r['ess_bulk_median']:>9.0f}"
                f"{r['ess_per_s_min']:>11.2f}{x('ess_per_s_min'):>8.2f}"
                f"{r['ess_per_s_median']:>11.2f}{x('ess_per_s_median'):>8.2f}"
                f"{r['ess_per_s_min_incl_compile']:>9.2f}{x('ess_per_s_min_incl_compile'):>8.2f}"
                f"{r['ess_per_cpu_s_min']:>10.2f}{x('ess_per_cpu_s_min'):>8.2f}"
                f"{r['divergences']:>5d}{r['rhat_max']:>7.3f}"
            )
    ratios: dict[str, Any] = {}
    for name, reps in per_repeat.items():
        ratios[name] = {k: round(float(np.median([rp[k] for rp in reps])), 2) for k in RATIO_KEYS}
        if len(reps) > 1:
            ratios[name]["per_repeat"] = reps
    if len(repeats) > 1:
        lines.append("median ratio to pymc over repeats:")
        for name, rt in ratios.items():
            lines.append(
                f"  {name:<15} ESS/s min {rt['ess_per_s_min']:.2f}, median "
                f"{rt['ess_per_s_median']:.2f}, incl. compile {rt['ess_per_s_min_incl_compile']:.2f}, "
                f"per CPU-s {rt['ess_per_cpu_s_min']:.2f}"
            )
    lines += [
        "ESS: bulk ESS over every component of effect_mean and effect (min / median); "
        "ESS/s: per second of sampling; w/ comp: min ESS per second including compilation;",
        "ESS/cpu-s: min ESS per CPU second of sampling (all threads and processes; robust "
        "to a shared machine); x pymc: ratio to PyMC's NUTS measured in this run;",
        "div: divergences; R-hat: max over the same components.",
    ]
    return "\n".join(lines), ratios


def placebo_table(p: dict[str, Any]) -> str:
    pf, co = p["per_fit_compile"], p["compile_once"]
    n = p["placebo_n"]
    return "\n".join(
        [
            f"{n} placebo refits ({p['fit_settings']['draws']} draws / "
            f"{p['fit_settings']['tune']} tune x {p['fit_settings']['chains']} chains):",
            f"  per-fit compilation: {pf['total_s']:.0f} s ({pf['total_is']}; "
            f"{pf['mean_fit_s']:.1f} s per fit of which compile {pf['mean_compile_s']:.1f} s)",
            f"  compile once:        {co['total_s']:.0f} s ({co['total_is']}; compile "
            f"{co['compile_s']:.1f} s, {co['mean_refit_s']:.1f} s per refit)",
            f"  speedup: {p['speedup']:.1f}x wall, {p['speedup_cpu']:.1f}x CPU time "
            f"(target >= {TARGET_PLACEBO_SPEEDUP:.0f}x)",
        ]
    )


def write_json(payload: dict[str, Any], out_dir: Path, name: str) -> Path:
    from hybridflow.io import atomic_open

    path = out_dir / f"{name}-{dt.date.today():%Y-%m-%d}.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w") as fh:
        json.dump(payload, fh, indent=2, default=str)
        fh.write("\n")
    return path


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--spec", type=Path, default=REPO / "models" / "full.toml")
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--cores", type=int, default=None, help="default: min(chains, CPUs)")
    p.add_argument("--target-accept", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--samplers", default="pymc,nutpie,nutpie_lowrank,numpyro")
    p.add_argument("--repeats", type=int, default=1, help="sampler rows per sampler")
    p.add_argument("--placebo-n", type=int, default=100)
    p.add_argument("--per-fit-k", type=int, default=5)
    p.add_argument("--placebo-draws", type=int, default=200)
    p.add_argument("--placebo-tune", type=int, default=200)
    p.add_argument("--placebo-chains", type=int, default=2)
    p.add_argument("--skip-samplers", action="store_true")
    p.add_argument("--skip-placebo", action="store_true")
    p.add_argument("--name", default=None, help="results file prefix (default: samplers)")
    p.add_argument("--out", type=Path, default=None, help=f"results folder (default {RESULTS})")
    p.add_argument("--note", default="", help="free text stored in the JSON (e.g. machine state)")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="tiny synthetic model and few draws: checks the script runs (results go to a "
        "temporary folder unless --out is given)",
    )
    a = p.parse_args(argv)
    a.samplers = [s.strip() for s in a.samplers.split(",") if s.strip()]
    unknown = [s for s in a.samplers if s not in SAMPLERS]
    if unknown:
        p.error(f"unknown sampler(s) {unknown}; valid: {', '.join(SAMPLERS)}")
    if a.smoke:
        a.draws, a.tune = min(a.draws, 100), min(a.tune, 100)
        a.placebo_n, a.per_fit_k = min(a.placebo_n, 3), min(a.per_fit_k, 1)
        a.placebo_draws, a.placebo_tune = min(a.placebo_draws, 50), min(a.placebo_tune, 50)
        if a.out is None:
            a.out = Path(tempfile.mkdtemp(prefix="hybridflow-bench-"))
    a.name = a.name or ("smoke" if a.smoke else "samplers")
    a.out = a.out or RESULTS
    a.cores = a.cores or max(1, min(a.chains, os.cpu_count() or 1))
    for key in (
        "draws",
        "chains",
        "repeats",
        "placebo_n",
        "per_fit_k",
        "placebo_draws",
        "placebo_chains",
    ):
        if getattr(a, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be >= 1")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if "numpyro" in a.samplers and "XLA_FLAGS" not in os.environ:
        # One XLA CPU device per core so numpyro can run chains in parallel like the others.
        os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={os.cpu_count() or 1}"
    started = dt.datetime.now().astimezone()
    cpu_now()  # start the CPU meter
    machine = machine_info()
    spec, panel, events, source = smoke_inputs() if a.smoke else real_inputs(a.spec)
    print(
        f"machine: {machine['cpu_model']}, {machine['cpu_count']} CPUs, "
        f"load {machine['load_average_at_start']}; python {machine['python']}"
    )
    print(f"model: {spec.name} on {source}")
    settings = {
        k: getattr(a, k)
        for k in (
            "draws",
            "tune",
            "chains",
            "cores",
            "target_accept",
            "seed",
            "samplers",
            "repeats",
            "placebo_n",
            "per_fit_k",
            "placebo_draws",
            "placebo_tune",
            "placebo_chains",
            "smoke",
        )
    }
    print(f"settings: {settings}")
    payload: dict[str, Any] = {
        "benchmark": "samplers and compile-once placebo refits",
        "name": a.name,
        "started": started.isoformat(timespec="seconds"),
        "spec": spec.name,
        "data": source,
        "settings": settings,
        "machine": machine,
        "note": a.note,
        "targets": {},
    }
    if not a.skip_samplers:
        print(f"samplers ({a.draws} draws / {a.tune} tune x {a.chains} chains, {a.cores} cores):")
        rows = run_samplers(spec, panel, events, a)
        table, ratios = sampler_table(rows)
        payload["samplers"] = rows
        payload["ratios_vs_pymc"] = ratios
        has_pymc = any(r["sampler"] == "pymc" and "skipped" not in r for r in rows)
        for variant in ("nutpie", "nutpie_lowrank"):
            if variant in ratios and has_pymc:
                got = ratios[variant]["ess_per_s_min"]
                payload["targets"][f"{variant}_ess_per_s_vs_pymc"] = {
                    "target": TARGET_ESS_RATIO,
                    "measured_min_component": got,
                    "measured_median_component": ratios[variant]["ess_per_s_median"],
                    "measured_min_component_per_cpu_s": ratios[variant]["ess_per_cpu_s_min"],
                    "met": bool(got >= TARGET_ESS_RATIO),
                }
        print("\n" + table + "\n")
    if not a.skip_placebo:
        print(f"placebo refits (n={a.placebo_n}, per-fit compilation measured on {a.per_fit_k}):")
        placebo = run_placebo(spec, panel, events, a)
        payload["placebo"] = placebo
        payload["targets"]["compile_once_placebo_speedup"] = {
            "target": TARGET_PLACEBO_SPEEDUP,
            "measured": placebo["speedup"],
            "measured_cpu_time": placebo["speedup_cpu"],
            "per_fit_side": placebo["per_fit_compile"]["total_is"],
            "met": bool(placebo["speedup"] >= TARGET_PLACEBO_SPEEDUP),
        }
        print("\n" + placebo_table(placebo) + "\n")
    payload["finished"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    payload["machine"]["load_average_at_end"] = load()
    if a.smoke:
        for t in payload["targets"].values():
            t["note"] = "--smoke run: tiny model and draws, the targets do not apply"
    for name, t in payload["targets"].items():
        print(f"target {name}: {'MET' if t['met'] else 'MISSED'} {t}")
    path = write_json(payload, a.out, a.name)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
