"""Step: the convergence gate of every fit, in one table."""

from __future__ import annotations

import pandas as pd

from hybridflow.study.context import StudyContext
from hybridflow.study.results import DiagnosticsResult, StudyResults


def run(context: StudyContext, results: StudyResults) -> DiagnosticsResult:
    """R-hat, ESS and divergences per fit, and whether the fit was reused."""
    fitted = results.fitted()
    rows = []
    for name, fit in fitted.fits.items():
        d = fit.diagnostics
        rows.append({
            "model": name,
            "converged": bool(d.converged),
            "divergences": d.n_divergences,
            "max_rhat": d.max_rhat,
            "min_ess_bulk": d.min_ess_bulk,
            "min_ess_tail": d.min_ess_tail,
            "chains": d.n_chains,
            "draws": d.n_draws,
            "failing": "; ".join(d.failing[:3]),
            "reused": name in fitted.reused,
        })
    table = pd.DataFrame(rows)
    context.write_table("diagnostics", table)
    return DiagnosticsResult(table)
