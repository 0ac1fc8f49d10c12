"""Step: negative controls, the hypotheses' drivers on routes they should not move."""

from __future__ import annotations

import pandas as pd

from hybridflow.analysis.checks.controls import negative_controls
from hybridflow.models.spec import spec_hash
from hybridflow.study.cache import step_key
from hybridflow.study.context import StudyContext
from hybridflow.study.results import ControlsResult, StudyResults


def run(context: StudyContext, results: StudyResults) -> ControlsResult | None:
    """One refit per control route (None if disabled or no hypothesis asks for it)."""
    c = context.spec.checks
    if not c.controls_enabled or not c.negative_control_routes:
        return None
    hyps = [h for h in context.spec.hypotheses if h.id in c.negative_control_hypotheses]
    if not hyps:
        return None
    spec = context.model_spec(context.spec.fallback_model or "full")
    drivers = [h.driver for h in hyps]
    directions = {h.driver: h.direction for h in hyps}
    s = context.refit_sampling()
    key = step_key("controls", spec_hash(spec), drivers, c.negative_control_routes, s,
                   context.data_key())

    def compute() -> dict[str, pd.DataFrame]:
        table = negative_controls(
            spec, context.panel, context.events, c.negative_control_routes, drivers=drivers,
            directions=directions, sampling=context.check_sampling(), seed=s["seed"],
            executor=context.executor(),
        )
        return {"negative_controls": table}

    table = context.cached_tables("controls", key, ["negative_controls"],
                                  compute)["negative_controls"]
    negctl: dict[str, float] = {}
    for h in hyps:
        rows = table[table["driver"] == h.driver]
        if not rows.empty and rows["p_direction"].notna().any():
            negctl[h.id] = float(rows["p_direction"].max())
    return ControlsResult(table=table, p_direction=negctl, sampling=s)
