"""Sampling, provenance, the convergence gate, the result folder, reproducibility.

One small nutpie fit (module fixture) with deliberately few draws serves most tests: it
must fail the gate. Its compiled model is reused to check that the same seed gives the
same numbers without compiling twice.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hybridflow.analysis.effects import effects_table
from hybridflow.errors import ConvergenceError, InputError
from hybridflow.inference.diagnostics import (
    UnconvergedWarning,
    check_convergence,
    warn_if_unconverged,
)
from hybridflow.inference.fit import fit_spec
from hybridflow.inference.result import FitResult
from hybridflow.inference.sample import sample_model
from hybridflow.inference.sampling import Sampling
from hybridflow.inference.store import load_result
from hybridflow.models.spec import parse_spec, spec_hash
from tests.models.synthetic import make_events, make_panel

SEED = 11
SPEC: dict[str, Any] = {
    "name": "tiny",
    "data": {"start": "2019-01", "end": "2024-06"},
    "baseline": {
        "fourier_order": 1,
        "regimes": [{"name": "war_onset", "start": "2022-02"}],
    },
    "drivers": [
        {
            "name": "eu",
            "source": "events",
            "filter": {"family": "sanctions"},
            "kernel": {"name": "geometric", "max_lag": 3},
        },
        {"name": "losses", "source": "losses", "fill_before": "centre"},
    ],
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, seed_shift: int) -> FitResult:
    out = tmp_path_factory.mktemp("fit") / "tiny"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_spec(
            parse_spec(SPEC),
            make_panel(),
            make_events(),
            sampling=Sampling(draws=40, tune=40, chains=2),
            seed=SEED + seed_shift,
            out=out,
            effects=effects_table,
        )


def test_result_carries_provenance(tiny: FitResult) -> None:
    attrs = tiny.idata.posterior.attrs
    assert attrs["spec_hash"] == spec_hash(tiny.spec)
    assert len(attrs["data_hash"]) == 64
    assert attrs["seed"] == tiny.idata.posterior.attrs["seed"] and attrs["sampler"] == "nutpie"
    assert (attrs["draws"], attrs["tune"], attrs["chains"]) == (40, 40, 2)
    for pkg in ("hybridflow", "pymc", "pytensor", "arviz", "nutpie", "numpy"):
        assert attrs[f"version_{pkg}"]
    assert attrs["window_start"] == "2019-01" and attrs["window_end"] == "2024-06"
    assert set(tiny.timings) >= {"build_s", "compile_s", "sample_s", "post_s"}


def test_posterior_has_named_dims_and_data_groups(tiny: FitResult) -> None:
    idata = tiny.idata
    post = idata.posterior
    assert post["effect"].dims == ("chain", "draw", "driver", "route", "group")
    assert list(post["driver"].values) == ["eu", "losses"]
    assert post["kernel_weights"].dims == ("chain", "draw", "driver", "lag")
    assert post["log_mu"].dims == ("chain", "draw", "month", "route", "group")
    assert post.sizes["month"] == 66
    np.testing.assert_allclose(post["kernel_weights"].sum("lag"), 1.0)
    assert not any(str(v).endswith("__") for v in post.data_vars)  # no sampler internals
    assert {"constant_data", "observed_data", "log_likelihood", "sample_stats"} <= set(
        idata.children
    )
    assert idata.log_likelihood["y"].dims == ("chain", "draw", "obs")
    assert idata.observed_data.sizes["obs"] == 66 * 2
    assert "driver_exposure" in idata.constant_data


def test_gate_flags_a_deliberately_unconverged_fit(tiny: FitResult) -> None:
    report = tiny.diagnostics
    assert not report.converged
    assert tiny.idata.posterior.attrs["converged"] == 0
    assert any("bulk ESS" in f and "< 400" in f for f in report.failing)
    assert "NOT CONVERGED" in report.summary_text()
    assert {"effect", "effect_mean", "geometric_decay"} <= set(report.var_names)
    with pytest.raises(ConvergenceError, match="convergence gate"):
        check_convergence(tiny.idata, tiny.bundle.reported_vars if tiny.bundle else [], strict=True)
    with pytest.warns(UnconvergedWarning, match="THIS FIT DID NOT CONVERGE"):
        assert not warn_if_unconverged(tiny.idata)


def test_gate_passes_with_loose_thresholds(tiny: FitResult) -> None:
    # The same numbers pass when the thresholds are loose enough: the gate reads them.
    report = check_convergence(
        tiny.idata.sel(chain=[0, 1]), ["effect_mean"], rhat_max=10.0, ess_min=1.0
    )
    assert report.n_checked == 2
    assert report.converged == (report.n_divergences == 0)


def test_gate_skips_elements_fixed_by_construction_but_not_stuck_chains() -> None:
    # A regime's effect on a group it does not apply to is exactly 0 in every draw (arviz
    # gives it r_hat NaN): not a failure. A chain stuck at its own value still fails.
    import xarray as xr

    rng = np.random.default_rng(0)
    good = rng.normal(size=(4, 500, 2))
    good[:, :, 1] = 0.0
    stuck = rng.normal(size=(4, 500))
    stuck[0] = 3.0
    post = xr.Dataset(
        {"a": (("chain", "draw", "group"), good), "b": (("chain", "draw"), stuck)},
        coords={"group": ["Others", "UkrRussBel"]},
    )
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((4, 500), dtype=bool))})
    idata = xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})
    fixed_only = check_convergence(idata, ["a"])
    assert fixed_only.converged and fixed_only.n_checked == 1
    assert not check_convergence(idata, ["a", "b"]).converged


def test_gate_reads_each_parameter_s_own_diagnostics_when_several_share_dims() -> None:
    # As in the null model: intercept and dispersion (route, group) around regime_effect
    # (regime, route, group) with constant elements. A summary of the three together
    # (ArviZ 1.x) gave r_hat NaN to other rows than the constant ones, so the gate failed
    # the fit and named the wrong parameters.
    import xarray as xr

    rng = np.random.default_rng(1)
    dims2, dims3 = ("chain", "draw", "route", "group"), ("chain", "draw", "regime", "route", "group")
    reg = rng.normal(size=(4, 500, 5, 1, 2))
    reg[:, :, 3, 0, 0] = 0.0  # fixed by construction (a regime for the other group only)
    post = xr.Dataset(
        {
            "intercept": (dims2, rng.normal(size=(4, 500, 1, 2))),
            "regime_effect": (dims3, reg),
            "dispersion": (dims2, rng.gamma(5.0, size=(4, 500, 1, 2))),
        },
        coords={"route": ["R"], "group": ["A", "B"], "regime": list("pqrst")},
    )
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((4, 500), dtype=bool))})
    idata = xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})
    for names in (["intercept", "regime_effect", "dispersion"], ["regime_effect", "intercept"]):
        report = check_convergence(idata, names)
        assert report.converged, (names, report.failing)
        assert report.n_checked == (13 if "dispersion" in names else 11)
        assert "regime_effect[s, R, A]" not in report.table.index
        assert np.isfinite(report.table["r_hat"]).all()
    # A stuck element is still named as itself.
    reg[1, :, 1, 0, 1] = 2.0
    post["regime_effect"] = (dims3, reg)
    idata = xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})
    failing = check_convergence(idata, ["intercept", "regime_effect", "dispersion"]).failing
    assert failing and all("regime_effect[q, R, B]" in f for f in failing)


def test_same_seed_same_numbers_nutpie(tiny: FitResult) -> None:
    assert tiny.bundle is not None and tiny.compiled is not None
    kw: dict[str, Any] = {"log_likelihood": False, "compiled": tiny.compiled}
    sampling = Sampling(draws=40, tune=40, chains=2)
    seed = int(tiny.idata.posterior.attrs["seed"])
    again = sample_model(tiny.bundle, sampling, seed=seed, **kw)
    other = sample_model(tiny.bundle, sampling, seed=seed + 1, **kw)
    for name in ("effect", "geometric_decay", "log_mu"):
        np.testing.assert_array_equal(
            again.posterior[name].values, tiny.idata.posterior[name].values
        )
    assert not np.array_equal(
        other.posterior["effect"].values, tiny.idata.posterior["effect"].values
    )


def test_result_folder_round_trip(tiny: FitResult) -> None:
    assert tiny.path is not None
    names = {p.name for p in tiny.path.iterdir()}
    assert {"fit.nc", "effects.csv", "spec.toml", "diagnostics.csv", "diagnostics.txt"} <= names
    with pytest.warns(UnconvergedWarning):
        loaded = load_result(tiny.path)
    assert spec_hash(loaded.spec) == spec_hash(tiny.spec)
    assert not loaded.diagnostics.converged
    assert loaded.diagnostics.n_checked == tiny.diagnostics.n_checked
    np.testing.assert_array_equal(
        loaded.idata.posterior["effect"].values, tiny.idata.posterior["effect"].values
    )
    assert list(loaded.idata.posterior["route"].values) == ["Eastern Borders Route"]
    table = pd.read_csv(tiny.path / "effects.csv")
    assert set(table["driver"]) == {"eu", "losses"}
    assert (table["converged"] == 0).all()
    assert "NOT CONVERGED" in (tiny.path / "diagnostics.txt").read_text()


def test_load_result_rejects_other_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no hybridflow result here"):
        load_result(tmp_path)


def test_pymc_sampler_same_seed_and_strict(tmp_path: Path, seed_shift: int) -> None:
    spec = parse_spec({**SPEC, "drivers": SPEC["drivers"][:1], "baseline": {"fourier_order": 0}})
    kw: dict[str, Any] = {
        "sampling": Sampling(draws=15, tune=15, chains=2, sampler="pymc"),
        "log_likelihood": False,
    }
    panel, events = make_panel(), make_events()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ConvergenceError, match="failed the convergence gate"):
            fit_spec(spec, panel, events, seed=3 + seed_shift, strict=True, out=tmp_path / "strict", **kw)
        # strict raises after writing, so the failed fit can be inspected.
        first = load_result(tmp_path / "strict", warn=False)
        second = fit_spec(spec, panel, events, seed=3 + seed_shift, **kw)
    assert first.idata.posterior.attrs["sampler"] == "pymc"
    np.testing.assert_array_equal(
        first.idata.posterior["effect"].values, second.idata.posterior["effect"].values
    )


def test_unknown_sampler() -> None:
    with pytest.raises(ValueError, match="unknown sampler 'stan'"):
        fit_spec(parse_spec(SPEC), make_panel(), make_events(), sampling=Sampling(sampler="stan"))  # type: ignore[arg-type]
