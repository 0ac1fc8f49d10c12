"""Inference sits below analysis: no upward imports, no import cycles between its modules.

Every import counts, the ones inside functions too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import hybridflow

PACKAGE = Path(hybridflow.__file__).parent
UPPER = ("hybridflow.analysis", "hybridflow.study", "hybridflow.briefing", "hybridflow.cli")


def imports_of(path: Path) -> set[str]:
    """Every ``hybridflow`` module a source file imports, at any depth."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("hybridflow")}


def test_inference_imports_nothing_above_it() -> None:
    upward = {
        f"inference/{p.name}": sorted(m for m in imports_of(p) if m.startswith(UPPER))
        for p in (PACKAGE / "inference").glob("*.py")
    }
    assert {k: v for k, v in upward.items() if v} == {}


def test_no_import_cycles_between_inference_modules() -> None:
    graph = {
        f"hybridflow.inference.{p.stem}": {
            m for m in imports_of(p) if m.startswith("hybridflow.inference.")
        }
        for p in (PACKAGE / "inference").glob("*.py")
    }

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, set()):
            if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
                return True
        return False

    cyclic = sorted(m for m in graph if reaches(m, m, {m}))
    assert cyclic == []


def test_sbc_leaves_plotting_to_the_briefing() -> None:
    sbc = PACKAGE / "analysis" / "sbc.py"
    assert not [m for m in imports_of(sbc) if m.startswith(("hybridflow.briefing", "hybridflow.study"))]
