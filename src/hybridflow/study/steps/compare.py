"""Step: PSIS-LOO among models fitted to the same observations, against the null."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from hybridflow.analysis.compare import loo_table
from hybridflow.study.cache import step_key
from hybridflow.study.context import StudyContext
from hybridflow.study.results import ComparisonResult, FitsResult, StudyResults


def run(context: StudyContext, results: StudyResults) -> ComparisonResult:
    """One LOO table per comparison set (same months, same outcome), null as baseline.

    The null on every shorter window was fitted in the fit step
    (:func:`hybridflow.study.steps.fits.window_nulls`).
    """
    fitted = results.fitted()
    null = context.spec.null_model
    null_names = {n for n in fitted.fits if n == null or n.startswith(f"{null}_")}
    frames = []
    for i, names in enumerate(comparison_sets(fitted)):
        fits = {n: fitted.fits[n].idata for n in names}
        base = next((n for n in names if n in null_names), None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = loo_table(fits, baseline=base)
        table = table.reset_index()
        a = fitted.fits[names[0]].idata.posterior.attrs
        table.insert(1, "comparison_set", i + 1)
        table.insert(2, "window", f"{a.get('window_start')} to {a.get('window_end')}")
        table.insert(3, "baseline", base or "")
        frames.append(table)
    table = pd.concat(frames, ignore_index=True)
    context.write_table("comparison", table)
    return ComparisonResult(table)


def comparison_sets(fitted: FitsResult) -> list[list[str]]:
    """Names of the fits to the same observations (window and outcome), in fit order."""
    groups: dict[str, list[str]] = {}
    for name, fit in fitted.fits.items():
        obs = np.asarray(fit.idata.observed_data["y"].values)
        attrs = fit.idata.posterior.attrs
        gkey = step_key(obs.tolist(), attrs.get("window_start"), attrs.get("window_end"),
                        attrs.get("outcome"))
        groups.setdefault(gkey, []).append(name)
    return list(groups.values())
