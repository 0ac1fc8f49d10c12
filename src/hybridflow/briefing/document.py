"""The briefing: one self-contained HTML file (figures embedded) and a Markdown twin.

The study runner assembles a :class:`Briefing` from the files it wrote (effects, comparison,
checks, replication, diagnostics); this module only renders it. No number is computed
here: every figure in the text comes from the tables passed in, so the briefing states
exactly what the fit files say. Only their form is the reader's: numbers are written by
:func:`hybridflow.numbers.format_number` (12,720, never 1.272e+04) and nationality codes in
tables get their names (``Syria (SYR)``).
"""

from __future__ import annotations

import base64
import html
import math
import numbers
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from hybridflow.data.sources.frontex import nationality_label
from hybridflow.io import atomic_open, atomic_path
from hybridflow.numbers import format_number, plain_numbers


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
    driver, estimate, interval, groups, p_direction, grade, reading`` (text, formatted by the
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
    ("audit", "How often would this pipeline be fooled?"),
    ("ppc", "Do the models reproduce the data? Predictive checks"),
    ("episodes", "Known episodes: would the model have flagged them?"),
    ("comparison", "Model comparison"),
    ("forecast", "What to expect"),
    ("replication", "The report's figures, recomputed"),
    ("diagnostics", "Sampling diagnostics"),
    ("data", "Data and vintages"),
)


# Columns whose whole numbers are labels, not quantities: no thousands separators.
_LABEL_COLUMN_RE = re.compile(r"year|seed|(^|_)id$")

# An upper-case three-letter token standing alone: a candidate nationality code. Not one
# inside a name, bracket or quote ("top10_SYR", "COM(2021)", "beta[SYR]", "'SYR'") or
# already labelled ("Syria (SYR)").
_CODE_RE = re.compile(r"(?<![\w()\[\]'/-])[A-Z]{3}(?![\w()\[\]'/-])")


def label_nationalities(text: str) -> str:
    """Put the country name before every nationality code in ``text``: ``Syria (SYR)``.

    Names come from the project's table (``data/tables/nationalities.csv``), which also
    labels the codes that are not countries (``Unknown (XUN)``, ``Stateless (XXA)``).
    Upper-case words that are not codes in that table are left alone.
    """
    return _CODE_RE.sub(lambda m: nationality_label(m.group(0)), text)


def _fmt_cell(value: Any, column: str = "") -> str:
    """One table cell as a reader sees it (numbers via :func:`format_number`)."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(value) if _LABEL_COLUMN_RE.search(column) else format_number(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if math.isnan(value):
            return ""
        if "rhat" in column or "r_hat" in column:
            # 1.014 must not read as the threshold 1.01.
            return f"{value:.3f}"
        if value.is_integer() and _LABEL_COLUMN_RE.search(column):
            return str(int(value))
        return format_number(value)
    if isinstance(value, str):
        return label_nationalities(plain_numbers(value))
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
    loader=jinja2.PackageLoader("hybridflow.briefing", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


def _readable(b: Briefing) -> Briefing:
    """``b`` with scientific notation in its prose rewritten (``1.272e+04`` reads 12,720).

    Texts stored by older runs (e.g. a driver's unit in a reused fit) read the same way.
    """
    return replace(
        b,
        title=plain_numbers(b.title),
        subtitle=plain_numbers(b.subtitle),
        diagnostics_status=plain_numbers(b.diagnostics_status),
        warnings=[plain_numbers(w) for w in b.warnings],
        figures=[replace(f, caption=plain_numbers(f.caption)) for f in b.figures],
        tables=[replace(t, caption=plain_numbers(t.caption), note=plain_numbers(t.note))
                for t in b.tables],
        sections={k: plain_numbers(v) for k, v in b.sections.items()},
        limits=[plain_numbers(item) for item in b.limits],
    )


def _context(b: Briefing, *, images: dict[str, str]) -> dict[str, Any]:
    b = _readable(b)
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
        # Text cells as in the Markdown table; flags such as ``converged`` stay as they are.
        "hypotheses": [{k: _fmt_cell(v, str(k)) if isinstance(v, str) else v
                        for k, v in rec.items()} for rec in hyp.to_dict(orient="records")],
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
