"""Effects: percent conversion, probabilities, counterfactuals (on hand-built posteriors)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hybridflow.analysis.effects import compute_effects, effect_draws, effects_table, percent
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
