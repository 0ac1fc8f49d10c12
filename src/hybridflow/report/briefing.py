"""The briefing: one self-contained HTML file (figures embedded) and a Markdown twin.

The study runner assembles a :class:`Briefing` from the files it wrote (effects, comparison,
checks, replication, diagnostics); this module only renders it. No number is computed
here: every figure in the text comes from the tables passed in, so the briefing states
exactly what the fit files say.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from hybridflow.io import atomic_open, atomic_path


@dataclass
class FigureItem:
    """One figure: PNG bytes with a caption; ``section`` decides where it is shown."""

    key: str
    section: str
    caption: str
    png: bytes


@dataclass
class TableItem:
    """One table with a caption; ``section`` decides where it is shown."""

    key: str
    section: str
    caption: str
    frame: pd.DataFrame
    note: str = ""


@dataclass
class Briefing:
    """Everything the briefing shows, already computed.

    ``hypotheses`` has one row per hypothesis with columns ``hypothesis, claim, model,
    driver, estimate, interval, p_direction, grade, reading`` (text, formatted by the
    runner from the effects files) plus ``converged`` (bool).
    """

    title: str
    subtitle: str
    hypotheses: pd.DataFrame
    diagnostics_status: str
    converged: bool
    warnings: list[str] = field(default_factory=list)
    figures: list[FigureItem] = field(default_factory=list)
    tables: list[TableItem] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    limits: list[str] = field(default_factory=list)


#: Section order and headings. A section with no figures, tables or text is left out.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("counterfactual", "Observed vs counterfactual, per driver"),
    ("lags", "Effect by lag"),
    ("sensitivity", "How much the headline effects depend on our choices"),
    ("placebo", "Placebo and negative-control checks"),
    ("ppc", "Do the models reproduce the data? Predictive checks"),
    ("episodes", "Known episodes: would the model have flagged them?"),
    ("comparison", "Model comparison"),
    ("forecast", "What to expect"),
    ("replication", "The report's figures, recomputed"),
    ("diagnostics", "Sampling diagnostics"),
    ("data", "Data and vintages"),
)


def _fmt_cell(value: Any, column: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if "rhat" in column or "r_hat" in column:
            # 1.014 must not read as the threshold 1.01.
            return f"{value:.3f}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}"
    return str(value)


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    cols = [str(c) for c in frame.columns]
    for rec in frame.itertuples(index=False):
        cells = "".join(
            f"<td>{html.escape(_fmt_cell(v, c))}</td>" for v, c in zip(rec, cols, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    # Wide tables scroll sideways inside the page instead of running off it.
    return (f'<div class="wide"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _md_table(frame: pd.DataFrame) -> str:
    def esc(v: Any, column: str = "") -> str:
        return _fmt_cell(v, column).replace("|", "\\|").replace("\n", " ")

    cols = [str(c) for c in frame.columns]
    head = "| " + " | ".join(esc(c) for c in cols) + " |"
    sep = "|" + "|".join("---" for _ in cols) + "|"
    body = ["| " + " | ".join(esc(v, c) for v, c in zip(rec, cols, strict=True)) + " |"
            for rec in frame.itertuples(index=False)]
    return "\n".join([head, sep, *body])


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("hybridflow.report", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


def _context(b: Briefing, *, images: dict[str, str]) -> dict[str, Any]:
    sections = []
    for key, heading in SECTIONS:
        figs = [f for f in b.figures if f.section == key]
        tabs = [t for t in b.tables if t.section == key]
        text = b.sections.get(key, "")
        if not (figs or tabs or text):
            continue
        sections.append({
            "key": key,
            "heading": heading,
            "text": text,
            "figures": [{"caption": f.caption, "src": images[f.key], "key": f.key} for f in figs],
            "tables": [{"caption": t.caption, "note": t.note,
                        "html": _html_table(t.frame), "md": _md_table(t.frame)} for t in tabs],
        })
    hyp = b.hypotheses
    return {
        "b": b,
        "sections": sections,
        "hypotheses": hyp.to_dict(orient="records"),
        "hypotheses_md": _md_table(hyp.drop(columns=[c for c in ("converged",) if c in hyp])),
        "provenance": b.provenance,
    }


def render_html(b: Briefing) -> str:
    """The briefing as one self-contained HTML page (figures as data URIs)."""
    images = {f.key: "data:image/png;base64," + base64.b64encode(f.png).decode("ascii")
              for f in b.figures}
    return _ENV.get_template("briefing.html.j2").render(**_context(b, images=images))


def render_markdown(b: Briefing, figure_dir: str = "figures") -> str:
    """The Markdown twin; figures are referenced as ``figure_dir/<key>.png``."""
    images = {f.key: f"{figure_dir}/{f.key}.png" for f in b.figures}
    return _ENV.get_template("briefing.md.j2").render(**_context(b, images=images))


def write_briefing(b: Briefing, out_dir: str | Path) -> dict[str, Path]:
    """Write ``briefing.html``, ``briefing.md`` and ``figures/*.png`` atomically."""
    out = Path(out_dir)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for f in b.figures:
        with atomic_path(fig_dir / f"{f.key}.png") as tmp:
            tmp.write_bytes(f.png)
    html_path, md_path = out / "briefing.html", out / "briefing.md"
    with atomic_open(html_path) as fh:
        fh.write(render_html(b))
    with atomic_open(md_path) as fh:
        fh.write(render_markdown(b))
    return {"html": html_path, "markdown": md_path, "figures": fig_dir}
