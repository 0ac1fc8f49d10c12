"""Step: negative controls, each hypothesis' driver in its own model on routes it should
not move."""

from __future__ import annotations

import pandas as pd

from hybridflow.analysis.checks import CheckOutcome, control_outcome, negative_controls
from hybridflow.analysis.checks.controls import CONTROL_COLUMNS
from hybridflow.models.spec import spec_hash
from hybridflow.study.cache import step_key
from hybridflow.study.context import StudyContext
from hybridflow.study.results import ControlsResult, StudyResults
from hybridflow.study.spec import Hypothesis
from hybridflow.study.steps.placebo import has_driver


def run(context: StudyContext, results: StudyResults) -> ControlsResult | None:
    """One gated fit per hypothesis and control route (None if disabled or no hypothesis
    asks for it)."""
    c = context.spec.checks
    if not c.controls_enabled or not c.negative_control_routes:
        return None
    fitted = results.fitted()
    hyps = [h for h in context.spec.hypotheses if h.id in c.negative_control_hypotheses
            and has_driver(context, h, fitted.hypothesis_model(h.model))]
    if not hyps:
        return None
    frames, outcomes = [], {}
    for h in hyps:
        table, outcome = _hypothesis(context, h, fitted.hypothesis_model(h.model))
        frames.append(table)
        outcomes[h.id] = outcome
    table = pd.concat(frames, ignore_index=True)
    context.write_table("negative_controls", table)
    p_either = {h: o.statistic for h, o in outcomes.items() if o.ran}
    s = context.spec.gated_sampling().record() | {"seed": context.spec.sampling.seed}
    return ControlsResult(table=table, p_direction=p_either, sampling=s, outcomes=outcomes)


def _hypothesis(context: StudyContext, h: Hypothesis,
                model: str) -> tuple[pd.DataFrame, CheckOutcome]:
    """The control rows of one hypothesis (its own model) and their verdict."""
    c, spec = context.spec.checks, context.model_spec(model)
    routes = list(c.negative_control_routes)
    if spec.data.outcome == "share":
        # No UkrRussBel on the control routes: the share of Others is 1 there.
        empty = pd.DataFrame(columns=["hypothesis", "model", *CONTROL_COLUMNS])
        return empty, CheckOutcome("controls", h.id, False, None, 0, 0, 0, reason=(
            "not applicable: a share outcome is 1 by construction on routes without "
            "UkrRussBel detections"))
    sampling, seed = context.spec.gated_sampling(), context.spec.sampling.seed
    key = step_key("controls", spec_hash(spec), h.driver, h.direction, routes,
                   sampling.record(), seed, context.data_key())
    name = f"negative_controls_{h.id}"

    def compute() -> dict[str, pd.DataFrame]:
        table = negative_controls(
            spec, context.panel, context.events, routes, drivers=[h.driver],
            directions={h.driver: h.direction}, sampling=sampling, seed=seed,
            executor=context.executor(),
        )
        return {name: table.assign(hypothesis=h.id, model=spec.name)}

    table = context.cached_tables(f"controls:{h.id}", key, [name], compute)[name]
    table = table[["hypothesis", "model", *[col for col in CONTROL_COLUMNS if col in table]]]
    return table, control_outcome(table, h.driver, hypothesis=h.id)
