"""Model terms: every registered term's numpy evaluation equals the model's own
``log_mu`` on the same draws; extensions; registries refuse unknown names.

Draws come from the prior (``pm.sample_prior_predictive``): no sampler is compiled.
"""

from __future__ import annotations

import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr

from hybridflow.data.events import load_events
from hybridflow.data.panel import load_panel
from hybridflow.errors import SpecError
from hybridflow.models.build import build_model, prepare_data
from hybridflow.models.spec import DRIVER_SOURCES, load_spec
from hybridflow.models.terms import (
    DRIVER_KINDS,
    DRIVER_TERMS,
    FAMILIES,
    NOISES,
    SEASONALITIES,
    TRENDS,
    Design,
    Draws,
    Term,
    driver_kind,
    family_named,
    linear_predictor,
    model_terms,
)
from hybridflow.models.terms.likelihood import infer_family
from tests.models.synthetic import make_events, make_panel
from tests.models.test_build import _spec as build_spec

REPO = Path(__file__).resolve().parents[2]
MODEL_FILES = sorted((REPO / "models").glob("*.toml"))


def _prior(spec: Any, data: Any, draws: int = 24, seed: int = 1) -> Draws:
    bundle = build_model(spec, data)
    model = bundle.model
    names = [v.name for v in model.free_RVs] + [v.name for v in model.deterministics]
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The Python linker compiles in a second (the default backend takes ~15 s a model).
        prior = pm.sample_prior_predictive(
            draws=draws,
            random_seed=seed,
            var_names=names,
            compile_kwargs={"mode": "FAST_COMPILE"},
        )
    return Draws(prior["prior"].to_dataset())


def _assert_terms_match_log_mu(spec: Any, data: Any) -> tuple[list[Term], Draws]:
    terms = model_terms(spec, data)
    draws = _prior(spec, data)
    eta = linear_predictor(terms, draws, Design.of_data(data))
    np.testing.assert_allclose(
        eta, draws.get("log_mu", "month", "route", "group"), rtol=0, atol=1e-8
    )
    return terms, draws


SPIKES = {"name": "spikes", "source": "spike", "kernel": {"name": "fdl", "max_lag": 2}}


def _spec(**over: Any) -> Any:
    """test_build's spec (events per event, losses, ACLED) plus a spike driver."""
    if "drivers" not in over:
        over["drivers"] = [d.model_dump(mode="python") for d in build_spec().drivers] + [SPIKES]
    return build_spec(**over)


# --------------------------------------------------------------------------- every spec


@pytest.fixture(scope="module")
def embedded() -> tuple[xr.Dataset, Any]:
    return load_panel(), load_events()


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_every_shipped_spec_terms_equal_log_mu(path: Path, embedded: Any) -> None:
    panel, events = embedded
    spec = load_spec(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = prepare_data(spec, panel, events)
    _assert_terms_match_log_mu(spec, data)


# --------------------------------------------------------------------------- every term


@pytest.mark.parametrize("trend", sorted(TRENDS))
@pytest.mark.parametrize("parametrisation", ["centred", "non_centred"])
def test_every_trend_matches(trend: str, parametrisation: str) -> None:
    baseline = {"trend": trend, "trend_parametrisation": parametrisation, "trend_step": 4}
    spec = _spec(baseline=baseline, drivers=[])
    terms, _ = _assert_terms_match_log_mu(spec, prepare_data(spec, make_panel(), make_events()))
    assert type(terms[1]) is TRENDS[trend]


@pytest.mark.parametrize("noise", sorted(NOISES))
@pytest.mark.parametrize("parametrisation", ["centred", "non_centred"])
def test_every_noise_matches(noise: str, parametrisation: str) -> None:
    baseline = {"noise": noise, "noise_parametrisation": parametrisation, "trend_step": 4}
    spec = _spec(baseline=baseline)
    terms, draws = _assert_terms_match_log_mu(spec, prepare_data(spec, make_panel(), make_events()))
    assert any(type(t) is NOISES[noise] for t in terms)
    # The numpy noise (recursion or centred draws) is the model's own noise deterministic.
    (term,) = [t for t in terms if type(t) is NOISES[noise]]
    design = Design.of_data(prepare_data(spec, make_panel(), make_events()))
    np.testing.assert_allclose(
        term.evaluate(draws, design), draws.get("noise", "month", "route", "group"), atol=1e-10
    )


def test_ar1_noise_is_stationary_with_the_stated_autocorrelation() -> None:
    # Prior draws at fixed rho and sigma: marginal sd sigma / sqrt(1 - rho^2) in every
    # month (the first included), lag-1 correlation rho, mean zero.
    rng = np.random.default_rng(0)
    S, T, rho, sigma = 20000, 24, 0.6, 0.3
    post = xr.Dataset(
        {
            "noise_rho": (("chain", "draw"), np.full((1, S), rho)),
            "noise_sigma": (("chain", "draw", "route", "group"), np.full((1, S, 1, 1), sigma)),
            "noise_z": (
                ("chain", "draw", "month", "route", "group"),
                rng.normal(size=(1, S, T, 1, 1)),
            ),
        }
    )
    term = NOISES["ar1"](T)
    eps = term.evaluate(Draws(post), Design(months=pd.date_range("2020-01", periods=T, freq="MS")))
    eps = eps[:, :, 0, 0]
    np.testing.assert_allclose(eps.std(axis=0), sigma / np.sqrt(1 - rho**2), rtol=0.04)
    np.testing.assert_allclose(eps.mean(axis=0), 0.0, atol=0.02)
    lag1 = np.corrcoef(eps[:, 10], eps[:, 11])[0, 1]
    assert lag1 == pytest.approx(rho, abs=0.03)
    # Continued past the fit with the same draws: still stationary, correlated with the
    # last fitted month as rho**h.
    months = pd.date_range("2020-01", periods=T + 6, freq="MS")
    ext = term.extend(Draws(post), Design(months=months), 6, rng)[:, :, 0, 0]
    assert ext.shape == (S, 6)
    np.testing.assert_allclose(ext.std(axis=0), sigma / np.sqrt(1 - rho**2), rtol=0.05)
    for h in (1, 3):
        corr = np.corrcoef(eps[:, -1], ext[:, h - 1])[0, 1]
        assert corr == pytest.approx(rho**h, abs=0.03)


@pytest.mark.parametrize("seasonality", sorted(SEASONALITIES))
def test_every_seasonality_matches(seasonality: str) -> None:
    spec = _spec(baseline={"seasonality": seasonality, "trend_step": 1}, drivers=[])
    terms, _ = _assert_terms_match_log_mu(spec, prepare_data(spec, make_panel(), make_events()))
    assert any(type(t) is SEASONALITIES[seasonality] for t in terms)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_builds_and_matches(family: str) -> None:
    share = not FAMILIES[family].counts
    data_over = {"outcome": "share", "share_group": "Others"} if share else {}
    spec = _spec(likelihood={"family": family}, data=data_over)
    data = prepare_data(spec, make_panel(), make_events())
    bundle = build_model(spec, data)
    fam = family_named(family)
    names = set(bundle.model.named_vars)
    if fam.dispersion:
        assert fam.dispersion in names
    assert {f.dispersion for f in FAMILIES.values() if f.dispersion} - {fam.dispersion} - names
    _assert_terms_match_log_mu(spec, data)


def test_driver_terms_regimes_and_factor_match() -> None:
    routes = ("Eastern Borders Route", "Western Balkan Route")
    spec = _spec(
        common_factor={"routes": ["Western Balkan Route"]},
        baseline={
            "regimes": [
                {"name": "war_onset", "start": "2022-02"},
                {"name": "belarus_2021", "start": "2021-06", "end": "2021-11"},
            ]
        },
    )
    data = prepare_data(spec, make_panel(routes=routes), make_events())
    terms, draws = _assert_terms_match_log_mu(spec, data)
    kinds = [type(t).__name__ for t in terms]
    assert kinds == [
        "Intercept",
        "AR1Trend",
        "HierarchicalSeasonality",
        "Regimes",
        "CommonFactor",
        "DriverEffects",
        "EventEffects",
    ]
    # By driver, the driver terms sum to their evaluation.
    design = Design.of_data(data)
    for cls in DRIVER_TERMS:
        term = cls()
        np.testing.assert_allclose(
            term.by_driver(draws, design).sum(axis=1), term.evaluate(draws, design), atol=1e-12
        )


def test_gate_vars_come_from_the_terms() -> None:
    spec = _spec()
    bundle = build_model(spec, make_panel(), make_events())
    assert bundle.reported_vars[:1] == ["geometric_decay"]
    assert {"effect", "effect_mean", "event_effect"} <= set(bundle.reported_vars)
    # The between-event sd is fixed by default: a constant in the posterior, not gated.
    assert "event_sd" not in bundle.reported_vars
    assert "event_sd" not in bundle.model.free_RVs and "event_sd" in bundle.model.named_vars
    learned = build_model(_spec(baseline={"priors": {"event_sd_prior": "halfnormal"}}),
                          make_panel(), make_events())
    assert "event_sd" in learned.reported_vars
    assert learned.model["event_sd"] in learned.model.free_RVs
    assert "intercept" not in bundle.reported_vars
    null = build_model(_spec(drivers=[]), make_panel(), make_events())
    assert null.reported_vars == ["intercept", "regime_effect", "dispersion"]


# --------------------------------------------------------------------------- extension


def test_extend_at_the_observed_months_agrees_with_evaluate() -> None:
    spec = _spec()
    data = prepare_data(spec, make_panel(), make_events())
    terms = model_terms(spec, data)
    draws = _prior(spec, data)
    design = Design.of_data(data)
    rng = np.random.default_rng(0)
    for term in terms:
        full = np.broadcast_to(term.evaluate(draws, design), (draws.n, len(data.months), 1, 2))
        assert term.extend(draws, design, 0, rng).shape[1] in (0, 1)
        if type(term) in (*TRENDS.values(), *NOISES.values()):
            continue  # a latent process: its extension is random (below)
        ext = term.extend(draws, design, 5, rng)
        np.testing.assert_allclose(np.broadcast_to(ext, full[:, -5:].shape), full[:, -5:])


def test_trend_extension_starts_from_the_last_knot_and_is_random_after() -> None:
    # The innovation sd learned (its draws can be zeroed below); fixed is tested after.
    spec = _spec(baseline={"trend_step": 3, "priors": {"trend_prior": "halfnormal"}}, drivers=[])
    data = prepare_data(spec, make_panel(), make_events())
    (trend,) = [t for t in model_terms(spec, data) if type(t) in TRENDS.values()]
    draws = _prior(spec, data)
    fitted = trend.evaluate(draws, Design.of_data(data))
    a = trend.extend(draws, Design.of_data(data), 6, np.random.default_rng(1))
    b = trend.extend(draws, Design.of_data(data), 6, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)  # same generator, same continuation
    rho = draws.get("trend_rho")[:, None, None]
    # With the innovation drawn, the mean of month 3 (a knot) is rho times the last value.
    sigma0 = draws.post.assign(trend_sigma=draws.post["trend_sigma"] * 0.0)
    quiet = trend.extend(Draws(sigma0), Design.of_data(data), 3, np.random.default_rng(1))
    np.testing.assert_allclose(quiet[:, 2], rho * fitted[:, -1])


def test_a_fixed_trend_sd_has_no_parameter_and_the_term_supplies_it() -> None:
    spec = _spec(baseline={"trend_step": 3, "priors": {"trend_sd": 0.2}}, drivers=[])
    assert spec.baseline.priors.trend_prior == "fixed"  # the default
    data = prepare_data(spec, make_panel(), make_events())
    (trend,) = [t for t in model_terms(spec, data) if type(t) in TRENDS.values()]
    assert trend.fixed_sigma == 0.2
    draws = _prior(spec, data, draws=1000)  # enough for sds within 10% (se ~2-3%)
    assert "trend_sigma" not in draws.post
    # The prior draws' knot innovations have the fixed sd (u[k] - rho u[k-1] ~ N(0, 0.2)).
    u = draws.get("trend_u", "trend_knot", "route", "group")
    rho = draws.get("trend_rho")[:, None, None, None]
    innov = u[:, 1:] - rho * u[:, :-1]
    assert float(innov.std()) == pytest.approx(0.2, rel=0.1)
    # Its forecast continues with the same sd: one knot step ahead, sd 0.2 around rho*last.
    ext = trend.extend(draws, Design.of_data(data), 3, np.random.default_rng(2))
    last = trend.evaluate(draws, Design.of_data(data))[:, -1]
    step = ext[:, 2] - draws.get("trend_rho")[:, None, None] * last
    assert float(step.std()) == pytest.approx(0.2, rel=0.1)


def test_trend_extension_uncertainty_grows_with_horizon() -> None:
    # Moved here from tests/analysis/test_forecast.py with the trend's extension.
    rng = np.random.default_rng(0)
    S = 20000
    post = xr.Dataset(
        {
            "trend_rho": (("chain", "draw"), np.full((1, S), 0.9)),
            "trend_sigma": (("chain", "draw", "route", "group"), np.full((1, S, 1, 1), 0.3)),
        }
    )
    last = np.full((S, 1, 1), 0.5)
    for step in (1, 3, 6):
        out = TRENDS["ar1"](24, step, True).continue_from(Draws(post), last, 12, rng)[:, :, 0, 0]
        sd, mean = out.std(axis=0), out.mean(axis=0)
        knots = np.arange(step, 13, step) - 1  # months that are knots
        # AR(1) from a known last state: sd sigma * sqrt(1 + rho^2 + ...) at the k-th knot.
        expect = [
            0.3 * np.sqrt(sum(0.9 ** (2 * i) for i in range(k))) for k in range(1, len(knots) + 1)
        ]
        np.testing.assert_allclose(sd[knots], expect, rtol=0.03)
        np.testing.assert_allclose(
            mean[knots], [0.5 * 0.9**k for k in range(1, len(knots) + 1)], atol=0.01
        )
        assert np.all(np.diff(sd[knots]) > 0) and sd[-1] > sd[0]
        # Between the last fitted month and the first new knot the trend is linear.
        np.testing.assert_allclose(sd[:step], 0.3 * np.arange(1, step + 1) / step, rtol=0.03)
    # A random walk's spread grows every month.
    post_rw = post.drop_vars("trend_rho")
    walk = TRENDS["local_level"](24, 2, True)
    sd = walk.continue_from(Draws(post_rw), last, 12, rng)[:, :, 0, 0].std(axis=0)
    assert np.all(np.diff(sd) > 0)


# --------------------------------------------------------------------------- registries


def test_unknown_names_are_clear_errors() -> None:
    spec = _spec(drivers=[])
    data = prepare_data(spec, make_panel(), make_events())
    bad = spec.model_copy(update={"baseline": spec.baseline.model_copy(update={"trend": "cubic"})})
    with pytest.raises(SpecError, match="unknown baseline.trend 'cubic'; valid options: 'ar1'"):
        model_terms(bad, data)
    bad = spec.model_copy(
        update={"baseline": spec.baseline.model_copy(update={"seasonality": "weekly"})}
    )
    with pytest.raises(SpecError, match="unknown baseline.seasonality 'weekly'"):
        model_terms(bad, data)
    bad = spec.model_copy(update={"baseline": spec.baseline.model_copy(update={"noise": "ma2"})})
    with pytest.raises(SpecError, match="unknown baseline.noise 'ma2'; valid options: 'ar1'"):
        model_terms(bad, data)
    with pytest.raises(SpecError, match="unknown family 'gaussian'; valid options: 'negbin'"):
        family_named("gaussian")


def test_family_inferred_from_a_fits_variables() -> None:
    for name, cls in FAMILIES.items():
        variables = {"log_mu", *([cls.dispersion] if cls.dispersion else [])}
        assert infer_family(variables, has_trials=not cls.counts).name == name


def test_every_driver_source_has_a_kind_and_unknown_sources_fail() -> None:
    assert set(DRIVER_KINDS) == set(DRIVER_SOURCES)
    for source, cls in DRIVER_KINDS.items():
        assert cls.source == source
    with pytest.raises(
        SpecError,
        match=r"unknown driver source 'tweets' \(did you mean 'events'\?\); valid options",
    ):
        driver_kind(types.SimpleNamespace(name="x", source="tweets"))
