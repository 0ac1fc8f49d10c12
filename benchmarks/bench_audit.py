"""Benchmark: a small audit of the study's hypotheses, with wall time per world.

Runs :func:`hybridflow.analysis.audit.run_audit` serially (one process, so the first
world of each hypothesis also pays its model's compilation) on the real design of
``studies/hjs-2025`` and prints, per hypothesis, the compile-inclusive first world, the
mean of the other worlds, the gate's verdicts and the audit table.

Usage::

    .venv/bin/python benchmarks/bench_audit.py [--hypothesis H1 --hypothesis H5]
        [--null 1] [--effect 1] [--draws 500] [--tune 500] [--chains 4] [--seed 1]
        [--out DIR]

Defaults: H1 and H5, one null world and one effect world per effect size (+30%, +50%),
at the audit's default sampling (:data:`hybridflow.analysis.audit.AUDIT_SAMPLING`: 500
draws after 500 tuning steps x 4 chains, target acceptance 0.95).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    from hybridflow.analysis.audit import AUDIT_SAMPLING, run_audit, write_audit
    from hybridflow.data.events import load_events
    from hybridflow.data.panel import load_panel
    from hybridflow.study.spec import load_study
    from hybridflow.study.steps.audit import audit_targets

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study", default=str(REPO / "studies" / "hjs-2025"))
    p.add_argument("--hypothesis", action="append", default=None)
    p.add_argument("--null", type=int, default=1)
    p.add_argument("--effect", type=int, default=1)
    p.add_argument("--draws", type=int, default=AUDIT_SAMPLING.draws)
    p.add_argument("--tune", type=int, default=AUDIT_SAMPLING.tune)
    p.add_argument("--chains", type=int, default=AUDIT_SAMPLING.chains)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=None, help="also write the audit files here")
    args = p.parse_args()

    spec, study_dir = load_study(args.study)
    targets = audit_targets(spec, study_dir, args.hypothesis or ["H1", "H5"])
    sampling = AUDIT_SAMPLING.replace(draws=args.draws, tune=args.tune, chains=args.chains)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_audit(spec.name, targets, load_panel(), load_events(), n_null=args.null,
                        n_effect=args.effect, sampling=sampling, seed=args.seed)
    wall = time.perf_counter() - t0
    print(f"sampling: {sampling.record()}; total wall {wall:.0f} s")
    cols = ["kind", "truth_pct", "converged", "divergences", "ess_min", "grade", "pct_mean",
            "hdi_low", "hdi_high", "fit_seconds", "seconds"]
    for hyp, w in res.worlds.groupby("hypothesis", sort=False):
        rest = w["seconds"].iloc[1:]
        print(f"\n{hyp}: first world (compile included) {w['seconds'].iloc[0]:.0f} s; "
              f"other worlds mean {rest.mean():.0f} s (fit only {w['fit_seconds'].iloc[1:].mean():.0f} s)")
        print(w[cols].round(2).to_string(index=False))
        print("  gate failures:", "; ".join(g for g in w["gate"] if g) or "none")
    print()
    print(res.summary_text())
    if args.out:
        write_audit(res, args.out)
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
