"""Compile once, refit many: swapped data give a fresh fit's posterior, with one compile."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hybridflow.inference import refit as refit_mod
from hybridflow.inference.refit import RefitShapeError, Refitter, data_values, structure_key
from hybridflow.inference.sample import sample_model
from hybridflow.inference.sampling import Sampling
from hybridflow.models.build import ModelBundle, build_model, prepare_data
from hybridflow.models.spec import ModelSpec, parse_spec
from hybridflow.months import month_range

ROUTE = "Eastern Borders Route"
SETTINGS = Sampling(draws=60, tune=60, chains=2)
PYMC = SETTINGS.replace(sampler="pymc")


def tiny_panel(seed: int, effect: float = 0.3) -> xr.Dataset:
    """Two groups on one route, 36 modelled months, one standardised driver ``x``."""
    rng = np.random.default_rng(seed)
    months = month_range("2019-01", "2022-12")
    T = len(months)
    x = rng.normal(size=T)
    mu = np.column_stack([np.full(T, 40.0), np.full(T, 15.0)]) * np.exp(effect * x)[:, None]
    det = rng.negative_binomial(10, 10 / (10 + mu)).astype(float)[:, None, :]
    ds = xr.Dataset(coords={"month": months, "route": [ROUTE], "group": ["A", "B"]})
    ds["detections"] = (("month", "route", "group"), det)
    ds["x"] = ("month", x)
    return ds


def tiny_spec(max_lag: int = 2, **changes: Any) -> ModelSpec:
    spec: dict[str, Any] = {
        "name": "tiny",
        "data": {"routes": [ROUTE], "start": "2020-01", "end": "2022-12"},
        "baseline": {"trend": "none", "fourier_order": 0},
        "drivers": [
            {
                "name": "x",
                "source": "panel",
                "variable": "x",
                "kernel": {"name": "geometric", "max_lag": max_lag},
            }
        ],
    }
    spec.update(changes)
    return parse_spec(spec)


def bundle_for(panel: xr.Dataset, spec: ModelSpec | None = None) -> ModelBundle:
    spec = spec or tiny_spec()
    return build_model(spec, prepare_data(spec, panel, None))


@pytest.fixture(scope="module")
def counted() -> Iterator[tuple[Refitter, list[str]]]:
    """A Refitter on panel seed 0, with every compile it triggers recorded."""
    calls: list[str] = []
    real = refit_mod.compile_model

    def counting(bundle: ModelBundle, sampler: Any = "nutpie") -> Any:
        calls.append(sampler)
        return real(bundle, sampler)

    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mp.setattr(refit_mod, "compile_model", counting)
        refitter = Refitter(bundle_for(tiny_panel(0)))
        yield refitter, calls


# The tests that sample share one compiled model: keep them on one xdist worker.
nutpie_group = pytest.mark.xdist_group("refit_nutpie")


def _posterior(idata: Any) -> dict[str, np.ndarray]:
    return {k: idata.posterior[k].values for k in idata.posterior.data_vars}


@nutpie_group
def test_refit_equals_fresh_fit_and_compiles_once(
    counted: tuple[Refitter, list[str]], seed_shift: int
) -> None:
    refitter, calls = counted
    new = bundle_for(tiny_panel(1, effect=-0.4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        swapped = refitter.refit_bundle(new, SETTINGS, seed=7 + seed_shift)
        swapped_again = refitter.refit_bundle(new, SETTINGS, seed=7 + seed_shift)
        original = refitter.refit({}, SETTINGS, seed=7 + seed_shift)
        fresh = sample_model(new, SETTINGS, seed=7 + seed_shift, log_likelihood=False)

    # Same seed, same data: a refit and a fresh compile+fit give the same numbers,
    # free parameters and deterministics computed from the new data (log_mu) alike.
    a, b = _posterior(swapped), _posterior(fresh)
    assert set(a) == set(b) and {"effect", "effect_mean", "log_mu"} <= set(a)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_array_equal(swapped.observed_data["y"], fresh.observed_data["y"])
    np.testing.assert_array_equal(swapped.observed_data["y"], data_values(new)["y_obs"])
    np.testing.assert_array_equal(
        swapped.sample_stats["diverging"], fresh.sample_stats["diverging"]
    )
    # Repeatable, and the swap did something: the original data give another posterior
    # (the synthetic effect is +0.3 there, -0.4 in the new data).
    np.testing.assert_array_equal(a["effect_mean"], _posterior(swapped_again)["effect_mean"])
    assert float(a["effect_mean"].mean()) < 0 < float(original.posterior["effect_mean"].mean())

    # Three refits and one compile, in the constructor.
    assert calls == ["nutpie"]
    assert refitter.n_refits == 3


@nutpie_group
def test_refit_is_independent_of_earlier_refits(
    counted: tuple[Refitter, list[str]], seed_shift: int
) -> None:
    refitter, calls = counted
    base = data_values(refitter.bundle)
    y2 = base["y_obs"] + 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = refitter.refit({"y_obs": y2}, SETTINGS, seed=1 + seed_shift)
        # Only the driver given: the outcome is the original one, not y2 from the last refit.
        x2 = data_values(bundle_for(tiny_panel(2)))["driver_lagged"]
        second = refitter.refit({"driver_lagged": x2}, SETTINGS, seed=1 + seed_shift)
    np.testing.assert_array_equal(first.observed_data["y"], y2)
    np.testing.assert_array_equal(second.observed_data["y"], base["y_obs"])
    np.testing.assert_array_equal(
        refitter.bundle.model["driver_lagged"].get_value(), x2.astype(float)
    )
    refitter.reset()
    np.testing.assert_array_equal(refitter.bundle.model["y_obs"].get_value(), base["y_obs"])
    assert calls == ["nutpie"]


@nutpie_group
def test_held_out_fold_changes_obs_length(
    counted: tuple[Refitter, list[str]], seed_shift: int
) -> None:
    refitter, _ = counted
    base = data_values(refitter.bundle)
    keep = np.arange(len(base["y_obs"])) % 4 != 0  # drop every 4th observed cell
    fold = {k: base[k][keep] for k in ("y_obs", "obs_cell", "obs_series")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = refitter.refit(fold, SETTINGS, seed=2 + seed_shift, log_likelihood=True)
    n = int(keep.sum())
    assert idata.observed_data.sizes["obs"] == n
    assert idata.log_likelihood["y"].shape == (2, SETTINGS.draws, n)
    # log_mu still covers every month of every series.
    assert idata.posterior["log_mu"].shape[2:] == (36, 1, 2)
    refitter.reset()


def test_a_container_the_graph_does_not_read_is_still_refittable(seed_shift: int) -> None:
    """A Poisson model has no per-series dispersion, so its compiled graph does not read
    ``obs_series``: refits (the audit's, the placebo's) must still swap the containers it
    does read, and compute deterministics from the new data."""
    spec = tiny_spec(likelihood={"family": "poisson"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refitter = Refitter(bundle_for(tiny_panel(0), spec))
        new = bundle_for(tiny_panel(1, effect=-0.4), spec)
        swapped = refitter.refit_bundle(new, SETTINGS, seed=3 + seed_shift)
    np.testing.assert_array_equal(swapped.observed_data["y"], data_values(new)["y_obs"])
    assert float(swapped.posterior["effect_mean"].mean()) < 0  # the new data's -0.4


@pytest.fixture
def uncompiled() -> Refitter:
    """A Refitter with PyMC's sampler: no compile step, so checks run instantly."""
    return Refitter(bundle_for(tiny_panel(0)), sampler="pymc")


def test_structure_changes_raise(uncompiled: Refitter) -> None:
    refitter = uncompiled
    panel = tiny_panel(3)
    other_lag = bundle_for(panel, tiny_spec(max_lag=3))
    with pytest.raises(RefitShapeError, match="different coords or parameters"):
        refitter.refit_bundle(other_lag, PYMC)
    shorter = bundle_for(
        panel, tiny_spec(data={"routes": [ROUTE], "start": "2021-01", "end": "2022-12"})
    )
    with pytest.raises(RefitShapeError, match="same structure"):
        refitter.refit_bundle(shorter, PYMC)
    poisson = bundle_for(panel, tiny_spec(likelihood={"family": "poisson"}))
    assert structure_key(poisson) != structure_key(refitter.bundle)
    with pytest.raises(RefitShapeError):
        refitter.refit_bundle(poisson, PYMC)
    assert structure_key(bundle_for(panel)) == structure_key(refitter.bundle)


def test_bad_values_raise_before_sampling(uncompiled: Refitter) -> None:
    refitter = uncompiled
    base = data_values(refitter.bundle)
    before = refitter.n_refits
    with pytest.raises(ValueError, match="compiled for 'pymc'; the sampling asks for 'nutpie'"):
        refitter.refit({}, SETTINGS)
    with pytest.raises(RefitShapeError, match="unknown data containers"):
        refitter.refit({"y": base["y_obs"]}, PYMC)
    with pytest.raises(RefitShapeError, match="rank 3"):
        refitter.refit({"driver_lagged": base["driver_lagged"][0]}, PYMC)
    with pytest.raises(RefitShapeError, match="along 'month'"):
        refitter.refit({"driver_lagged": base["driver_lagged"][:, 1:, :]}, PYMC)
    with pytest.raises(RefitShapeError, match="change length together"):
        refitter.refit({"y_obs": base["y_obs"][:-1]}, PYMC)
    bad = base["y_obs"].astype(float)
    bad[0] = np.nan
    with pytest.raises(RefitShapeError, match="whole numbers"):
        refitter.refit({"y_obs": bad}, PYMC)
    assert refitter.n_refits == before
    # Nothing was swapped in by the failed calls.
    np.testing.assert_array_equal(refitter.bundle.model["y_obs"].get_value(), base["y_obs"])


def test_data_values_cover_every_container() -> None:
    bundle = bundle_for(tiny_panel(4))
    values = data_values(bundle)
    assert list(values) == bundle.data_names
    assert values["driver_lagged"].shape == (1, 36, 3)
    assert values["y_obs"].dtype.kind == "i" and values["y_obs"].shape == (72,)
    assert pd.Index(values["obs_cell"]).is_unique
