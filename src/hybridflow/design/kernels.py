"""Lag kernels: how an exposure in one month spreads its effect over later months.

A kernel is a vector of non-negative weights ``w[lag]`` over ``lag = 0..max_lag`` months
that **sums to one**. A driver's exposure ``x[month]`` enters the model as the causal
convolution ``(w * x)[t] = sum_l w[l] * x[t - l]``, so the driver's coefficient is its
*cumulative* effect over the whole lag window, and the kernel only says *when* it arrives.

Every kernel offers the same math three ways:

- :meth:`LagKernel.create_params` makes its priors inside an active ``pm.Model``;
- :meth:`LagKernel.weights` turns parameters into a differentiable pytensor vector;
- :meth:`LagKernel.weights_numpy` does the same in numpy (broadcasting over leading
  parameter dims), for analysis, plotting and tests.

Every kernel takes ``min_lag`` (default 0): weights below it are zero and the rest are
renormalised, so a driver can be made to act from the month after its exposure on
(``min_lag = 1``: an event late in a month cannot move that month's count, and a
same-month effect cannot be told apart from a same-month confounder).

Kernels (registry :data:`KERNELS`, built by name with :func:`make_kernel`):

- ``immediate`` (:class:`ImmediateKernel`): no parameters, all weight on lag 0 (no-lag
  baseline);
- ``geometric`` (:class:`GeometricKernel`): ``decay``, ``w_l`` proportional to ``decay**l``;
- ``delayed`` (:class:`DelayedPeakKernel`): ``peak`` (month of the largest weight) and
  ``spread`` (months), a discretised gamma or Weibull shape;
- ``fdl`` (:class:`FiniteDistributedLagKernel`): ``log_weights``, free weights with a
  random-walk smoothing prior.

:meth:`LagKernel.fixed` gives a kernel with known (not learned) parameters, whose
``create_params`` returns constants; use it for cross-checks against classical regressions
with a known kernel.

Pre-sample history
------------------
``convolve`` puts zeros before the first row of ``x``. If the model window starts in, say,
Feb 2022 and the exposure is built only from Feb 2022, a sanctions round adopted in Jan 2022
contributes nothing to Feb-Jun 2022 although its lagged effect should reach them. Build the
exposure over the model months **plus** ``max_lag`` earlier months
(:func:`hybridflow.design.drivers.with_history`) and pass ``history=max_lag``: those leading
rows feed the lags of later months and are dropped from the result.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import xarray as xr
from pytensor.tensor.variable import TensorVariable

from hybridflow.errors import SpecError

__all__ = [
    "KERNELS",
    "KERNEL_NAMES",
    "DelayedPeakKernel",
    "FiniteDistributedLagKernel",
    "GeometricKernel",
    "ImmediateKernel",
    "LagKernel",
    "convolve",
    "convolve_numpy",
    "make_kernel",
]

# Anything pytensor can turn into a tensor: python floats, numpy arrays, tensors.
TensorLike = Any

# Weibull shape from the spread: k = 1 + _WEIBULL_C * mode / spread. With 0.8 the sd of the
# continuous Weibull is within a factor 0.8-1.4 of ``spread`` for mode/spread in 0.05-20
# (checked numerically); the exact inverse needs a root finder, not worth it in the graph.
_WEIBULL_C = 0.8


def _check_max_lag(max_lag: object, *, minimum: int = 0, what: str = "max_lag") -> int:
    if isinstance(max_lag, bool) or not isinstance(max_lag, int | np.integer):
        raise SpecError(f"{what} must be an integer number of months, got {max_lag!r}")
    if max_lag < minimum:
        raise SpecError(f"{what} must be >= {minimum}, got {max_lag}")
    return int(max_lag)


class LagKernel(ABC):
    """Base class: a normalised lag kernel over ``lag = 0..max_lag``.

    Subclasses define :attr:`param_names`, the priors (:meth:`_create_priors`), and the
    weight math twice (pytensor :meth:`_weights_pt`, numpy :meth:`_weights_np`).

    Attributes
    ----------
    name
        Registry name (``"geometric"``, ``"delayed"``, ``"fdl"``, ``"immediate"``).
    max_lag
        Longest lag in months; the kernel has ``max_lag + 1`` weights.
    min_lag
        Shortest lag with weight (default 0); lags below it weigh zero and the others are
        renormalised to sum to one. ``min_lag <= max_lag``.
    """

    name: ClassVar[str] = ""

    def __init__(self, max_lag: int, min_lag: int = 0) -> None:
        self.max_lag = _check_max_lag(max_lag)
        self.min_lag = _check_max_lag(min_lag, what="min_lag")
        if self.min_lag > self.max_lag:
            raise SpecError(f"min_lag ({self.min_lag}) must be <= max_lag ({self.max_lag})")
        self._fixed: dict[str, np.ndarray] | None = None

    # -- description ---------------------------------------------------------------------
    @property
    @abstractmethod
    def param_names(self) -> tuple[str, ...]:
        """Names of the parameters :meth:`weights` needs (unprefixed)."""

    @property
    def options(self) -> dict[str, Any]:
        """Constructor options, so ``make_kernel(k.name, **k.options)`` rebuilds ``k``."""
        return self._lag_options()

    def _lag_options(self) -> dict[str, Any]:
        """``max_lag``, and ``min_lag`` where it is not the default 0."""
        return {"max_lag": self.max_lag, **({"min_lag": self.min_lag} if self.min_lag else {})}

    @property
    def support(self) -> np.ndarray:
        """``(max_lag + 1,)`` 0/1 mask of the lags that may carry weight (``>= min_lag``)."""
        return (self.lags >= self.min_lag).astype(float)

    @property
    def n_lags(self) -> int:
        """Number of weights, ``max_lag + 1``."""
        return self.max_lag + 1

    @property
    def lags(self) -> np.ndarray:
        """``np.arange(max_lag + 1)``: the ``lag`` coordinate."""
        return np.arange(self.n_lags)

    @property
    def is_fixed(self) -> bool:
        """True for kernels made by :meth:`fixed` (parameters known, nothing learned)."""
        return self._fixed is not None

    @property
    def fixed_params(self) -> dict[str, np.ndarray] | None:
        """The fixed parameter values, or ``None`` for a learned kernel."""
        return None if self._fixed is None else dict(self._fixed)

    def describe_priors(self) -> dict[str, str]:
        """One line per created variable describing its prior (for reports and docs)."""
        return {}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        fixed = ""
        if self._fixed:
            vals = ", ".join(f"{k}={np.round(v, 4).tolist()!r}" for k, v in self._fixed.items())
            fixed = f".fixed({vals})"
        return f"{type(self).__name__}({opts}){fixed}"

    # -- parameters ----------------------------------------------------------------------
    def create_params(self, prefix: str) -> dict[str, TensorVariable]:
        """Create this kernel's parameters inside the active ``pm.Model``.

        Random variables are named ``f"{prefix}_{param}"`` (e.g. ``eu_sanctions_decay``);
        helper variables use the same prefix. For a :meth:`fixed` kernel nothing is added
        to the model and the values come back as constants.

        Parameters
        ----------
        prefix
            Name prefix, usually the driver name.

        Returns
        -------
        dict
            ``{param_name: tensor}`` for every name in :attr:`param_names` (unprefixed
            keys), ready for :meth:`weights`.
        """
        if self._fixed is not None:
            return {
                k: pt.as_tensor_variable(np.asarray(v, dtype=pytensor.config.floatX))
                for k, v in self._fixed.items()
            }
        if not prefix:
            raise SpecError("kernel parameter prefix must be a non-empty string")
        pm.modelcontext(None)  # a clear error if no model is active
        return self._create_priors(prefix)

    @abstractmethod
    def _create_priors(self, prefix: str) -> dict[str, TensorVariable]: ...

    def _pick(self, params: Mapping[str, Any]) -> dict[str, Any]:
        missing = [p for p in self.param_names if p not in params]
        if missing:
            raise SpecError(
                f"{type(self).__name__} needs parameters {list(self.param_names)}; "
                f"missing {missing}"
            )
        return {p: params[p] for p in self.param_names}

    # -- weights -------------------------------------------------------------------------
    def weights(self, params: Mapping[str, TensorLike]) -> TensorVariable:
        """Kernel weights as a pytensor tensor (differentiable in the parameters).

        Parameters
        ----------
        params
            ``{param_name: value}`` (e.g. the output of :meth:`create_params`). Values may
            have leading dims (e.g. one decay per driver); they broadcast.

        Returns
        -------
        TensorVariable
            Shape ``(..., max_lag + 1)``, non-negative, summing to one over the last axis;
            ``(max_lag + 1,)`` for scalar parameters.
        """
        picked = {k: pt.as_tensor_variable(v) for k, v in self._pick(params).items()}
        w = self._weights_pt(**picked)
        if self.min_lag:
            w = w * self.support.astype(pytensor.config.floatX)
            w = w / w.sum(axis=-1, keepdims=True)
        # A static lag length lets convolve() unroll the lags without extra arguments.
        return pt.specify_shape(w, (None,) * (w.ndim - 1) + (self.n_lags,))

    def weights_numpy(self, **params: Any) -> np.ndarray:
        """Kernel weights in numpy, same math as :meth:`weights`.

        With no arguments, a :meth:`fixed` kernel uses its fixed values.

        Returns
        -------
        numpy.ndarray
            Shape ``(..., max_lag + 1)`` where ``...`` is the broadcast shape of the
            parameters' leading dims.
        """
        if not params and self._fixed is not None:
            params = dict(self._fixed)
        picked = {k: np.asarray(v, dtype=float) for k, v in self._pick(params).items()}
        w = self._weights_np(**picked)
        if self.min_lag:
            w = w * self.support
            w = w / w.sum(axis=-1, keepdims=True)
        return w

    @abstractmethod
    def _weights_pt(self, **params: TensorVariable) -> TensorVariable: ...

    @abstractmethod
    def _weights_np(self, **params: np.ndarray) -> np.ndarray: ...

    def sample_prior(
        self, draws: int = 500, seed: int | np.random.Generator | None = None
    ) -> xr.DataArray:
        """Draw kernel weights from the prior (constant draws for a fixed kernel).

        Returns
        -------
        xarray.DataArray
            Dims ``("draw", "lag")``, coords ``draw = 0..draws-1`` and
            ``lag = 0..max_lag``; attrs ``kernel`` (the repr).
        """
        if draws < 1:
            raise ValueError(f"draws must be >= 1, got {draws}")
        with pm.Model():
            w = self.weights(self.create_params("prior"))
            values = pm.draw(w, draws=draws, random_seed=seed)
        values = np.asarray(values, dtype=float).reshape(draws, self.n_lags)
        return xr.DataArray(
            values,
            dims=("draw", "lag"),
            coords={"draw": np.arange(draws), "lag": self.lags},
            name="weight",
            attrs={"kernel": repr(self)},
        )

    # -- fixed variants ------------------------------------------------------------------
    def fixed(self, **params: Any) -> LagKernel:
        """A copy of this kernel with known parameters (nothing learned).

        Its :meth:`create_params` returns constants and adds nothing to the model.

        Raises
        ------
        SpecError
            Unknown or missing parameter names, or values outside the valid range.
        """
        clone = make_kernel(self.name, **self.options)
        clone._fixed = self._validate_fixed(params)
        return clone

    def _validate_fixed(self, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        unknown = sorted(set(params) - set(self.param_names))
        if unknown:
            raise SpecError(
                f"{type(self).__name__}.fixed got unknown parameters {unknown}; "
                f"valid: {list(self.param_names)}"
            )
        picked = self._pick(params)
        out: dict[str, np.ndarray] = {}
        for k, v in picked.items():
            arr = np.asarray(v, dtype=float)
            if not np.all(np.isfinite(arr)):
                raise SpecError(f"{type(self).__name__}.fixed: {k} must be finite, got {v!r}")
            out[k] = arr
        return out


class ImmediateKernel(LagKernel):
    """All weight on lag ``min_lag`` (default 0): the driver acts only in its own month,
    or only ``min_lag`` months later (no-lag baseline).

    ``max_lag`` may be larger to share a support with other kernels; the extra weights are 0.
    """

    name = "immediate"

    def __init__(self, max_lag: int = 0, min_lag: int = 0) -> None:
        super().__init__(max_lag, min_lag)
        self._fixed = {}  # nothing to learn

    @property
    def param_names(self) -> tuple[str, ...]:
        return ()

    def _create_priors(self, prefix: str) -> dict[str, TensorVariable]:
        return {}

    def _weights_pt(self, **params: TensorVariable) -> TensorVariable:
        return pt.as_tensor_variable(self._weights_np().astype(pytensor.config.floatX))

    def _weights_np(self, **params: np.ndarray) -> np.ndarray:
        w = np.zeros(self.n_lags)
        w[self.min_lag] = 1.0
        return w


class GeometricKernel(LagKernel):
    """Geometric decay: ``w_l`` proportional to ``decay**l``, normalised over ``0..max_lag``.

    ``decay = 0`` is the immediate kernel; ``decay -> 1`` spreads the effect evenly.

    Prior: ``decay ~ Beta(a, b)``, default ``Beta(2, 2)`` (mean 0.5, i.e. a half-life of one
    month; 95% between 0.09 and 0.91), weakly informative: it only keeps the decay away
    from the degenerate ends.

    Parameters
    ----------
    max_lag
        Longest lag in months (default 6).
    decay_prior
        ``(a, b)`` of the Beta prior on ``decay``.
    min_lag
        With ``min_lag = m`` the weights are ``decay**(l - m)`` normalised over ``m..max_lag``.
    """

    name = "geometric"

    def __init__(
        self, max_lag: int = 6, decay_prior: tuple[float, float] = (2.0, 2.0), min_lag: int = 0
    ) -> None:
        super().__init__(max_lag, min_lag)
        a, b = _positive_pair(decay_prior, "decay_prior")
        self.decay_prior = (a, b)

    @property
    def param_names(self) -> tuple[str, ...]:
        return ("decay",)

    @property
    def options(self) -> dict[str, Any]:
        return {**self._lag_options(), "decay_prior": self.decay_prior}

    def describe_priors(self) -> dict[str, str]:
        a, b = self.decay_prior
        return {"decay": f"Beta({a:g}, {b:g}): w_l proportional to decay**l"}

    def _create_priors(self, prefix: str) -> dict[str, TensorVariable]:
        a, b = self.decay_prior
        return {"decay": pm.Beta(f"{prefix}_decay", alpha=a, beta=b)}

    def _weights_pt(self, **params: TensorVariable) -> TensorVariable:
        decay = params["decay"]
        raw = decay[..., None] ** pt.as_tensor_variable(self.lags.astype(pytensor.config.floatX))
        return raw / raw.sum(axis=-1, keepdims=True)

    def _weights_np(self, **params: np.ndarray) -> np.ndarray:
        raw = params["decay"][..., None] ** self.lags.astype(float)
        return raw / raw.sum(axis=-1, keepdims=True)

    def _validate_fixed(self, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        out = super()._validate_fixed(params)
        if np.any(out["decay"] < 0) or np.any(out["decay"] > 1):
            raise SpecError(f"GeometricKernel.fixed: decay must be in [0, 1], got {params}")
        return out


class DelayedPeakKernel(LagKernel):
    """A unimodal kernel whose largest weight sits at a learned ``peak`` month.

    The weights are a continuous shape (gamma or Weibull density) **evaluated at the bin
    centres** ``x = l + 0.5`` and normalised over ``0..max_lag``. Lag ``l`` covers months
    ``[l, l + 1)`` after exposure, so the continuous mode is put at ``peak + 0.5``: for an
    integer ``peak`` the largest weight is exactly at lag ``peak``; ``peak = 0`` (an
    immediate effect that then fades) is allowed.

    Parameters of the shape (both continuous, so NUTS can move them):

    - ``peak`` in ``[0, max_lag]``: months from exposure to the largest weight;
    - ``spread`` > 0, in months: for ``shape="gamma"`` the standard deviation of the
      continuous gamma (shape ``k`` and scale ``theta`` solved in closed form from mode and
      sd); for ``shape="weibull"`` the Weibull shape is ``k = 1 + 0.8 * (peak + 0.5) /
      spread``, which makes ``spread`` the sd to within a factor 0.8-1.4.

    Priors (weakly informative):

    - ``peak ~ TruncatedNormal(max_lag / 3, max_lag / 2, lower=min_lag, upper=max_lag)``:
      every month in the window is plausible, shorter delays mildly favoured;
    - ``spread ~ LogNormal(log(max(1, max_lag / 4)), 0.5)``: median ``max_lag / 4``
      months, which keeps the shape away from a single spike or a flat line.

    Parameters
    ----------
    max_lag
        Longest lag in months (default 9; at least 1).
    shape
        ``"gamma"`` (default) or ``"weibull"``.
    """

    name = "delayed"

    def __init__(self, max_lag: int = 9, shape: str = "gamma", min_lag: int = 0) -> None:
        super().__init__(max_lag, min_lag)
        if self.max_lag < 1:
            raise SpecError("DelayedPeakKernel needs max_lag >= 1 (use 'immediate' for 0)")
        if shape not in ("gamma", "weibull"):
            raise SpecError(f"DelayedPeakKernel shape must be 'gamma' or 'weibull', got {shape!r}")
        self.shape = shape

    @property
    def param_names(self) -> tuple[str, ...]:
        return ("peak", "spread")

    @property
    def options(self) -> dict[str, Any]:
        return {**self._lag_options(), "shape": self.shape}

    @property
    def _spread_median(self) -> float:
        return max(1.0, self.max_lag / 4.0)

    def describe_priors(self) -> dict[str, str]:
        L, m = self.max_lag, self.min_lag
        return {
            "peak": f"TruncatedNormal({L / 3:.3g}, {L / 2:.3g}, lower={m}, upper={L})",
            "spread": f"LogNormal(log({self._spread_median:.3g}), 0.5), months",
        }

    def _create_priors(self, prefix: str) -> dict[str, TensorVariable]:
        L = float(self.max_lag)
        # The peak lies where the kernel has support (min_lag .. max_lag).
        peak = pm.TruncatedNormal(
            f"{prefix}_peak", mu=L / 3, sigma=L / 2, lower=float(self.min_lag), upper=L
        )
        spread = pm.LogNormal(f"{prefix}_spread", mu=math.log(self._spread_median), sigma=0.5)
        return {"peak": peak, "spread": spread}

    def _log_shape(self, xp: Any, peak: Any, spread: Any, x: Any) -> Any:
        """Unnormalised log density at bin centres ``x``; ``xp`` is ``np`` or ``pt``."""
        mode = peak[..., None] + 0.5
        s = spread[..., None]
        if self.shape == "gamma":
            # Gamma(k, theta): mode (k-1) theta, sd sqrt(k) theta. With u = sqrt(k):
            # u**2 - (mode/s) u - 1 = 0, so u = (r + sqrt(r**2 + 4)) / 2 > 1.
            r = mode / s
            u = (r + xp.sqrt(r**2 + 4.0)) / 2.0
            k = u**2
            theta = s / u
            return (k - 1.0) * xp.log(x) - x / theta
        k = 1.0 + _WEIBULL_C * mode / s
        log_lam = xp.log(mode) + xp.log(k / (k - 1.0)) / k  # scale with mode at `mode`
        return (k - 1.0) * xp.log(x) - xp.exp(k * (xp.log(x) - log_lam))

    def _weights_pt(self, **params: TensorVariable) -> TensorVariable:
        x = pt.as_tensor_variable((self.lags + 0.5).astype(pytensor.config.floatX))
        logw = self._log_shape(pt, params["peak"], params["spread"], x)
        return pt.special.softmax(logw, axis=-1)

    def _weights_np(self, **params: np.ndarray) -> np.ndarray:
        logw = self._log_shape(np, params["peak"], params["spread"], self.lags + 0.5)
        logw = logw - logw.max(axis=-1, keepdims=True)
        w = np.exp(logw)
        return w / w.sum(axis=-1, keepdims=True)

    def _validate_fixed(self, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        out = super()._validate_fixed(params)
        if np.any(out["peak"] < 0) or np.any(out["peak"] > self.max_lag):
            raise SpecError(
                f"DelayedPeakKernel.fixed: peak must be in [0, {self.max_lag}], "
                f"got {params['peak']!r}"
            )
        if np.any(out["spread"] <= 0):
            raise SpecError(
                f"DelayedPeakKernel.fixed: spread must be > 0, got {params['spread']!r}"
            )
        return out


class FiniteDistributedLagKernel(LagKernel):
    """Unstructured lag weights (finite distributed lag) with a smoothing prior.

    ``w = softmax(log_weights)``. The prior is a Gaussian random walk on the log-weights,
    written non-centred: ``log_weights[0] = 0`` (softmax ignores a common shift, so one
    value is pinned for identifiability) and ``log_weights[l] = log_weights[l-1] +
    smoothing * steps[l]`` with ``steps ~ Normal(0, 1)``. A small ``smoothing`` keeps
    neighbouring lags alike (weights near even); a large one lets them differ freely.

    Variables created: ``{prefix}_steps`` (shape ``(max_lag,)``) and the deterministic
    ``{prefix}_log_weights`` (shape ``(max_lag + 1,)``).

    Parameters
    ----------
    max_lag
        Longest lag in months (default 6).
    smoothing
        Standard deviation of the random-walk step on the log-weights (default 0.5: one
        lag's weight is within a factor ``e**1 = 2.7`` of the next's with 95% probability).
    """

    name = "fdl"

    def __init__(self, max_lag: int = 6, smoothing: float = 0.5, min_lag: int = 0) -> None:
        super().__init__(max_lag, min_lag)
        if (
            isinstance(smoothing, bool)
            or not isinstance(smoothing, int | float | np.floating | np.integer)
            or not np.isfinite(smoothing)
            or smoothing <= 0
        ):
            raise SpecError(f"FDL smoothing must be a positive number, got {smoothing!r}")
        self.smoothing = float(smoothing)

    @property
    def param_names(self) -> tuple[str, ...]:
        return ("log_weights",)

    @property
    def options(self) -> dict[str, Any]:
        return {**self._lag_options(), "smoothing": self.smoothing}

    def describe_priors(self) -> dict[str, str]:
        return {
            "steps": "Normal(0, 1), shape (max_lag,)",
            "log_weights": f"[0, cumsum({self.smoothing:g} * steps)] (Gaussian random walk)",
        }

    def _create_priors(self, prefix: str) -> dict[str, TensorVariable]:
        if self.max_lag == 0:
            return {"log_weights": pt.zeros((1,), dtype=pytensor.config.floatX)}
        steps = pm.Normal(f"{prefix}_steps", mu=0.0, sigma=1.0, shape=(self.max_lag,))
        log_w = pt.concatenate(
            [pt.zeros((1,), dtype=pytensor.config.floatX), pt.cumsum(self.smoothing * steps)]
        )
        return {"log_weights": pm.Deterministic(f"{prefix}_log_weights", log_w)}

    def _weights_pt(self, **params: TensorVariable) -> TensorVariable:
        return pt.special.softmax(params["log_weights"], axis=-1)

    def _weights_np(self, **params: np.ndarray) -> np.ndarray:
        lw = params["log_weights"]
        if lw.shape[-1:] != (self.n_lags,):
            raise ValueError(
                f"log_weights must have last dim {self.n_lags} (max_lag + 1), got {lw.shape}"
            )
        lw = lw - lw.max(axis=-1, keepdims=True)
        w = np.exp(lw)
        return w / w.sum(axis=-1, keepdims=True)

    def fixed(self, **params: Any) -> LagKernel:
        """Fixed weights: pass ``log_weights=...`` or ``weights=...`` (normalised here)."""
        if "weights" in params:
            if "log_weights" in params or len(params) != 1:
                raise SpecError("FDL.fixed takes either weights= or log_weights=, alone")
            w = np.asarray(params["weights"], dtype=float)
            if w.shape != (self.n_lags,) or np.any(w < 0) or not np.isfinite(w).all():
                raise SpecError(
                    f"FDL.fixed: weights must be {self.n_lags} non-negative numbers, got {w}"
                )
            if w.sum() <= 0:
                raise SpecError("FDL.fixed: weights must not all be zero")
            with np.errstate(divide="ignore"):
                params = {"log_weights": np.log(w / w.sum())}
        return super().fixed(**params)

    def _validate_fixed(self, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        picked = self._pick(params)
        unknown = sorted(set(params) - set(self.param_names))
        if unknown:
            raise SpecError(f"FDL.fixed got unknown parameters {unknown}; valid: log_weights")
        lw = np.asarray(picked["log_weights"], dtype=float)
        # -inf is allowed: a lag with exactly zero weight.
        if lw.shape != (self.n_lags,) or np.isnan(lw).any() or np.isposinf(lw).any():
            raise SpecError(
                f"FDL.fixed: log_weights must be {self.n_lags} numbers (< +inf), got {lw}"
            )
        if np.isneginf(lw).all():
            raise SpecError("FDL.fixed: weights must not all be zero")
        return {"log_weights": lw}


def _positive_pair(value: object, what: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{what} must be a pair of positive numbers, got {value!r}") from exc
    if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
        raise SpecError(f"{what} must be a pair of positive numbers, got {value!r}")
    return a, b


KERNELS: dict[str, type[LagKernel]] = {
    "immediate": ImmediateKernel,
    "geometric": GeometricKernel,
    "delayed": DelayedPeakKernel,
    "fdl": FiniteDistributedLagKernel,
}
"""Kernel classes by registry name."""

KERNEL_NAMES: tuple[str, ...] = tuple(sorted(KERNELS))
"""The registry's names, sorted: the kernels a model spec may name."""


def make_kernel(name: str, **options: Any) -> LagKernel:
    """Build a kernel from its registry name and constructor options.

    Examples
    --------
    >>> make_kernel("geometric", max_lag=4)
    GeometricKernel(max_lag=4, decay_prior=(2.0, 2.0))

    Raises
    ------
    SpecError
        Unknown name (the message lists the valid ones), an unknown option, or an invalid
        option value.
    """
    cls = KERNELS.get(name)
    if cls is None:
        raise SpecError(f"unknown lag kernel {name!r}; valid kernels: {', '.join(KERNEL_NAMES)}")
    try:
        return cls(**options)
    except TypeError as exc:
        import inspect

        valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        raise SpecError(
            f"invalid options for lag kernel {name!r}: {sorted(options)}; valid options: {valid}"
        ) from exc


# -- convolution ---------------------------------------------------------------------------
def _check_history(history: int, n_rows: int | None) -> int:
    if isinstance(history, bool) or not isinstance(history, int | np.integer) or history < 0:
        raise ValueError(f"history must be a non-negative integer, got {history!r}")
    if n_rows is not None and history > n_rows:
        raise ValueError(f"history={history} is longer than x ({n_rows} months)")
    return int(history)


def convolve(x: TensorLike, w: TensorLike, *, history: int = 0) -> TensorVariable:
    """Causal convolution along the first axis in pytensor: ``y[t] = sum_l w[l] x[t-l]``.

    Months before the first row of ``x`` count as zero exposure.

    Parameters
    ----------
    x
        Exposure, shape ``(month, ...)``.
    w
        Kernel weights, shape ``(lag,)``, or ``(lag, ...)`` broadcasting against the
        trailing dims of ``x`` (one kernel per column: move the lag axis of batched
        :meth:`LagKernel.weights` output to the front first). The lag length must be known
        statically (it is for :meth:`LagKernel.weights`).
    history
        Number of leading rows of ``x`` that are pre-sample history (months before the
        model window): they feed the lags of later months and are dropped from the result.

    Returns
    -------
    TensorVariable
        Shape ``(month - history, ...)``.
    """
    xt = pt.as_tensor_variable(x)
    if not xt.dtype.startswith("float"):
        xt = pt.cast(xt, pytensor.config.floatX)
    wt = pt.as_tensor_variable(w)
    if xt.ndim < 1 or wt.ndim < 1:
        raise ValueError("convolve needs x of shape (month, ...) and w of shape (lag, ...)")
    n_lag = wt.type.shape[0]
    if n_lag is None:
        raise ValueError(
            "convolve needs the lag length of w known statically; wrap it with "
            "pytensor.tensor.specify_shape"
        )
    history = _check_history(history, xt.type.shape[0])
    L = n_lag - 1
    if L == 0:
        y = wt[0] * xt
    else:
        pad_shape = (L, *(xt.shape[i] for i in range(1, xt.ndim)))
        padded = pt.concatenate([pt.zeros(pad_shape, dtype=xt.dtype), xt], axis=0)
        n = xt.shape[0]
        # L + 1 shifted slices: lags are short (<= ~12), so unrolling is cheap and keeps
        # the gradient simple for NUTS.
        y = wt[0] * xt
        for lag in range(1, n_lag):
            y = y + wt[lag] * padded[L - lag : L - lag + n]
    return y[history:] if history else y


def convolve_numpy(x: Any, w: Any, *, history: int = 0) -> np.ndarray:
    """Numpy twin of :func:`convolve`: ``y[t] = sum_l w[l] x[t-l]``, zeros before start.

    ``x`` has shape ``(month, ...)``, ``w`` shape ``(lag,)`` or ``(lag, ...)`` broadcasting
    against ``x``'s trailing dims; the first ``history`` rows are dropped from the result.
    """
    xa = np.asarray(x, dtype=float)
    wa = np.asarray(w, dtype=float)
    if xa.ndim < 1 or wa.ndim < 1:
        raise ValueError("convolve_numpy needs x of shape (month, ...) and w of shape (lag, ...)")
    history = _check_history(history, xa.shape[0])
    n = xa.shape[0]
    y = np.zeros((n, *np.broadcast_shapes(xa.shape[1:], wa.shape[1:])))
    for lag in range(min(wa.shape[0], n)):
        y[lag:] += wa[lag] * xa[: n - lag]
    return y[history:]
