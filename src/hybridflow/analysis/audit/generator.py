"""Fake worlds for the audit: detection panels with the real series' shapes and known truths.

A *world* keeps everything of a model's real design -- its months, its drivers' real
exposures and event dates, its regimes and observed cells (the model's own
:class:`~hybridflow.models.data.ModelData`) -- and replaces only the counts. Per series
``s`` (a route x group cell) and month ``t`` the generator writes the log rate

    log mu[t, s] = level[era(t), s]                     per-series medians of the real series by era
                 + A * cos(2 pi (m(t) - peak) / 12)     seasonality, one harmonic
                 + sum_b log bump_b[t, s]               episode, war-onset transient, surge
                 + e[t, s]                              AR(1) month-level noise
                 + beta * (w * x_d)[t] * [s in group]   effect worlds only

and draws ``y[t, s] ~ NegBin(mu, phi)`` (variance ``mu + mu^2 / phi``). The parts:

- **levels**: the median of the real series over each era (eras split at
  :attr:`WorldConfig.era_breaks`, by default the invasion and Finland's border closure),
  leaving out the months a bump covers, so a level is the series' ordinary height and not
  its episodes. Medians are shapes, not effects: no driver enters them.
- **seasonality**: amplitude :attr:`~WorldConfig.season_amplitude` on the log scale
  (0.3: summer about 1.8x winter), peaking in :attr:`~WorldConfig.season_peak_month`;
  the pre-2021 real series show monthly means spread about +-0.5 around their mean, of
  which about +-0.2 is the noise of five-year means.
- **bumps** (:class:`Bump`): a month-by-month multiplier of one group's rate from a start
  month. Defaults: an episode like Belarus 2021 (Others x10, x40, x30, x10, x15, x10 in
  Jun-Nov 2021: the real series' ratios to its level, rounded), the war-onset transient
  (UkrRussBel at x0.3, x3, x0.8 of its new level in Feb-Apr 2022: the real 12 -> 107 ->
  1,071 -> 293 before the new level), and a surge like 2024 (Others x4, x9, x9, x3, x3 in
  May-Sep 2024). A bump on a group the model does not have is skipped.
- **noise**: ``e[t] = rho e[t-1] + sd sqrt(1 - rho^2) z[t]``, started stationary,
  independent per series; ``rho = 0.5`` and marginal ``sd = 0.35`` (the real pre-2021
  residuals of log counts around their monthly means: sd 0.58-0.60, lag-1
  autocorrelation 0.41-0.49, part of which is count noise).
- **over-dispersion**: negative-binomial size ``phi = 20``.
- **effect** (effect worlds): ``beta = log(1 + pct / 100)`` times the driver's real
  exposure (as the model standardises it) convolved with a fixed geometric kernel
  (``decay = 0.5`` over the driver's own ``max_lag``), added to the series of
  :attr:`WorldConfig.effect_group` only. ``pct`` is then exactly the cumulative percent
  effect the model reports (:func:`hybridflow.analysis.effects.effect_draws`'s
  ``cumulative_pct``) for that group.

Share models (``outcome = "share"``) get both sides of the share: the share group and its
complement (:attr:`WorldConfig.complement_group`, UkrRussBel for the ``ukrrussbel``
grouping) are generated as two count series, the outcome is the share group's count and
the trials their sum, so the route total and its split are consistent. An effect on the
share group's rate is then exactly ``pct`` percent on the odds.

The world's seed fixes everything (noise and counts); the same seed with and without an
effect gives the same noise, so the effect is the only difference in the log rate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.design.kernels import convolve_numpy, make_kernel
from hybridflow.models.data import ModelData
from hybridflow.months import parse_month

__all__ = [
    "DEFAULT_BUMPS",
    "DEFAULT_CONFIG",
    "Bump",
    "Effect",
    "World",
    "WorldConfig",
    "effect_log_rate",
    "generate_world",
    "real_counts",
    "world_model_data",
]


@dataclass(frozen=True)
class Bump:
    """A temporary multiplier of one group's rate: ``multipliers[i]`` in month ``start + i``.

    Attributes
    ----------
    name
        What it imitates (recorded with the config).
    group
        The group it hits (skipped in models without that group).
    start
        First month, ``YYYY-MM``.
    multipliers
        Rate multipliers, one per month from ``start`` (relative to the era's level).
    """

    name: str
    group: str
    start: str
    multipliers: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.multipliers or any(m <= 0 for m in self.multipliers):
            raise ValueError(f"bump {self.name!r}: multipliers must be positive, one a month")
        parse_month(self.start, column=f"bump {self.name} start")

    @property
    def months(self) -> pd.DatetimeIndex:
        start = parse_month(self.start, column=f"bump {self.name} start")
        return pd.date_range(start, periods=len(self.multipliers), freq="MS")


#: The real series' three big non-driver features, as ratios to their era's level.
DEFAULT_BUMPS: tuple[Bump, ...] = (
    Bump("belarus_2021_episode", "Others", "2021-06", (10.0, 40.0, 30.0, 10.0, 15.0, 10.0)),
    Bump("war_onset_transient", "UkrRussBel", "2022-02", (0.3, 3.0, 0.8)),
    Bump("surge_2024", "Others", "2024-05", (4.0, 9.0, 9.0, 3.0, 3.0)),
)


@dataclass(frozen=True)
class WorldConfig:
    """The generator's parameters (module docstring: each one and why).

    Attributes
    ----------
    era_breaks
        First months of the eras after the first (levels are per-era medians).
    season_amplitude, season_peak_month
        One-harmonic seasonality on the log scale and its peak month (1-12).
    bumps
        Episode, transient and surge (:data:`DEFAULT_BUMPS`).
    ar_rho, ar_sd
        AR(1) month-level noise: lag-1 correlation and marginal sd on the log scale.
    nb_size
        Negative-binomial size ``phi`` (larger: closer to Poisson).
    min_level
        Floor of an era's median count (a series of zeros still gets a rate).
    effect_group
        The group an injected effect hits (the primary estimand).
    effect_decay
        Geometric decay of the injected effect's lag kernel.
    complement_group
        Name of the share group's complement in share models.
    """

    era_breaks: tuple[str, ...] = ("2022-02", "2023-12")
    season_amplitude: float = 0.3
    season_peak_month: int = 7
    bumps: tuple[Bump, ...] = DEFAULT_BUMPS
    ar_rho: float = 0.5
    ar_sd: float = 0.35
    nb_size: float = 20.0
    min_level: float = 1.0
    effect_group: str = "Others"
    effect_decay: float = 0.5
    complement_group: str = "UkrRussBel"

    def __post_init__(self) -> None:
        if not -1.0 < self.ar_rho < 1.0:
            raise ValueError(f"ar_rho must lie in (-1, 1), got {self.ar_rho}")
        if self.ar_sd < 0 or self.nb_size <= 0 or self.min_level <= 0:
            raise ValueError("ar_sd must be >= 0, nb_size and min_level > 0")
        if not 1 <= self.season_peak_month <= 12:
            raise ValueError(f"season_peak_month must be 1..12, got {self.season_peak_month}")
        if not 0.0 <= self.effect_decay < 1.0:
            raise ValueError(f"effect_decay must lie in [0, 1), got {self.effect_decay}")
        for b in self.era_breaks:
            parse_month(b, column="era_breaks")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (recorded in the audit's provenance)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> WorldConfig:
        """Inverse of :meth:`to_dict`."""
        values = dict(raw)
        values["bumps"] = tuple(
            Bump(b["name"], b["group"], b["start"], tuple(b["multipliers"]))
            for b in values.get("bumps", ())
        )
        values["era_breaks"] = tuple(values.get("era_breaks", ()))
        return cls(**values)


#: The generator's defaults.
DEFAULT_CONFIG = WorldConfig()


@dataclass(frozen=True)
class Effect:
    """An injected effect: ``pct`` percent cumulative on ``driver`` in ``group``."""

    driver: str
    pct: float
    group: str = "Others"

    @property
    def log_effect(self) -> float:
        return float(np.log1p(self.pct / 100.0))


@dataclass(frozen=True)
class World:
    """One generated world.

    Attributes
    ----------
    seed
        Fixes the noise and the counts.
    effect
        The injected effect, or None (a null world).
    log_rate, counts
        ``(month, route, group)`` over the model's window; for share models the groups are
        the share group and its complement.
    """

    seed: int
    effect: Effect | None
    log_rate: xr.DataArray
    counts: xr.DataArray = field(repr=False)


def real_counts(data: ModelData, config: WorldConfig = DEFAULT_CONFIG) -> xr.DataArray:
    """The real count series a world imitates, ``(month, route, group)``.

    Count models: the outcome itself. Share models: the share group and its complement
    (trials minus the share group's count), named :attr:`WorldConfig.complement_group`.
    """
    if data.trials is None:
        return data.y
    rest = (data.trials - data.y).assign_coords(group=[config.complement_group])
    return xr.concat([data.y, rest], dim="group")


def _era_index(months: pd.DatetimeIndex, breaks: tuple[str, ...]) -> np.ndarray:
    edges = [parse_month(b, column="era_breaks") for b in breaks]
    return np.searchsorted(np.asarray(edges, dtype="datetime64[ns]"), months.values, side="right")


def _bump_log(months: pd.DatetimeIndex, groups: list[str], bumps: tuple[Bump, ...]) -> np.ndarray:
    """``(month, group)`` summed log multipliers of the bumps."""
    out = np.zeros((len(months), len(groups)))
    for b in bumps:
        if b.group not in groups:
            continue
        g = groups.index(b.group)
        for month, m in zip(b.months, b.multipliers, strict=True):
            out[months == month, g] += np.log(m)
    return out


def _levels(real: xr.DataArray, eras: np.ndarray, bumped: np.ndarray, floor: float) -> np.ndarray:
    """``(month, route, group)`` log of each series' median count in its era, bump months
    and unobserved months left out."""
    y = real.transpose("month", "route", "group").values
    out = np.zeros(y.shape)
    for era in np.unique(eras):
        rows = eras == era
        for g in range(y.shape[2]):
            keep = rows & ~bumped[:, g]
            for r in range(y.shape[1]):
                vals = y[keep, r, g]
                vals = vals[np.isfinite(vals)]
                med = float(np.median(vals)) if vals.size else floor
                out[rows, r, g] = np.log(max(med, floor))
    return out


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], rho: float, sd: float) -> np.ndarray:
    """Stationary AR(1) along the first axis, marginal sd ``sd``."""
    z = rng.standard_normal(shape)
    e = np.empty(shape)
    e[0] = sd * z[0]
    innov = sd * np.sqrt(1.0 - rho**2)
    for t in range(1, shape[0]):
        e[t] = rho * e[t - 1] + innov * z[t]
    return e


def effect_log_rate(data: ModelData, effect: Effect, decay: float) -> np.ndarray:
    """``(month,)`` the effect's term ``beta * (w * x)[t]`` over the window: the driver's
    real exposure (history included) through a geometric kernel of its own ``max_lag``."""
    if effect.driver not in data.driver_names:
        raise ValueError(
            f"model '{data.spec.name}' has no driver {effect.driver!r}; its drivers: "
            f"{', '.join(data.driver_names) or '(none)'}"
        )
    design = data.drivers[data.driver_names.index(effect.driver)]
    kernel = make_kernel("geometric", max_lag=design.kernel.max_lag).fixed(decay=decay)
    x = design.exposure.to_numpy()
    return effect.log_effect * convolve_numpy(x, kernel.weights_numpy(), history=data.history)


def generate_world(
    data: ModelData,
    seed: int,
    effect: Effect | None = None,
    config: WorldConfig = DEFAULT_CONFIG,
) -> World:
    """One world on ``data``'s design (module docstring).

    Parameters
    ----------
    data
        The model's real design (:func:`hybridflow.models.build.prepare_data`).
    seed
        Fixes the noise and the counts.
    effect
        Injected effect (None: a null world). Its group must be one of the world's.
    config
        The generator's parameters.
    """
    real = real_counts(data, config).transpose("month", "route", "group")
    months = pd.DatetimeIndex(real["month"].values)
    groups = [str(g) for g in real["group"].values]
    bump = _bump_log(months, groups, config.bumps)
    log_rate = _levels(real, _era_index(months, config.era_breaks), bump != 0, config.min_level)
    phase = 2 * np.pi * (months.month.to_numpy() - config.season_peak_month) / 12.0
    log_rate += (config.season_amplitude * np.cos(phase))[:, None, None]
    log_rate += bump[:, None, :]
    rng = np.random.default_rng(seed)
    log_rate += _ar1(rng, log_rate.shape, config.ar_rho, config.ar_sd)
    if effect is not None:
        if effect.group not in groups:
            raise ValueError(f"effect group {effect.group!r} is not among the groups {groups}")
        log_rate[:, :, groups.index(effect.group)] += effect_log_rate(
            data, effect, config.effect_decay
        )[:, None]
    mu = np.exp(log_rate)
    # NB2 as a gamma-Poisson mixture: mean mu, variance mu + mu^2 / size.
    counts = rng.poisson(rng.gamma(config.nb_size, mu / config.nb_size)).astype(float)
    counts[~np.isfinite(real.values)] = np.nan
    coords = {"month": months, "route": real["route"].values, "group": groups}
    dims = ("month", "route", "group")
    return World(
        seed=seed,
        effect=effect,
        log_rate=xr.DataArray(log_rate, dims=dims, coords=coords, name="log_rate"),
        counts=xr.DataArray(counts, dims=dims, coords=coords, name="detections"),
    )


def world_model_data(data: ModelData, world: World) -> ModelData:
    """``data`` with the world's counts as its outcome (and trials, for share models)."""
    counts = world.counts.transpose(*data.y.dims)
    if data.trials is None:
        return dataclasses.replace(data, y=counts.assign_coords(data.y.coords))
    share = str(data.y["group"].values[0])
    y = counts.sel(group=[share])
    trials = counts.sum("group", skipna=False).expand_dims(group=[share])
    return dataclasses.replace(
        data,
        y=y.transpose(*data.y.dims).assign_coords(data.y.coords),
        trials=trials.transpose(*data.trials.dims).assign_coords(data.trials.coords),
    )

