"""Driver-effect terms: ``sum_d beta[d, s] (w_d * x_d)[t]`` and its per-event version.

:class:`DriverEffects` holds every driver's lag kernel (``kernel_weights(driver, lag)``)
and pooled effect (``effect(driver, route, group)``, ``effect_mean(driver)``), and adds
the aggregate drivers' terms. :class:`EventEffects` gives each event of a per-event
driver its own effect, ``event_effect = effect[driver] + event_sd * z``, with the
driver's kernel. Both split their contribution by driver
(:meth:`DriverTerm.by_driver`), which is what effects and counterfactuals need.

Exposures are convolved with the kernel over the design's lag history:
``(w * x)[t] = sum_l w[l] x[t - l]``.
"""

from __future__ import annotations

import zlib
from abc import abstractmethod
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from hybridflow.design.kernels import GeometricKernel
from hybridflow.models import components as comp
from hybridflow.models.terms.base import BuildContext, Design, Draws, Term
from hybridflow.models.terms.drivers import driver_records

__all__ = ["DRIVER_TERMS", "DriverEffects", "DriverTerm", "EventEffects", "driver_contributions"]


class DriverTerm(Term):
    """A term made of driver effects; its contribution splits by driver."""

    baseline = False

    @staticmethod
    @abstractmethod
    def present(design: Design) -> bool:
        """Whether a model with this design has the term."""

    @abstractmethod
    def by_driver(self, draws: Draws, design: Design) -> np.ndarray:
        """``(sample, driver, month, route, group)`` contributions (zero for drivers
        the term does not carry)."""


def _convolved(draws: Draws, x: np.ndarray, history: int, rows: list[int] | None = None) -> Any:
    """``(sample, column, month)``: each exposure column convolved with its driver's
    kernel draws (``rows``: the driver of each column; default one per driver)."""
    w = draws.get("kernel_weights", "driver", "lag")
    if rows is not None:
        w = w[:, rows, :]
    xl = comp.lag_matrix(x, history, w.shape[-1])
    return np.einsum("sdl,dtl->sdt", w, xl)


def _prior_arrays(spec: Any, names: list[str]) -> dict[str, np.ndarray]:
    ds = [spec.driver(n) for n in names]
    pri = spec.baseline.priors
    return {
        "mu": np.array([d.prior.mu for d in ds], dtype=float),
        "sigma": np.array([d.prior.sigma for d in ds], dtype=float),
        "nu": np.array([d.prior.nu or 0.0 for d in ds], dtype=float),
        "group_sd": np.array([d.group_sd or pri.group_sd for d in ds], dtype=float),
    }


def _geometric_weights(model: pm.Model, drivers: list[Any], geo: list[int], n_lags: int) -> Any:
    """``(geometric_driver, lag)`` weights of the learned geometric kernels, built as one
    vector of decays (the kernel's own Beta prior per driver): numba compile time grows
    with the number of graph nodes."""
    kernels = [drivers[i].kernel for i in geo]
    model.add_coord("geometric_driver", [drivers[i].name for i in geo])
    a = np.asarray([k.decay_prior[0] for k in kernels], dtype=float)
    b = np.asarray([k.decay_prior[1] for k in kernels], dtype=float)
    decay = pm.Beta("geometric_decay", alpha=a, beta=b, dims="geometric_driver")
    lags = np.arange(n_lags, dtype=float)
    # Support min_lag..max_lag; the weights are renormalised over it.
    inside = np.array([(lags >= k.min_lag) & (lags <= k.max_lag) for k in kernels], dtype=float)
    raw = (decay[:, None] ** lags[None, :]) * inside
    return raw / raw.sum(axis=-1, keepdims=True)


def kernel_weights(model: pm.Model, drivers: list[Any], n_lags: int, reported: list[str]) -> Any:
    """``(driver, lag)`` kernel weights, zero below each driver's ``min_lag`` and beyond
    its ``max_lag``.

    Learned geometric kernels share one ``geometric_decay(geometric_driver)``; every other
    kernel creates its own parameters (``{driver}_{param}``) through the kernel API.
    """
    geo = [
        i
        for i, d in enumerate(drivers)
        if isinstance(d.kernel, GeometricKernel) and not d.kernel.is_fixed
    ]
    rows: list[Any] = [None] * len(drivers)
    if geo:
        w_geo = _geometric_weights(model, drivers, geo, n_lags)
        reported.append("geometric_decay")
        for j, i in enumerate(geo):
            rows[i] = w_geo[j]
    for i, d in enumerate(drivers):
        if rows[i] is not None:
            continue
        before = set(model.named_vars)
        params = d.kernel.create_params(d.name)
        reported.extend(
            n for n in model.named_vars if n not in before and model.named_vars[n] in model.free_RVs
        )
        w = d.kernel.weights(params)
        pad = n_lags - d.kernel.n_lags
        if pad:
            w = pt.concatenate([w, pt.zeros((pad,))])
        rows[i] = w
    if len(geo) == len(drivers):
        return w_geo
    return pt.stack(rows)


class DriverEffects(DriverTerm):
    """Kernel weights and pooled effects of every driver; the aggregate drivers' terms."""

    name = "drivers"

    @staticmethod
    def present(design: Design) -> bool:
        return len(design.drivers) > 0

    def coords(self, data: Any) -> dict[str, Any]:
        return {"driver": data.driver_names, "lag": np.arange(data.n_lags)}

    def add_to_model(self, ctx: BuildContext) -> Any:
        data, spec, model = ctx.data, ctx.spec, ctx.model
        names = data.driver_names
        x_lag = comp.lag_matrix(data.exposure_matrix().values, data.history, data.n_lags)
        X = ctx.data_var("driver_lagged", x_lag, ("driver", "month", "lag"))
        ctx.constant["driver_exposure"] = data.exposure_matrix().rename(month="month_ext")
        # Units, transforms and event columns: what effects are re-expressed from.
        ctx.constant.update(driver_records(spec, data.drivers))
        reported: list[str] = []
        weights_pt = kernel_weights(model, data.drivers, data.n_lags, reported)
        weights = pm.Deterministic("kernel_weights", weights_pt, dims=("driver", "lag"))
        conv = (X * weights[:, None, :]).sum(axis=-1)  # (driver, month)
        pa = _prior_arrays(spec, names)
        pooling = [spec.driver(n).pooling for n in names]
        _, R, G = ctx.shape
        if R * G == 1:
            # One series: between-group variation is not identified.
            pooling = ["complete"] * len(pooling)
        _, effect = comp.pooled_effects(
            "effect",
            labels=names,
            prior_mu=pa["mu"],
            prior_sigma=pa["sigma"],
            prior_nu=pa["nu"],
            pooling=pooling,
            group_sd=pa["group_sd"],
            dim="driver",
            group_prior=spec.baseline.priors.group_prior,
        )
        reported.extend(["effect_mean", "effect"])
        if "effect_group_sd" in model.named_vars:
            reported.append("effect_group_sd")
        self.gate_vars = reported
        ctx.shared["effect"], ctx.shared["kernel_weights"] = effect, weights
        aggregate = np.array([not d.per_event for d in data.drivers], dtype=float)
        return pt.tensordot(conv * aggregate[:, None], effect, axes=[[0], [0]])

    def _parts(self, draws: Draws, design: Design) -> tuple[np.ndarray, np.ndarray]:
        conv = _convolved(draws, design.exposure, design.history)
        conv = conv * (~design.per_event).astype(float)[None, :, None]
        return conv, draws.get("effect", "driver", "route", "group")

    def evaluate(self, draws: Draws, design: Design) -> np.ndarray:
        conv, beta = self._parts(draws, design)
        return np.einsum("sdt,sdrg->strg", conv, beta)

    def by_driver(self, draws: Draws, design: Design) -> np.ndarray:
        conv, beta = self._parts(draws, design)
        return conv[..., None, None] * beta[:, :, None]


def new_event_z(seed: int, label: str, n: int) -> np.ndarray:
    """Standard-normal deviations of a new event's effect, fixed by seed and label (so
    the same event gets the same draws in every scenario that has it)."""
    return np.random.default_rng([seed, 3, zlib.crc32(label.encode())]).standard_normal(n)


class EventEffects(DriverTerm):
    """One effect per event of the per-event drivers, pooled around the driver's effect:
    ``event_effect[e] = effect[d(e)] + event_sd[d(e)] * event_z[e]``."""

    name = "per_event"

    @staticmethod
    def present(design: Design) -> bool:
        return len(design.events) > 0

    def coords(self, data: Any) -> dict[str, Any]:
        return {"event": data.event_table()[0]}

    def add_to_model(self, ctx: BuildContext) -> Any:
        data, spec = ctx.data, ctx.spec
        names = data.driver_names
        labels, _, owners, ev_mat = data.event_table()
        ev_lag = comp.lag_matrix(ev_mat, data.history, data.n_lags)
        XE = ctx.data_var("event_lagged", ev_lag, ("event", "month", "lag"))
        ctx.constant["event_exposure"] = xr.DataArray(
            ev_mat,
            dims=("event", "month_ext"),
            coords={"event": labels, "month_ext": np.asarray(data.months_ext)},
        )
        # One-hot maps (constant matrices) instead of integer indexing: cheaper to
        # compile and differentiate.
        owner = _one_hot(owners, names)
        pe_drivers = [n for n in names if n in set(owners)]
        pe_owner = _one_hot(owners, pe_drivers)
        pri = spec.baseline.priors
        ev_sd = np.array([spec.driver(n).event_sd or pri.event_sd for n in pe_drivers])  # type: ignore[union-attr]
        kind = pri.event_sd_prior
        tau_e = comp.scale_prior("event_sd", ev_sd, kind, (), option="event_sd_prior")
        if kind == "fixed":
            # Kept in the posterior (a constant) so that a scenario's new events draw
            # their deviations from it as from a learned one.
            tau_e = pm.Deterministic("event_sd", tau_e)
        z_e = pm.Normal("event_z", 0.0, 1.0, dims="event")
        base = pt.tensordot(owner, ctx.shared["effect"], axes=[[1], [0]])  # (event, route, group)
        ev_eff = pm.Deterministic(
            "event_effect",
            base + (pt.dot(pe_owner, tau_e) * z_e)[:, None, None],
            dims=("event", "route", "group"),
        )
        w_ev = pt.dot(owner, ctx.shared["kernel_weights"])  # (event, lag)
        conv_e = (XE * w_ev[:, None, :]).sum(axis=-1)  # (event, month)
        self.gate_vars = ["event_effect"] + (["event_sd"] if kind != "fixed" else [])
        return pt.tensordot(conv_e, ev_eff, axes=[[0], [0]])

    def _parts(self, draws: Draws, design: Design) -> tuple[np.ndarray, np.ndarray]:
        """Convolved exposures ``(sample, event, month)`` and effects ``(sample, event,
        route, group)``, the scenario's new events included."""
        names = list(design.drivers)
        owners = list(design.event_driver)
        conv = _convolved(
            draws, design.event_exposure, design.history, [names.index(o) for o in owners]
        )
        parts = [draws.get("event_effect", "event", "route", "group")]
        if design.new_events:
            parts.append(self._new_effects(draws, design))
        return conv, np.concatenate(parts, axis=1)

    @staticmethod
    def _new_effects(draws: Draws, design: Design) -> np.ndarray:
        """A new event's effect: the driver's effect plus the between-event deviation,
        ``tau * z`` with ``z ~ Normal(0, 1)`` (the model's own hierarchy)."""
        names = list(design.drivers)
        n_fit = len(design.events) - design.new_events
        owners = list(design.event_driver)
        pe_drivers = [n for n in names if n in set(owners[:n_fit])]
        tau = draws.get("event_sd")
        beta = draws.get("effect", "driver", "route", "group")
        new = []
        for label, o in zip(design.events[n_fit:], owners[n_fit:], strict=True):
            dev = tau[:, pe_drivers.index(o)] * new_event_z(design.seed, label, draws.n)
            new.append(beta[:, names.index(o)] + dev[:, None, None])
        return np.stack(new, axis=1)

    def evaluate(self, draws: Draws, design: Design) -> np.ndarray:
        conv, eff = self._parts(draws, design)
        return np.einsum("set,serg->strg", conv, eff)

    def by_driver(self, draws: Draws, design: Design) -> np.ndarray:
        conv, eff = self._parts(draws, design)
        R, G = draws.series_shape()
        out = np.zeros((draws.n, len(design.drivers), design.n_months, R, G))
        owners = np.asarray(design.event_driver)
        for k, d in enumerate(design.drivers):
            idx = np.flatnonzero(owners == d)
            if len(idx):
                out[:, k] = np.einsum("set,serg->strg", conv[:, idx], eff[:, idx])
        return out


def _one_hot(owners: list[str], names: list[str]) -> np.ndarray:
    out = np.zeros((len(owners), len(names)))
    out[np.arange(len(owners)), [names.index(o) for o in owners]] = 1.0
    return out


#: The driver-effect terms, in the linear predictor's order.
DRIVER_TERMS: tuple[type[DriverTerm], ...] = (DriverEffects, EventEffects)


def driver_contributions(draws: Draws, design: Design) -> np.ndarray:
    """Every driver's contribution to the linear predictor, ``(sample, driver, month,
    route, group)``, summed over the driver-effect terms the design has."""
    R, G = draws.series_shape()
    out = np.zeros((draws.n, len(design.drivers), design.n_months, R, G))
    for cls in DRIVER_TERMS:
        if cls.present(design):
            out += cls().by_driver(draws, design)
    return out
