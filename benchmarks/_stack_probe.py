"""One measurement of one software stack, run in a fresh process by ``bench_stacks.py``.

Uses only API that every hybridflow release since the model core has (``fit_spec``,
``Refitter``, ``load_panel``, ``load_events``, ``load_spec``), in its older keyword form
(``draws=``...) or its newer ``Sampling`` form (issue 11), whichever the checked-out
release has, so the same file measures the release before the move to PyMC 6 and this
one. Prints one JSON line.

Tasks:
- ``fit``: ``models/full.toml`` on the embedded data, 4 chains x 1000 draws after 500
  tuning steps (the flagship fit), then one compile-once refit of the same model on a
  perturbed outcome at the study's refit settings (200/200 x 2 chains).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any


def _fitting_api() -> tuple[Any, Callable[..., dict[str, Any]]]:
    """``fit_spec`` and a maker of its sampler keyword arguments, for either API."""
    try:
        from hybridflow.inference.fit import fit_spec
        from hybridflow.inference.sampling import Sampling
    except ImportError:  # releases before issue 11: sampler settings as keywords
        from hybridflow.inference.sample import fit_spec

        return fit_spec, lambda **kw: kw
    return fit_spec, lambda **kw: {"sampling": Sampling(**kw)}


def fit_and_refit(repo: Path, seed: int) -> dict[str, object]:
    import numpy as np

    from hybridflow.data.events import load_events
    from hybridflow.data.panel import load_panel
    from hybridflow.inference.refit import Refitter, data_values
    from hybridflow.models.spec import load_spec

    fit_spec, settings = _fitting_api()

    spec = load_spec(repo / "models" / "full.toml")
    panel, events = load_panel(), load_events()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_spec(spec, panel, events, **settings(draws=1000, tune=500, chains=4),
                       seed=seed)
    fit_s = time.perf_counter() - t0
    d = res.diagnostics
    out: dict[str, object] = {
        "fit_wall_s": round(fit_s, 2),
        **{f"fit_{k}": round(v, 2) for k, v in res.timings.items()},
        "fit_divergences": int(d.n_divergences),
        "fit_max_rhat": round(float(d.max_rhat), 4),
        "fit_min_ess_bulk": round(float(d.min_ess_bulk)),
        "fit_min_ess_tail": round(float(d.min_ess_tail)),
        "fit_converged": bool(d.converged),
    }
    assert res.bundle is not None
    refitter = Refitter(res.bundle, compiled=res.compiled)
    y = data_values(res.bundle)["y_obs"]
    rng = np.random.default_rng(seed)
    y_new = rng.poisson(np.maximum(y, 0) + 0.5).astype(y.dtype)
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refitter.refit({"y_obs": y_new}, **settings(draws=200, tune=200, chains=2),
                       seed=seed + 1)
    out["refit_wall_s"] = round(time.perf_counter() - t1, 2)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("task", choices=["fit"])
    p.add_argument("--repo", type=Path, required=True)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    result = fit_and_refit(args.repo, args.seed)
    result["versions"] = {n: version(n) for n in ("pymc", "pytensor", "arviz", "nutpie",
                                                  "numpy", "numba", "pandas", "xarray")}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
