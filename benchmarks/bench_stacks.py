"""Benchmark: the previous software stack against the current one, in one run.

The *old* stack is the last release before the move to PyMC 6 (git revision ``--old-rev``:
Python 3.11, PyMC 5, PyTensor 2, ArviZ 0.2x, as its own ``pyproject.toml`` pins them); the
*new* stack is this working tree (Python >= 3.12, PyMC 6, PyTensor 3, ArviZ 1). Each gets
its own virtual environment under ``--work`` (made on first use, reused after). For each
stack, in alternating order so both see the same machine load:

1. the flagship fit (``models/full.toml``, 4 x 1000 draws after 500 tuning steps) in a new
   process with an *empty* PyTensor compile cache ("cold", what a first fit costs), then
   one compile-once refit of it (200/200 x 2 chains: the study's refit settings);
2. the same again in a new process with the cache the first run left ("warm": every later
   fit of the same structure, e.g. a rerun or a worker process);
3. the quick study (``hybridflow study run studies/hjs-2025 --quick``) from an empty
   results folder and an empty compile cache.

Prints every figure and the new/old ratios and writes
``benchmarks/results/stacks-<YYYY-MM-DD>.json``.

Usage::

    python3 benchmarks/bench_stacks.py [--old-rev 39b60f9] [--work /tmp/hybridflow-stacks]
        [--old-python python3.11] [--skip-quick] [--note "machine idle"]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from datetime import date
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = REPO / "benchmarks" / "_stack_probe.py"


def _python_311(given: str | None) -> str:
    if given:
        return given
    for cand in ["python3.11", *sorted(Path.home().glob(".pyenv/versions/3.11*/bin/python3"))]:
        path = shutil.which(str(cand)) or (str(cand) if Path(str(cand)).is_file() else None)
        if path and subprocess.run([path, "-c", "import sys; assert sys.version_info[:2] == (3, 11)"],
                                   capture_output=True).returncode == 0:
            return path
    sys.exit("no Python 3.11 found for the old stack; pass --old-python")


def _setup(work: Path, old_rev: str, old_python: str | None) -> dict[str, dict[str, Path]]:
    """Source trees and virtual environments of both stacks (made once, then reused)."""
    work.mkdir(parents=True, exist_ok=True)
    old_src = work / f"src-{old_rev}"
    if not (old_src / "pyproject.toml").is_file():
        blob = subprocess.run(["git", "-C", str(REPO), "archive", old_rev], check=True,
                              capture_output=True).stdout
        with tarfile.open(fileobj=BytesIO(blob)) as tar:
            tar.extractall(old_src, filter="data")
    new_python = subprocess.run(["sh", str(REPO / "scripts" / "find-python")], check=True,
                                capture_output=True, text=True).stdout.strip()
    stacks = {
        "old": {"src": old_src, "venv": work / "venv-old", "python": Path(_python_311(old_python))},
        "new": {"src": REPO, "venv": work / "venv-new", "python": Path(new_python)},
    }
    for name, s in stacks.items():
        marker = s["venv"] / ".bench-installed"
        if not marker.is_file():
            print(f"[setup] {name}: venv with {s['python']} and {s['src']}", flush=True)
            shutil.rmtree(s["venv"], ignore_errors=True)
            subprocess.run([str(s["python"]), "-m", "venv", str(s["venv"])], check=True)
            pip = [str(s["venv"] / "bin" / "python"), "-m", "pip", "install", "--quiet"]
            subprocess.run([*pip, "--upgrade", "pip"], check=True)
            subprocess.run([*pip, "-e", str(s["src"])], check=True)
            marker.touch()
    return stacks


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTENSOR_FLAGS"] = f"compiledir={cache}"
    env.pop("PYTHONPATH", None)
    return env


def _probe(stack: dict[str, Path], cache: Path, seed: int) -> dict[str, object]:
    py = str(stack["venv"] / "bin" / "python")
    t0 = time.perf_counter()
    proc = subprocess.run([py, str(PROBE), "fit", "--repo", str(stack["src"]), "--seed", str(seed)],
                          env=_env(cache), capture_output=True, text=True, cwd=stack["src"])
    wall = time.perf_counter() - t0
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        sys.exit(f"probe failed ({stack['src']}):\n{proc.stderr[-3000:]}")
    out: dict[str, object] = json.loads(line[len("RESULT "):])
    out["process_wall_s"] = round(wall, 2)
    return out


def _quick(stack: dict[str, Path], work: Path, name: str) -> dict[str, object]:
    out_dir, cache = work / f"quick-{name}", work / f"cache-quick-{name}"
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    cmd = [str(stack["venv"] / "bin" / "hybridflow"), "study", "run",
           str(stack["src"] / "studies" / "hjs-2025"), "--quick", "--out", str(out_dir)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=_env(cache), capture_output=True, text=True, cwd=stack["src"])
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"quick study failed ({name}):\n{proc.stderr[-3000:]}")
    res: dict[str, object] = {"quick_wall_s": round(wall, 1)}
    timings = out_dir / "timings.json"
    if timings.is_file():
        res["quick_steps_s"] = json.loads(timings.read_text())
    log = proc.stdout + proc.stderr
    res["quick_not_converged_lines"] = log.count("NOT CONVERGED")
    return res


def _machine() -> dict[str, object]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "platform": platform.platform(),
            "loadavg_start": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old-rev", default="39b60f9", help="git revision of the old stack's release")
    p.add_argument("--work", type=Path, default=Path("/tmp/hybridflow-stacks"))
    p.add_argument("--old-python", default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip-quick", action="store_true")
    p.add_argument("--note", default="")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = p.parse_args(argv)

    stacks = _setup(args.work, args.old_rev, args.old_python)
    machine = _machine()
    results: dict[str, dict[str, object]] = {"old": {}, "new": {}}
    for name in ("old", "new"):
        shutil.rmtree(args.work / f"cache-fit-{name}", ignore_errors=True)
    for phase in ("cold", "warm"):
        for name in ("old", "new"):
            print(f"[{name}] flagship fit + one refit ({phase} compile cache)", flush=True)
            r = _probe(stacks[name], args.work / f"cache-fit-{name}", args.seed)
            results[name][phase] = r
            print(f"  {json.dumps({k: v for k, v in r.items() if k != 'versions'})}", flush=True)
    if not args.skip_quick:
        for name in ("old", "new"):
            print(f"[{name}] quick study", flush=True)
            results[name]["quick"] = _quick(stacks[name], args.work, name)
            print(f"  {results[name]['quick']['quick_wall_s']} s", flush=True)

    ratios: dict[str, float] = {}
    for phase in ("cold", "warm"):
        for key in ("fit_wall_s", "fit_compile_s", "fit_sample_s", "refit_wall_s"):
            o, n = results["old"][phase].get(key), results["new"][phase].get(key)
            if isinstance(o, int | float) and isinstance(n, int | float) and o > 0:
                ratios[f"{phase}.{key}"] = round(n / o, 3)
    if not args.skip_quick:
        o = results["old"]["quick"]["quick_wall_s"]
        n = results["new"]["quick"]["quick_wall_s"]
        ratios["quick_wall_s"] = round(float(n) / float(o), 3)  # type: ignore[arg-type]
    print("\nnew / old (below 1: the new stack is faster)")
    for k, v in ratios.items():
        print(f"  {k:28s} {v:.3f}")
    machine["loadavg_end"] = os.getloadavg()
    record = {"date": date.today().isoformat(), "old_rev": args.old_rev, "note": args.note,
              "machine": machine, "results": results, "ratios_new_over_old": ratios}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"stacks-{date.today().isoformat()}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
