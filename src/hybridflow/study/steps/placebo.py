"""Step: placebo-in-time and the lead test for each hypothesis that asks for them (by
default every hypothesis; each driver kind has a placebo)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from hybridflow.analysis.checks import CheckOutcome, lead_test, placebo_in_time
from hybridflow.models.spec import spec_hash
from hybridflow.study.cache import step_key
from hybridflow.study.context import StudyContext
from hybridflow.study.results import PlaceboCheck, PlaceboResult, StudyResults
from hybridflow.study.spec import Hypothesis


def run(context: StudyContext, results: StudyResults) -> PlaceboResult | None:
    """Shifted timings and lead terms per hypothesis (None if disabled)."""
    c = context.spec.checks
    if c.placebo_n <= 0 or not c.placebo_enabled:
        return None
    fitted = results.fitted()
    checks = [
        _check(context, h, fitted.hypothesis_model(h.model))
        for h in context.spec.hypotheses
        if h.placebo and (not c.placebo_hypotheses or h.id in c.placebo_hypotheses)
        and has_driver(context, h, fitted.hypothesis_model(h.model))
    ]
    if not checks:
        return None
    table = pd.concat([ch.summary for ch in checks], ignore_index=True)
    context.write_table("placebo_summary", table)
    outcomes = {ch.hypothesis: CheckOutcome.from_columns(ch.row) for ch in checks}
    leads = {ch.hypothesis: CheckOutcome.from_columns(
                 {str(k): v for k, v in ch.leads.iloc[0].to_dict().items()})
             for ch in checks if ch.leads is not None}
    outcome_table = pd.DataFrame([o.to_dict() for o in [*outcomes.values(), *leads.values()]])
    context.write_table("placebo_outcomes", outcome_table)
    p_values = {h: o.p_value for h, o in outcomes.items() if o.ran}
    return PlaceboResult(checks=tuple(checks), table=table, p_values=p_values,
                         outcomes=outcomes, lead_outcomes=leads, outcome_table=outcome_table)


def has_driver(context: StudyContext, h: Hypothesis, model: str) -> bool:
    """Whether the model a hypothesis is read from has its driver (a reduced profile's
    fallback model may not: the hypothesis is then not estimated, and not checked)."""
    return h.driver in [d.name for d in context.model_spec(model).drivers]


def _check(context: StudyContext, h: Hypothesis, model: str) -> PlaceboCheck:
    """One hypothesis' placebo (and lead) tables, computed or read back."""
    c = context.spec.checks
    spec = context.model_spec(model)
    sampling, seed = context.spec.gated_sampling(), context.spec.sampling.seed
    within = (c.placebo_start, c.placebo_end) if c.placebo_start or c.placebo_end else None
    options = {"n": c.placebo_n, "window": c.placebo_window, "within": within,
               "unit": c.placebo_unit, "min_offset": c.placebo_min_offset,
               "alpha": c.placebo_alpha}
    leads = list(c.lead_months) if c.leads_enabled else []
    key = step_key("placebo", spec_hash(spec), h.driver, h.direction, h.graded_group, options, leads,
                   sampling.record(), seed, context.data_key())
    name = f"placebo_{h.id}"
    names = [name, f"{name}_summary"] + ([f"{name}_leads"] if leads else [])

    def compute() -> dict[str, pd.DataFrame]:
        res = placebo_in_time(
            spec, h.driver, context.panel, context.events, seed=seed, sampling=sampling,
            direction=h.direction, group=h.graded_group, hypothesis=h.id,
            executor=context.executor(), **options,  # type: ignore[arg-type]
        )
        out = {name: res.table(),
               f"{name}_summary": pd.DataFrame([{"hypothesis": h.id, "model": spec.name,
                                                 **res.summary()}])}
        if leads:
            lead = lead_test(spec, h.driver, context.panel, context.events, leads=leads,
                             direction=h.direction, group=h.graded_group, hypothesis=h.id,
                             seed=seed, sampling=sampling, executor=context.executor())
            out[f"{name}_leads"] = _lead_table(lead.table, lead.outcome())
        return out

    t: dict[str, Any] = context.cached_tables(f"placebo:{h.id}", key, names, compute)
    return PlaceboCheck(hypothesis=h.id, driver=h.driver, placebos=t[name],
                        summary=t[f"{name}_summary"], leads=t.get(f"{name}_leads"))


def _lead_table(table: pd.DataFrame, outcome: CheckOutcome) -> pd.DataFrame:
    """The lead rows with the outcome's columns on each (one CSV holds both; a fit that
    failed leaves one row of outcome only)."""
    out = table.copy() if not table.empty else pd.DataFrame([{"term": "none"}])
    for k, v in outcome.to_columns().items():
        out[k] = v
    return out
