"""Every fit is done once: a study with a relative results folder resumes and reuses fits.

A small study (three real models, few draws, no checks) is run from a temporary working
directory with a relative ``--out``: interrupted during its second fit, resumed (the two
remaining fits run in parallel worker processes), then run again. The console log names
every fit the runner makes, so the test counts them.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

import hybridflow.study.steps.fits as fits_step
from hybridflow.study.runner import run_study

REPO = Path(__file__).resolve().parents[2]
SKIP = ("checks", "forecast")
MODELS = ["null", "h1_eu_sanctions", "h3_losses"]


def _tiny_study(folder: Path, seed: int) -> Path:
    """The hjs-2025 study cut down to three models and a few hundred draws."""
    study = folder / "tiny"
    study.mkdir()
    (study / "study.toml").write_text(
        f"""
name = "tiny"
title = "Resume test"
models_dir = "{(REPO / "models").as_posix()}"
null_model = "null"
models = {json.dumps(MODELS)}

[sampling]
draws = 100
tune = 100
chains = 2
seed = {seed}

[[hypotheses]]
id = "H1"
title = "EU sanctions"
claim = "More detections after EU packages."
model = "h1_eu_sanctions"
driver = "eu_sanctions"
direction = "+"

[[hypotheses]]
id = "H3"
title = "Losses"
claim = "More detections after losses."
model = "h3_losses"
driver = "losses"
direction = "+"
""",
        encoding="utf-8",
    )
    return study


def _fitted(log: io.StringIO) -> list[str]:
    return re.findall(r"^\s+(\S+): fitted in", log.getvalue(), flags=re.M)


def _console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=200, force_terminal=False), buf


def test_relative_results_folder_interrupt_resume_rerun_fits_each_model_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed_shift: int
) -> None:
    study = _tiny_study(tmp_path, 5 + seed_shift)
    monkeypatch.chdir(tmp_path)
    out = "results/tiny"  # relative to the working directory, as `make run` uses it

    # 1. Interrupted while fitting the second model (serial path, one worker).
    real_fit = fits_step.fit_spec
    started: list[str] = []

    def fit_then_interrupt(spec, *args, **kwargs):  # type: ignore[no-untyped-def]
        started.append(spec.name)
        if len(started) > 1:
            raise KeyboardInterrupt
        return real_fit(spec, *args, **kwargs)

    monkeypatch.setattr(fits_step, "fit_spec", fit_then_interrupt)
    console, log1 = _console()
    with pytest.raises(KeyboardInterrupt):
        run_study(study, out=out, workers=1, skip=SKIP, console=console)
    first = _fitted(log1)
    assert len(first) == 1
    stored = tmp_path / out / "fits" / first[0] / "fit.nc"
    inode = stored.stat().st_ino
    state = json.loads((tmp_path / out / "state.json").read_text())
    files = [f for rec in state["steps"].values() for f in rec.get("files", [])]
    assert files and not any(f.startswith(("results", "/")) for f in files), files

    # 2. Resumed: the two remaining fits run in parallel, each once; the first is reused.
    monkeypatch.setattr(fits_step, "fit_spec", real_fit)
    console, log2 = _console()
    resumed = run_study(study, out=out, workers=2, skip=SKIP, console=console)
    second = _fitted(log2)
    assert sorted(second) == sorted(set(MODELS) - set(first)), log2.getvalue()
    assert resumed.reused == first
    assert stored.stat().st_ino == inode  # not rewritten
    assert (tmp_path / out / "briefing.html").is_file()

    # 3. Run again: nothing is fitted, every fit is reused.
    console, log3 = _console()
    again = run_study(study, out=out, workers=2, skip=SKIP, console=console)
    assert _fitted(log3) == []
    assert sorted(again.reused) == sorted(MODELS)
