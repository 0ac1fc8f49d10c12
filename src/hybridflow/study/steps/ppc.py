"""Step: posterior predictive checks of every fit (coverage, PIT, quantile bands)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from hybridflow.analysis.checks.ppc import posterior_predictive, predictive_check
from hybridflow.study.cache import step_key
from hybridflow.study.context import StudyContext
from hybridflow.study.results import PredictiveChecksResult, StudyResults


def run(context: StudyContext, results: StudyResults) -> PredictiveChecksResult:
    """Coverage of the observed counts by each fit's predictive intervals."""
    frames, bands = [], {}
    for name, fit in results.fitted().fits.items():
        key = step_key("ppc", fit.idata.posterior.attrs.get("spec_hash"), context.data_key(),
                       context.sampling())

        def compute(fit: Any = fit, name: str = name) -> dict[str, pd.DataFrame]:
            ppd = posterior_predictive(fit, n_draws=1000, seed=context.spec.sampling.seed)
            counts = fit.idata.posterior.attrs.get("outcome", "counts") == "counts"
            check = predictive_check(ppd, seed=context.spec.sampling.seed, totals=counts)
            cov = check.coverage.copy()
            cov.insert(0, "model", name)
            bands = check.bands_table()
            bands.insert(0, "model", name)
            return {f"ppc_{name}": cov, f"ppc_bands_{name}": bands}

        t = context.cached_tables(f"ppc:{name}", key, [f"ppc_{name}", f"ppc_bands_{name}"],
                                  compute)
        frames.append(t[f"ppc_{name}"])
        bands[name] = t[f"ppc_bands_{name}"]
    coverage = pd.concat(frames, ignore_index=True)
    context.write_table("ppc_coverage", coverage)
    return PredictiveChecksResult(coverage=coverage, bands=bands)
