"""Null worlds of a hypothesis (all-v1's world seeds) (same world seeds) refitted with a spec variant."""
import json
import sys

import pandas as pd

from hybridflow.analysis.audit import AUDIT_SAMPLING
from hybridflow.analysis.audit.generator import WorldConfig
from hybridflow.analysis.audit.runner import EFFECT_SIZES, audit_world, world_plan
from hybridflow.data.events import load_events
from hybridflow.data.panel import load_panel
from hybridflow.inference.executor import ProcessExecutor, Task, spawn_seeds
from hybridflow.models.build import prepare_data
from hybridflow.models.spec import ModelSpec
from hybridflow.study.spec import load_study
from hybridflow.study.steps.audit import audit_targets


def main():
    hyp, variant, n_null, n_eff = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    spec, d = load_study("studies/hjs-2025")
    all_t = audit_targets(spec, d)
    k = [t.hypothesis for t in all_t].index(hyp)
    t = all_t[k]
    root = spawn_seeds(1, len(all_t))[k]
    js = json.loads(t.spec.model_dump_json())
    if variant == "ar1":
        js["baseline"]["noise"] = "ar1"
    elif variant == "base":
        pass
    t = type(t)(t.hypothesis, ModelSpec.model_validate(js), t.driver, t.direction, t.group)
    data = prepare_data(t.spec, load_panel(), load_events())
    plans = world_plan(t, n_null, n_eff, EFFECT_SIZES, root)
    draws = int(sys.argv[5]) if len(sys.argv) > 5 else 500
    sampling = AUDIT_SAMPLING.replace(target_accept=spec.sampling.target_accept, draws=draws)
    tasks = [Task(p.key, audit_world, (data, t, p, WorldConfig(), sampling)) for p in plans]
    with ProcessExecutor(2) as ex:
        res = ex.map(tasks, progress=True)
    rows = [dict(world=p.index, kind=p.kind, truth=p.truth_pct, **(r.value or {"err": r.error[-200:]})) for p, r in zip(plans, res, strict=True)]
    df = pd.DataFrame(rows)
    df.to_csv(f"/work/exp/{hyp}-{variant}-{draws}.csv", index=False)
    print(df[[c for c in ("world","kind","truth","converged","divergences","rhat_max","ess_min","pct_mean","hdi_low","hdi_high","p_direction","grade","fit_seconds") if c in df]].to_string())

if __name__ == '__main__':
    main()
