"""Step: would the baseline model have flagged the documented episodes on its own?"""

from __future__ import annotations

import pandas as pd

from hybridflow.analysis.checks.episodes import episode_anomaly
from hybridflow.models.spec import spec_hash
from hybridflow.study.cache import step_key
from hybridflow.study.context import StudyContext
from hybridflow.study.results import EpisodesResult, StudyResults


def run(context: StudyContext, results: StudyResults) -> EpisodesResult | None:
    """Anomaly scores of each episode, in sample and held out (None if disabled)."""
    c = context.spec.checks
    if not c.episodes_enabled or not c.episodes:
        return None
    spec = context.model_spec(c.episode_model)
    eps = [(e.name, e.start, e.end) for e in c.episodes]
    s = context.refit_sampling()
    key = step_key("episodes", spec_hash(spec), eps, s, c.episode_modes, context.data_key())

    def compute() -> dict[str, pd.DataFrame]:
        summaries, scores = [], []
        for mode in c.episode_modes:
            res = episode_anomaly(spec, context.panel, context.events, eps,
                                  sampling=context.check_sampling(), seed=s["seed"],
                                  holdout=mode == "holdout")
            summary = res.summary.copy()
            summary.insert(1, "mode", mode)
            summary["converged"] = res.converged
            summary["removed"] = "; ".join(res.removed)
            summaries.append(summary)
            sc = res.scores.copy()
            sc.insert(0, "mode", mode)
            scores.append(sc)
        return {"episodes": pd.concat(summaries, ignore_index=True),
                "episode_scores": pd.concat(scores, ignore_index=True)}

    t = context.cached_tables("episodes", key, ["episodes", "episode_scores"], compute)
    return EpisodesResult(table=t["episodes"], scores=t["episode_scores"])
