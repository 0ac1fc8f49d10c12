"""The audit on disk: ``audit.json`` (provenance and the per-hypothesis table),
``audit.csv`` (the table), ``audit_worlds.csv`` (one row per world) and, with a renderer,
``audit.png``; and :func:`load_audit`, which refuses to let a stale audit pass unnoticed.

The folder is written as a whole (:func:`hybridflow.io.atomic_dir`): an error leaves the
previous audit, or none, never a mix.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from hybridflow.analysis.audit.checked import CHECKED_FILE, checked_rates
from hybridflow.analysis.audit.metrics import audit_table
from hybridflow.analysis.audit.runner import AuditResult
from hybridflow.errors import SpecError
from hybridflow.io import atomic_dir

__all__ = ["AUDIT_FILE", "MERGE_KEYS", "AuditFile", "StaleAuditError", "load_audit",
           "check_mergeable", "merge_audit", "read_worlds", "reusable_worlds", "write_audit"]

#: The file :func:`load_audit` reads (the others sit beside it).
AUDIT_FILE = "audit.json"
WORLDS_FILE = "audit_worlds.csv"
#: Provenance two audits must share for :func:`merge_audit`: the same generator, seeds,
#: sampling, effect sizes and grading make the same worlds and fits, whatever else ran.
MERGE_KEYS = ("study", "effect_sizes_pct", "generator", "sampling", "seed", "hdi_prob",
              "grading")
_TEXT_COLUMNS = ("kind", "error", "gate", "grade", "worker", "hypothesis")


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
    names = {"json": AUDIT_FILE, "table": "audit.csv", "worlds": WORLDS_FILE}
    if figure_png is not None:
        names["figure"] = "audit.png"
    payload = {
        "provenance": result.provenance,
        "table": json.loads(result.table.to_json(orient="records")),
    }
    with atomic_dir(out) as tmp:
        # The flagged worlds' placebo results outlive a rewrite: each row names its world
        # and model, and the reader uses only those that still match (load_audit).
        if (out / CHECKED_FILE).is_file():
            shutil.copy2(out / CHECKED_FILE, tmp / CHECKED_FILE)
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
    return _with_checked(audit)


def _with_checked(audit: AuditFile) -> AuditFile:
    """The audit with the placebo's columns (:func:`~hybridflow.analysis.audit.checked.
    checked_rates`) joined to its table, from the placebo results beside it whose world and
    model (spec hash) are the audit's; unchanged when there are none."""
    path = audit.path.parent / CHECKED_FILE
    if not path.is_file():
        return audit
    try:
        checked = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, pd.errors.ParserError) as exc:
        raise SpecError(f"{path}: unreadable placebo results ({exc})") from None
    missing = {"hypothesis", "spec_hash", "kind", "truth_pct", "seed", "checked_grade"} - set(
        checked.columns)
    if missing:
        raise SpecError(f"{path}: missing columns {sorted(missing)}")
    hashes = audit.spec_hashes
    checked = checked[[hashes.get(str(h)) == str(s)
                       for h, s in zip(checked["hypothesis"], checked["spec_hash"], strict=True)]]
    rates = checked_rates(read_worlds(audit), checked)
    table = audit.table.drop(columns=[c for c in rates.columns if c != "hypothesis"],
                             errors="ignore").merge(rates, on="hypothesis", how="left")
    return AuditFile(audit.path, table, audit.provenance)


def _plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples as lists, odd types as strings)."""
    return json.loads(json.dumps(value, default=str))


def check_mergeable(previous: str | Path, provenance: Mapping[str, Any]) -> AuditFile:
    """The audit in ``previous``, if the :data:`MERGE_KEYS` present in ``provenance`` (a
    run's, or the part of it known before the run) match its own; else
    :class:`SpecError` naming the first that differs."""
    prev = load_audit(previous)
    new = _plain(dict(provenance))
    for key in MERGE_KEYS:
        if key in new and prev.provenance.get(key) != new[key]:
            raise SpecError(
                f"{prev.path}: cannot merge: '{key}' differs (audit: "
                f"{prev.provenance.get(key)!r}, this run: {new[key]!r}); run the "
                "whole audit with the same settings, or write it elsewhere (--out)"
            )
    return prev


def read_worlds(audit: AuditFile) -> pd.DataFrame:
    """The worlds file beside ``audit`` (text columns as text: kind "null" is not NaN)."""
    worlds_path = audit.path.parent / WORLDS_FILE
    try:
        old = pd.read_csv(worlds_path, keep_default_na=False, na_values=[""])
    except (OSError, pd.errors.ParserError) as exc:
        raise SpecError(f"{worlds_path}: unreadable audit worlds ({exc})") from None
    for col in _TEXT_COLUMNS:
        if col in old:
            old[col] = old[col].astype(object).where(old[col].notna(), "").astype(str)
    return old


def reusable_worlds(
    previous: str | Path, provenance: Mapping[str, Any], spec_hashes: Mapping[str, str]
) -> pd.DataFrame:
    """The worlds of the audit in ``previous`` that a run with ``provenance`` (its
    :data:`MERGE_KEYS` and ``versions``) would fit again exactly: those of the hypotheses
    whose model (``spec_hashes``: hypothesis -> the spec hash audited now) and package
    versions are the ones recorded. :func:`~hybridflow.analysis.audit.runner.run_worlds`
    takes them instead of refitting (``check audit --extend``).

    Raises
    ------
    SpecError
        No readable audit, :data:`MERGE_KEYS` that differ, or other package versions
        (a refit with other versions is not the same fit).
    """
    prev = check_mergeable(previous, provenance)
    now = _plain(provenance.get("versions"))
    hyps = prev.provenance.get("hypotheses", {})
    keep = []
    for h, current in spec_hashes.items():
        entry = hyps.get(h)
        if entry is None or entry.get("spec_hash") != current:
            continue
        versions = entry.get("versions", prev.provenance.get("versions"))
        if now is not None and versions != now:
            raise SpecError(
                f"{prev.path}: cannot extend {h}: its worlds were fitted with package "
                f"versions {versions!r}, this run has {now!r}; re-run it without --extend"
            )
        keep.append(h)
    old = read_worlds(prev)
    return old[old["hypothesis"].isin(keep)].reset_index(drop=True)


def merge_audit(previous: str | Path, result: AuditResult) -> AuditResult:
    """The audit in ``previous`` (a folder or its ``audit.json``) with ``result``'s
    hypotheses replacing theirs, every other hypothesis kept as it was.

    Re-auditing one changed model, or adding null worlds to one hypothesis, then costs
    that hypothesis' fits only. The two must share :data:`MERGE_KEYS` (a hypothesis'
    worlds depend only on those and its id, ``runner.hypothesis_seed``); each
    hypothesis' entry in the provenance records its own world counts and versions, and
    the table is recomputed from the merged worlds.

    Raises
    ------
    SpecError
        No readable audit in ``previous``, or one whose :data:`MERGE_KEYS` differ (named).
    """
    prev = check_mergeable(previous, result.provenance)
    new_prov = _plain(result.provenance)
    old = read_worlds(prev)
    redone = set(result.worlds["hypothesis"])
    order = list(dict.fromkeys([*old["hypothesis"], *result.worlds["hypothesis"]]))
    merged = pd.concat([old[~old["hypothesis"].isin(redone)], result.worlds],
                       ignore_index=True)
    merged["_order"] = merged["hypothesis"].map(order.index)
    merged = (merged.sort_values(["_order", "world"], kind="stable")
              .drop(columns="_order").reset_index(drop=True))
    hyps = dict(prev.provenance.get("hypotheses", {}))
    for entry in hyps.values():  # an audit from before per-hypothesis counts
        entry.setdefault("n_null", prev.provenance.get("n_null"))
        entry.setdefault("n_effect", prev.provenance.get("n_effect"))
        entry.setdefault("versions", prev.provenance.get("versions"))
    for h, entry in new_prov["hypotheses"].items():
        hyps[h] = {**entry, "n_null": new_prov.get("n_null"),
                   "n_effect": new_prov.get("n_effect"), "versions": new_prov.get("versions")}
        if "reused_worlds" in new_prov:  # --extend: worlds taken from the earlier audit
            hyps[h]["reused_worlds"] = new_prov["reused_worlds"].get(h, 0)
    provenance = {**prev.provenance, "hypotheses": {h: hyps[h] for h in order},
                  "merged": [*prev.provenance.get("merged", []), sorted(redone)]}
    sizes = [float(x) for x in new_prov["effect_sizes_pct"]]
    return AuditResult(result.study, audit_table(merged, sizes), merged, provenance)
