"""Every caption, note and explanation the study's briefing shows, in one place.

The study assembles the briefing from its results (:mod:`hybridflow.study.assemble`); the
words around the numbers live here, so a caption is edited where the reader's text is, not
in the step that computed the table. Functions take the few values a caption names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# ------------------------------------------------------------------ page one

LIMITS = [
    "These are associations under stated model assumptions (a count model with trend, "
    "seasonality, known regime changes and lagged driver effects). They are not proof that "
    "any state directed migrants: that needs documented evidence (directives, intelligence "
    "assessments, communications, consistent facilitation), which statistics cannot supply.",
    "At most, a well-graded effect is 'consistent patterns' evidence in the evidence framework "
    "of docs/report-claims.md; a null or contrary effect is evidence against the report's "
    "specific statistical claim, not against instrumentalisation as such.",
    "Detections are not persons and depend on enforcement: walls, closures, push-back laws "
    "and asylum suspensions change counts independently of any sender. The models include "
    "the major ones as regimes, but unrecorded changes in enforcement remain a confounder.",
    "Sanctions rounds, losses and strikes cluster in time with each other and with the war's "
    "phases; effects estimated jointly share information and can trade off against each "
    "other. The sensitivity and placebo checks show how fragile each headline is.",
    "Russian losses are Ukrainian official claims; ACLED counts events located inside Russia "
    "(not only Ukrainian strikes); territory series come from open-source trackers. Errors in "
    "these drivers bias effects towards zero.",
    "Monthly data cannot resolve effects faster than a month, and the nationality-level "
    "series end in April 2025 (later months only have route totals).",
    "Many hypotheses and variants were examined; a single 'strong' grade among many tests is "
    "weaker evidence than it looks in isolation.",
]


def profile_warning(profile: str) -> str:
    """Page-one warning for a reduced profile."""
    return (f"This is the '{profile}' profile: fewer draws and smaller checks "
            "than the default study. Use it to check the pipeline, not to cite.")


def all_fits_converged(n: int) -> str:
    return (f"all {n} fits passed the convergence gate (R-hat <= 1.01, bulk and tail "
            "ESS >= 400, no divergences) on every reported parameter")


def fits_failed(n_failed: int, n: int) -> str:
    return f"{n_failed} of {n} fits FAILED the convergence gate"


def fit_not_converged(model: Any, divergences: Any, max_rhat: Any, min_ess_bulk: Any) -> str:
    """Page-one warning for one fit that failed the convergence gate."""
    return (f"Fit '{model}' did NOT pass the convergence gate ({divergences} divergences, "
            f"max R-hat {max_rhat:.3f}, min bulk ESS {min_ess_bulk:.0f}); numbers from it "
            "are shown but must not be relied on.")


def hypothesis_reading(r: Mapping[str, Any]) -> str:
    """The reading of one hypotheses-table row: what the report expects, what we found."""
    if r.get("outcome") == "share":
        expects = "a higher share" if r["direction"] == "+" else "a lower share"
    else:
        expects = ("more" if r["direction"] == "+" else "fewer") + " detections"
    base = (f"The report expects {expects}. {r['reading'].capitalize()}: "
            f"P(predicted direction) = {r['p_direction']:.2f}, "
            f"P(|effect| < 10%) = {r['p_rope']:.2f}.")
    if isinstance(r.get("grade_reasons"), str) and r["grade_reasons"]:
        base += f" ({r['grade_reasons']}.)"
    return base


# ------------------------------------------------------------------ section texts

GRADES_SECTION = (
    "Evidence grades follow one fixed rule (docs/tutorial.md): strong = "
    "P(direction) >= 0.975 and P(effect beyond +-10% in that direction) >= 0.75; "
    "moderate = 0.90 and 0.50; weak = P(direction) >= 0.75; practically null = "
    "P(|effect| < 10%) >= 0.90; contrary = P(effect beyond 10% the other way) >= "
    "0.90. A non-extreme placebo rank or a same-signed negative-control effect "
    "lowers a grade by one step. Unconverged fits get no grade."
)

COUNTERFACTUAL_SECTION = (
    "What the full model expects with and without each driver. The gap "
    "between the two lines is the driver's estimated contribution."
)


def diagnostics_section(sampler: str, chains: int, draws: int, tune: int, seed: int) -> str:
    return (f"Sampler {sampler}, {chains} chains x {draws} draws after "
            f"{tune} tuning steps, seed {seed}.")


# ------------------------------------------------------------------ effects


def counterfactual_figure(driver: str) -> str:
    return (f"Observed detections, the model's expected detections (median, "
            f"90% band) and the counterfactual without '{driver}'.")


def lag_figure(hypothesis: str, outcome: str | None, unit: str, driver: str) -> str:
    what = ("the odds of the Others share" if outcome == "share"
            else "expected detections")
    return (f"{hypothesis}: percent change in {what} at each "
            f"lag after one unit ({unit or 'unit'}) of '{driver}' "
            "(population mean; 90% HDI).")


# ------------------------------------------------------------------ checks

PPC_TABLE = (
    "Posterior predictive coverage of the observed monthly counts (share of "
    "months inside the central 50% and 90% intervals; well calibrated: about 0.5 and 0.9) "
    "and PIT uniformity"
)


def ppc_figure(model: str) -> str:
    return (f"Posterior predictive 50% and 90% intervals of monthly "
            f"detections from the {model} model, with the observed counts.")


def placebo_figure(hypothesis: str, driver: str, n_placebo: int) -> str:
    return (f"{hypothesis}: the effect of '{driver}' at its real timing (line) against "
            f"its whole timing shifted by {n_placebo} random offsets (refits that passed "
            "the convergence gate).")


PLACEBO_TABLE = (
    "Placebo-in-time: the observed studentised effect z (posterior mean / sd) vs the whole "
    "timing shifted by random offsets inside the window where the driver varies "
    "(p = (k + 1) / (n + 1), k of the n gated placebos at least as extreme in the claimed "
    "direction; refits failing the convergence gate are counted in n_failed and left out)"
)

CONTROLS_TABLE = (
    "Negative controls: each hypothesis' driver, in its own model, on routes with no land "
    "border with Russia or Belarus (percent effect, 90% HDI); an effect of either sign here "
    "(p_either = max(P(>0), P(<0)) >= 0.90) points to confounding (EU-wide trends, shared "
    "seasonality), not instrumentalisation"
)


def controls_note(draws: int, tune: int, chains: int) -> str:
    return (f"Each control is a fit with {draws} draws after {tune} tuning steps x "
            f"{chains} chains; 'converged' applies the headline fits' gate, and a control "
            "that fails it is not used.")


EPISODES_TABLE = (
    "Would the baseline model (fitted without the episodes) have "
    "flagged them? Smallest monthly tail probability P(replicated >= observed), largest "
    "z-score, and the peak month's rank among all months (1 = most anomalous)"
)

EPISODES_FLAGGED_NOTE = (
    "Flagged: some month of the episode has tail probability < 0.05. In-sample: the "
    "model saw the episode's counts (only not as an event), so its trend can absorb "
    "part of it; holdout: the episode's months were left out of the fit."
)


def episodes_removed_note(removed: str) -> str:
    return f"Taken out of the model: {removed}."


def sensitivity_figure(draws: int, tune: int, chains: int) -> str:
    return (
        "Each row changes one choice (prior scale, lag kernel, window start, grouping); "
        "filled dots passed the convergence gate, hollow did not; grey band is the +-10% ROPE. "
        f"Every row is a refit with {draws} draws after {tune} tuning steps x "
        f"{chains} chains (the checks' refit settings), so its 'baseline' row can differ "
        "a little from the headline fit, and few draws alone can fail the gate's ESS >= 400: "
        "read hollow rows as indicative."
    )


# ------------------------------------------------------------------ comparison

COMPARISON_TABLE = (
    "PSIS-LOO by comparison set (models fitted to the same months); "
    "elpd differences vs the null model with paired SE (positive: "
    "the model predicts held-out months better); stacking "
    "weights within each set"
)
COMPARISON_NOTE = ("Pareto k > 0.7 marks months the LOO estimate handles "
                   "poorly; counts are given per model.")

LFO_TABLE = (
    "Leave-future-out: one-month-ahead forecasts of the route total from models "
    "refitted at each origin (CRPS, lower is better; skill = 1 - CRPS / CRPS of the "
    "null; positive skill means the drivers help out of sample)"
)
LFO_NOTE = "All horizons are in the backtest table under 'What to expect'."


# ------------------------------------------------------------------ what to expect


def forecast_fan(horizon: int, model: str) -> str:
    return (f"The next {horizon} months from the {model} model (baseline scenario: no new "
            "events, drivers at their last values): median, 50% and 90% predictive intervals.")


def scenario_read_from(text: str, model: str) -> str:
    return f"{text} (Read from model '{model}', which has a driver the scenario moves.)"


def scenario_not_forecast(file: str, end: str) -> str:
    return (f"Scenario file '{file}': no model fitted in this profile both reaches "
            f"{end} and has a driver the scenario moves, so it is not forecast here.")


def backtest_table(origins: int) -> str:
    return (f"Out-of-sample backtest: expanding window, {origins} origins, horizons 1-3 "
            "months; CRPS (lower is better), interval coverage and MAE of route totals; "
            "skill = 1 - CRPS / CRPS of the comparison")


# ------------------------------------------------------------------ replication and data

REPLICATION_TABLE = ("Every figure the report states, recomputed with the report's "
                     "own method (window, grouping, Pearson r)")

CORRELATIONS_TABLE = (
    "The report's correlations (its own variable choices) in levels, "
    "first differences and after removing trend and seasonality; "
    "p adjusted for autocorrelation uses the effective sample size"
)
CORRELATIONS_NOTE = ("Every variant (trackers, signed and one-sided "
                     "territory series, data vintages) is in "
                     "tables/replication_correlations.csv.")

MISDATED_TABLE = "Sanctions rounds the report dates wrongly"
DIAGNOSTICS_TABLE = "Convergence gate per fit"
VINTAGES_TABLE = "Data vintages (sha256 of each raw input)"
