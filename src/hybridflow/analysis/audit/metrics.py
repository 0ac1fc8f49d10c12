"""The audit's metrics, per hypothesis, from the table of graded worlds.

Only worlds whose task ran and whose fit passed the convergence gate are counted; the
others are ``n_failed`` (the pipeline would grade them "unreliable", never a false
positive, so leaving them out cannot hide a false positive -- but many failures make the
rates rest on few worlds, and the table says how many).

- ``false_positive_rate``: share of null worlds graded ``moderate`` or ``strong`` (grades
  in the claimed direction by definition) or ``contrary``, with a 95% Clopper-Pearson
  interval (``fp_low``, ``fp_high``).
- ``coverage``: share of worlds (null and effect) whose 90% HDI holds the injected truth.
- ``bias_null`` and ``bias_<size>``: mean of posterior mean minus truth, in percentage
  points.
- ``power_<size>``: share of effect worlds of that size graded ``moderate`` or stronger
  (in the hypothesis' direction, which is the injected one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["FALSE_POSITIVE_GRADES", "POWER_GRADES", "POWER_TARGET", "audit_table",
           "clopper_pearson", "underpowered"]

#: Grades a null world must not get.
FALSE_POSITIVE_GRADES = ("strong", "moderate", "contrary")
#: Grades that count as detecting an injected effect.
POWER_GRADES = ("strong", "moderate")
#: Power the largest injected effect should reach; below it a hypothesis' "inconclusive"
#: says little about whether the effect exists, and the briefing says so.
POWER_TARGET = 0.70


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for ``k`` successes in ``n`` (NaNs when ``n == 0``)."""
    if n == 0:
        return (float("nan"), float("nan"))
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return (float(ci.low), float(ci.high))


def _size_label(size: float) -> str:
    return f"{abs(size):g}"


def _one(worlds: pd.DataFrame, effect_sizes: Sequence[float]) -> dict[str, Any]:
    good = worlds[worlds["ok"] & worlds["converged"]]
    null = good[good["kind"] == "null"]
    fp = int(null["grade"].isin(FALSE_POSITIVE_GRADES).sum())
    low, high = clopper_pearson(fp, len(null))
    inside = (good["hdi_low"] <= good["truth_pct"]) & (good["truth_pct"] <= good["hdi_high"])
    row: dict[str, Any] = {
        "n_worlds": len(worlds),
        "n_failed": int(len(worlds) - len(good)),
        "n_errors": int((~worlds["ok"]).sum()),
        "n_null": len(null),
        "false_positives": fp,
        "false_positive_rate": fp / len(null) if len(null) else np.nan,
        "fp_low": low,
        "fp_high": high,
        "coverage": float(inside.mean()) if len(good) else np.nan,
        "bias_null": float((null["pct_mean"] - null["truth_pct"]).mean()) if len(null) else np.nan,
        # How precise the estimand can be with these data: an effect much smaller than
        # half this width cannot reach P(direction) >= 0.975 however real it is.
        "null_hdi_width": (float((null["hdi_high"] - null["hdi_low"]).median())
                           if len(null) else np.nan),
    }
    effect = good[good["kind"] == "effect"]
    for size in effect_sizes:
        at = effect[np.isclose(effect["truth_pct"].abs(), abs(size))]
        label = _size_label(size)
        row[f"n_{label}"] = len(at)
        row[f"power_{label}"] = (
            float(at["grade"].isin(POWER_GRADES).mean()) if len(at) else np.nan
        )
        row[f"bias_{label}"] = (
            float((at["pct_mean"] - at["truth_pct"]).mean()) if len(at) else np.nan
        )
    return row


def audit_table(worlds: pd.DataFrame, effect_sizes: Sequence[float]) -> pd.DataFrame:
    """One row per hypothesis (in the worlds' order) with the metrics of the module
    docstring."""
    rows = []
    for hyp in dict.fromkeys(worlds["hypothesis"]):
        sub = worlds[worlds["hypothesis"] == hyp]
        rows.append({"hypothesis": hyp, **_one(sub, effect_sizes)})
    return pd.DataFrame(rows)


def underpowered(table: pd.DataFrame) -> list[tuple[str, str, float]]:
    """``(hypothesis, size, power)`` for each audited hypothesis whose power at the largest
    injected effect size is below :data:`POWER_TARGET` (NaN power, no usable effect
    worlds, counts as below). The power after the placebo (``power_<size>_checked``, joined
    by :func:`~hybridflow.analysis.audit.store.load_audit`) is used where it is there: it
    is never above the posterior-only power."""
    sizes = [c.removeprefix("power_") for c in table.columns
             if c.startswith("power_") and c.removeprefix("power_").isdigit()]
    if not sizes:
        return []
    largest = max(sizes, key=float)
    out = []
    for row in table.to_dict(orient="records"):
        power = float(row[f"power_{largest}"])
        checked = float(row.get(f"power_{largest}_checked", float("nan")))
        if checked == checked:
            power = checked
        if not power >= POWER_TARGET:
            out.append((str(row["hypothesis"]), largest, power))
    return out
