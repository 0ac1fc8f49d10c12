"""H8 null worlds (and the real data) with month-level AR(1) noise variants.

    python noise_h8.py VARIANT WORLDS [HYP]
VARIANT: base | nb_ar1c | pois_ar1c ; WORLDS: comma list of null-world indices or 'real'
"""
import json
import sys
import time
import warnings

from hybridflow.analysis.audit.generator import DEFAULT_CONFIG
from hybridflow.analysis.audit.runner import (
    EFFECT_SIZES,
    AuditTarget,
    audit_world,
    hypothesis_seed,
    world_plan,
)
from hybridflow.data.events import load_events
from hybridflow.data.panel import load_panel
from hybridflow.inference.sampling import Sampling
from hybridflow.models.build import prepare_data
from hybridflow.study.spec import load_study
from hybridflow.study.steps.audit import audit_targets


def variant_spec(spec, v):
    if v == "base":
        return spec
    b = spec.baseline.model_copy(update={"noise": "ar1", "noise_parametrisation": "centred"})
    upd = {"baseline": b}
    if v.startswith("pois"):
        upd["likelihood"] = spec.likelihood.model_copy(update={"family": "poisson"})
    return spec.model_copy(update=upd)


def main():
    v, worlds = sys.argv[1], sys.argv[2]
    hyp = sys.argv[3] if len(sys.argv) > 3 else "H8"
    study, sdir = load_study("studies/hjs-2025")
    (t0,) = audit_targets(study, sdir, [hyp], None)
    t = AuditTarget(t0.hypothesis, variant_spec(t0.spec, v), t0.driver, t0.direction, t0.group)
    panel, events = load_panel(), load_events()
    s = study.sampling
    draws = int(sys.argv[4]) if len(sys.argv) > 4 else s.draws
    sampling = Sampling(draws=draws, tune=s.tune, chains=s.chains,
                        target_accept=s.target_accept, sampler=s.sampler)
    data = prepare_data(t.spec, panel, events)
    plans = world_plan(t, 60, 10, EFFECT_SIZES, hypothesis_seed(1, hyp))
    for w in worlds.split(","):
        t1 = time.time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = audit_world(data, t, plans[int(w)], DEFAULT_CONFIG, sampling)
        out = {k: (round(x, 3) if isinstance(x, float) else x) for k, x in out.items()}
        print(json.dumps({"hyp": hyp, "variant": v, "world": int(w), "wall": round(time.time() - t1),
                          **out}), flush=True)


if __name__ == "__main__":
    main()
