"""Step: the headline effects under alternative choices, one choice at a time, and whether
their sign is stable across the forest."""

from __future__ import annotations

from typing import Any

import pandas as pd

from hybridflow.analysis.checks import sensitivity_grid, sensitivity_outcome
from hybridflow.data.panel import REPORT_GROUPING
from hybridflow.models.spec import spec_hash
from hybridflow.study.cache import step_key
from hybridflow.study.context import StudyContext
from hybridflow.study.results import SensitivityResult, StudyResults


def run(context: StudyContext, results: StudyResults) -> SensitivityResult | None:
    """Prior scales, lag kernels, window starts and groupings (None if none is asked for).

    The baseline row is the headline fit itself (gated at the study's sampling); the
    variants are gated refits at ``checks.gated``.
    """
    c = context.spec.checks
    sens = c.sensitivity
    if not c.sensitivity_enabled or not sens.hypotheses:
        return None
    fitted = results.fitted()
    frames, outcomes = [], {}
    sampling, seed = context.spec.gated_sampling(), context.spec.sampling.seed
    for h in context.spec.hypotheses:
        if h.id not in sens.hypotheses:
            continue
        model = fitted.hypothesis_model(h.model)
        spec, headline = context.model_spec(model), fitted.fits[model]
        starts = [spec.data.start, *[w for w in sens.window_starts if w != spec.data.start]]
        groupings = [REPORT_GROUPING, *sens.groupings]
        # The forest is read on the hypothesis's graded estimand (its group, or pooled).
        key = step_key("sensitivity", spec_hash(spec), h.driver, h.direction, h.graded_group,
                       sens.model_dump(), sampling.record(), seed, context.data_key(),
                       headline.idata.posterior.attrs.get("data_hash", ""))
        name = f"sensitivity_{h.id}"

        def compute(spec: Any = spec, h: Any = h, starts: Any = starts,
                    groupings: Any = groupings, name: str = name,
                    headline: Any = headline) -> dict[str, pd.DataFrame]:
            table = sensitivity_grid(
                spec, h.driver, context.panel, context.events, prior_scales=sens.prior_scales,
                kernels=sens.kernels, window_starts=starts, groupings=groupings,
                trend_scales=sens.trend_scales, direction=h.direction, group=h.graded_group,
                panel_label=f"{h.id} {h.driver}",
                baseline=headline, sampling=sampling, seed=seed, executor=context.executor(),
            )
            return {name: table}

        table = context.cached_tables(f"sensitivity:{h.id}", key, [name], compute)[name]
        frames.append(table)
        outcomes[h.id] = sensitivity_outcome(table, hypothesis=h.id)
    if not frames:
        return None
    table = pd.concat(frames, ignore_index=True)
    context.write_table("sensitivity", table)
    s = sampling.record() | {"seed": seed}
    return SensitivityResult(table=table, sampling=s, outcomes=outcomes)
