"""Evidence grades: one documented rule turning a posterior effect into words.

A hypothesis predicts a direction (``+`` for "raises detections", ``-`` for "lowers").
From the posterior draws of the cumulative percent change we compute

- ``p_direction``: P(effect has the predicted sign),
- ``p_meaningful``: P(effect is beyond the ROPE in the predicted direction),
- ``p_rope``: P(|effect| < ROPE), the probability of a practically null effect,
- ``p_contrary``: P(effect is beyond the ROPE in the *opposite* direction).

The grade (first rule that applies):

======================  =============================================================
``unreliable``           the fit failed its convergence gate: no grade is given
``contrary``             ``p_contrary >= 0.90``: the data point the other way
``practically null``     ``p_rope >= 0.90``: any effect is smaller than the ROPE
``strong``               ``p_direction >= 0.975`` and ``p_meaningful >= 0.75``
``moderate``             ``p_direction >= 0.90`` and ``p_meaningful >= 0.50``
``weak``                 ``p_direction >= 0.75``
``inconclusive``         otherwise
======================  =============================================================

Then the checks can lower a grade by one step (strong -> moderate -> weak ->
inconclusive), never raise it: a placebo-in-time rank that is not extreme
(``placebo_p > 0.10``: at least one in ten random re-datings gives an effect as large), or
a negative-control route showing an effect of the same sign with ``p_direction >= 0.90``.
Each downgrade is recorded with its reason. The thresholds are fixed in code, not tuned
per hypothesis, and are listed in the briefing.

A grade is a summary of *association under the model's assumptions*; it is never evidence
of a directive or of intent by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Direction = Literal["+", "-"]
GRADES = (
    "strong",
    "moderate",
    "weak",
    "inconclusive",
    "practically null",
    "contrary",
    "unreliable",
)
_LADDER = ("strong", "moderate", "weak", "inconclusive")

P_CONTRARY = 0.90
P_ROPE_NULL = 0.90
STRONG = (0.975, 0.75)
MODERATE = (0.90, 0.50)
WEAK = 0.75
PLACEBO_P = 0.10
NEG_CONTROL_P = 0.90


@dataclass
class EvidenceGrade:
    """A grade with the probabilities behind it and any downgrades applied."""

    grade: str
    direction: Direction
    p_direction: float
    p_meaningful: float
    p_rope: float
    p_contrary: float
    rope: float
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable form."""
        return {
            "grade": self.grade,
            "direction": self.direction,
            "p_direction": self.p_direction,
            "p_meaningful": self.p_meaningful,
            "p_rope": self.p_rope,
            "p_contrary": self.p_contrary,
            "rope_percent": self.rope,
            "reasons": list(self.reasons),
        }


def grade_effect(
    percent_draws: np.ndarray,
    direction: Direction = "+",
    *,
    rope: float = 10.0,
    converged: bool = True,
    placebo_p: float | None = None,
    negative_control_p_direction: float | None = None,
) -> EvidenceGrade:
    """Grade posterior draws of a cumulative percent effect (see module docstring).

    Parameters
    ----------
    percent_draws
        Posterior draws of the percent change in expected monthly detections (any shape).
    direction
        The sign the hypothesis predicts.
    rope
        Half-width of the region of practical equivalence, in percent.
    converged
        Whether the fit passed its diagnostics gate.
    placebo_p
        Share of placebo re-datings whose effect is at least as large (in the predicted
        direction) as the observed one.
    negative_control_p_direction
        P(effect has the predicted sign) for the same driver on a negative-control route
        (the largest across control routes).
    """
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
    out = EvidenceGrade("inconclusive", direction, p_dir, p_mean, p_rope, p_contra, rope)
    if not converged:
        out.grade = "unreliable"
        out.reasons.append("the fit did not pass its convergence gate")
        return out
    if p_contra >= P_CONTRARY:
        out.grade = "contrary"
    elif p_rope >= P_ROPE_NULL:
        out.grade = "practically null"
    elif p_dir >= STRONG[0] and p_mean >= STRONG[1]:
        out.grade = "strong"
    elif p_dir >= MODERATE[0] and p_mean >= MODERATE[1]:
        out.grade = "moderate"
    elif p_dir >= WEAK:
        out.grade = "weak"
    if out.grade in _LADDER:
        if placebo_p is not None and placebo_p > PLACEBO_P:
            _downgrade(out, f"placebo-in-time p = {placebo_p:.2f} > {PLACEBO_P:.2f}")
        if negative_control_p_direction is not None and (
            negative_control_p_direction >= NEG_CONTROL_P
        ):
            _downgrade(
                out,
                "a negative-control route shows the same-signed effect "
                f"(P = {negative_control_p_direction:.2f})",
            )
    return out


def _downgrade(out: EvidenceGrade, reason: str) -> None:
    i = _LADDER.index(out.grade)
    if i < len(_LADDER) - 1:
        out.grade = _LADDER[i + 1]
        out.reasons.append(f"lowered one step: {reason}")
    else:
        out.reasons.append(f"noted: {reason}")


GRADE_READINGS: dict[str, str] = {
    "strong": "the data are consistent with the claimed effect, and it is large enough to matter",
    "moderate": "the data lean towards the claimed effect, with real uncertainty about its size",
    "weak": "a faint lean towards the claimed direction; not enough to act on",
    "inconclusive": "the data cannot tell whether the claimed effect exists",
    "practically null": "any effect is too small to matter (within the ROPE)",
    "contrary": "the data point the opposite way to the claim",
    "unreliable": "the fit did not converge; no reading is given",
}
