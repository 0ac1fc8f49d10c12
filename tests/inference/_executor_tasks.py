"""Module-level task functions for tests/inference/test_executor.py.

They live in an importable module (not in the test file) because spawned worker processes
and dask workers import task functions by reference.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from hybridflow.inference.executor import cached

# How many times each cache key's factory ran in this process.
COMPILES: dict[str, int] = {}


def draws(n: int, *, seed: int) -> np.ndarray:
    """Random normal draws that depend only on the seed."""
    return np.random.default_rng(seed).normal(size=n)


def echo(value: Any, delay: float = 0.0) -> Any:
    """Return ``value`` after ``delay`` seconds (to shuffle completion order)."""
    time.sleep(delay)
    return value


def fail_first_time(marker: str, *, seed: int) -> int:
    """Fail on the first call for this marker file, succeed afterwards (any process)."""
    path = Path(marker)
    if not path.exists():
        path.write_text("attempted")
        raise RuntimeError(f"transient failure (seed {seed})")
    return seed


def always_fail(*, seed: int) -> None:
    raise ValueError(f"always fails (seed {seed})")


def kill_worker() -> None:
    """Kill the process running the task, without any Python cleanup."""
    os._exit(1)


def _compile(key: str) -> str:
    COMPILES[key] = COMPILES.get(key, 0) + 1
    time.sleep(0.05)  # stands in for an expensive compile
    return f"compiled-{key}-{os.getpid()}"


def use_compiled(key: str, *, seed: int) -> tuple[int, int, str, int]:
    """Fetch the per-worker compiled object; report pid, compile count, object and seed."""
    compiled = cached(key, lambda: _compile(key))
    return os.getpid(), COMPILES[key], compiled, seed


def thread_limits() -> tuple[str | None, str | None, int]:
    """OMP/NUMBA thread variables and the largest BLAS/OpenMP pool size in this process."""
    from threadpoolctl import threadpool_info

    pools = [int(p["num_threads"]) for p in threadpool_info()]
    return os.environ.get("OMP_NUM_THREADS"), os.environ.get("NUMBA_NUM_THREADS"), max(pools)


def study_fit_draws(spec_json: str, panel: Any, sampling: dict[str, Any], out: str) -> dict:
    """The study's own fit task, then every posterior array read back from its fit.nc."""
    from hybridflow.inference.store import load_result
    from hybridflow.study.steps.fits import fit_to_folder

    fit_to_folder(spec_json, panel, None, sampling, out)
    post = load_result(out, warn=False).idata["posterior"]
    return {str(v): post[v].values for v in post.data_vars}


def refit_draws(data: Any, y_obs: np.ndarray, sampling: Any, *, seed: int) -> dict:
    """A compile-once refit as placebo and backtests make it (the worker's cached model)."""
    from hybridflow.inference.refit import cached_refitter

    idata = cached_refitter(data, sampling.sampler).refit({"y_obs": y_obs}, sampling, seed=seed)
    post = idata["posterior"]
    return {str(v): post[v].values for v in post.data_vars}
