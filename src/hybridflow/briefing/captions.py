"""Every caption, note and explanation the study's briefing shows, in one place.

The study assembles the briefing from its results (:mod:`hybridflow.study.assemble`); the
words around the numbers live here, so a caption is edited where the reader's text is, not
in the step that computed the table. Functions take the few values a caption names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hybridflow.analysis import evidence as _ev
from hybridflow.analysis.audit.metrics import POWER_TARGET
from hybridflow.numbers import format_number

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
    "Each hypothesis is graded on its primary estimand, the effect on the instrumentalised "
    "nationalities (Others; for H7 the odds of the Others share); the effect on every group "
    "is shown beside it, and the pooled mean across groups only where the groups agree "
    "(their 90% HDIs overlap and their means have one sign), otherwise 'groups differ'. "
    "Evidence grades follow one fixed rule (docs/tutorial.md): strong = "
    f"P(direction) >= {_ev.STRONG[0]:g} and P(effect beyond +-10% in that direction) >= "
    f"{_ev.STRONG[1]:g}; moderate = {_ev.MODERATE[0]:g} and {_ev.MODERATE[1]:g}; weak = "
    f"P(direction) >= {_ev.WEAK:g}; practically null = P(|effect| < 10%) >= "
    f"{_ev.P_ROPE_NULL:g}; contrary = P(effect beyond 10% the other way) >= "
    f"{_ev.P_CONTRARY:g}. Nothing above weak (or leans contrary) stands unless every check ran and "
    "passed: the placebo-in-time rank p <= 0.10 in the graded direction, no negative-control "
    "route with an effect of either sign at P >= 0.90 (fitted with the graded model), "
    "every sensitivity variant converged with the same sign, and the audit's "
    "false-positive rate <= 5%. A failed check lowers a grade one step; a check that did "
    "not run caps it, and the reason is given. Unconverged fits get no grade."
)


def grades_section(false_positive_rates: list[float], n_hypotheses: int) -> str:
    """The grades' method box, with the expected number of false "moderate+" grades: the
    sum of the audit's per-hypothesis false-positive rates (NaN: not audited)."""
    audited = [r for r in false_positive_rates if r == r]
    if not audited:
        expected = ("The fake-data audit was not run, so how often this pipeline would "
                    "grade a non-existent effect 'moderate' or stronger is not known here.")
    else:
        missing = n_hypotheses - len(audited)
        expected = (f"From the fake-data audit, the expected number of false 'moderate or "
                    f"stronger' (or 'contrary') grades across the {len(audited)} audited "
                    f"hypotheses is {sum(audited):.2f} (the sum of their false-positive "
                    "rates in worlds without any driver effect)")
        expected += f"; {missing} hypotheses were not audited." if missing else "."
    return f"{GRADES_SECTION} {expected}"


def group_effects(rows: list[tuple[str, float, float, float]], pooled: str) -> str:
    """Every group's effect in one line (``(group, mean, low, high)`` in percent), then the
    pooled mean or why it is not shown."""
    parts = [f"{g} {m:+.1f}% ({lo:+.1f}% to {hi:+.1f}%)" for g, m, lo, hi in rows]
    return "; ".join([*parts, f"pooled: {pooled}"])

COUNTERFACTUAL_SECTION = (
    "What the full model expects, and what it expects with each driver held at a stated "
    "reference: no events for sanctions and other dated events; zero for territorial gains; "
    "the 10th percentile of its war-time months for the other continuous drivers (a level "
    "the series actually took). The gap between the two lines is the driver's estimated "
    "contribution against that reference (docs/models.md, 'Effects and units')."
)

UNITS_TABLE = (
    "Each hypothesis's effect in units a reader can use (posterior mean, 90% HDI, "
    "probability of the predicted direction): detections an event added over its lags "
    "(excess per event), the percent change in expected monthly detections per natural "
    "unit and per interquartile range (IQR) of a continuous driver held for the kernel's "
    "length, and the detections over the window against the driver's reference"
)

UNITS_NOTE = (
    "Excess per event = sum over its lags of mu0 * (exp(b * w_lag) - 1), mu0 the fitted "
    "expected count without that event, averaged over the driver's events whose lags lie "
    "inside the window; a continuous driver's IQR runs from its 25th to its 75th percentile "
    "over the window months it is observed (after any cap)."
)


_MEASURES = {
    "excess_per_event": "excess per event",
    "pct_per_unit": "per natural unit",
    "pct_per_iqr": "per IQR",
    "excess_vs_reference": "against its reference",
}


def measure_name(measure: str) -> str:
    """A units-table measure in words."""
    return _MEASURES.get(measure, measure)


def effect_in_units(measure: str, unit: str, mean: float, low: float, high: float,
                    p_direction: float) -> str:
    """One effect in readers' units: "+120 detections per event (90% HDI -30 to +300;
    P(direction) = 0.81)"; percent measures as "+5.2% per 10,000 ... a month"."""
    if measure.startswith("pct_"):
        body = f"{mean:+.1f}{unit} (90% HDI {low:+.1f}% to {high:+.1f}%"
    else:
        body = (f"{_signed(mean)} {unit} (90% HDI {_signed(low)} to {_signed(high)}")
    return f"{body}; P(direction) = {p_direction:.2f})"


def _signed(x: float) -> str:
    return ("+" if x > 0 else "") + format_number(x)


def diagnostics_section(sampler: str, chains: int, draws: int, tune: int, seed: int) -> str:
    return (f"Sampler {sampler}, {chains} chains x {draws} draws after "
            f"{tune} tuning steps, seed {seed}.")


# ------------------------------------------------------------------ effects


def counterfactual_figure(driver: str, reference: str = "", excess: str = "") -> str:
    """The counterfactual figure's caption; ``reference`` says where the driver is held,
    ``excess`` the detections it accounts for over the window (both optional)."""
    held = f"with '{driver}' at {reference}" if reference else f"without '{driver}'"
    text = (f"Observed detections, the model's expected detections (median, "
            f"90% band) and the counterfactual {held}.")
    return f"{text} Excess over the window: {excess}." if excess else text


def lag_figure(hypothesis: str, outcome: str | None, unit: str, driver: str,
               level: str = "population mean") -> str:
    what = ("the odds of the Others share" if outcome == "share"
            else "expected detections")
    return (f"{hypothesis}: percent change in {what} at each "
            f"lag after one unit ({unit or 'unit'}) of '{driver}' "
            f"({level}; 90% HDI).")


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


# ------------------------------------------------------------------ audit

AUDIT_TABLE = (
    "The audit: each hypothesis' own model fitted on fake worlds that keep the real drivers "
    "and event dates but have no driver effect (null worlds) or one of known size (effect "
    "worlds). False positives: null worlds graded moderate or stronger, or contrary (with "
    "a 95% interval), graded from the posterior alone; '_checked' columns: after the "
    "study's placebo-in-time check, run on every world graded above weak (the other checks "
    "taken as passed, so still an upper bound; placebo_complete: every such null world has "
    "its placebo, and the grades then use this rate); coverage: 90% intervals holding the "
    "true effect; power: effect worlds graded moderate or stronger."
)


def audit_section(status: str, path: str, message: str = "",
                  underpowered: Sequence[tuple[str, str, float]] = ()) -> str:
    """The audit section's text: what the rates mean (and which hypotheses the audit
    finds too weak to detect its largest injected effect, ``(hypothesis, size, power)``),
    or why there are none."""
    if status == "ok":
        weak = ""
        if underpowered:
            listed = "; ".join(
                f"{h} {_share(p)} at {size}%" for h, size, p in underpowered
            )
            weak = (f" Power below {POWER_TARGET:.0%} ({listed}): with these data the "
                    "pipeline would often miss an effect of that size, so an 'inconclusive' "
                    "grade for these hypotheses is weak evidence that there is no effect.")
        return (
            "Grades in the audit use the posterior alone; the checks can only lower a grade, "
            "so the false-positive rates are upper bounds on the full pipeline's. Worlds "
            "whose fit failed the convergence gate are counted (failed) and not graded. "
            "See docs/audit.md for the world generator and its parameters."
            + weak + (f" Note: {message}." if message else "")
        )
    if status == "stale":
        return (f"The audit in {path} was run on other models than this study's current "
                f"ones, so its rates are not shown: {message}")
    return (f"No audit was found ({path}): how often this pipeline would be fooled is not "
            "known for this run. Run `hybridflow check audit STUDY`.")


def _share(p: float) -> str:
    return "no usable worlds" if p != p else f"{p:.0%}"
