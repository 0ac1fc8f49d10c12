"""Rendering the briefing: self-contained HTML, a Markdown twin, warnings shown."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from hybridflow.briefing import figures
from hybridflow.briefing.document import Briefing, FigureItem, TableItem, write_briefing


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


_SCIENTIFIC = re.compile(r"\d(?:\.\d+)?[eE][-+]\d{2}")  # as Python writes 1.272e+04


def _numbers_briefing() -> Briefing:
    b = _briefing()
    b.hypotheses.loc[0, "estimate"] = ("+12.3% per +1 SD of monthly Russian personnel losses "
                                       "(1 SD = 1.272e+04)")
    counts = pd.DataFrame({"model": ["full", "null"], "detections": [1234567, 85],
                           "mean": [12720.4, 0.35], "ratio": [3.2, 2.5e-05],
                           "max_rhat": [1.014, 1.0], "year": [2023, 2024]})
    b.tables.append(TableItem("counts", "comparison", "Counts up to 1e+06", counts))
    return b


def test_numbers_read_as_a_reader_writes_them(tmp_path) -> None:
    paths = write_briefing(_numbers_briefing(), tmp_path)
    md = paths["markdown"].read_text()
    html = paths["html"].read_text()
    assert "| full | 1,234,567 | 12,720 | 3.2 | 1.014 | 2023 |" in md
    assert "| null | 85 | 0.35 | 0.000025 | 1.000 | 2024 |" in md
    for text in (md, html):
        assert "(1 SD = 12,720)" in text and "Counts up to 1,000,000" in text
        assert "+12.3%" in text
        body = re.sub(r"data:image/png;base64,[^\"]+", "", text)
        assert not _SCIENTIFIC.search(body), _SCIENTIFIC.search(body)


def test_nationality_codes_in_tables_get_their_names(tmp_path) -> None:
    b = _briefing()
    claims = pd.DataFrame({
        "id": ["top10_SYR", "top10_set", "bp"],
        "statement": ["SYR is no. 1 of the non-UkrRussBel nationalities",
                      "The ten largest", "Commission proposal COM(2021) 752; beta[SYR]"],
        "our_text": ["684 (rank 1)", "SYR, XUN, ETH (10/10 in common)", "HDI and LOO"],
    })
    b.tables.append(TableItem("replication", "replication", "Replication", claims))
    md = write_briefing(b, tmp_path)["markdown"].read_text()
    html = (tmp_path / "briefing.html").read_text()
    for text in (md, html):
        assert "Syria (SYR) is no. 1 of the non-UkrRussBel nationalities" in text
        assert "Syria (SYR), Unknown (XUN), Ethiopia (ETH) (10/10 in common)" in text
        # Identifiers, document numbers and other capitals stay as they are.
        assert "top10_SYR" in text and "COM(2021) 752; beta[SYR]" in text
        assert "HDI and LOO" in text


def test_count_axes_and_threshold_use_thousands_separators() -> None:
    months = pd.date_range("2025-01-01", periods=3, freq="MS")
    history = pd.date_range("2024-10-01", periods=3, freq="MS")
    q = np.vstack([np.full(3, v) for v in (9000.0, 11000, 12000, 13000, 15000)])
    fig = figures.fan_chart(history, np.array([10000.0, 12000, 14000]), months, q,
                            title="fan", threshold=12720.0)
    ax = fig.axes[0]
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "threshold 12,720" in labels
    ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert any("," in t for t in ticks) and not any("e" in t for t in ticks), ticks
    figures.to_png(fig)
