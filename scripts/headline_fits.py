"""Fit some of the study's headline models with one seed and target acceptance; print each
fit's convergence gate and, for every hypothesis it grades, the estimand (the hypothesis's
group, cumulative percent effect: mean, 90% HDI, probability of direction, posterior-only
grade). Ad-hoc checks of the real-data estimates between study runs (issue 12).

    python scripts/headline_fits.py h5_ru_gains,sanctions_joint 20250601 0.98
"""

import json
import sys
import time
import warnings

import numpy as np

from hybridflow.analysis.effects import effect_draws
from hybridflow.analysis.evidence import grade_effect
from hybridflow.data.events import load_events
from hybridflow.data.panel import load_panel
from hybridflow.inference.fit import fit_spec
from hybridflow.inference.posterior import hdi_bounds
from hybridflow.inference.sampling import Sampling
from hybridflow.models.spec import load_spec
from hybridflow.study.spec import load_study

models = sys.argv[1].split(",")
seed = int(sys.argv[2])
ta = float(sys.argv[3])
study, sdir = load_study("studies/hjs-2025")
panel, events = load_panel(), load_events()
for m in models:
    spec = load_spec(sdir / study.models_dir / f"{m}.toml")
    s = Sampling(
        draws=study.sampling.draws,
        tune=study.sampling.tune,
        chains=study.sampling.chains,
        target_accept=ta,
    )
    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_spec(spec, panel, events, sampling=s, seed=seed, log_likelihood=False)
    d = res.diagnostics
    row = {
        "model": m,
        "seed": seed,
        "ta": ta,
        "converged": bool(d.converged),
        "div": int(d.n_divergences),
        "rhat": round(float(d.max_rhat), 4),
        "ess": round(float(min(d.min_ess_bulk, d.min_ess_tail))),
        "s": round(time.time() - t0),
        "gate": "; ".join(d.failing[:2]),
    }
    graded = [h for h in study.hypotheses if h.model == m]
    eff = effect_draws(res.idata)["cumulative_pct"] if graded else None  # null: no drivers
    for h in graded:
        assert eff is not None
        g = h.group or "Others"
        v = np.asarray(eff.sel(driver=h.driver, group=g).isel(route=0).values, float).ravel()
        gr = grade_effect(v, h.direction, converged=d.converged)
        lo, hi = hdi_bounds(v, 0.9)
        row[h.id] = (
            f"{np.mean(v):+.1f}% [{lo:+.1f}, {hi:+.1f}] pd={gr.p_direction:.2f} {gr.posterior_grade}"
        )
    print(json.dumps(row), flush=True)
