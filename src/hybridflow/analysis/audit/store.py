"""The audit on disk: ``audit.json`` (provenance and the per-hypothesis table),
``audit.csv`` (the table), ``audit_worlds.csv`` (one row per world) and, with a renderer,
``audit.png``; and :func:`load_audit`, which refuses to let a stale audit pass unnoticed.

The folder is written as a whole (:func:`hybridflow.io.atomic_dir`): an error leaves the
previous audit, or none, never a mix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from hybridflow.analysis.audit.runner import AuditResult
from hybridflow.errors import SpecError
from hybridflow.io import atomic_dir

__all__ = ["AUDIT_FILE", "AuditFile", "StaleAuditError", "load_audit", "write_audit"]

#: The file :func:`load_audit` reads (the others sit beside it).
AUDIT_FILE = "audit.json"


class StaleAuditError(SpecError):
    """The audit was run on other models than the study's current ones."""


def figure_data(table: pd.DataFrame, study: str) -> dict[str, Any]:
    """Keyword arguments of :func:`hybridflow.briefing.figures.audit_rates`."""
    power = {
        c.removeprefix("power_"): table[c].tolist() for c in table.columns if c.startswith("power_")
    }
    return {
        "hypotheses": table["hypothesis"].tolist(),
        "false_positive": table["false_positive_rate"].tolist(),
        "fp_low": table["fp_low"].tolist(),
        "fp_high": table["fp_high"].tolist(),
        "power": power,
        "title": "How often would the pipeline be fooled?" + (f" Audit of {study}" if study
                                                              else ""),
    }


def write_audit(
    result: AuditResult,
    out_dir: str | Path,
    *,
    figure_png: Callable[..., bytes] | None = None,
) -> dict[str, Path]:
    """Write ``result`` to ``out_dir``, replacing the folder as a whole.

    Parameters
    ----------
    result
        From :func:`~hybridflow.analysis.audit.runner.run_audit`.
    out_dir
        The audit's own folder (its previous content is replaced).
    figure_png
        Renders :func:`figure_data`'s keyword arguments to PNG bytes (the CLI passes
        :func:`hybridflow.briefing.figures.audit_rates`; plotting lives above analysis).

    Returns
    -------
    dict
        File kind -> final path.
    """
    out = Path(out_dir)
    names = {"json": AUDIT_FILE, "table": "audit.csv", "worlds": "audit_worlds.csv"}
    if figure_png is not None:
        names["figure"] = "audit.png"
    payload = {
        "provenance": result.provenance,
        "table": json.loads(result.table.to_json(orient="records")),
    }
    with atomic_dir(out) as tmp:
        result.table.to_csv(tmp / names["table"], index=False)
        result.worlds.to_csv(tmp / names["worlds"], index=False)
        if figure_png is not None:
            (tmp / names["figure"]).write_bytes(figure_png(**figure_data(result.table,
                                                                        result.study)))
        with open(tmp / names["json"], "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, default=str)
            fh.write("\n")
    return {kind: out / name for kind, name in names.items()}


@dataclass(frozen=True)
class AuditFile:
    """An audit read back from disk.

    Attributes
    ----------
    path
        The ``audit.json`` read.
    table
        One row per hypothesis (``audit.csv``'s columns).
    provenance
        What ``audit.json`` records (study, models and spec hashes, generator, seeds...).
    """

    path: Path
    table: pd.DataFrame
    provenance: dict[str, Any]

    @property
    def study(self) -> str:
        return str(self.provenance.get("study", ""))

    @property
    def spec_hashes(self) -> dict[str, str]:
        """Spec hash of each audited hypothesis' model, by hypothesis id."""
        hyps = self.provenance.get("hypotheses", {})
        return {h: str(v.get("spec_hash", "")) for h, v in hyps.items()}

    def false_positive_rate(self, hypothesis: str) -> float | None:
        """The hypothesis' false moderate+/contrary rate in null worlds (None: not audited,
        or no null world passed the gate)."""
        rows = self.table[self.table["hypothesis"] == hypothesis]
        if rows.empty:
            return None
        value = pd.to_numeric(rows["false_positive_rate"], errors="coerce").iloc[0]
        return None if math.isnan(value) else float(value)

    def stale(self, current: Mapping[str, str]) -> list[str]:
        """Hypotheses whose audited model differs from ``current`` (hypothesis -> the spec
        hash of the model the study grades it with now), one sentence each."""
        out = []
        for hyp, stored in self.spec_hashes.items():
            now = current.get(hyp)
            if now is not None and now != stored:
                model = self.provenance["hypotheses"][hyp].get("model", "?")
                out.append(f"{hyp}: model '{model}' changed since the audit "
                           f"(spec hash {stored[:12]} audited, {now[:12]} now)")
        return out

    def check_current(self, current: Mapping[str, str]) -> None:
        """Raise :class:`StaleAuditError` unless every audited model is the current one."""
        stale = self.stale(current)
        if stale:
            raise StaleAuditError(
                f"{self.path}: stale audit, re-run `hybridflow check audit`: " + "; ".join(stale)
            )


def load_audit(path: str | Path, current: Mapping[str, str] | None = None) -> AuditFile:
    """Read an audit (``audit.json`` or its folder).

    Parameters
    ----------
    path
        The file, or the folder holding :data:`AUDIT_FILE`.
    current
        Hypothesis -> spec hash of the model the study grades it with now; when given, a
        mismatch raises :class:`StaleAuditError` (a stale audit is never used silently).

    Raises
    ------
    SpecError
        Missing or unreadable file, or one without the audit's fields.
    StaleAuditError
        ``current`` given and some audited model has changed.
    """
    p = Path(path)
    if p.is_dir():
        p = p / AUDIT_FILE
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{p}: no audit file (run `hybridflow check audit STUDY`)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise SpecError(f"{p}: unreadable audit file ({exc})") from None
    if not isinstance(raw, dict) or "provenance" not in raw or "table" not in raw:
        raise SpecError(f"{p}: not an audit file (expected 'provenance' and 'table')")
    audit = AuditFile(p, pd.DataFrame(raw["table"]), dict(raw["provenance"]))
    if current is not None:
        audit.check_current(current)
    return audit
