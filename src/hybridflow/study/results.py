"""What each step of a study produces: one frozen dataclass per step.

A step (:mod:`hybridflow.study.steps`) reads the results of the steps before it from
:class:`StudyResults` and returns its own; the runner files each under its field. Tables
are the frames the step wrote to ``tables/`` (or read back from there when the step was
reused), so the briefing shows what the files say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from hybridflow.analysis.checks import CheckOutcome
from hybridflow.analysis.forecast import Forecast
from hybridflow.errors import HybridflowError
from hybridflow.inference.result import FitResult


@dataclass(frozen=True)
class ReplicationResult:
    """The report's figures recomputed (``tables/replication*``)."""

    claims: pd.DataFrame
    correlations: pd.DataFrame
    misdated: pd.DataFrame


@dataclass(frozen=True)
class FitsResult:
    """Every fit of the study: its models, then the null refitted to their windows."""

    fits: Mapping[str, FitResult]
    reused: tuple[str, ...]  # fits loaded from an earlier run, in the order they were read
    fallback_model: str | None

    def hypothesis_model(self, model: str) -> str:
        """The model a hypothesis is read from in this profile (its own, if fitted)."""
        if model in self.fits or self.fallback_model is None:
            return model
        return self.fallback_model


@dataclass(frozen=True)
class ComparisonResult:
    """PSIS-LOO per comparison set (``tables/comparison.csv``)."""

    table: pd.DataFrame


@dataclass(frozen=True)
class PredictiveChecksResult:
    """Posterior predictive coverage of every fit and the quantile bands per model."""

    coverage: pd.DataFrame
    bands: Mapping[str, pd.DataFrame]  # by model name


@dataclass(frozen=True)
class PlaceboCheck:
    """Placebo-in-time and the lead test for one hypothesis."""

    hypothesis: str
    driver: str
    placebos: pd.DataFrame  # one row per shifted timing (offset, pct_mean, z, ok...)
    summary: pd.DataFrame  # one row: observed z, p, n_used, n_failed, ran, passed, ...
    leads: pd.DataFrame | None = None  # the lead model's real and lead effects

    @property
    def row(self) -> dict[str, Any]:
        """The summary's one row."""
        return {str(k): v for k, v in self.summary.iloc[0].to_dict().items()}


@dataclass(frozen=True)
class PlaceboResult:
    checks: tuple[PlaceboCheck, ...]
    table: pd.DataFrame | None  # tables/placebo_summary.csv; None when no hypothesis ran
    p_values: Mapping[str, float]  # p = (k+1)/(n+1) by hypothesis id, where the check ran
    outcomes: Mapping[str, CheckOutcome]  # placebo verdict by hypothesis id
    lead_outcomes: Mapping[str, CheckOutcome]  # lead-test verdict by hypothesis id
    outcome_table: pd.DataFrame | None = None  # tables/placebo_outcomes.csv


@dataclass(frozen=True)
class ControlsResult:
    """Negative controls: the hypotheses' drivers on routes they should not affect, each
    in its hypothesis' own model."""

    table: pd.DataFrame  # one row per hypothesis x route (column "hypothesis")
    p_direction: Mapping[str, float]  # largest P(either sign) by hypothesis id, where it ran
    sampling: Mapping[str, Any]  # the refit settings
    outcomes: Mapping[str, CheckOutcome]  # verdict by hypothesis id


@dataclass(frozen=True)
class EpisodesResult:
    table: pd.DataFrame  # one row per episode, series and mode
    scores: pd.DataFrame  # monthly anomaly scores


@dataclass(frozen=True)
class SensitivityResult:
    table: pd.DataFrame  # one row per variant
    sampling: Mapping[str, Any]  # the refit settings
    outcomes: Mapping[str, CheckOutcome]  # sign stability by hypothesis id


@dataclass(frozen=True)
class ScenarioOutcome:
    """One scenario file: the model it was read from and its summary, or why not."""

    file: str
    window_end: str
    model: str | None = None
    text: str = ""


@dataclass(frozen=True)
class ForecastResult:
    """The null model's baseline forecast and the example scenarios."""

    model: str
    horizon: int
    forecast: Forecast
    text: tuple[str, ...]  # the baseline forecast in words
    scenarios: tuple[ScenarioOutcome, ...]


@dataclass(frozen=True)
class BacktestResult:
    origins: int
    summary: pd.DataFrame  # tables/backtest_summary.csv
    text: tuple[str, ...]


@dataclass(frozen=True)
class AuditResult:
    """The study's audit (``hybridflow check audit``), as read by the audit step.

    ``status`` is ``"ok"``, ``"not run"`` (no audit file) or ``"stale"`` (the audited
    models are not the study's current ones: its rates are not used); ``table`` is the
    audit's per-hypothesis table (empty unless ``ok``), ``false_positive_rates`` the
    rate by hypothesis id (``ok`` only), ``message`` says why when not ``ok``.
    """

    status: str
    path: Path
    table: pd.DataFrame
    false_positive_rates: Mapping[str, float]
    message: str = ""


@dataclass(frozen=True)
class HypothesesResult:
    table: pd.DataFrame  # tables/hypotheses.csv: one graded row per hypothesis
    #: tables/hypotheses_groups.csv: each hypothesis's effect on every group (``graded``
    #: marks its primary estimand)
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True)
class DiagnosticsResult:
    table: pd.DataFrame  # tables/diagnostics.csv: the convergence gate per fit


@dataclass(frozen=True)
class BriefingResult:
    paths: Mapping[str, Path]  # "html", "markdown", ...


@dataclass(frozen=True)
class StudyResults:
    """The results so far: a field per step, ``None`` until it ran (or when it was skipped)."""

    replication: ReplicationResult | None = None
    fits: FitsResult | None = None
    comparison: ComparisonResult | None = None
    ppc: PredictiveChecksResult | None = None
    placebo: PlaceboResult | None = None
    controls: ControlsResult | None = None
    episodes: EpisodesResult | None = None
    sensitivity: SensitivityResult | None = None
    forecasts: ForecastResult | None = None
    backtests: BacktestResult | None = None
    audit: AuditResult | None = None
    hypotheses: HypothesesResult | None = None
    diagnostics: DiagnosticsResult | None = None
    briefing: BriefingResult | None = None

    def fitted(self) -> FitsResult:
        """The fits, for the steps that run after them."""
        return _required(self.fits, "fits")

    def graded(self) -> HypothesesResult:
        return _required(self.hypotheses, "hypotheses")

    def diagnosed(self) -> DiagnosticsResult:
        return _required(self.diagnostics, "diagnostics")


def _required[T](value: T | None, step: str) -> T:
    if value is None:
        raise HybridflowError(f"the study's '{step}' step has not run yet")
    return value
