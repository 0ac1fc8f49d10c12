"""Step: placebo-in-time for each hypothesis that asks for it."""

from __future__ import annotations

from typing import Any

import pandas as pd

from hybridflow.analysis.checks.placebo import placebo_in_time
from hybridflow.models.spec import spec_hash
from hybridflow.study.cache import step_key
from hybridflow.study.context import StudyContext
from hybridflow.study.results import PlaceboCheck, PlaceboResult, StudyResults


def run(context: StudyContext, results: StudyResults) -> PlaceboResult | None:
    """The effect at the real event dates against random re-datings (None if disabled)."""
    c = context.spec.checks
    if c.placebo_n <= 0 or not c.placebo_enabled:
        return None
    fitted = results.fitted()
    checks = []
    s = context.refit_sampling()
    for h in context.spec.hypotheses:
        if not h.placebo or (c.placebo_hypotheses and h.id not in c.placebo_hypotheses):
            continue
        spec = context.model_spec(fitted.hypothesis_model(h.model))
        key = step_key("placebo", spec_hash(spec), h.driver, h.direction, c.placebo_n, s,
                       context.data_key())
        name = f"placebo_{h.id}"

        def compute(spec: Any = spec, h: Any = h, name: str = name) -> dict[str, pd.DataFrame]:
            res = placebo_in_time(
                spec, h.driver, context.panel, context.events, n=c.placebo_n, seed=s["seed"],
                sampling=context.check_sampling(), direction=h.direction,
                executor=context.executor(),
            )
            table = res.table()
            summary = pd.DataFrame([{"hypothesis": h.id, "model": spec.name, **res.summary()}])
            return {name: table, f"{name}_summary": summary}

        t = context.cached_tables(f"placebo:{h.id}", key, [name, f"{name}_summary"], compute)
        checks.append(PlaceboCheck(hypothesis=h.id, driver=h.driver, placebos=t[name],
                                   summary=t[f"{name}_summary"]))
    table = None
    if checks:
        table = pd.concat([ch.summary for ch in checks], ignore_index=True)
        context.write_table("placebo_summary", table)
    p_values = {ch.hypothesis: float(ch.row["rank_p"]) for ch in checks}
    return PlaceboResult(checks=tuple(checks), table=table, p_values=p_values)
