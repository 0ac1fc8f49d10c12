"""The audit: how often would the pipeline be fooled?

Fake worlds that keep a study's real drivers and event dates, with counts that have the
real series' shapes and either no driver effect (null worlds) or one of known size
(effect worlds); each hypothesis' own model is fitted on every world and graded, and the
grades are scored: false positives, interval coverage, bias, power (docs/audit.md).

- :mod:`~hybridflow.analysis.audit.generator`: the worlds;
- :mod:`~hybridflow.analysis.audit.runner`: fits and grades on the executor;
- :mod:`~hybridflow.analysis.audit.metrics`: the per-hypothesis table;
- :mod:`~hybridflow.analysis.audit.store`: the files, and :func:`load_audit`.
"""

from hybridflow.analysis.audit.generator import Bump, Effect, World, WorldConfig, generate_world
from hybridflow.analysis.audit.metrics import audit_table
from hybridflow.analysis.audit.runner import (
    AUDIT_SAMPLING,
    EFFECT_SIZES,
    AuditResult,
    AuditTarget,
    hypothesis_seed,
    run_audit,
    world_plan,
)
from hybridflow.analysis.audit.store import AuditFile, StaleAuditError, load_audit, write_audit

__all__ = [
    "AUDIT_SAMPLING",
    "EFFECT_SIZES",
    "AuditFile",
    "AuditResult",
    "AuditTarget",
    "Bump",
    "Effect",
    "StaleAuditError",
    "World",
    "WorldConfig",
    "audit_table",
    "generate_world",
    "hypothesis_seed",
    "load_audit",
    "run_audit",
    "world_plan",
    "write_audit",
]
