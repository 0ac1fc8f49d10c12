"""Declarative model specs: one TOML file per model, validated by pydantic.

A spec says *what* to fit (data window, likelihood, baseline, regimes, drivers and their lag
kernels and priors); :mod:`hybridflow.models.build` turns it into a PyMC model. Every
table forbids unknown keys, and every problem is raised as one :class:`SpecError` whose
message names the field (``drivers[2].kernel.name``) and the valid options.

Effect priors are on the *cumulative log-rate* scale: a driver effect ``beta`` means that a
one-unit exposure (one event pulse, or one standard deviation of a continuous driver held
for as long as the kernel lasts) multiplies expected monthly detections by ``exp(beta)``
summed over its lags. The default ``Normal(0, 0.32)`` puts 90% of its mass on
``exp(+-1.645 * 0.32)``, i.e. roughly -41% .. +69% per unit. See ``docs/models.md``.

Usage::

    spec = load_spec("models/full.toml")
    spec_hash(spec)  # stable sha256 of the validated content
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import pandas as pd
from pydantic import Field, PrivateAttr, field_validator, model_validator

from hybridflow.data.events import KINDS as EVENT_KINDS
from hybridflow.data.events import SECTORS, Confidence, Direction, Target
from hybridflow.data.events import Family as EventFamily
from hybridflow.data.panel import EASTERN_BORDERS, NAMED_GROUPINGS, REPORT_GROUPING, NamedGrouping
from hybridflow.data.sources.acled import EVENT_TYPES as ACLED_EVENT_TYPES
from hybridflow.data.sources.acled import EXPLOSIONS as ACLED_EXPLOSIONS
from hybridflow.data.sources.territory import LIVEUAMAP, Tracker
from hybridflow.design.drivers import EventShape
from hybridflow.design.kernels import KERNEL_NAMES
from hybridflow.schema import StrictModel, check_choice, format_options, read_toml, validate

__all__ = [
    "ACLED_EVENT_TYPES",
    "COUNT_FAMILIES",
    "DRIVER_SOURCES",
    "KERNEL_NAMES",
    "LIKELIHOOD_FAMILIES",
    "NOISES",
    "SECTORS",
    "SHARE_FAMILIES",
    "TRENDS",
    "AcledDriver",
    "Baseline",
    "CommonFactor",
    "ContinuousTransform",
    "DataSpec",
    "Driver",
    "EffectPrior",
    "EventFilter",
    "EventsDriver",
    "KernelSpec",
    "Likelihood",
    "LikelihoodFamily",
    "LossesDriver",
    "MilestoneDriver",
    "ModelSpec",
    "PanelDriver",
    "Priors",
    "Regime",
    "SpikeDriver",
    "TerritoryDriver",
    "Trend",
    "load_spec",
    "parse_spec",
    "spec_hash",
]

# Vocabularies are imported from their owners (kernels and event shapes from design, the
# catalogue's from hybridflow.data.events, ACLED's from its reader), never retyped here; the
# spec's own ones follow.
CountFamily = Literal["negbin", "poisson"]
ShareFamily = Literal["binomial", "betabinomial"]
LikelihoodFamily = Literal[CountFamily, ShareFamily]
Trend = Literal["ar1", "local_level", "none"]
Noise = Literal["ar1", "none"]
COUNT_FAMILIES: tuple[str, ...] = get_args(CountFamily)
SHARE_FAMILIES: tuple[str, ...] = get_args(ShareFamily)
LIKELIHOOD_FAMILIES: tuple[str, ...] = get_args(LikelihoodFamily)
TRENDS: tuple[str, ...] = get_args(Trend)
NOISES: tuple[str, ...] = get_args(Noise)

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def _check_month(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    m = _MONTH_RE.match(str(value))
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"{field} must be a month written YYYY-MM, got {value!r}")
    return str(value)


# --------------------------------------------------------------------------- priors


class EffectPrior(StrictModel):
    """Prior of a driver's cumulative log-rate effect (its population mean across groups).

    ``normal``: Normal(mu, sigma). ``student_t``: StudentT(nu, mu, sigma), heavier tails.
    """

    dist: Literal["normal", "student_t"] = "normal"
    mu: float = 0.0
    sigma: float = 0.32
    nu: float | None = None

    @model_validator(mode="after")
    def _check(self) -> EffectPrior:
        if not self.sigma > 0:
            raise ValueError(f"bad prior: sigma must be > 0, got {self.sigma}")
        if abs(self.mu) > 5:
            raise ValueError(
                f"bad prior: mu = {self.mu} on the log scale is a {100 * (2.718**self.mu - 1):.0f}% "
                "effect; use |mu| <= 5"
            )
        if self.dist == "student_t":
            if self.nu is None or not self.nu > 0:
                raise ValueError("bad prior: student_t needs nu > 0")
        elif self.nu is not None:
            raise ValueError("bad prior: nu is only used with dist = 'student_t'")
        return self


class Priors(StrictModel):
    """Baseline priors; every value is a scale (> 0) except the Beta shape pair.

    intercept_sd: Normal sd of per-series intercepts around log(mean count).
    trend_sd: the latent trend's innovation sd per knot step: its value (``trend_prior =
        "fixed"``) or the scale of its HalfNormal prior.
    trend_prior: "fixed" (default: the innovation sd is trend_sd, 0.3, not learned) or
        "halfnormal" (learned, ``HalfNormal(trend_sd)``; earlier releases, with trend_sd 0.5).
        With the knot values sampled (centred), a learned sd makes a funnel: chains that
        reach a small sd stop moving (every transition divergent) in the audit's worlds;
        trend flexibility is a sensitivity dimension instead (docs/models.md, "Trend").
    ar_rho: Beta(a, b) prior of the AR(1) coefficient (mean a/(a+b)).
    season_sd: Normal sd of the pooled Fourier coefficients.
    season_dev_sd: the per-series Fourier deviations' sd: its value (``season_dev_prior =
        "fixed"``) or the scale of its HalfNormal prior.
    season_dev_prior: "fixed" (default: the deviations' sd is season_dev_sd, 0.2) or
        "halfnormal" (learned, ``HalfNormal(season_dev_sd)``; earlier releases). Learned, its
        tail (0.28-0.33 against a median of 0.05) held the one divergent transition of the
        real H5 and sanctions fits that failed the gate at target_accept 0.95.
    regime_sd: Normal sd of regime effects (steps and transient pulses), log scale. 2.8
        puts 90% of the mass on /100 .. x100 (1.645 * 2.8 = log 100): border closures and
        crises move monthly counts by one to two orders of magnitude, so a break of that
        size must not be shrunk towards none (and left to the drivers to explain).
    dispersion_sd: HalfNormal scale of 1/sqrt(phi) for the negative binomial.
    group_sd: the between-group sd of driver effects (default for drivers that do not
        set their own): fixed at 0.32, or the scale of its prior (docs/models.md, "Priors").
    group_prior: "fixed" (default: the sd is group_sd, not learned; with two groups the
        data say almost nothing about it, and its funnel failed the convergence gate in
        the audit's worlds), "halfnormal" (learned, HalfNormal(group_sd)) or "gamma" (the
        earlier boundary-avoiding Gamma(2, 2/group_sd), kept to reproduce earlier runs).
    event_sd: the between-event sd of per-event drivers' effects (a driver's own
        ``event_sd`` overrides it): its value (``event_sd_prior = "fixed"``) or the scale
        of its HalfNormal prior (``"halfnormal"``).
    event_sd_prior: "fixed" (default: the sd is event_sd, 0.2, not learned; a learned one
        held R-hat of 1.011-1.023 in 23 of the audit's 120 sanctions worlds at 500 draws
        x 4 chains, as the group and trend sds did before it) or "halfnormal" (learned,
        reproduces earlier runs).
    factor_sd: Normal sd of the common factor's loadings.
    noise_sd: HalfNormal scale of the monthly noise's innovation sd (``noise = "ar1"``;
        0.3: median 0.2, a month typically +-20% off the baseline before the negative
        binomial's own noise, 95% below 0.59).
    noise_rho: Beta(a, b) prior of the monthly noise's AR coefficient (2, 2: mean 0.5,
        90% in 0.14 .. 0.86; kept from 1, where the noise would become a second trend).
    kernel: not here; kernel priors belong to the kernel (``hybridflow.design.kernels``).
    """

    intercept_sd: float = 2.0
    trend_sd: float = 0.3
    trend_prior: Literal["fixed", "halfnormal"] = "fixed"
    ar_rho: tuple[float, float] = (6.0, 2.0)
    season_sd: float = 0.5
    season_dev_sd: float = 0.2
    season_dev_prior: Literal["fixed", "halfnormal"] = "fixed"
    regime_sd: float = 2.8
    dispersion_sd: float = 1.0
    group_sd: float = 0.32
    group_prior: Literal["halfnormal", "fixed", "gamma"] = "fixed"
    event_sd: float = 0.2
    event_sd_prior: Literal["fixed", "halfnormal"] = "fixed"
    factor_sd: float = 0.5
    noise_sd: float = 0.3
    noise_rho: tuple[float, float] = (2.0, 2.0)

    @model_validator(mode="after")
    def _positive(self) -> Priors:
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, str):
                continue  # a choice (*_prior), validated by its Literal
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                if not v > 0:
                    raise ValueError(f"bad prior: {name} must be > 0, got {value!r}")
        return self


# --------------------------------------------------------------------------- sections


class TopK(StrictModel):
    """Group the ``top_k`` nationalities (ranked over the window's routes) and Others."""

    top_k: int = Field(ge=1, le=50)
    since: str | None = None

    @field_validator("since")
    @classmethod
    def _since(cls, v: str | None) -> str | None:
        return _check_month(v, "since")


class DataSpec(StrictModel):
    """Which series to model.

    routes: FRONTEX route names (one or more).
    grouping: "ukrrussbel" (UkrRussBel vs Others), "none" (every nationality), a table
        {top_k = k}, or a path to a CSV mapping ``nationality,group`` (relative to the spec).
    start, end: the modelled window, YYYY-MM, inclusive.
    outcome: "counts" (detections per group) or "share" (``share_group`` out of the route's
        total, binomial family).
    on_missing: what to do when a driver's data end before ``end``: "error" (default) or
        "clip" (shorten the window to the last month every driver covers, with a warning
        recorded in the result).
    """

    routes: list[str] = Field(default_factory=lambda: [EASTERN_BORDERS], min_length=1)
    grouping: NamedGrouping | TopK | str = REPORT_GROUPING
    start: str = "2016-01"
    end: str = "2025-03"
    outcome: Literal["counts", "share"] = "counts"
    share_group: str = "Others"
    on_missing: Literal["error", "clip"] = "error"

    @field_validator("start", "end")
    @classmethod
    def _months(cls, v: str) -> str:
        out = _check_month(v, "month")
        assert out is not None
        return out

    @field_validator("grouping")
    @classmethod
    def _grouping(cls, v: Any) -> Any:
        if isinstance(v, str) and v not in NAMED_GROUPINGS and not v.endswith(".csv"):
            raise ValueError(
                f"unknown grouping {v!r}; valid options: {format_options(NAMED_GROUPINGS)}, "
                "{top_k = K}, or a path to a nationality,group CSV"
            )
        return v

    @model_validator(mode="after")
    def _window(self) -> DataSpec:
        if pd.Timestamp(self.end) < pd.Timestamp(self.start):
            raise ValueError(f"end {self.end} is before start {self.start}")
        if len(set(self.routes)) != len(self.routes):
            raise ValueError("routes: a route is listed twice")
        return self


class Likelihood(StrictModel):
    """negbin (default) or poisson for counts; binomial or betabinomial for shares."""

    family: LikelihoodFamily = "negbin"


class Regime(StrictModel):
    """A known structural break, modelled as an indicator with a per-series effect.

    Either dates (``start`` and optional ``end``: a step from ``start``, or a window
    ``start..end`` inclusive; ``shape = "pulse"`` for one month) or events from the catalogue
    (``source = "events"`` with ``filter``): one indicator per matching event, from its
    start to its end date (open-ended if none).

    ``transient_months = K`` (dated steps and windows) adds K one-month pulse columns at
    ``start, start + 1, ..., start + K - 1`` (labelled ``name@YYYY-MM``), each with its own
    per-series effect beside the step's: a break whose first months overshoot its lasting
    level (the invasion's opening months) is then carried by the regime, not by whichever
    driver happens to peak there.

    ``groups`` limits the break to some groups (default: all): its effect on the others is
    fixed at zero, so a break that concerns one population (Ukraine's mobilisation rules,
    UkrRussBel) is not a free level shift for another (Others) as well. Share models ignore
    it: a break in any group moves the share.
    """

    name: str
    source: Literal["dates", "events"] = "dates"
    groups: list[str] | None = None
    start: str | None = None
    end: str | None = None
    shape: EventShape = "step"
    filter: EventFilter | None = None
    transient_months: int = Field(default=0, ge=0, le=12)
    prior_sd: float | None = None
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(f"name {v!r} must be lower_snake_case (a-z, 0-9, _)")
        return v

    @field_validator("start", "end")
    @classmethod
    def _months(cls, v: str | None) -> str | None:
        return _check_month(v, "month")

    @model_validator(mode="after")
    def _consistent(self) -> Regime:
        if self.prior_sd is not None and not self.prior_sd > 0:
            raise ValueError(f"bad prior: prior_sd must be > 0, got {self.prior_sd}")
        if self.groups is not None and not self.groups:
            raise ValueError(f"regime {self.name!r}: groups, where given, must name a group")
        if self.transient_months and (self.source != "dates" or self.shape == "pulse"):
            raise ValueError(
                f"regime {self.name!r}: transient_months is for dated steps and windows "
                "(source 'dates', shape 'step')"
            )
        if self.source == "dates":
            if self.start is None:
                raise ValueError(f"regime {self.name!r}: source 'dates' needs start")
            if self.filter is not None:
                raise ValueError(f"regime {self.name!r}: filter is only for source 'events'")
            if self.end is not None and pd.Timestamp(self.end) < pd.Timestamp(self.start):
                raise ValueError(f"regime {self.name!r}: end before start")
        else:
            if self.filter is None:
                raise ValueError(f"regime {self.name!r}: source 'events' needs a filter table")
            if self.start is not None or self.end is not None:
                raise ValueError(
                    f"regime {self.name!r}: start/end come from the events; remove them"
                )
        return self


class Baseline(StrictModel):
    """Everything that is not a driver: trend, seasonality, regimes, priors.

    trend: "ar1" (stationary AR(1) around the intercept, non-centred), "local_level"
        (random walk, non-centred), or "none".
    trend_step: months between trend knots (linear in between). 1 = a monthly latent
        process; the default 6 keeps the trend slow, so it cannot absorb the few-month
        pulses that drivers produce, nor compete with the negative binomial's month-level
        noise (and the model samples much faster).
    trend_parametrisation: "centred" (default; sample the knot values, right when counts
        inform every knot) or "non_centred" (standard-normal innovations, right for sparse
        series). On the eastern-border data the non-centred trend diverges.
    noise: "ar1" adds mean-zero, per-series monthly AR(1) noise on the log rate
        (priors ``noise_sd``, ``noise_rho``), so that months are not independent given
        the slow trend; "none" (default) leaves it out.
    noise_parametrisation: "non_centred" (default; standard-normal innovations) or
        "centred" (sample the monthly noise itself, right when counts pin every month).
    fourier_order: harmonics of the 12-month cycle (0 = no seasonality).
    seasonality: "hierarchical" (pooled coefficients plus per-series deviations) or
        "pooled" (one seasonal shape for every series).
    min_regime_months: a step regime (or dated window) that the window's start or end
        cuts to fewer months than this is dropped at build time, with a warning recorded
        in the data's notes (default 3; 0 keeps every regime). One or two months of a
        break at the edge would fit those months' counts exactly whatever caused them.
    """

    trend: Trend = "ar1"
    noise: Noise = "none"
    noise_parametrisation: Literal["centred", "non_centred"] = "non_centred"
    trend_step: int = Field(default=6, ge=1, le=24)
    trend_parametrisation: Literal["centred", "non_centred"] = "centred"
    fourier_order: int = Field(default=2, ge=0, le=6)
    seasonality: Literal["hierarchical", "pooled"] = "hierarchical"
    regimes: list[Regime] = Field(default_factory=list)
    min_regime_months: int = Field(default=3, ge=0, le=24)
    priors: Priors = Field(default_factory=Priors)

    @model_validator(mode="after")
    def _unique(self) -> Baseline:
        names = [r.name for r in self.regimes]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"regime names must be unique; repeated: {sorted(dup)}")
        return self


class CommonFactor(StrictModel):
    """A common factor from control routes: the standardised log total of ``routes``
    with a per-series loading (prior Normal(0, priors.factor_sd))."""

    routes: list[str] = Field(min_length=1)


class KernelSpec(StrictModel):
    """A lag kernel: ``name`` in geometric, delayed, fdl, immediate; ``max_lag`` months;
    ``min_lag`` the first lag with weight (0 default; 1: the driver acts from the next
    month on, weights below it are zero and the rest renormalised); ``options`` passed to
    the kernel's constructor; ``fixed`` fixes its parameters (nothing sampled)."""

    name: str = "geometric"
    max_lag: int = Field(default=6, ge=0, le=36)
    min_lag: int = Field(default=0, ge=0, le=36)
    options: dict[str, Any] = Field(default_factory=dict)
    fixed: dict[str, float] | None = None

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        return check_choice(v, KERNEL_NAMES, kind="kernel")

    @model_validator(mode="after")
    def _lags(self) -> KernelSpec:
        if self.min_lag > self.max_lag:
            raise ValueError(f"min_lag ({self.min_lag}) must be <= max_lag ({self.max_lag})")
        if "min_lag" in self.options or "max_lag" in self.options:
            raise ValueError("set min_lag and max_lag on the kernel table, not in options")
        return self


class EventFilter(StrictModel):
    """Which catalogue events a driver or regime uses (``hybridflow.data.events``)."""

    family: EventFamily | None = None
    actor: list[str] | None = None
    target: list[Target] | None = None
    kinds: list[str] | None = None
    sectors: list[str] | None = None
    direction: list[Direction] | None = None
    min_confidence: Confidence = "medium"
    border: list[str] | None = None
    event_ids: list[str] | None = None
    exclude_ids: list[str] | None = None
    start: str | None = None
    end: str | None = None

    @field_validator(
        "actor", "border", "event_ids", "exclude_ids", "target", "direction", mode="before"
    )
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("kinds", "sectors", mode="before")
    @classmethod
    def _listify2(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v: list[str] | None) -> list[str] | None:
        for k in v or []:
            check_choice(k, EVENT_KINDS, kind="kind")
        return v

    @field_validator("sectors")
    @classmethod
    def _sectors(cls, v: list[str] | None) -> list[str] | None:
        for s in v or []:
            check_choice(s, SECTORS, kind="sector")
        return v

    @field_validator("start", "end")
    @classmethod
    def _months(cls, v: str | None) -> str | None:
        return _check_month(v, "month")


class ContinuousTransform(StrictModel):
    """How a continuous series becomes an exposure, in this order:

    ``winsorise`` (optional, a quantile ``q`` in (0.5, 1)): values above the series'
    ``q``-quantile over the window months it is observed are set to it, so that a few
    extreme months (the invasion's opening, say) cannot set the driver's scale alone;
    ``log`` (log1p, for counts); then ``standardise`` (centre and scale over those months,
    so one unit = one standard deviation) or, with ``standardise = false``, division by
    ``per``.

    ``per`` is the series' natural unit (10,000 losses a month, 100 km2): with
    ``standardise = false`` one unit of exposure is ``per`` raw units, so the effect and
    its prior are per natural unit; with ``standardise = true`` the fit stays per SD and
    effects are also reported per ``per`` units. It needs ``log = false`` (a log1p exposure
    has no constant effect per raw unit; such drivers are reported per interquartile
    range).
    """

    log: bool = False
    standardise: bool = True
    winsorise: float | None = None
    per: float | None = None

    @model_validator(mode="after")
    def _check(self) -> ContinuousTransform:
        if self.winsorise is not None and not 0.5 < self.winsorise < 1:
            raise ValueError(
                f"winsorise is the quantile above which values are capped, in (0.5, 1) "
                f"(e.g. 0.9); got {self.winsorise}"
            )
        if self.per is not None:
            if not self.per > 0:
                raise ValueError(f"per (the natural unit) must be > 0, got {self.per}")
            if self.log:
                raise ValueError(
                    "per (a natural unit) needs log = false: a log1p exposure has no constant "
                    "effect per raw unit (its effects are reported per interquartile range)"
                )
        return self


class _DriverBase(StrictModel):
    name: str
    description: str = ""
    kernel: KernelSpec = Field(default_factory=KernelSpec)
    prior: EffectPrior = Field(default_factory=EffectPrior)
    pooling: Literal["partial", "none", "complete"] = "partial"
    group_sd: float | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(f"name {v!r} must be lower_snake_case (a-z, 0-9, _)")
        return v

    @field_validator("group_sd")
    @classmethod
    def _gsd(cls, v: float | None) -> float | None:
        if v is not None and not v > 0:
            raise ValueError(f"bad prior: group_sd must be > 0, got {v}")
        return v


class EventsDriver(_DriverBase):
    """Catalogue events as pulses (``shape = "pulse"``: 1 in the effective month) or steps
    (1 from the effective month on). ``per_event = true`` gives every event its own effect,
    pooled around the driver's effect (prior sd of deviations: ``event_sd``)."""

    source: Literal["events"]
    filter: EventFilter = Field(default_factory=EventFilter)
    shape: EventShape = "pulse"
    per_event: bool = False
    event_sd: float | None = None

    @field_validator("event_sd")
    @classmethod
    def _esd(cls, v: float | None) -> float | None:
        if v is not None and not v > 0:
            raise ValueError(f"bad prior: event_sd must be > 0, got {v}")
        return v


class _ContinuousBase(_DriverBase):
    transform: ContinuousTransform = Field(default_factory=ContinuousTransform)
    fill_before: float | Literal["centre"] | None = None


class LossesDriver(_ContinuousBase):
    """Monthly Russian personnel losses (``losses_personnel``), from Feb 2022.

    ``fill_before`` (raw units, or "centre" = the series' mean) fills months before the
    data start; the builder then requires a step regime starting at the data start (the
    war onset) so the onset is not attributed to losses."""

    source: Literal["losses"]


class AcledDriver(_ContinuousBase):
    """ACLED events inside Russia of one ``event_type`` (data 2021-01 .. 2024-09)."""

    source: Literal["acled"]
    event_type: str = ACLED_EXPLOSIONS

    @field_validator("event_type")
    @classmethod
    def _etype(cls, v: str) -> str:
        return check_choice(v, ACLED_EVENT_TYPES, kind="ACLED event_type")


class TerritoryDriver(_ContinuousBase):
    """Monthly net change in area held by Russia. ``sign = "positive"``: Russian gains
    (max(change, 0)); ``"negative"``: Ukrainian gains (max(-change, 0)); ``"net"``: as is."""

    source: Literal["territory"]
    tracker: Tracker = LIVEUAMAP
    sign: Literal["positive", "negative", "net"] = "net"


class SpikeDriver(_DriverBase):
    """1 in months where ``series`` exceeds its trailing ``window``-month mean by ``k``
    trailing standard deviations (``hybridflow.design.drivers.spike_driver``)."""

    source: Literal["spike"]
    series: str = "losses_personnel"
    window: int = Field(default=12, ge=2, le=60)
    k: float = Field(default=1.0, gt=0)


class MilestoneDriver(_DriverBase):
    """A pulse in the month a cumulative ``series`` crosses each multiple of ``step``."""

    source: Literal["milestone"]
    series: str = "losses_personnel"
    step: float = Field(default=100_000, gt=0)


class PanelDriver(_ContinuousBase):
    """Any one-dimensional (``month``) panel variable, e.g. one a user supplied with
    ``--drivers``."""

    source: Literal["panel"]
    variable: str


Driver = Annotated[
    EventsDriver
    | LossesDriver
    | AcledDriver
    | TerritoryDriver
    | SpikeDriver
    | MilestoneDriver
    | PanelDriver,
    Field(discriminator="source"),
]
#: The ``source`` tags of the driver tables, in the union's order.
DRIVER_SOURCES: tuple[str, ...] = tuple(
    get_args(cls.model_fields["source"].annotation)[0] for cls in get_args(get_args(Driver)[0])
)


class ModelSpec(StrictModel):
    """A whole model. See ``docs/models.md`` for every option."""

    name: str
    description: str = ""
    hypothesis: Literal["H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8"] | None = None
    data: DataSpec = Field(default_factory=DataSpec)
    likelihood: Likelihood = Field(default_factory=Likelihood)
    baseline: Baseline = Field(default_factory=Baseline)
    common_factor: CommonFactor | None = None
    drivers: list[Driver] = Field(default_factory=list)

    _source_text: str | None = PrivateAttr(default=None)
    _source_path: Path | None = PrivateAttr(default=None)

    @field_validator("hypothesis", mode="before")
    @classmethod
    def _null(cls, v: Any) -> Any:
        if isinstance(v, str) and v.lower() in ("null", "none", ""):
            return None
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", v):
            raise ValueError(f"name {v!r} may hold only letters, digits, '_', '-', '.'")
        return v

    @model_validator(mode="after")
    def _cross(self) -> ModelSpec:
        names = [d.name for d in self.drivers]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"driver names must be unique; repeated: {sorted(dup)}")
        fam = self.likelihood.family
        if self.data.outcome == "counts" and fam not in COUNT_FAMILIES:
            raise ValueError(
                f"likelihood.family {fam!r} is for outcome 'share'; counts take 'negbin' or 'poisson'"
            )
        if self.data.outcome == "share" and fam not in SHARE_FAMILIES:
            raise ValueError(
                f"likelihood.family {fam!r} is for counts; outcome 'share' takes 'binomial' or "
                "'betabinomial'"
            )
        return self

    # -- convenience ---------------------------------------------------------------
    @property
    def start_month(self) -> pd.Timestamp:
        return pd.Timestamp(self.data.start + "-01")

    @property
    def end_month(self) -> pd.Timestamp:
        return pd.Timestamp(self.data.end + "-01")

    @property
    def source_text(self) -> str | None:
        """The TOML text the spec was read from (None when built in Python)."""
        return self._source_text

    @property
    def source_path(self) -> Path | None:
        return self._source_path

    def driver(self, name: str) -> Driver:
        for d in self.drivers:
            if d.name == name:
                return d
        raise KeyError(f"no driver {name!r}; drivers: {[d.name for d in self.drivers]}")

    def with_updates(self, **changes: Any) -> ModelSpec:
        """A validated copy with top-level sections replaced (dicts are merged)."""
        data = self.model_dump(mode="python")
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return parse_spec(data)


# Regime refers to EventFilter, defined after it.
Regime.model_rebuild()


# --------------------------------------------------------------------------- loading


def parse_spec(data: dict[str, Any], *, source: str | Path | None = None) -> ModelSpec:
    """Validate a dict (e.g. parsed TOML) into a :class:`ModelSpec`.

    Raises
    ------
    SpecError
        Naming every invalid field, what was wrong and the valid options.
    """
    return validate(
        ModelSpec, data, what="model spec", source=source, union_tags={"source": DRIVER_SOURCES}
    )


def load_spec(path: str | Path) -> ModelSpec:
    """Read and validate a model spec TOML file.

    Relative CSV paths in ``data.grouping`` are resolved against the spec's folder.

    Raises
    ------
    SpecError
        The file is missing, is not valid TOML, or does not validate.
    """
    path = Path(path)
    raw, text = read_toml(path, what="model spec")
    grouping = raw.get("data", {}).get("grouping") if isinstance(raw.get("data"), dict) else None
    if isinstance(grouping, str) and grouping.endswith(".csv") and not Path(grouping).is_absolute():
        raw["data"]["grouping"] = str((path.parent / grouping).resolve())
    spec = parse_spec(raw, source=path)
    spec._source_text = text
    spec._source_path = path
    return spec


def spec_to_json(spec: ModelSpec) -> str:
    """Canonical JSON of the validated spec (sorted keys, defaults filled in)."""
    return json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def spec_from_json(text: str) -> ModelSpec:
    """Inverse of :func:`spec_to_json`."""
    return parse_spec(json.loads(text))


def spec_hash(spec: ModelSpec) -> str:
    """sha256 of the canonical JSON of the validated spec.

    Two files that differ only in comments, key order or spelled-out defaults hash the same.
    """
    return hashlib.sha256(spec_to_json(spec).encode()).hexdigest()
