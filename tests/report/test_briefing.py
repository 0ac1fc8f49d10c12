"""Rendering the briefing: self-contained HTML, a Markdown twin, warnings shown."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from hybridflow.report import figures
from hybridflow.report.briefing import Briefing, FigureItem, TableItem, write_briefing


def _briefing(converged: bool = True) -> Briefing:
    hyp = pd.DataFrame([
        {"hypothesis": "H1", "claim": "EU sanctions raise detections", "model": "h1",
         "driver": "eu_sanctions", "estimate": "+12.3%", "interval": "-5.0% to +31.2%",
         "p_direction": "0.86", "grade": "weak", "reading": "a faint lean", "converged": converged},
    ])
    fig = figures.effect_by_lag_plot(range(4), np.array([1.0, 2, 1, 0]), np.zeros(4),
                                     np.full(4, 3.0), title="H1 by lag")
    return Briefing(
        title="Test briefing",
        subtitle="synthetic",
        hypotheses=hyp,
        diagnostics_status="all fits passed" if converged else "1 fit FAILED the gate",
        converged=converged,
        warnings=[] if converged else ["Fit h1 did not converge: R-hat 1.2"],
        figures=[FigureItem("lag_h1", "lags", "Effect of EU sanctions by lag", figures.to_png(fig))],
        tables=[TableItem("rep", "replication", "Replication", pd.DataFrame({"a": [1.5], "b": ["x|y"]}))],
        limits=["Association under stated assumptions is not proof of a directive."],
        provenance={"data": "snapshot abc"},
    )


def test_html_is_self_contained_and_has_the_hypotheses(tmp_path) -> None:
    paths = write_briefing(_briefing(), tmp_path)
    html = paths["html"].read_text()
    assert "data:image/png;base64," in html
    assert not re.search(r'src="(?!data:)', html)  # no external resources
    assert "+12.3%" in html and "-5.0% to +31.2%" in html and "grade-weak" in html
    assert "Effect by lag" in html and "not proof of a directive" in html
    assert (tmp_path / "figures" / "lag_h1.png").read_bytes()[:4] == b"\x89PNG"


def test_markdown_twin_has_same_numbers(tmp_path) -> None:
    paths = write_briefing(_briefing(), tmp_path)
    md = paths["markdown"].read_text()
    assert "| H1 | EU sanctions raise detections |" in md
    assert "+12.3%" in md and "![Effect of EU sanctions by lag](figures/lag_h1.png)" in md
    assert "x\\|y" in md  # pipes escaped inside cells


def test_unconverged_fit_gets_a_visible_warning(tmp_path) -> None:
    paths = write_briefing(_briefing(converged=False), tmp_path)
    html = paths["html"].read_text()
    assert 'class="status bad"' in html and "did not converge" in html
    assert "not converged" in html
    assert "**Warning:** Fit h1 did not converge" in paths["markdown"].read_text()
