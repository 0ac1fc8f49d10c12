"""Step: assemble the briefing from the results and write it (HTML and Markdown)."""

from __future__ import annotations

from hybridflow.briefing.document import write_briefing
from hybridflow.study.assemble import build_briefing
from hybridflow.study.context import StudyContext
from hybridflow.study.results import BriefingResult, StudyResults


def run(context: StudyContext, results: StudyResults) -> BriefingResult:
    """Write ``briefing.html``, ``briefing.md`` and ``figures/`` into the results folder."""
    return BriefingResult(paths=write_briefing(build_briefing(context, results), context.out))
