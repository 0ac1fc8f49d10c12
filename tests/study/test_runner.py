"""Study runner checks that need no fit: hypotheses are validated before anything runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hybridflow.errors import SpecError
from hybridflow.study.runner import run_study

STUDY = Path(__file__).resolve().parents[2] / "studies" / "hjs-2025"


def _copy_study(tmp_path: Path, replace: tuple[str, str]) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(STUDY.parents[1] / "models", root / "models")
    study = root / "studies" / "s"
    study.mkdir(parents=True)
    text = (STUDY / "study.toml").read_text()
    assert replace[0] in text
    (study / "study.toml").write_text(text.replace(*replace, 1))
    return study


def test_unknown_hypothesis_driver_fails_before_anything_is_written(tmp_path: Path) -> None:
    study = _copy_study(tmp_path, ('driver = "us_sanctions"', 'driver = "us_sanktions"'))
    out = tmp_path / "out"
    with pytest.raises(SpecError, match=r"H2: model 'sanctions_joint' has no driver "
                                        r"'us_sanktions'; its drivers: eu_sanctions, "
                                        r"us_sanctions, belarus_sanctions"):
        run_study(study, out=out)
    assert not out.exists()


@pytest.mark.parametrize("profile", ["default", "quick"])
def test_every_hypothesis_of_hjs_2025_names_a_driver_of_its_model(profile: str) -> None:
    # The shipped study passes the same check the runner makes before fitting.
    from hybridflow.models.spec import load_spec
    from hybridflow.study.spec import load_study

    spec, folder = load_study(STUDY)
    spec = spec.with_profile(profile)
    for h in spec.hypotheses:
        model = h.model if h.model in spec.models else spec.fallback_model
        assert model is not None
        drivers = [d.name for d in load_spec(folder / spec.models_dir / f"{model}.toml").drivers]
        if model == h.model:
            assert h.driver in drivers, (h.id, drivers)


def test_every_result_is_filled_by_exactly_one_step_in_a_fixed_order() -> None:
    from dataclasses import fields

    from hybridflow.study.results import StudyResults
    from hybridflow.study.runner import STEPS

    names = [s.name for s in STEPS]
    assert sorted(names) == sorted(f.name for f in fields(StudyResults))
    # Each step reads only what the steps above it produced.
    assert names.index("fits") < names.index("comparison") < names.index("ppc")
    assert names.index("placebo") < names.index("hypotheses")
    assert names.index("controls") < names.index("hypotheses")
    assert names[-1] == "briefing"


def test_skip_leaves_out_optional_groups_and_steps_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    from types import SimpleNamespace

    from rich.console import Console

    import hybridflow.study.runner as runner

    ran: list[str] = []

    def step(name: str, group: str | None = None) -> runner.Step:
        def run(context: object, results: object) -> str:
            ran.append(name)
            return name

        return runner.Step(name, run, group=group, label=name)

    monkeypatch.setattr(runner, "STEPS", (
        step("fits"), step("ppc", "checks"), step("placebo", "checks"),
        step("forecasts", "forecast"), step("backtests", "forecast"), step("briefing"),
    ))
    context = SimpleNamespace(console=Console(file=io.StringIO()), timings={})
    results = runner.run_steps(context, skip=("checks", "backtests", "briefing"))  # type: ignore[arg-type]
    assert ran == ["fits", "forecasts", "briefing"]  # a step without a group always runs
    assert results.forecasts == "forecasts" and results.placebo is None
    assert set(context.timings) == {"fits", "forecast", "forecast: forecasts", "briefing"}
