"""Benchmark: fit ``models/full.toml`` end to end and time it.

Measures wall time of :func:`hybridflow.inference.fit.fit_spec` (data preparation, model
build, compilation, sampling, deterministics, log-likelihood, diagnostics) for the flagship
spec on the Eastern Borders route, UkrRussBel vs Others, with the default sampler (nutpie),
and the same fit with PyMC's NUTS as a baseline measured in the same run.

Usage::

    .venv/bin/python benchmarks/bench_fit_full.py [--chains 4] [--draws 1000] [--tune 500]
        [--seed 1] [--no-baseline] [--synthetic] [--json OUT.json]

The real panel (``hybridflow.data.panel.load_panel``) and event catalogue are used when
available; ``--synthetic`` (or their absence) uses a synthetic panel of the same shape
(2 groups x the spec's months) with the real event dates replaced by fixed ones.

Target (issue 3): under 90 s wall on a 2-core machine including compilation, with zero
divergences and R-hat <= 1.01 on the reported parameters. The script prints the figures
and exits 1 if the target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 90.0


def synthetic_panel(spec_start: str, spec_end: str, seed: int = 0) -> xr.Dataset:
    """A panel shaped like the real one (only the variables full.toml reads)."""
    from hybridflow.months import month_range

    rng = np.random.default_rng(seed)
    months = month_range(pd.Timestamp(spec_start) - pd.DateOffset(months=24), spec_end)
    T = len(months)
    war = months >= pd.Timestamp("2022-02-01")
    base = np.column_stack([np.where(war, 500.0, 20.0), np.full(T, 80.0)])
    det = rng.negative_binomial(5, 5 / (5 + base)).astype(float)[:, None, :]
    ds = xr.Dataset(
        coords={
            "month": months,
            "route": ["Eastern Borders Route"],
            "group": ["UkrRussBel", "Others"],
        }
    )
    ds["detections"] = (("month", "route", "group"), det)
    ds["route_total"] = (("month", "route"), det.sum(-1))
    ds["losses_personnel"] = ("month", np.where(war, rng.gamma(5, 4000, T), np.nan))
    types = [
        "Battles",
        "Explosions/Remote violence",
        "Violence against civilians",
        "Protests",
        "Riots",
        "Strategic developments",
    ]
    ac = rng.poisson(50, size=(T, len(types))).astype(float)
    ac[(months < pd.Timestamp("2021-01-01")) | (months > pd.Timestamp("2024-09-01"))] = np.nan
    ds["acled_russia"] = (("month", "acled_event_type"), ac)
    terr = rng.normal(0, 3000, size=(T, 2))
    terr[~war] = np.nan
    ds["territory_net_change"] = (("month", "tracker"), terr)
    return ds.assign_coords(acled_event_type=types, tracker=["liveuamap", "deepstate"])


def run(sampler: str, args: argparse.Namespace, panel: xr.Dataset, events: pd.DataFrame) -> dict:
    from hybridflow.inference.fit import fit_spec
    from hybridflow.inference.sampling import Sampling
    from hybridflow.models.spec import load_spec

    spec = load_spec(REPO / "models" / "full.toml")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_spec(
            spec,
            panel,
            events,
            sampling=Sampling(
                draws=args.draws,
                tune=args.tune,
                chains=args.chains,
                sampler=sampler,  # type: ignore[arg-type]
            ),
            seed=args.seed,
        )
    wall = time.perf_counter() - t0
    d = res.diagnostics
    return {
        "sampler": sampler,
        "wall_s": round(wall, 1),
        **{k: round(v, 1) for k, v in res.timings.items()},
        "divergences": d.n_divergences,
        "max_rhat": round(d.max_rhat, 4),
        "min_ess_bulk": round(d.min_ess_bulk),
        "min_ess_tail": round(d.min_ess_tail),
        "converged": d.converged,
        "months": int(res.idata.posterior.sizes["month"]),
        "groups": int(res.idata.posterior.sizes["group"]),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-baseline", action="store_true", help="skip the PyMC NUTS baseline")
    p.add_argument("--synthetic", action="store_true", help="use a synthetic panel")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)

    from hybridflow.data.events import load_events
    from hybridflow.models.spec import load_spec

    events = load_events()
    source = "synthetic"
    panel: xr.Dataset | None = None
    if not args.synthetic:
        try:
            from hybridflow.data.panel import load_panel

            panel = load_panel()
            source = "real panel (embedded snapshot)"
        except Exception as exc:  # the snapshot may not be built yet
            print(f"real panel unavailable ({exc}); using a synthetic one", file=sys.stderr)
    if panel is None:
        spec = load_spec(REPO / "models" / "full.toml")
        panel = synthetic_panel(spec.data.start, spec.data.end)

    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs; data: {source}")
    print(f"settings: chains={args.chains} draws={args.draws} tune={args.tune} seed={args.seed}")
    results = [run("nutpie", args, panel, events)]
    if not args.no_baseline:
        results.append(run("pymc", args, panel, events))
    for r in results:
        print(json.dumps(r))
    main_r = results[0]
    if len(results) > 1:
        ratio = results[1]["wall_s"] / main_r["wall_s"]
        print(f"pymc / nutpie wall-time ratio: {ratio:.2f}")
    ok = main_r["wall_s"] < TARGET_S and main_r["divergences"] == 0 and main_r["max_rhat"] <= 1.01
    verdict = "MET" if ok else "MISSED"
    print(
        f"target {verdict}: nutpie {main_r['wall_s']} s (< {TARGET_S:.0f} s), "
        f"{main_r['divergences']} divergences, max R-hat {main_r['max_rhat']}"
    )
    if args.json is not None:
        args.json.write_text(json.dumps({"source": source, "results": results}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
