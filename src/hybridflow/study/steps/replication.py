"""Step: the report's own figures, recomputed with its own method."""

from __future__ import annotations

from pathlib import Path

from hybridflow.analysis.replication import replicate
from hybridflow.study.cache import step_key
from hybridflow.study.context import StudyContext
from hybridflow.study.results import ReplicationResult, StudyResults

FILES = ["tables/replication.json", "tables/replication_claims.csv",
         "tables/replication_correlations.csv", "tables/replication_misdated.csv"]


def run(context: StudyContext, results: StudyResults) -> ReplicationResult:
    """Recompute every figure of the report, or read them back if the data are unchanged."""
    key = step_key("replication", context.data_key())
    if context.state.is_done("replication", key):
        claims, correlations, misdated = (context.read_table(Path(f).stem) for f in FILES[1:])
        return ReplicationResult(claims, correlations, misdated)
    res = replicate(context.panel, context.events)
    context.write_json("replication", res.to_dict())
    context.write_table("replication_claims", res.claims)
    context.write_table("replication_correlations", res.correlations)
    context.write_table("replication_misdated", res.misdated)
    context.state.mark("replication", key, FILES)
    return ReplicationResult(res.claims, res.correlations, res.misdated)
