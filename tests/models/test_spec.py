"""Model specs: validation messages, hashing, and every shipped TOML."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hybridflow.data.events import load_events
from hybridflow.data.panel import load_panel
from hybridflow.errors import SpecError
from hybridflow.models.build import prepare_data
from hybridflow.models.spec import (
    EventsDriver,
    LossesDriver,
    load_spec,
    parse_spec,
    spec_from_json,
    spec_hash,
    spec_to_json,
)
from hybridflow.models.terms.drivers import select_driver_events

REPO = Path(__file__).resolve().parents[2]
MODEL_FILES = sorted((REPO / "models").glob("*.toml"))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_spec_gets_documented_defaults() -> None:
    spec = parse_spec({"name": "m"})
    assert spec.hypothesis is None
    assert spec.data.routes == ["Eastern Borders Route"]
    assert spec.likelihood.family == "negbin"
    assert spec.baseline.trend == "ar1"
    assert spec.baseline.trend_step == 6
    # Issue 12: a scale that lets two groups differ (docs/models.md, "Priors").
    assert spec.baseline.priors.group_sd == pytest.approx(0.32)
    assert spec.baseline.priors.group_prior == "fixed"
    assert spec.drivers == []


def test_driver_sources_dispatch_to_their_models(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
name = "two"
hypothesis = "H3"
[[drivers]]
name = "eu"
source = "events"
filter = { family = "sanctions", actor = "EU", sectors = ["shadow_fleet"] }
per_event = true
[[drivers]]
name = "losses"
source = "losses"
fill_before = "centre"
kernel = { name = "delayed", max_lag = 9 }
""",
    )
    spec = load_spec(path)
    assert isinstance(spec.drivers[0], EventsDriver)
    assert spec.drivers[0].filter.actor == ["EU"]  # a single string becomes a list
    assert spec.drivers[0].per_event
    assert isinstance(spec.drivers[1], LossesDriver)
    assert spec.drivers[1].kernel.max_lag == 9
    assert spec.source_text is not None and "losses" in spec.source_text


def test_unknown_field_names_the_field_and_valid_fields(tmp_path: Path) -> None:
    path = _write(tmp_path, 'name = "x"\n[baseline]\ntrnd = "ar1"\n')
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    msg = str(exc.value)
    assert "baseline" in msg and "'trnd'" in msg
    assert "did you mean 'trend'" in msg
    assert "valid fields:" in msg and "'fourier_order'" in msg
    assert str(path) in msg


def test_top_level_unknown_field() -> None:
    with pytest.raises(SpecError, match=r"unknown field 'driver' \(did you mean 'drivers'\?\)"):
        parse_spec({"name": "x", "driver": []})


def test_field_of_another_source_is_unknown_for_this_one() -> None:
    with pytest.raises(SpecError) as exc:
        parse_spec({"name": "x", "drivers": [{"name": "l", "source": "losses", "per_event": True}]})
    assert "drivers[0]: unknown field 'per_event'" in str(exc.value)


def test_unknown_kernel_lists_valid_kernels() -> None:
    with pytest.raises(SpecError) as exc:
        parse_spec(
            {
                "name": "x",
                "drivers": [{"name": "e", "source": "events", "kernel": {"name": "gamma"}}],
            }
        )
    msg = str(exc.value)
    assert "drivers[0].kernel.name" in msg
    assert "unknown kernel 'gamma'" in msg
    for name in ("'delayed'", "'fdl'", "'geometric'", "'immediate'"):
        assert name in msg


def test_unknown_source_lists_valid_sources() -> None:
    with pytest.raises(SpecError) as exc:
        parse_spec({"name": "x", "drivers": [{"name": "e", "source": "weather"}]})
    msg = str(exc.value)
    assert "drivers[0].source: unknown source 'weather'" in msg
    assert "'events'" in msg and "'losses'" in msg and "'milestone'" in msg


@pytest.mark.parametrize(
    ("prior", "needle"),
    [
        ({"sigma": -0.3}, "bad prior: sigma must be > 0"),
        ({"sigma": 0}, "bad prior: sigma must be > 0"),
        ({"dist": "student_t"}, "bad prior: student_t needs nu > 0"),
        ({"nu": 3}, "nu is only used with dist = 'student_t'"),
        ({"dist": "cauchy"}, "got 'cauchy'; valid options: 'normal' or 'student_t'"),
        ({"mu": 9}, "use |mu| <= 5"),
    ],
)
def test_bad_effect_prior(prior: dict, needle: str) -> None:
    with pytest.raises(SpecError) as exc:
        parse_spec({"name": "x", "drivers": [{"name": "e", "source": "events", "prior": prior}]})
    assert "drivers[0].prior" in str(exc.value)
    assert needle in str(exc.value)


@pytest.mark.parametrize(
    ("transform", "needle"),
    [
        (
            {"winsorise": 1.0},
            "winsorise is the quantile above which values are capped, in (0.5, 1)",
        ),
        ({"winsorise": 0.2}, "got 0.2"),
        ({"per": 0}, "per (the natural unit) must be > 0"),
        ({"log": True, "per": 100}, "per (a natural unit) needs log = false"),
    ],
)
def test_bad_continuous_transform(transform: dict, needle: str) -> None:
    driver = {"name": "losses", "source": "losses", "transform": transform}
    with pytest.raises(SpecError) as exc:
        parse_spec({"name": "x", "drivers": [driver]})
    assert "drivers[0].transform" in str(exc.value)
    assert needle in str(exc.value)


def test_bad_baseline_prior() -> None:
    with pytest.raises(SpecError, match=r"baseline.priors: bad prior: trend_sd must be > 0"):
        parse_spec({"name": "x", "baseline": {"priors": {"trend_sd": -1}}})


def test_literal_options_listed() -> None:
    with pytest.raises(SpecError) as exc:
        parse_spec({"name": "x", "likelihood": {"family": "nb"}})
    assert "likelihood.family: got 'nb'; valid options: 'negbin', 'poisson'" in str(exc.value)


def test_several_problems_reported_together() -> None:
    with pytest.raises(SpecError) as exc:
        parse_spec(
            {
                "name": "x",
                "data": {"start": "2016-13"},
                "drivers": [{"name": "Bad Name", "source": "losses"}],
            }
        )
    msg = str(exc.value)
    assert "2 problems" in msg
    assert "data.start: month must be a month written YYYY-MM, got '2016-13'" in msg
    assert "drivers[0].name" in msg and "lower_snake_case" in msg


def test_cross_field_checks() -> None:
    with pytest.raises(SpecError, match="counts take 'negbin' or 'poisson'"):
        parse_spec({"name": "x", "likelihood": {"family": "binomial"}})
    with pytest.raises(SpecError, match="repeated: \\['a'\\]"):
        parse_spec({"name": "x", "drivers": [{"name": "a", "source": "losses"}] * 2})
    with pytest.raises(SpecError, match="end 2016-01 is before start 2020-01"):
        parse_spec({"name": "x", "data": {"start": "2020-01", "end": "2016-01"}})
    with pytest.raises(SpecError, match="unknown sector 'oil'"):
        parse_spec(
            {
                "name": "x",
                "drivers": [{"name": "e", "source": "events", "filter": {"sectors": "oil"}}],
            }
        )
    with pytest.raises(SpecError, match="source 'dates' needs start"):
        parse_spec({"name": "x", "baseline": {"regimes": [{"name": "war"}]}})
    pulse = {"name": "war", "start": "2022-02", "shape": "pulse", "transient_months": 2}
    with pytest.raises(SpecError, match="transient_months is for dated steps"):
        parse_spec({"name": "x", "baseline": {"regimes": [pulse]}})
    kernel = {"name": "geometric", "max_lag": 2, "min_lag": 3}
    with pytest.raises(SpecError, match=r"min_lag \(3\) must be <= max_lag \(2\)"):
        parse_spec({"name": "x", "drivers": [{"name": "a", "source": "losses", "kernel": kernel}]})


def test_regime_prior_covers_hundredfold_breaks() -> None:
    # The documented reading of the default: 90% of the mass on /100 .. x100.
    from scipy.stats import norm

    sd = parse_spec({"name": "x"}).baseline.priors.regime_sd
    assert norm.ppf(0.95) * sd == pytest.approx(np.log(100), rel=0.01)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="model spec not found"):
        load_spec(tmp_path / "nope.toml")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(_write(tmp_path, "name = \n"))


def test_hash_ignores_comments_and_order_but_not_content(tmp_path: Path) -> None:
    a = parse_spec({"name": "m", "baseline": {"trend": "ar1", "fourier_order": 2}})
    b = load_spec(
        _write(tmp_path, 'name = "m"  # comment\n[baseline]\nfourier_order = 2\ntrend = "ar1"\n')
    )
    c = parse_spec({"name": "m", "baseline": {"trend": "ar1", "fourier_order": 3}})
    assert spec_hash(a) == spec_hash(b)
    assert spec_hash(a) != spec_hash(c)
    assert len(spec_hash(a)) == 64
    assert spec_from_json(spec_to_json(c)) == c


def test_with_updates_revalidates() -> None:
    spec = parse_spec({"name": "m"})
    assert spec.with_updates(data={"end": "2024-09"}).data.end == "2024-09"
    with pytest.raises(SpecError):
        spec.with_updates(data={"end": "2024-13"})


def test_shipped_models_exist() -> None:
    names = {p.stem for p in MODEL_FILES}
    assert {"null", "full"} <= names
    for h in range(1, 9):
        assert any(n.startswith(f"h{h}_") for n in names), f"no spec for H{h}"


@pytest.mark.parametrize("path", MODEL_FILES, ids=[p.name for p in MODEL_FILES])
def test_every_shipped_model_validates(path: Path) -> None:
    spec = load_spec(path)
    assert spec.name == path.stem
    assert spec.description, "every shipped spec says what it is for"
    if path.stem.startswith("h"):
        assert spec.hypothesis == path.stem.split("_")[0].upper()


# --------------------------------------------------------------------------- Ukraine's mobilisation


@pytest.fixture(scope="module")
def embedded() -> tuple[Any, pd.DataFrame]:
    return load_panel(), load_events()


@pytest.mark.parametrize("path", MODEL_FILES, ids=[p.stem for p in MODEL_FILES])
def test_every_shipped_model_has_the_ua_mobilisation_regime(
    path: Path, embedded: tuple[Any, pd.DataFrame]
) -> None:
    """The regime picks catalogue row UA-04 (law No. 3633-IX, in force 18 May 2024) and
    builds a step from 2024-05 that is on for at least three months of the window."""
    panel, events = embedded
    spec = load_spec(path)
    (regime,) = [r for r in spec.baseline.regimes if r.name == "ua_mobilisation_2024"]
    assert regime.source == "events" and regime.filter is not None
    assert "UA-04" in regime.description
    picked = select_driver_events(events, regime.filter)
    assert list(picked["event_id"]) == ["UA-04"]
    assert picked.loc[0, "effective_date"] == pd.Timestamp("2024-05-18")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = prepare_data(spec, panel, events)
    col = data.regimes.sel(regime="ua_mobilisation_2024[UA-04]").to_series()
    on = col.index[col.to_numpy() == 1.0]
    assert on[0] == pd.Timestamp("2024-05-01") and on[-1] == col.index[-1]
    assert len(on) == (col != 0).sum() >= 3
