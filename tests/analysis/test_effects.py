"""Effects: percent conversion, probabilities, counterfactuals (on hand-built posteriors)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hybridflow.analysis.effects import (
    compute_effects,
    continuous_effect_draws,
    effect_draws,
    effects_table,
    event_excess_draws,
    percent,
    reference_counterfactual_draws,
    units_table,
)
from hybridflow.inference.posterior import Posterior, make_posterior

MONTHS = pd.date_range("2022-01-01", periods=6, freq="MS")


def _idata(beta: np.ndarray, *, converged: int = 1) -> Posterior:
    """One driver, one route, two groups, 2 chains x 50 draws; beta (chain, draw, group)."""
    C, D = beta.shape[:2]
    w = np.array([0.5, 0.3, 0.2])
    log_mu = np.full((C, D, len(MONTHS), 1, 2), np.log(100.0))
    coords = {
        "chain": np.arange(C),
        "draw": np.arange(D),
        "driver": ["sanctions"],
        "route": ["R"],
        "group": ["A", "B"],
        "lag": np.arange(3),
        "month": MONTHS,
    }
    post = xr.Dataset(
        {
            "effect": (("chain", "draw", "driver", "route", "group"), beta[:, :, None, None, :]),
            "effect_mean": (("chain", "draw", "driver"), beta.mean(-1)[:, :, None]),
            "kernel_weights": (
                ("chain", "draw", "driver", "lag"),
                np.broadcast_to(w, (C, D, 1, 3)),
            ),
            "log_mu": (("chain", "draw", "month", "route", "group"), log_mu),
        },
        coords=coords,
        attrs={"hybridflow_result": 1, "converged": converged, "outcome": "counts"},
    )
    # One pulse in the second month, one month of pre-window history (zero).
    history = 1
    x = np.zeros((1, len(MONTHS) + history))
    x[0, history + 1] = 1.0
    cd = xr.Dataset(
        {
            "driver_exposure": (("driver", "month_ext"), x),
            "driver_per_event": ("driver", [False]),
            "driver_unit": ("driver", ["one event (pulse)"]),
            "driver_max_lag": ("driver", [2]),
        },
        coords={"driver": ["sanctions"]},
        attrs={"history": history},
    )
    return make_posterior({"posterior": post, "constant_data": cd})


def test_percent_conversion() -> None:
    assert percent(np.log(1.5)) == pytest.approx(50.0)
    assert percent(0.0) == 0.0
    assert percent(np.log(0.8)) == pytest.approx(-20.0)


def test_known_effect_gives_known_percentages() -> None:
    beta = np.full((2, 50, 2), np.log(1.5))  # +50% cumulative in both groups, no spread
    idata = _idata(beta)
    eff = compute_effects(idata)
    assert eff["cumulative_mean"].dims == ("driver", "route", "group")
    np.testing.assert_allclose(eff["cumulative_mean"].values, 50.0)
    np.testing.assert_allclose(eff["cumulative_hdi_low"].values, 50.0)
    # Lag l: 100 * (1.5 ** w_l - 1).
    expected = 100 * (1.5 ** np.array([0.5, 0.3, 0.2]) - 1)
    np.testing.assert_allclose(
        eff["lag_mean"].sel(driver="sanctions", route="R", group="A"), expected
    )
    assert float(eff["cumulative_p_positive"].sel(group="A").squeeze()) == 1.0
    assert float(eff["cumulative_p_rope"].sel(group="A").squeeze()) == 0.0
    assert eff["unit"].values.tolist() == ["one event (pulse)"]
    assert eff.attrs["hdi_prob"] == 0.9 and eff.attrs["rope"] == 10.0
    assert eff.attrs["scale"] == "percent change in expected monthly detections"


def test_probabilities_and_hdi_from_a_spread_posterior() -> None:
    rng = np.random.default_rng(0)
    beta = rng.normal(0.0, 0.05, size=(2, 50, 2))
    beta[..., 1] += 0.5
    eff = compute_effects(_idata(beta), hdi_prob=0.8, rope=5.0)
    draws = 100 * np.expm1(beta[..., 0].ravel())
    assert float(eff["cumulative_p_positive"].sel(group="A").squeeze()) == pytest.approx(
        (draws > 0).mean()
    )
    assert float(eff["cumulative_p_rope"].sel(group="A").squeeze()) == pytest.approx(
        (np.abs(draws) < 5).mean()
    )
    low, high = (
        float(eff["cumulative_hdi_low"].sel(group="A").squeeze()),
        float(eff["cumulative_hdi_high"].sel(group="A").squeeze()),
    )
    assert low < 0 < high
    assert ((draws >= low) & (draws <= high)).mean() == pytest.approx(0.8, abs=0.02)
    assert float(eff["cumulative_p_positive"].sel(group="B").squeeze()) == 1.0


def test_counterfactual_removes_the_driver_contribution() -> None:
    beta = np.full((2, 50, 2), np.log(2.0))
    eff = compute_effects(_idata(beta))
    assert eff["counterfactual_mean"].dims == ("driver", "month", "route", "group")
    assert eff["expected_mean"].dims == ("month", "route", "group")
    np.testing.assert_allclose(eff["expected_mean"].values, 100.0)
    # Pulse in month 1 convolved with w = (0.5, 0.3, 0.2): months 1, 2, 3 carry the effect.
    conv = np.array([0.0, 0.5, 0.3, 0.2, 0.0, 0.0])
    cf = 100.0 * np.exp(-np.log(2.0) * conv)
    np.testing.assert_allclose(
        eff["counterfactual_mean"].sel(driver="sanctions", route="R", group="A"), cf
    )
    np.testing.assert_allclose(
        eff["excess_total_mean"].sel(driver="sanctions", route="R", group="A"), (100.0 - cf).sum()
    )


def test_draws_and_table() -> None:
    beta = np.full((2, 50, 2), 0.1)
    idata = _idata(beta)
    draws = effect_draws(idata)
    assert draws["lag_pct"].dims == ("chain", "draw", "driver", "route", "group", "lag")
    table = effects_table(idata)
    assert list(table["level"]) == ["series", "series", "pooled"]
    assert list(table["group"]) == ["A", "B", "(all)"]
    assert table["pct_mean"].iloc[0] == pytest.approx(100 * np.expm1(0.1))
    assert table["peak_lag"].iloc[0] == 0
    assert set(table.columns) >= {
        "p_positive",
        "p_rope",
        "pct_hdi_low",
        "pct_hdi_high",
        "unit",
        "converged",
    }


def test_unconverged_fit_warns_loudly() -> None:
    idata = _idata(np.zeros((2, 50, 2)), converged=0)
    idata.posterior.attrs.update(
        n_divergences=3, diagnostics_failing='["3 divergent transition(s) (need 0)"]'
    )
    with pytest.warns(UserWarning, match="THIS FIT DID NOT CONVERGE"):
        eff = compute_effects(idata, counterfactual=False)
    assert eff.attrs["converged"] == 0


def test_bad_arguments() -> None:
    idata = _idata(np.zeros((2, 50, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="hdi_prob"):
            compute_effects(idata, hdi_prob=1.5)
        with pytest.raises(ValueError, match="rope"):
            compute_effects(idata, rope=0)


# -- effects in readers' units -----------------------------------------------------------------
W = np.array([0.5, 0.3, 0.2])
EXT = pd.date_range("2021-12-01", periods=len(MONTHS) + 1, freq="MS")  # one history month
MU = np.stack([100.0 * np.arange(1, 7), 50.0 * np.arange(1, 7)], axis=-1)  # (month, group)


def _posterior(drivers: list[str], beta: np.ndarray, extra: dict | None = None) -> xr.Dataset:
    """Fixed draws: ``beta (driver, group)``, kernel ``W``, ``log_mu = log(MU)``."""
    n_drivers = beta.shape[0]
    C, D = 2, 20
    coords = {
        "chain": np.arange(C),
        "draw": np.arange(D),
        "route": ["R"],
        "group": ["A", "B"],
        "lag": np.arange(3),
        "month": MONTHS,
        "driver": drivers,
    }
    b = np.broadcast_to(beta[None, None, :, None, :], (C, D, n_drivers, 1, 2))
    post = xr.Dataset(
        {
            "effect": (("chain", "draw", "driver", "route", "group"), b.copy()),
            "effect_mean": (("chain", "draw", "driver"), b.mean((-1, -2))),
            "kernel_weights": (
                ("chain", "draw", "driver", "lag"),
                np.broadcast_to(W, (C, D, n_drivers, 3)).copy(),
            ),
            "log_mu": (
                ("chain", "draw", "month", "route", "group"),
                np.broadcast_to(np.log(MU)[None, None, :, None, :], (C, D, 6, 1, 2)).copy(),
            ),
        },
        coords=coords,
        attrs={"hybridflow_result": 1, "converged": 1, "outcome": "counts"},
    )
    return post.assign(**(extra or {}))


def _constant(drivers: list[str], exposure: np.ndarray, **records: list) -> xr.Dataset:
    cd = xr.Dataset(
        {
            "driver_exposure": (("driver", "month_ext"), exposure),
            "driver_max_lag": ("driver", [2] * len(drivers)),
            **{k: ("driver", v) for k, v in records.items()},
        },
        coords={"driver": drivers, "month_ext": EXT},
        attrs={"history": 1},
    )
    return cd


def _events_fit(per_event: bool = False, event_beta: tuple[float, float] = (0.0, 0.0)) -> Posterior:
    """Driver 'sanctions': a pulse in window month 1 and one in the last month (whose lags
    run past the window); effect log 2 on group A, log 1.5 on B."""
    cols = np.zeros((2, len(EXT)))
    cols[0, 1 + 1] = 1.0
    cols[1, 1 + 5] = 1.0
    cd = _constant(
        ["sanctions"],
        cols.sum(0, keepdims=True),
        driver_per_event=[per_event],
        driver_class=["event"],
        driver_scale=[1.0],
        driver_source=["events"],
    )
    cd["driver_event_exposure"] = (("driver_event", "month_ext"), cols)
    cd = cd.assign_coords(driver_event=["sanctions:e1", "sanctions:e2"])
    cd["driver_event_owner"] = ("driver_event", ["sanctions", "sanctions"])
    cd["driver_event_id"] = ("driver_event", ["e1", "e2"])
    extra = {}
    beta = np.array([[np.log(2.0), np.log(1.5)]])
    if per_event:
        cd["event_exposure"] = (("event", "month_ext"), cols)
        cd = cd.assign_coords(event=["e1", "e2"])
        cd["event_driver"] = ("event", ["sanctions", "sanctions"])
        cd["event_id"] = ("event", ["e1", "e2"])
        ev = np.broadcast_to(np.array(event_beta)[None, None, :, None, None], (2, 20, 2, 1, 2))
        extra = {
            "event_effect": xr.DataArray(
                ev.copy(),
                dims=("chain", "draw", "event", "route", "group"),
                coords={"event": ["e1", "e2"]},
            )
        }
    return make_posterior(
        {"posterior": _posterior(["sanctions"], beta, extra), "constant_data": cd}
    )


def _excess(mu: np.ndarray, b: float, start: int) -> float:
    """Hand formula: sum over the lags inside the window of mu0 * (exp(b * w_l) - 1), with
    mu0 = mu * exp(-b * w_l) the expected count without the event."""
    lags = [lag for lag in range(3) if start + lag < len(mu)]
    return float(sum(mu[start + lag] * np.exp(-b * W[lag]) * np.expm1(b * W[lag]) for lag in lags))


def test_excess_per_event_is_the_sum_over_its_lags() -> None:
    ex = event_excess_draws(_events_fit())
    got = ex["excess"].isel(chain=0, draw=0, route=0)
    for g, b in ((0, np.log(2.0)), (1, np.log(1.5))):
        assert float(got.sel(driver_event="sanctions:e1")[g]) == pytest.approx(
            _excess(MU[:, g], b, 1)
        )
        assert float(got.sel(driver_event="sanctions:e2")[g]) == pytest.approx(
            _excess(MU[:, g], b, 5)
        )
    assert ex["complete"].values.tolist() == [True, False]
    assert ex["lag_months"].values.tolist() == [3, 1]
    table = units_table(_events_fit())
    per_event = table[table["measure"] == "excess_per_event"].set_index("group")
    # The average uses the events whose lags all lie in the window (e1 only).
    assert per_event.loc["A", "mean"] == pytest.approx(_excess(MU[:, 0], np.log(2.0), 1))
    assert per_event.loc["(all)", "mean"] == pytest.approx(
        _excess(MU[:, 0], np.log(2.0), 1) + _excess(MU[:, 1], np.log(1.5), 1)
    )
    assert per_event.loc["A", "n_events"] == 2 and per_event.loc["A", "n_used"] == 1
    assert per_event.loc["A", "unit"] == "detections per event"
    assert per_event.loc["A", "p_positive"] == 1.0


def test_per_event_drivers_use_each_events_own_effect() -> None:
    fit = _events_fit(per_event=True, event_beta=(np.log(3.0), np.log(1.2)))
    got = event_excess_draws(fit)["excess"].isel(chain=0, draw=0, route=0, group=0)
    assert float(got.sel(driver_event="sanctions:e1")) == pytest.approx(
        _excess(MU[:, 0], np.log(3.0), 1)
    )
    assert float(got.sel(driver_event="sanctions:e2")) == pytest.approx(
        _excess(MU[:, 0], np.log(1.2), 5)
    )


def test_old_fits_without_event_columns_count_pulse_months() -> None:
    beta = np.full((2, 50, 2), np.log(2.0))
    got = event_excess_draws(_idata(beta))["excess"].isel(chain=0, draw=0, route=0, group=0)
    assert float(got.squeeze()) == pytest.approx(_excess(np.full(6, 100.0), np.log(2.0), 1))


def _continuous_fit(log: bool = False, source: str = "losses") -> Posterior:
    """Driver 'losses', standardised (center 20,000, scale 8,000, per 10,000; logged: center
    3, scale 2 on the log1p scale), observed from window month 1: window exposures 0, 1, 2,
    3, 4 there (quartiles 1 and 3); effect 0.2."""
    x = np.array([[0.0, 0.0, 4.0, 0.0, 2.0, 1.0, 3.0]])  # history month, then the window
    cd = _constant(
        ["losses"],
        x,
        driver_per_event=[False],
        driver_class=["continuous"],
        driver_scale=[2.0 if log else 8000.0],
        driver_center=[3.0 if log else 20_000.0],
        driver_log=[log],
        driver_per=[np.nan if log else 10_000.0],
        driver_source=[source],
        driver_per_label=["" if log else "10,000 losses a month"],
        driver_natural_unit=["losses a month"],
        driver_cap=[np.nan],
        driver_transform=["standardised"],
        driver_observed_from=["2022-02"],
        driver_observed_to=["2022-06"],
    )
    beta = np.array([[0.2, 0.2]])
    return make_posterior({"posterior": _posterior(["losses"], beta), "constant_data": cd})


def test_continuous_effects_per_natural_unit_and_per_iqr() -> None:
    cont = continuous_effect_draws(_continuous_fit())
    one = cont.isel(chain=0, draw=0, route=0, group=0, driver=0)
    assert float(one["per_unit_pct"]) == pytest.approx(100 * np.expm1(0.2 * 10_000 / 8000))
    assert float(one["per_iqr_pct"]) == pytest.approx(100 * np.expm1(0.2 * (3.0 - 1.0)))
    # The quartiles in raw units: exposure * scale + center.
    assert float(one["iqr_low_raw"]) == pytest.approx(28_000.0)
    assert float(one["iqr_high_raw"]) == pytest.approx(44_000.0)
    table = units_table(_continuous_fit())
    iqr = table[(table["measure"] == "pct_per_iqr") & (table["group"] == "(pooled)")]
    assert iqr["unit"].item() == "% per IQR (28,000 to 44,000 losses a month)"
    assert set(table["measure"]) == {"pct_per_unit", "pct_per_iqr", "excess_vs_reference"}


def test_logged_drivers_have_no_per_unit_effect() -> None:
    cont = continuous_effect_draws(_continuous_fit(log=True))
    assert bool(cont["per_unit_pct"].isnull().all())
    assert cont["iqr_high_raw"].item() == pytest.approx(np.expm1(3.0 * 2.0 + 3.0))
    table = units_table(_continuous_fit(log=True))
    assert "pct_per_unit" not in set(table["measure"])


def _convolve(x_ext: np.ndarray) -> np.ndarray:
    """(w * x)[t] over the window (one history month)."""
    return np.array(
        [sum(W[lag] * x_ext[1 + t - lag] for lag in range(3) if 1 + t - lag >= 0) for t in range(6)]
    )


def test_counterfactual_at_a_stated_reference() -> None:
    fit = _continuous_fit()
    x = fit["constant_data"]["driver_exposure"].values[0]
    expected, cf, words = reference_counterfactual_draws(fit, "losses", "zero")
    z0 = (0.0 - 20_000.0) / 8000.0
    x_ref = x.copy()
    x_ref[2:] = z0  # observed months only (from 2022-02); earlier months keep their fill
    truth = MU[:, 0] * np.exp(-0.2 * _convolve(x) + 0.2 * _convolve(x_ref))
    np.testing.assert_allclose(cf.isel(chain=0, draw=0, route=0, group=0).values, truth)
    np.testing.assert_allclose(expected.isel(chain=0, draw=0, route=0, group=0).values, MU[:, 0])
    assert words == "zero"
    # The default for a continuous driver is its 10th percentile; for territory, zero.
    _, _, words = reference_counterfactual_draws(fit, "losses")
    raw_p10 = np.percentile([0, 1, 2, 3, 4], 10) * 8000 + 20_000
    assert words == f"its 10th percentile ({raw_p10:,.0f})"
    _, _, words = reference_counterfactual_draws(_continuous_fit(source="territory"), "losses")
    assert words == "zero"
    table = units_table(fit, references={"losses": "zero"})
    total = table[(table["measure"] == "excess_vs_reference") & (table["group"] == "A")]
    assert total["mean"].item() == pytest.approx(float((MU[:, 0] - truth).sum()))
    assert total["unit"].item() == "detections over the window vs zero"


def test_event_counterfactual_removes_the_events() -> None:
    fit = _events_fit()
    _, cf, words = reference_counterfactual_draws(fit, "sanctions")
    x = fit["constant_data"]["driver_exposure"].values[0]
    truth = MU[:, 0] * np.exp(-np.log(2.0) * _convolve(x))
    np.testing.assert_allclose(cf.isel(chain=0, draw=0, route=0, group=0).values, truth)
    assert words == "no events"


@pytest.mark.parametrize(
    ("reference", "needle"),
    [
        ("p200", "a percentile must be in 0..100"),
        ("median", "expected 'none', 'zero', 'pNN'"),
    ],
)
def test_bad_references(reference: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        reference_counterfactual_draws(_continuous_fit(), "losses", reference)


def test_bad_reference_options() -> None:
    with pytest.raises(ValueError, match="an event driver takes 'none'"):
        reference_counterfactual_draws(_events_fit(), "sanctions", "p10")
    with pytest.raises(ValueError, match=r"unknown driver\(s\) \['nope'\]"):
        units_table(_events_fit(), references={"nope": "zero"})
    with pytest.raises(ValueError, match="no driver 'nope'"):
        reference_counterfactual_draws(_events_fit(), "nope")


def test_a_built_models_records_carry_the_transform_into_the_effects() -> None:
    """Spec -> design -> constant_data -> effects, with fixed draws: the recorded cap, unit
    and scale give the per-unit effect the transform implies."""
    from hybridflow.models.build import build_model, prepare_data
    from hybridflow.models.spec import parse_spec
    from tests.models.synthetic import make_events, make_panel

    spec = parse_spec(
        {
            "name": "t",
            "data": {"start": "2021-01", "end": "2024-09"},
            "baseline": {
                "fourier_order": 0,
                "regimes": [{"name": "war_onset", "start": "2022-02"}],
            },
            "drivers": [
                {
                    "name": "eu",
                    "source": "events",
                    "filter": {"family": "sanctions", "actor": "EU"},
                    "kernel": {"name": "geometric", "max_lag": 2, "fixed": {"decay": 0.5}},
                },
                {
                    "name": "gains",
                    "source": "territory",
                    "sign": "positive",
                    "fill_before": "centre",
                    "transform": {"winsorise": 0.9, "standardise": False, "per": 100},
                    "kernel": {"name": "geometric", "max_lag": 2, "fixed": {"decay": 0.5}},
                },
            ],
        }
    )
    panel = make_panel()
    data = prepare_data(spec, panel, make_events())
    cd = xr.Dataset(
        {k: v.reset_coords(drop=True) for k, v in build_model(spec, data).constant_data.items()}
    )
    raw = panel["territory_net_change"].sel(tracker="liveuamap").clip(min=0)
    observed = raw.sel(month=slice("2022-02-01", "2024-09-01")).values
    assert float(cd["driver_cap"].sel(driver="gains")) == pytest.approx(np.quantile(observed, 0.9))
    assert cd["driver_class"].values.tolist() == ["event", "continuous"]
    assert float(cd["driver_per"].sel(driver="gains")) == 100.0
    assert str(cd["driver_per_label"].sel(driver="gains").values).startswith(
        "100 km2 of Russian gains"
    )
    n_events = int((cd["driver_event_owner"] == "eu").sum())
    assert n_events == int((cd["driver_exposure"].sel(driver="eu") != 0).sum())
    cd["driver_scale"] = ("driver", [d.scale for d in data.drivers])
    cd["driver_max_lag"] = ("driver", [2, 2])
    cd["driver_per_event"] = ("driver", [False, False])
    cd.attrs["history"] = data.history
    T = len(data.months)
    post = _posterior(["eu", "gains"], np.array([[0.1, 0.1], [0.05, 0.05]]))
    post = post.drop_vars(["log_mu", "month", "kernel_weights", "lag"]).assign_coords(
        month=data.months, lag=np.arange(data.n_lags), route=data.routes, group=data.groups
    )
    w = np.zeros(data.n_lags)
    w[:3] = [4 / 7, 2 / 7, 1 / 7]
    post["kernel_weights"] = (
        ("chain", "draw", "driver", "lag"),
        np.broadcast_to(w, (2, 20, 2, data.n_lags)).copy(),
    )
    post["log_mu"] = (
        ("chain", "draw", "month", "route", "group"),
        np.full((2, 20, T, 1, 2), np.log(80.0)),
    )
    table = units_table(make_posterior({"posterior": post, "constant_data": cd}))
    per_unit = table[(table["measure"] == "pct_per_unit") & (table["group"] == "Others")]
    # Not standardised: one unit of exposure is 100 km2, so per 100 km2 is beta itself.
    assert per_unit["mean"].item() == pytest.approx(100 * np.expm1(0.05))
    events = table[(table["measure"] == "excess_per_event") & (table["group"] == "Others")]
    assert events["n_events"].item() == n_events
    assert events["mean"].item() == pytest.approx(80.0 * np.sum(1 - np.exp(-0.1 * w[:3])))
