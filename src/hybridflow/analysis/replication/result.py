"""What :func:`~hybridflow.analysis.replication.replicate` returns, and its JSON and text forms."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hybridflow.analysis.replication.claim import fmt
from hybridflow.months import format_month

__all__ = ["ReplicationResult"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray | pd.Index):
        return [_jsonable(v) for v in value]
    if isinstance(value, pd.Timestamp | np.datetime64):
        return format_month(pd.Timestamp(value))
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if value is None or isinstance(value, int | str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [_jsonable(dict(r)) for r in df.to_dict(orient="records")]


@dataclass
class ReplicationResult:
    """What :func:`replicate` returns (each table is described in the package docstring)."""

    claims: pd.DataFrame
    correlations: pd.DataFrame
    trend: pd.DataFrame
    misdated: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """All tables as JSON-serialisable lists of records (NaN -> None, months as YYYY-MM)."""
        return {
            "claims": _records(self.claims),
            "correlations": _records(self.correlations),
            "trend": _records(self.trend),
            "misdated": _records(self.misdated),
            "notes": list(self.notes),
        }

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as JSON text (strict: no NaN)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    def render_text(self) -> str:
        """A short plain-text summary: every claim, the trend check, the mis-dated rounds."""
        lines = ["Replication of the report's figures", ""]
        for c in self.claims.to_dict(orient="records"):
            lines.append(
                f"[{c['status']}] {c['id']}: report {c['report_text']}; ours {c['our_text']}"
            )
            if c["status"] != "matches" and c["cause"]:
                lines.append(f"    cause: {c['cause']}")
        if len(self.trend):
            lines += [
                "",
                "How much of each correlation is shared trend "
                "(r: levels / first differences / trend+season residuals):",
            ]
            for t in self.trend.to_dict(orient="records"):
                lines.append(
                    f"  {t['claim']}: {fmt(t['r_levels'])} / {fmt(t['r_first_difference'])}"
                    f" / {fmt(t['r_trend_season_residual'])}; p naive "
                    f"{fmt(t['p_naive_levels'], 3)}, p adjusted (n_eff "
                    f"{fmt(t['n_eff_levels'], 1)}) {fmt(t['p_adjusted_levels'], 3)}"
                )
        if len(self.misdated):
            lines += ["", "Sanctions rounds the report mis-dates:"]
            for m in self.misdated.to_dict(orient="records"):
                date = m["catalogue_date"] or "no matching action"
                lines.append(
                    f"  {m['report_table']} {m['report_label']} "
                    f"({m['report_month']}): {m['issue']}; catalogue {date}"
                )
        for note in self.notes:
            lines.append(f"note: {note}")
        return "\n".join(lines)
