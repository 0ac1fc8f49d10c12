"""The audit step reads the study's audit file: ok, not run, or stale (never used)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from hybridflow.analysis.audit import AuditResult, write_audit
from hybridflow.errors import SpecError
from hybridflow.models.spec import load_spec, spec_hash
from hybridflow.study.results import StudyResults
from hybridflow.study.spec import load_study
from hybridflow.study.steps import audit as step

STUDY = Path("studies/hjs-2025")


def _context(tmp_path: Path) -> Any:
    """A study folder copy (models alongside) and the context attributes the step reads."""
    study_dir = tmp_path / "studies" / "hjs-2025"
    # Without the committed audit of record: each test writes the audit it needs.
    shutil.copytree(STUDY, study_dir, ignore=shutil.ignore_patterns("audit"))
    shutil.copytree("models", tmp_path / "models")
    spec, folder = load_study(study_dir)
    written: dict[str, pd.DataFrame] = {}

    def model_spec(name: str) -> Any:
        return load_spec(tmp_path / "models" / f"{name}.toml")

    def write_table(name: str, frame: pd.DataFrame) -> None:
        written[name] = frame

    return SimpleNamespace(spec=spec, study_dir=folder, model_spec=model_spec,
                           write_table=write_table, written=written)


def _audit_for(context: Any, hashes: dict[str, str],
               n_null: int = step.MIN_NULL_WORLDS) -> AuditResult:
    table = pd.DataFrame({"hypothesis": list(hashes), "false_positive_rate": 0.05,
                          "fp_low": 0.0, "fp_high": 0.2, "n_null": n_null})
    prov = {"study": "hjs-2025",
            "hypotheses": {h: {"model": "m", "spec_hash": v} for h, v in hashes.items()}}
    return AuditResult("hjs-2025", table, pd.DataFrame(), prov)


def test_missing_audit_is_not_run(tmp_path: Path) -> None:
    res = step.run(_context(tmp_path), StudyResults())
    assert res.status == "not run" and not res.false_positive_rates
    assert res.path.name == "audit.json" and "no audit file" in res.message


def test_current_audit_gives_rates_and_a_stale_one_none(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    hashes = {h.id: spec_hash(ctx.model_spec(h.model)) for h in ctx.spec.hypotheses[:2]}
    folder = step.audit_path(ctx.spec, ctx.study_dir).parent
    write_audit(_audit_for(ctx, hashes), folder)
    res = step.run(ctx, StudyResults())
    assert res.status == "ok"
    assert dict(res.false_positive_rates) == {"H1": 0.05, "H2": 0.05}
    assert "audit" in ctx.written
    write_audit(_audit_for(ctx, {**hashes, "H1": "0" * 64}), folder)
    res = step.run(ctx, StudyResults())
    assert res.status == "stale" and not res.false_positive_rates
    assert "H1" in res.message and "H2" not in res.message
    # An audit too small to show a rate <= 5% gives no rate the grades could pass.
    write_audit(_audit_for(ctx, hashes, n_null=step.MIN_NULL_WORLDS - 1), folder)
    res = step.run(ctx, StudyResults())
    assert res.status == "ok" and not res.false_positive_rates
    assert "fewer than 20 usable null worlds" in res.message


def test_audit_targets_follow_the_study(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    targets = step.audit_targets(ctx.spec, ctx.study_dir, ["H5", "H1"])
    assert [(t.hypothesis, t.driver, t.direction, t.group) for t in targets] == [
        ("H1", "eu_sanctions", "+", "Others"), ("H5", "ru_gains", "-", "Others")]
    assert targets[1].spec.name == "h5_ru_gains"
    with pytest.raises(SpecError, match="unknown hypotheses"):
        step.audit_targets(ctx.spec, ctx.study_dir, ["H99"])
