"""Run every sampling test with several seeds and record which pass.

A sampling test must assert a property of any correct run (a truth inside its interval, a
convergence gate met), not of one seed's floating-point path. ``tests/conftest.py`` adds
``HYBRIDFLOW_TEST_SEED`` to the sampler seed of every test that samples (and marks those
tests ``sampling``); this script runs them once per seed and writes the outcome of each
test for each seed to ``benchmarks/results/seed-sweep-<YYYY-MM-DD>.json``.

Usage::

    .venv/bin/python scripts/seed_sweep.py [--seeds 1 2 3 4 5] [--slow] [-n 2]

``--slow`` also runs the slow-marked sampling tests (``make test-all``'s extra set).
Exits 1 if any test failed for any seed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _outcomes(junit: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        if case.find("failure") is not None or case.find("error") is not None:
            out[name] = "failed"
        elif case.find("skipped") is not None:
            out[name] = "skipped"
        else:
            out[name] = "passed"
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--slow", action="store_true", help="include the slow sampling tests")
    p.add_argument("-n", "--workers", type=int, default=2)
    p.add_argument("-k", dest="keyword", default=None, help="only tests matching (pytest -k)")
    p.add_argument("--name", default="seed-sweep", help="file name stem of the record")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = p.parse_args(argv)

    marker = "sampling" if args.slow else "sampling and not slow"
    record: dict[str, object] = {"date": date.today().isoformat(), "marker": marker,
                                 "keyword": args.keyword,
                                 "cpus": os.cpu_count(), "runs": {}}
    failed = False
    table: dict[str, dict[int, str]] = {}
    for seed in args.seeds:
        junit = args.out / f".seed-sweep-{seed}.xml.tmp"
        args.out.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "HYBRIDFLOW_TEST_SEED": str(seed)}
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-m", marker, "-n", str(args.workers), "-q",
             "-p", "no:cacheprovider", f"--junitxml={junit}",
             *(["-k", args.keyword] if args.keyword else [])],
            cwd=REPO, env=env, capture_output=True, text=True,
        )
        seconds = time.perf_counter() - t0
        outcomes = _outcomes(junit)
        junit.unlink(missing_ok=True)
        n_fail = sum(v == "failed" for v in outcomes.values())
        failed |= proc.returncode != 0
        tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        print(f"seed shift {seed}: {tail} ({seconds:.0f} s)", flush=True)
        if n_fail:
            print(proc.stdout[-4000:], flush=True)
        record["runs"][str(seed)] = {  # type: ignore[index]
            "seconds": round(seconds, 1), "returncode": proc.returncode, "summary": tail,
            "outcomes": outcomes,
        }
        for name, v in outcomes.items():
            table.setdefault(name, {})[seed] = v
    print("\ntest" + "".join(f"  s{s}" for s in args.seeds))
    for name, row in sorted(table.items()):
        marks = "".join(f"  {'ok' if row.get(s) == 'passed' else row.get(s, '-')[:4]:>2}"
                        for s in args.seeds)
        print(f"{name}{marks}")
    path = args.out / f"{args.name}-{date.today().isoformat()}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
