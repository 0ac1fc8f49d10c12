"""Step: the headline effects under alternative choices, one choice at a time."""

from __future__ import annotations

from typing import Any

import pandas as pd

from hybridflow.analysis.checks.sensitivity import sensitivity_grid
from hybridflow.data.panel import REPORT_GROUPING
from hybridflow.models.spec import spec_hash
from hybridflow.study.cache import step_key
from hybridflow.study.context import StudyContext
from hybridflow.study.results import SensitivityResult, StudyResults


def run(context: StudyContext, results: StudyResults) -> SensitivityResult | None:
    """Prior scales, lag kernels, window starts and groupings (None if none is asked for)."""
    c = context.spec.checks
    sens = c.sensitivity
    if not c.sensitivity_enabled or not sens.hypotheses:
        return None
    fitted = results.fitted()
    frames = []
    s = context.refit_sampling()
    for h in context.spec.hypotheses:
        if h.id not in sens.hypotheses:
            continue
        spec = context.model_spec(fitted.hypothesis_model(h.model))
        starts = [spec.data.start, *[w for w in sens.window_starts if w != spec.data.start]]
        groupings = [REPORT_GROUPING, *sens.groupings]
        # The forest is read on the hypothesis's graded estimand (its group, or pooled).
        key = step_key("sensitivity", spec_hash(spec), h.driver, h.graded_group,
                       sens.model_dump(), s, context.data_key())
        name = f"sensitivity_{h.id}"

        def compute(spec: Any = spec, h: Any = h, starts: Any = starts,
                    groupings: Any = groupings, name: str = name) -> dict[str, pd.DataFrame]:
            table = sensitivity_grid(
                spec, h.driver, context.panel, context.events, prior_scales=sens.prior_scales,
                kernels=sens.kernels, window_starts=starts, groupings=groupings,
                direction=h.direction, group=h.graded_group,
                panel_label=f"{h.id} {h.driver}",
                sampling=context.check_sampling(), seed=s["seed"],
                executor=context.executor(),
            )
            return {name: table}

        frames.append(context.cached_tables(f"sensitivity:{h.id}", key, [name], compute)[name])
    if not frames:
        return None
    table = pd.concat(frames, ignore_index=True)
    context.write_table("sensitivity", table)
    return SensitivityResult(table=table, sampling=s)
