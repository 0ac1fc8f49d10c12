"""Lag kernels: normalisation, numpy/pytensor agreement, priors, convolution."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest

from hybridflow.design.kernels import (
    KERNELS,
    DelayedPeakKernel,
    FiniteDistributedLagKernel,
    GeometricKernel,
    ImmediateKernel,
    LagKernel,
    convolve,
    convolve_numpy,
    make_kernel,
)
from hybridflow.errors import SpecError

ALL_KERNELS: list[LagKernel] = [
    ImmediateKernel(),
    ImmediateKernel(max_lag=3),
    GeometricKernel(max_lag=6),
    DelayedPeakKernel(max_lag=9, shape="gamma"),
    DelayedPeakKernel(max_lag=9, shape="weibull"),
    FiniteDistributedLagKernel(max_lag=6, smoothing=0.5),
]


def random_params(kernel: LagKernel, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Parameters with a leading batch dim of size n, spanning the valid range."""
    if isinstance(kernel, GeometricKernel):
        return {"decay": rng.uniform(0, 1, n)}
    if isinstance(kernel, DelayedPeakKernel):
        return {
            "peak": rng.uniform(0, kernel.max_lag, n),
            "spread": rng.lognormal(np.log(2), 1.0, n),
        }
    if isinstance(kernel, FiniteDistributedLagKernel):
        return {"log_weights": rng.normal(0, 3, (n, kernel.n_lags))}
    return {}


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=repr)
def test_numpy_weights_are_a_distribution(kernel: LagKernel) -> None:
    rng = np.random.default_rng(0)
    params = random_params(kernel, rng, 200)
    w = kernel.weights_numpy(**params)
    expected_shape = (200, kernel.n_lags) if params else (kernel.n_lags,)
    assert w.shape == expected_shape
    assert np.all(w >= 0)
    assert np.all(np.isfinite(w))
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, atol=1e-12)


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=repr)
def test_pytensor_weights_match_numpy(kernel: LagKernel) -> None:
    rng = np.random.default_rng(1)
    params = random_params(kernel, rng, 25)
    w_np = kernel.weights_numpy(**params)
    w_pt = kernel.weights(params)
    assert w_pt.type.shape[-1] == kernel.n_lags  # static lag length, needed by convolve
    np.testing.assert_allclose(w_pt.eval(), w_np, rtol=1e-10, atol=1e-12)
    # Scalar parameters give a plain (lag,) vector.
    scalar = {k: v[0] for k, v in params.items()}
    np.testing.assert_allclose(
        kernel.weights(scalar).eval(), kernel.weights_numpy(**scalar), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("kernel", [k for k in ALL_KERNELS if k.param_names], ids=repr)
def test_weights_are_differentiable(kernel: LagKernel) -> None:
    rng = np.random.default_rng(2)
    values = {k: v[0] for k, v in random_params(kernel, rng, 1).items()}
    inputs = {k: pt.as_tensor_variable(np.asarray(v)).type() for k, v in values.items()}
    mean_lag = (kernel.weights(inputs) * np.arange(kernel.n_lags)).sum()
    grads = pytensor.grad(mean_lag, list(inputs.values()))
    f = pytensor.function(list(inputs.values()), grads)
    out = f(*[np.asarray(v) for v in values.values()])
    assert all(np.all(np.isfinite(g)) for g in out)
    assert any(np.any(np.abs(g) > 0) for g in out)


# --------------------------------------------------------------------------- min_lag

MIN_LAG_KERNELS: list[LagKernel] = [
    ImmediateKernel(max_lag=3, min_lag=1),
    GeometricKernel(max_lag=6, min_lag=1),
    GeometricKernel(max_lag=6, min_lag=2),
    DelayedPeakKernel(max_lag=9, min_lag=1),
    DelayedPeakKernel(max_lag=9, shape="weibull", min_lag=3),
    FiniteDistributedLagKernel(max_lag=6, min_lag=1),
]


@pytest.mark.parametrize("kernel", MIN_LAG_KERNELS, ids=repr)
def test_min_lag_zeroes_early_lags_and_renormalises(kernel: LagKernel) -> None:
    rng = np.random.default_rng(3)
    params = random_params(kernel, rng, 50)
    w = kernel.weights_numpy(**params)
    assert np.all(w[..., : kernel.min_lag] == 0)
    assert np.all(w[..., kernel.min_lag :] >= 0)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(kernel.weights(params).eval(), w, rtol=1e-10, atol=1e-12)
    # The lags it keeps are in the same proportions as without min_lag.
    full = make_kernel(kernel.name, **{**kernel.options, "min_lag": 0}).weights_numpy(**params)
    kept = full[..., kernel.min_lag :]
    if kernel.param_names:
        np.testing.assert_allclose(
            w[..., kernel.min_lag :], kept / kept.sum(axis=-1, keepdims=True), rtol=1e-10
        )
    # The options rebuild the kernel, min_lag included.
    assert make_kernel(kernel.name, **kernel.options).min_lag == kernel.min_lag


def test_geometric_min_lag_one_is_the_shifted_kernel() -> None:
    shifted = GeometricKernel(max_lag=5, min_lag=1).weights_numpy(decay=0.6)
    plain = GeometricKernel(max_lag=4).weights_numpy(decay=0.6)
    np.testing.assert_allclose(shifted, np.concatenate([[0.0], plain]), rtol=1e-12)
    assert ImmediateKernel(max_lag=2, min_lag=2).weights_numpy().tolist() == [0, 0, 1]


def test_delayed_peak_prior_respects_min_lag() -> None:
    kernel = DelayedPeakKernel(max_lag=6, min_lag=2)
    assert "lower=2" in kernel.describe_priors()["peak"]
    with pm.Model():
        peaks = pm.draw(kernel.create_params("d")["peak"], draws=200, random_seed=1)
    assert peaks.min() >= 2


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_lag": 2, "min_lag": 3}, r"min_lag \(3\) must be <= max_lag \(2\)"),
        ({"max_lag": 2, "min_lag": -1}, "min_lag must be >= 0"),
        ({"max_lag": 2, "min_lag": 0.5}, "min_lag must be an integer"),
    ],
)
def test_min_lag_is_validated(options: dict, match: str) -> None:
    for name in KERNELS:
        with pytest.raises(SpecError, match=match):
            make_kernel(name, **options)


def test_geometric_decay_zero_is_immediate() -> None:
    k = GeometricKernel(max_lag=5)
    expected = np.array([1.0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(k.weights_numpy(decay=0.0), expected)
    np.testing.assert_array_equal(k.weights({"decay": 0.0}).eval(), expected)
    np.testing.assert_array_equal(ImmediateKernel(max_lag=5).weights_numpy(), expected)


def test_geometric_weights_are_the_normalised_powers() -> None:
    w = GeometricKernel(max_lag=3).weights_numpy(decay=0.5)
    np.testing.assert_allclose(w, np.array([8, 4, 2, 1]) / 15)


@pytest.mark.parametrize("shape", ["gamma", "weibull"])
@pytest.mark.parametrize("spread", [0.3, 1.0, 2.5, 6.0])
def test_delayed_mode_is_at_the_requested_peak(shape: str, spread: float) -> None:
    k = DelayedPeakKernel(max_lag=9, shape=shape)
    peaks = np.arange(10.0)
    w = k.weights_numpy(peak=peaks, spread=np.full(10, spread))
    np.testing.assert_array_equal(w.argmax(axis=-1), peaks.astype(int))


def test_delayed_peak_zero_puts_most_weight_first_and_fades() -> None:
    w = DelayedPeakKernel(max_lag=6).weights_numpy(peak=0.0, spread=1.0)
    assert w[0] > 0.4
    assert np.all(np.diff(w) < 0)


def test_delayed_gamma_spread_is_the_sd() -> None:
    # With a long support nothing is truncated, so the discrete sd matches the gamma's sd.
    k = DelayedPeakKernel(max_lag=80, shape="gamma")
    w = k.weights_numpy(peak=20.0, spread=4.0)
    lags = np.arange(81)
    mean = (w * lags).sum()
    sd = np.sqrt((w * (lags - mean) ** 2).sum())
    assert sd == pytest.approx(4.0, rel=0.03)


def test_delayed_larger_spread_is_wider() -> None:
    k = DelayedPeakKernel(max_lag=12, shape="weibull")
    lags = np.arange(13)
    w = k.weights_numpy(peak=np.array([5.0, 5.0]), spread=np.array([1.0, 3.0]))
    mean = (w * lags).sum(-1, keepdims=True)
    sd = np.sqrt((w * (lags - mean) ** 2).sum(-1))
    assert sd[1] > 2 * sd[0]


def test_fdl_fixed_weights_roundtrip() -> None:
    k = FiniteDistributedLagKernel(max_lag=3).fixed(weights=[2.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(k.weights_numpy(), [0.5, 0.25, 0.25, 0.0])
    np.testing.assert_allclose(k.weights(k.create_params("x")).eval(), [0.5, 0.25, 0.25, 0.0])


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=repr)
def test_sample_prior_dims_coords_and_reproducibility(kernel: LagKernel) -> None:
    a = kernel.sample_prior(draws=40, seed=3)
    b = kernel.sample_prior(draws=40, seed=3)
    assert a.dims == ("draw", "lag")
    assert a.shape == (40, kernel.n_lags)
    np.testing.assert_array_equal(a["lag"].values, np.arange(kernel.n_lags))
    np.testing.assert_array_equal(a["draw"].values, np.arange(40))
    np.testing.assert_allclose(a.sum("lag").values, 1.0, atol=1e-12)
    assert np.all(a.values >= 0)
    np.testing.assert_array_equal(a.values, b.values)
    if kernel.param_names:  # learned kernels: draws differ
        assert a.std("draw").max() > 1e-3


def test_sample_prior_single_draw_keeps_draw_dim() -> None:
    a = GeometricKernel(max_lag=2).sample_prior(draws=1, seed=0)
    assert a.shape == (1, 3)


def test_prior_decay_matches_beta_2_2() -> None:
    # Prior mean weight at lag 0 is E[(1-d)/(1-d^(L+1))]; for L = 1 that is E[1/(1+d)].
    draws = GeometricKernel(max_lag=1).sample_prior(draws=4000, seed=4)
    rng = np.random.default_rng(0)
    d = rng.beta(2, 2, 200_000)
    assert float(draws.isel(lag=0).mean()) == pytest.approx(np.mean(1 / (1 + d)), abs=0.01)


def test_create_params_names_variables_with_prefix() -> None:
    with pm.Model() as model:
        g = GeometricKernel().create_params("eu_sanctions")
        d = DelayedPeakKernel().create_params("losses")
        f = FiniteDistributedLagKernel(max_lag=4).create_params("strikes")
        i = ImmediateKernel().create_params("war")
    assert set(g) == {"decay"}
    assert set(d) == {"peak", "spread"}
    assert set(f) == {"log_weights"}
    assert i == {}
    names = set(model.named_vars)
    assert {"eu_sanctions_decay", "losses_peak", "losses_spread"} <= names
    assert {"strikes_steps", "strikes_log_weights"} <= names
    assert model["strikes_steps"].type.shape == (4,)
    assert not any(n.startswith("war") for n in names)
    # At the initial point (steps = 0) the FDL weights are even; the delayed weights in the
    # model graph equal the numpy weights at the same parameter values.
    outs = model.replace_rvs_by_values(
        [FiniteDistributedLagKernel(4).weights(f), DelayedPeakKernel().weights(d), *d.values()]
    )
    fn = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")
    fdl_w, delayed_w, peak, spread = fn(model.initial_point())
    np.testing.assert_allclose(fdl_w, np.full(5, 0.2))
    np.testing.assert_allclose(
        delayed_w, DelayedPeakKernel().weights_numpy(peak=peak, spread=spread), rtol=1e-10
    )
    assert 0 < peak < 9


def test_create_params_needs_a_model() -> None:
    with pytest.raises(TypeError, match="No model on context stack"):
        GeometricKernel().create_params("x")


def test_fixed_kernel_adds_nothing_to_the_model() -> None:
    k = DelayedPeakKernel(max_lag=9).fixed(peak=3, spread=1.5)
    assert k.is_fixed
    with pm.Model() as model:
        params = k.create_params("losses")
    assert model.named_vars == {}
    np.testing.assert_allclose(
        k.weights(params).eval(), DelayedPeakKernel(max_lag=9).weights_numpy(peak=3, spread=1.5)
    )
    # The original kernel is untouched.
    assert not DelayedPeakKernel(max_lag=9).is_fixed


@pytest.mark.parametrize(
    ("kernel", "params", "match"),
    [
        (GeometricKernel(), {"decay": 1.5}, "decay must be in"),
        (GeometricKernel(), {"rate": 0.5}, "unknown parameters"),
        (GeometricKernel(), {}, "missing"),
        (DelayedPeakKernel(max_lag=9), {"peak": 10, "spread": 1}, r"peak must be in \[0, 9\]"),
        (DelayedPeakKernel(max_lag=9), {"peak": 2, "spread": 0}, "spread must be > 0"),
        (FiniteDistributedLagKernel(max_lag=2), {"weights": [1, 2]}, "must be 3 non-negative"),
        (FiniteDistributedLagKernel(max_lag=2), {"weights": [0, 0, 0]}, "not all be zero"),
    ],
)
def test_fixed_rejects_bad_params(kernel: LagKernel, params: dict, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        kernel.fixed(**params)


def test_registry_and_make_kernel() -> None:
    assert set(KERNELS) == {"geometric", "delayed", "fdl", "immediate"}
    for name, cls in KERNELS.items():
        k = make_kernel(name)
        assert isinstance(k, cls)
        assert k.name == name
        rebuilt = make_kernel(k.name, **k.options)
        assert rebuilt.options == k.options
    d = make_kernel("delayed", max_lag=4, shape="weibull")
    assert isinstance(d, DelayedPeakKernel)
    assert (d.max_lag, d.shape) == (4, "weibull")


def test_unknown_kernel_lists_valid_names() -> None:
    with pytest.raises(
        SpecError,
        match="unknown lag kernel 'gaussian'; valid kernels: delayed, fdl, geometric, immediate",
    ):
        make_kernel("gaussian")


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("geometric", {"lags": 3}, r"invalid options for lag kernel 'geometric'.*max_lag"),
        ("geometric", {"max_lag": -1}, "max_lag must be >= 0"),
        ("geometric", {"max_lag": 2.5}, "max_lag must be an integer"),
        ("delayed", {"shape": "lognormal"}, "shape must be 'gamma' or 'weibull'"),
        ("delayed", {"max_lag": 0}, "max_lag >= 1"),
        ("fdl", {"smoothing": 0}, "smoothing must be a positive number"),
        ("geometric", {"decay_prior": (2, -1)}, "decay_prior must be a pair"),
    ],
)
def test_make_kernel_rejects_bad_options(name: str, options: dict, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        make_kernel(name, **options)


# -- convolution ---------------------------------------------------------------------------
def test_convolve_unit_pulse_returns_the_kernel() -> None:
    w = DelayedPeakKernel(max_lag=4).weights_numpy(peak=2.0, spread=1.0)
    x = np.zeros(8)
    x[0] = 1.0
    np.testing.assert_allclose(convolve_numpy(x, w)[:5], w)
    np.testing.assert_allclose(convolve(x, w).eval()[:5], w)
    # A pulse at t=3 gives the kernel shifted by 3, cut at the end of the series.
    x = np.zeros(6)
    x[3] = 2.0
    expected = np.r_[0, 0, 0, 2 * w[:3]]
    np.testing.assert_allclose(convolve_numpy(x, w), expected)
    np.testing.assert_allclose(convolve(x, w).eval(), expected)


def test_convolve_matches_numpy_on_random_input_with_columns() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(15, 3))
    w = GeometricKernel(max_lag=4).weights_numpy(decay=0.6)
    expected = np.stack([np.convolve(x[:, j], w)[:15] for j in range(3)], axis=1)
    np.testing.assert_allclose(convolve_numpy(x, w), expected)
    np.testing.assert_allclose(convolve(x, w).eval(), expected)
    # One kernel per column: w of shape (lag, column).
    wc = GeometricKernel(max_lag=4).weights_numpy(decay=np.array([0.0, 0.5, 0.9])).T
    expected_c = np.stack([np.convolve(x[:, j], wc[:, j])[:15] for j in range(3)], axis=1)
    np.testing.assert_allclose(convolve_numpy(x, wc), expected_c)
    np.testing.assert_allclose(convolve(x, pt.as_tensor(wc)).eval(), expected_c)
    np.testing.assert_allclose(expected_c[:, 0], x[:, 0])  # decay 0 column: no lag


def test_convolve_history_rows_feed_lags_and_are_dropped() -> None:
    w = np.array([0.5, 0.3, 0.2])
    x = np.array([1.0, 0, 0, 0, 0])  # an event in the first pre-sample month
    y = convolve_numpy(x, w, history=2)
    np.testing.assert_allclose(y, [0.2, 0, 0])
    np.testing.assert_allclose(convolve(x, w, history=2).eval(), [0.2, 0, 0])
    with pytest.raises(ValueError, match="history=6 is longer than x"):
        convolve_numpy(x, w, history=6)


def test_convolve_lag_longer_than_series_and_integer_input() -> None:
    w = np.array([0.4, 0.3, 0.2, 0.1])
    x = np.array([1, 1])
    np.testing.assert_allclose(convolve_numpy(x, w), [0.4, 0.7])
    np.testing.assert_allclose(convolve(x, w).eval(), [0.4, 0.7])


def test_convolve_with_learned_weights_in_a_model() -> None:
    kernel = GeometricKernel(max_lag=3)
    x = np.eye(6)[:, :1]
    with pm.Model() as model:
        y = convolve(x, kernel.weights(kernel.create_params("eu"))[:, None])
    (y_values,) = model.replace_rvs_by_values([y])
    fn = model.compile_fn(y_values, inputs=model.value_vars, on_unused_input="ignore")
    # Initial point of Beta(2,2) decay is 0.5.
    np.testing.assert_allclose(
        fn(model.initial_point())[:4, 0], kernel.weights_numpy(decay=0.5), rtol=1e-6
    )


def test_convolve_needs_static_lag_length() -> None:
    w = pt.vector("w")
    with pytest.raises(ValueError, match="lag length of w known statically"):
        convolve(np.ones(4), w)
