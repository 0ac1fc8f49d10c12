"""Step: read the study's audit (``hybridflow check audit``) and say whether it still holds.

The audit is run on its own (it fits every hypothesis' model on many fake worlds, far
longer than a study); this step only reads the file the study's ``[checks] audit`` names
(default ``audit/audit.json`` in the study folder) and exposes each hypothesis' false
moderate+/contrary rate as ``results.audit``. A missing file is "not run"; a file whose
audited models differ from the study's current ones (spec hashes) is "stale" and its
rates are not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from hybridflow.analysis.audit import AuditTarget, StaleAuditError, load_audit
from hybridflow.errors import SpecError
from hybridflow.models.spec import load_spec, spec_hash
from hybridflow.study.context import StudyContext
from hybridflow.study.results import AuditResult, StudyResults
from hybridflow.study.spec import StudySpec

__all__ = ["MIN_NULL_WORLDS", "audit_path", "audit_targets", "run", "usable_rates"]

#: Usable null worlds an audit needs before its false-positive rate can pass a grade's
#: audit check: with 20, one false positive is already the 5% limit.
MIN_NULL_WORLDS = 20


def audit_path(spec: StudySpec, study_dir: Path) -> Path:
    """Where the study's audit lives (``[checks] audit``, relative to the study folder)."""
    return (study_dir / spec.checks.audit).resolve()


def audit_targets(
    spec: StudySpec,
    study_dir: Path,
    hypotheses: Sequence[str] = (),
    group: str | None = None,
) -> list[AuditTarget]:
    """The study's hypotheses (all, or the ids in ``hypotheses``) as audit targets, each
    with the model the study grades it with and its estimand's group (``group``
    overrides it for every hypothesis)."""
    known = [h.id for h in spec.hypotheses]
    unknown = sorted(set(hypotheses) - set(known))
    if unknown:
        raise SpecError(f"unknown hypotheses {unknown}; the study has {', '.join(known)}")
    out = []
    for h in spec.hypotheses:
        if hypotheses and h.id not in hypotheses:
            continue
        path = (study_dir / spec.models_dir / f"{h.model}.toml").resolve()
        if not path.is_file():
            raise SpecError(f"{path}: model spec '{h.model}' named by hypothesis {h.id} "
                            "was not found")
        out.append(AuditTarget(h.id, load_spec(path), h.driver, h.direction, group or h.group))
    return out


def run(context: StudyContext, results: StudyResults) -> AuditResult:
    """The audit's per-hypothesis table and false-positive rates, or why there are none."""
    path = audit_path(context.spec, context.study_dir)
    empty = pd.DataFrame()
    current = {h.id: spec_hash(context.model_spec(h.model)) for h in context.spec.hypotheses}
    try:
        audit = load_audit(path, current)
    except StaleAuditError as exc:
        return AuditResult("stale", path, empty, {}, str(exc))
    except SpecError as exc:
        if path.exists():
            raise
        return AuditResult("not run", path, empty, {}, str(exc))
    context.write_table("audit", audit.table)
    rates, small = usable_rates(audit.table, list(current))
    note = (f"audits of {', '.join(small)} have fewer than {MIN_NULL_WORLDS} usable null "
            "worlds: their rates are shown but do not pass the grade's audit check"
            if small else "")
    return AuditResult("ok", path, audit.table, rates, note)


def usable_rates(table: pd.DataFrame, hypotheses: Sequence[str]) -> tuple[dict[str, float],
                                                                          list[str]]:
    """The false-positive rates the grades may use (after the placebo where the audit's
    flagged null worlds all have one: ``placebo_complete``): those resting on at least
    :data:`MIN_NULL_WORLDS` usable null worlds (0 of 10 is not evidence of a rate <= 5%);
    and the audited hypotheses left out for being too small."""
    rates: dict[str, float] = {}
    small: list[str] = []
    for row in table.to_dict(orient="records"):
        h = str(row["hypothesis"])
        rate = float(row["false_positive_rate"])
        # After the placebo where every flagged null world has one (the pipeline's grade;
        # still an upper bound), else the posterior-only rate.
        if str(row.get("placebo_complete", "")).lower() in ("true", "1"):
            rate = float(row["false_positive_rate_checked"])
        if h not in hypotheses or not np.isfinite(rate):
            continue
        if int(row["n_null"]) >= MIN_NULL_WORLDS:
            rates[h] = rate
        else:
            small.append(h)
    return rates, small
