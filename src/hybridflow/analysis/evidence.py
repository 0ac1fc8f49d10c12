"""Evidence grades: one documented rule turning a posterior effect and its checks into words.

**1. The posterior grade.** A hypothesis predicts a direction (``+`` for "raises
detections", ``-`` for "lowers"). From the posterior draws of the graded effect (the
hypothesis's primary estimand, in percent) we compute

- ``p_direction``: P(effect has the predicted sign),
- ``p_meaningful``: P(effect is beyond the ROPE in the predicted direction),
- ``p_rope``: P(|effect| < ROPE), the probability of a practically null effect,
- ``p_contrary``: P(effect is beyond the ROPE in the *opposite* direction).

The posterior grade (first rule that applies):

======================  =============================================================
``unreliable``           the fit failed its convergence gate: no grade is given
``contrary``             ``p_contrary >= 0.975``: the data point the other way
``practically null``     ``p_rope >= 0.90``: any effect is smaller than the ROPE
``strong``               ``p_direction >= 0.995`` and ``p_meaningful >= 0.75``
``moderate``             ``p_direction >= 0.975`` and ``p_meaningful >= 0.50``
``weak``                 ``p_direction >= 0.75``
``inconclusive``         otherwise
======================  =============================================================

**2. The checks.** A posterior grade is what the model says; whether the pipeline could
have produced it without any effect is what the checks say. Every check in
:data:`REQUIRED_CHECKS` applies to every hypothesis:

====================  ======================================================================
check                 passes when
====================  ======================================================================
``placebo``           placebo-in-time rank ``p <= 0.10`` for the graded driver, computed in
                      the direction of the grade (a placebo of the claimed direction does not
                      test a ``contrary`` grade)
``negative control``  no control route shows an effect of *either* sign with
                      ``P(sign) >= 0.90``, fitted with the graded model (judged on
                      ``|effect|``: an opposite-signed effect on a route the driver cannot
                      move is as much a warning as a same-signed one)
``sensitivity``       every variant of the forest converged and has a posterior mean of the
                      graded effect's sign
``audit``             the audit's false-positive rate for the hypothesis (null worlds graded
                      "moderate" or stronger, or "contrary") is ``<= 0.05``
====================  ======================================================================

A check's outcome is *passed*, *failed*, or *unknown* (it did not run, or ran without a
verdict, e.g. refits that failed their convergence gate). Then, for a grade above the
floor of its ladder (``strong -> moderate -> weak -> inconclusive``; ``contrary ->
leans contrary -> inconclusive``):

- each **failed** check lowers the grade one step ("lowered one step: ...");
- the grade is then **capped** at ``weak`` (``leans contrary`` for a contrary grade)
  unless every required check passed; each unknown check is named ("capped at weak:
  placebo did not run").

So nothing above ``weak`` stands unless every check ran and passed, and a missing check
can never count as a passed one. ``practically null`` and ``unreliable`` are not changed
by checks. Every change is recorded with its reason. The thresholds are fixed in code,
not tuned per hypothesis, and are listed in the briefing.

Checks arrive as any object with ``name``, ``ran``, ``passed`` and ``reason`` attributes
(:class:`CheckLike`; an optional ``direction`` marks a directional check); the
constructors :func:`placebo_check`, :func:`control_check`, :func:`sensitivity_check` and
:func:`audit_check` apply the thresholds above to the numbers the checks report.

A grade is a summary of *association under the model's assumptions*; it is never evidence
of a directive or of intent by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

Direction = Literal["+", "-"]
GRADES = (
    "strong",
    "moderate",
    "weak",
    "inconclusive",
    "practically null",
    "leans contrary",
    "contrary",
    "unreliable",
)
_LADDER = ("strong", "moderate", "weak", "inconclusive")
_CONTRARY_LADDER = ("contrary", "leans contrary", "inconclusive")
#: The highest grade a hypothesis can keep unless every required check passed.
_CAP = {"strong": "weak", "moderate": "weak", "contrary": "leans contrary"}

# With a calibrated posterior and no effect, P(p_direction >= c) = 1 - c: at c = 0.90 a
# "moderate" grade is a 10% false positive by construction (the H5 audit: 2 of 20 null
# worlds, docs/audit.md). 0.975 puts the nominal rate at 2.5% per direction, under the
# 5% the grade must meet, with room for the intervals' residual miscalibration.
P_CONTRARY = 0.975
P_ROPE_NULL = 0.90
STRONG = (0.995, 0.75)
MODERATE = (0.975, 0.50)
WEAK = 0.75
PLACEBO_P = 0.10
NEG_CONTROL_P = 0.90
AUDIT_FALSE_POSITIVE_RATE = 0.05

PLACEBO, NEGATIVE_CONTROL, SENSITIVITY, AUDIT = (
    "placebo", "negative control", "sensitivity", "audit"
)
#: Checks every hypothesis must pass to be graded above "weak".
REQUIRED_CHECKS: tuple[str, ...] = (PLACEBO, NEGATIVE_CONTROL, SENSITIVITY, AUDIT)


class CheckLike(Protocol):
    """What the grade reads from a check's outcome (a :class:`CheckVerdict`, or any frozen
    dataclass with these fields, e.g. the checks' own outcome type)."""

    @property
    def name(self) -> str: ...

    @property
    def ran(self) -> bool: ...

    @property
    def passed(self) -> bool | None: ...

    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class CheckVerdict:
    """One check's outcome for one hypothesis.

    ``passed`` is None when the check ran without a verdict; ``direction`` is the
    direction a directional check (the placebo) tested, None for the others;
    ``statistic``, ``p``, ``n_used`` and ``n_failed`` are what the verdict rests on.
    """

    name: str
    ran: bool
    passed: bool | None
    reason: str = ""
    statistic: float = float("nan")
    p: float = float("nan")
    n_used: int = 0
    n_failed: int = 0
    direction: Direction | None = None


@dataclass
class EvidenceGrade:
    """A grade with the probabilities behind it, the checks and any changes applied."""

    grade: str
    direction: Direction
    p_direction: float
    p_meaningful: float
    p_rope: float
    p_contrary: float
    rope: float
    posterior_grade: str = ""
    reasons: list[str] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)  # check name -> outcome in words

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable form."""
        return {
            "grade": self.grade,
            "posterior_grade": self.posterior_grade,
            "direction": self.direction,
            "p_direction": self.p_direction,
            "p_meaningful": self.p_meaningful,
            "p_rope": self.p_rope,
            "p_contrary": self.p_contrary,
            "rope_percent": self.rope,
            "reasons": list(self.reasons),
            "checks": dict(self.checks),
        }


def grade_effect(
    percent_draws: np.ndarray,
    direction: Direction = "+",
    *,
    rope: float = 10.0,
    converged: bool = True,
    checks: Sequence[CheckLike] = (),
    required: Sequence[str] = REQUIRED_CHECKS,
) -> EvidenceGrade:
    """Grade posterior draws of a percent effect and its checks (see module docstring).

    Parameters
    ----------
    percent_draws
        Posterior draws of the graded percent effect (any shape).
    direction
        The sign the hypothesis predicts.
    rope
        Half-width of the region of practical equivalence, in percent.
    converged
        Whether the fit passed its diagnostics gate.
    checks
        The checks' outcomes for this hypothesis.
    required
        The checks that must pass for a grade above "weak"; one missing from ``checks``
        did not run.
    """
    out = _posterior_grade(percent_draws, direction, rope)
    if not converged:
        out.grade = out.posterior_grade = "unreliable"
        out.reasons.append("the fit did not pass its convergence gate")
        return out
    return apply_checks(out, checks, required)


def apply_checks(
    out: EvidenceGrade, checks: Sequence[CheckLike], required: Sequence[str] = REQUIRED_CHECKS
) -> EvidenceGrade:
    """Section 2 of the module docstring: lower and cap a posterior grade by its checks
    (in place; returned). The audit uses it to grade a world whose checks ran after its fit."""
    verdicts = _verdicts(checks, required, out.grade, out.direction)
    out.checks = {name: _outcome_words(v) for name, v in verdicts.items()}
    ladder = _ladder_of(out.grade)
    if ladder is None:
        return out
    for v in verdicts.values():
        if v.ran and v.passed is False:
            _downgrade(out, ladder, v.reason or f"{v.name} failed")
    unknown = [v for v in verdicts.values() if not (v.ran and v.passed is not None)]
    cap = _CAP.get(out.grade)
    if cap is not None and (unknown or any(v.passed is False for v in verdicts.values())):
        why = "; ".join(v.reason or not_run(v.name) for v in unknown)
        out.reasons.append(f"capped at {cap}: " + (why or "a check failed"))
        out.grade = cap
    return out


def _posterior_grade(percent_draws: np.ndarray, direction: Direction, rope: float) -> EvidenceGrade:
    """The grade from the posterior alone (section 1 of the module docstring)."""
    if direction not in ("+", "-"):
        raise ValueError(f"direction must be '+' or '-', got {direction!r}")
    draws = np.asarray(percent_draws, dtype=float).ravel()
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        raise ValueError("no finite posterior draws to grade")
    signed = draws if direction == "+" else -draws
    p_dir = float(np.mean(signed > 0))
    p_mean = float(np.mean(signed > rope))
    p_contra = float(np.mean(signed < -rope))
    p_rope = float(np.mean(np.abs(draws) < rope))
    if p_contra >= P_CONTRARY:
        grade = "contrary"
    elif p_rope >= P_ROPE_NULL:
        grade = "practically null"
    elif p_dir >= STRONG[0] and p_mean >= STRONG[1]:
        grade = "strong"
    elif p_dir >= MODERATE[0] and p_mean >= MODERATE[1]:
        grade = "moderate"
    elif p_dir >= WEAK:
        grade = "weak"
    else:
        grade = "inconclusive"
    return EvidenceGrade(grade, direction, p_dir, p_mean, p_rope, p_contra, rope,
                         posterior_grade=grade)


def _verdicts(checks: Sequence[CheckLike], required: Sequence[str], grade: str,
              direction: Direction) -> dict[str, CheckLike]:
    """One outcome per check name: the given ones, then each missing required one as
    "did not run"; a directional check run for another direction than the grade's is
    unknown (it does not test this grade)."""
    graded_direction = _flip(direction) if grade == "contrary" else direction
    out: dict[str, CheckLike] = {}
    for c in checks:
        tested = getattr(c, "direction", None)
        if c.ran and tested is not None and tested != graded_direction:
            c = CheckVerdict(c.name, ran=False, passed=None,
                             reason=f"{c.name} was run for the '{tested}' direction only")
        out[c.name] = c
    for name in required:
        if name not in out:
            out[name] = CheckVerdict(name, ran=False, passed=None, reason=not_run(name))
    return out


def not_run(name: str) -> str:
    """The reason recorded for a check that did not run."""
    return "audit not run" if name == AUDIT else f"{name} did not run"


def _flip(direction: Direction) -> Direction:
    return "-" if direction == "+" else "+"


def _ladder_of(grade: str) -> tuple[str, ...] | None:
    if grade in _LADDER:
        return _LADDER
    if grade in _CONTRARY_LADDER:
        return _CONTRARY_LADDER
    return None


def _outcome_words(v: CheckLike) -> str:
    if not v.ran:
        return "did not run"
    return {True: "passed", False: "failed", None: "no verdict"}[v.passed]


def _downgrade(out: EvidenceGrade, ladder: tuple[str, ...], reason: str) -> None:
    i = ladder.index(out.grade)
    if i < len(ladder) - 1:
        out.grade = ladder[i + 1]
        out.reasons.append(f"lowered one step: {reason}")
    else:
        out.reasons.append(f"noted: {reason}")


# ------------------------------------------------------------------ check verdicts


def placebo_check(p: float | None, direction: Direction, *, n_used: int = 0,
                  n_failed: int = 0) -> CheckVerdict:
    """The placebo-in-time verdict from its rank ``p`` (None: it did not run), computed
    for ``direction``: passed when ``p <= PLACEBO_P``."""
    if p is None or not np.isfinite(p):
        return CheckVerdict(PLACEBO, ran=False, passed=None, reason=not_run(PLACEBO),
                            direction=direction)
    passed = p <= PLACEBO_P
    reason = "" if passed else f"placebo-in-time p = {p:.2f} > {PLACEBO_P:.2f}"
    return CheckVerdict(PLACEBO, ran=True, passed=passed, reason=reason, p=p, n_used=n_used,
                        n_failed=n_failed, direction=direction)


def control_check(routes: Sequence[str], p_positive: Sequence[float],
                  converged: Sequence[bool]) -> CheckVerdict:
    """The negative-control verdict from each control route's ``P(effect > 0)`` and
    convergence: failed when a route shows either sign with ``P >= NEG_CONTROL_P``;
    unknown when a refit failed its gate (and no converged route failed)."""
    if not routes:
        return CheckVerdict(NEGATIVE_CONTROL, ran=False, passed=None,
                            reason=not_run(NEGATIVE_CONTROL))
    p_sign = [max(p, 1.0 - p) if np.isfinite(p) else np.nan for p in p_positive]
    ok = [bool(c) and np.isfinite(p) for c, p in zip(converged, p_sign, strict=True)]
    used = [(r, p) for r, p, good in zip(routes, p_sign, ok, strict=True) if good]
    n_failed = len(routes) - len(used)
    worst = max(used, key=lambda rp: rp[1], default=None)
    stat = worst[1] if worst else float("nan")
    if worst is not None and worst[1] >= NEG_CONTROL_P:
        return CheckVerdict(NEGATIVE_CONTROL, ran=True, passed=False, statistic=stat,
                            n_used=len(used), n_failed=n_failed,
                            reason=f"the control route {worst[0]} shows an effect "
                                   f"(P(sign) = {worst[1]:.2f} >= {NEG_CONTROL_P:.2f})")
    if n_failed:
        return CheckVerdict(NEGATIVE_CONTROL, ran=True, passed=None, statistic=stat,
                            n_used=len(used), n_failed=n_failed,
                            reason=f"negative control: {n_failed} of {len(routes)} refits "
                                   "have no converged estimate")
    return CheckVerdict(NEGATIVE_CONTROL, ran=True, passed=True, statistic=stat,
                        n_used=len(used))


def sensitivity_check(means: Sequence[float], converged: Sequence[bool],
                      graded_mean: float) -> CheckVerdict:
    """The sensitivity verdict from each variant's posterior mean and convergence: failed
    when a converged variant's mean has the other sign than ``graded_mean``; unknown when
    a variant has no converged estimate (and none flipped)."""
    if not len(means):
        return CheckVerdict(SENSITIVITY, ran=False, passed=None,
                            reason=not_run(SENSITIVITY))
    good = [bool(c) and np.isfinite(m) for m, c in zip(means, converged, strict=True)]
    used = [m for m, g in zip(means, good, strict=True) if g]
    n_failed = len(means) - len(used)
    flipped = [m for m in used if np.sign(m) != np.sign(graded_mean)]
    if flipped:
        return CheckVerdict(SENSITIVITY, ran=True, passed=False, statistic=len(flipped),
                            n_used=len(used), n_failed=n_failed,
                            reason=f"{len(flipped)} of {len(used)} sensitivity variants "
                                   "change the effect's sign")
    if n_failed:
        return CheckVerdict(SENSITIVITY, ran=True, passed=None, n_used=len(used),
                            n_failed=n_failed,
                            reason=f"sensitivity: {n_failed} of {len(means)} variants have "
                                   "no converged estimate")
    return CheckVerdict(SENSITIVITY, ran=True, passed=True, statistic=0, n_used=len(used))


def audit_check(false_positive_rate: float | None) -> CheckVerdict:
    """The audit verdict from the hypothesis's false-positive rate in null worlds
    (None: the audit did not run): passed when ``<= AUDIT_FALSE_POSITIVE_RATE``."""
    if false_positive_rate is None or not np.isfinite(false_positive_rate):
        return CheckVerdict(AUDIT, ran=False, passed=None, reason=not_run(AUDIT))
    passed = false_positive_rate <= AUDIT_FALSE_POSITIVE_RATE
    reason = "" if passed else (f"the audit's false-positive rate {false_positive_rate:.2f} "
                                f"> {AUDIT_FALSE_POSITIVE_RATE:.2f}")
    return CheckVerdict(AUDIT, ran=True, passed=passed, reason=reason,
                        statistic=false_positive_rate)


GRADE_READINGS: dict[str, str] = {
    "strong": "the data are consistent with the claimed effect, and it is large enough to matter",
    "moderate": "the data lean towards the claimed effect, with real uncertainty about its size",
    "weak": "a faint lean towards the claimed direction, or a larger one the checks "
            "could not confirm; not enough to act on",
    "inconclusive": "the data cannot tell whether the claimed effect exists",
    "practically null": "any effect is too small to matter (within the ROPE)",
    "leans contrary": "the estimate points the opposite way to the claim, but the checks "
                      "could not confirm it",
    "contrary": "the data point the opposite way to the claim",
    "unreliable": "the fit did not converge; no reading is given",
}
