"""Joint posterior of effect and kernel decay in H4 null worlds of all-v1 (old seeds)."""
import sys
import warnings

import numpy as np

from hybridflow.analysis.audit import AUDIT_SAMPLING
from hybridflow.analysis.audit.generator import WorldConfig, generate_world, world_model_data
from hybridflow.analysis.effects import effect_draws
from hybridflow.data.events import load_events
from hybridflow.data.panel import load_panel
from hybridflow.inference.executor import spawn_seeds
from hybridflow.inference.refit import cached_refitter
from hybridflow.models.build import build_model, prepare_data
from hybridflow.study.spec import load_study
from hybridflow.study.steps.audit import audit_targets

hyp = sys.argv[1]
worlds = [int(x) for x in sys.argv[2].split(",")]
spec, d = load_study("studies/hjs-2025")
ts = audit_targets(spec, d)
k = [t.hypothesis for t in ts].index(hyp)
t = ts[k]
root = spawn_seeds(1, 8)[k]
seeds = spawn_seeds(root, 40)
data = prepare_data(t.spec, load_panel(), load_events())
ref = cached_refitter(data, "nutpie")
for i in worlds:
    world = generate_world(data, seeds[i], None, WorldConfig())
    bundle = build_model(data.spec, world_model_data(data, world))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = ref.refit_bundle(bundle, AUDIT_SAMPLING, seed=spawn_seeds(seeds[i], 1)[0])
    post = idata.posterior if hasattr(idata, "posterior") else idata["posterior"]
    pct = effect_draws(idata)["cumulative_pct"].sel(driver=t.driver, group=t.group).isel(route=0)
    v = np.asarray(pct.values).ravel()
    dec = np.asarray(post["geometric_decay"].sel(geometric_driver=t.driver).values).ravel() if "geometric_decay" in post else None
    print(f"world {i}: pct mean {v.mean():+.1f}, P(+) {(v>0).mean():.3f}; quantiles", np.percentile(v,[5,25,50,75,95]).round(1))
    hist, edges = np.histogram(v, bins=12)
    print("  hist", hist.tolist(), edges.round(0).tolist())
    if dec is not None:
        for lo, hi in [(0,.2),(.2,.4),(.4,.6),(.6,.8),(.8,1)]:
            m = (dec>=lo)&(dec<hi)
            if m.sum():
                print(f"  decay {lo:.1f}-{hi:.1f}: n {m.sum():4d}, pct mean {v[m].mean():+.1f}, P(+) {(v[m]>0).mean():.2f}")
    chains = np.asarray(pct.values)
    print("  per-chain means", chains.mean(axis=-1).round(1).ravel().tolist())
