"""The checks that make an answer trustworthy.

One job per module, each returning plain tables and arrays (plotting lives in
:mod:`hybridflow.briefing.figures`):

- :mod:`~hybridflow.analysis.checks.ppc`: prior and posterior predictive checks (50% and
  90% interval coverage of the observed counts, randomised PIT, quantile bands);
- :mod:`~hybridflow.analysis.checks.placebo`: placebo-in-time (the driver's whole timing
  shifted by random offsets inside the window where it varies; the observed studentised
  effect's rank among them);
- :mod:`~hybridflow.analysis.checks.leads`: the lead test (does detections' past respond
  to the driver's future?);
- :mod:`~hybridflow.analysis.checks.controls`: negative-control outcomes (the same drivers
  on routes without a land border with Russia or Belarus);
- :mod:`~hybridflow.analysis.checks.episodes`: known-episode validation (does the anomaly
  score flag the Belarus 2021 and Finland 2023 episodes when the model is not told?);
- :mod:`~hybridflow.analysis.checks.sensitivity`: the headline effect under other priors,
  kernels, windows and groupings (the forest-plot table).

Many-fit checks take a ``sampling``
(:class:`hybridflow.inference.sampling.Sampling`: draws, tune, chains, sampler, target
acceptance; and ``n``) so a caller can size them per profile, and an ``executor`` (:func:`hybridflow.inference.executor.make_executor`;
default: serially in this process). Refits of one model structure compile once per worker
(:class:`hybridflow.inference.refit.Refitter` kept in the worker cache).
"""

from hybridflow.analysis.checks._common import (
    REFIT_SAMPLING,
    VARIANT_SAMPLING,
    CheckOutcome,
    Headline,
    headline_draws,
)
from hybridflow.analysis.checks.controls import (
    CONTROL_ROUTES,
    control_outcome,
    negative_controls,
    total_panel,
)
from hybridflow.analysis.checks.episodes import (
    DEFAULT_EPISODES,
    Episode,
    EpisodeResult,
    episode_anomaly,
    flag_episodes,
    score_anomalies,
    strip_episodes,
)
from hybridflow.analysis.checks.leads import LeadResult, lead_test
from hybridflow.analysis.checks.placebo import (
    PlaceboResult,
    permutation_p_values,
    placebo_arrays,
    placebo_in_time,
    shift_events,
    shifted_exposure,
)
from hybridflow.analysis.checks.ppc import (
    PredictiveCheck,
    pit_values,
    posterior_predictive,
    predictive_bands,
    predictive_check,
    predictive_coverage,
    prior_predictive,
    simulate_counts,
    with_route_totals,
)
from hybridflow.analysis.checks.sensitivity import (
    SENSITIVITY_COLUMNS,
    Variant,
    sensitivity_grid,
    sensitivity_outcome,
    sensitivity_variants,
)

__all__ = [
    "CONTROL_ROUTES",
    "CheckOutcome",
    "DEFAULT_EPISODES",
    "SENSITIVITY_COLUMNS",
    "Episode",
    "EpisodeResult",
    "Headline",
    "LeadResult",
    "PlaceboResult",
    "PredictiveCheck",
    "REFIT_SAMPLING",
    "VARIANT_SAMPLING",
    "Variant",
    "control_outcome",
    "episode_anomaly",
    "flag_episodes",
    "headline_draws",
    "lead_test",
    "negative_controls",
    "pit_values",
    "placebo_arrays",
    "placebo_in_time",
    "posterior_predictive",
    "predictive_bands",
    "predictive_check",
    "predictive_coverage",
    "prior_predictive",
    "permutation_p_values",
    "score_anomalies",
    "sensitivity_grid",
    "sensitivity_outcome",
    "sensitivity_variants",
    "shift_events",
    "shifted_exposure",
    "simulate_counts",
    "strip_episodes",
    "total_panel",
    "with_route_totals",
]
