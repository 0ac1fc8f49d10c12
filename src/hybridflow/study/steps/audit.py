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

import pandas as pd

from hybridflow.analysis.audit import AuditTarget, StaleAuditError, load_audit
from hybridflow.errors import SpecError
from hybridflow.models.spec import load_spec, spec_hash
from hybridflow.study.context import StudyContext
from hybridflow.study.results import AuditResult, StudyResults
from hybridflow.study.spec import StudySpec

__all__ = ["audit_path", "audit_targets", "run"]


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
    rates = {h: r for h in current if (r := audit.false_positive_rate(h)) is not None}
    context.write_table("audit", audit.table)
    return AuditResult("ok", path, audit.table, rates)
