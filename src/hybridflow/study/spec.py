"""Study specs: ``studies/<name>/study.toml``, validated by pydantic.

A study names the model specs it fits, the hypotheses they test (which driver, which
predicted direction), the checks to run and how hard to sample. Profiles (``default``,
``quick``) override sampling and check sizes; everything else is the same in every profile,
so a quick run is a smaller version of the same study, not a different one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, Field, model_validator

from hybridflow.analysis.checks.controls import CONTROL_ROUTES
from hybridflow.analysis.checks.sensitivity import DEFAULT_KERNELS
from hybridflow.data.sources.frontex import EASTERN_BORDERS
from hybridflow.design.kernels import KERNEL_NAMES
from hybridflow.errors import SpecError
from hybridflow.inference.sampling import Sampling
from hybridflow.schema import StrictModel, check_choice, load_toml, validate

EpisodeMode = Literal["in_sample", "holdout"]
EPISODE_MODES: tuple[EpisodeMode, ...] = get_args(EpisodeMode)

#: A lag kernel's registry name (:data:`~hybridflow.design.kernels.KERNEL_NAMES`).
KernelName = Annotated[str, AfterValidator(lambda v: check_choice(v, KERNEL_NAMES, kind="kernel"))]


class StudySampling(Sampling):
    """How hard the headline fits sample (a :class:`~hybridflow.inference.sampling.Sampling`
    with the study's bounds, ``draws``/``tune`` per chain) and the root seed of every fit
    and check."""

    draws: int = Field(default=1000, ge=10)
    tune: int = Field(default=1000, ge=10)
    chains: int = Field(default=4, ge=1, le=16)
    seed: int = 20250601
    target_accept: float = Field(default=0.95, gt=0.5, lt=1.0)


#: The group the instrumentalisation hypotheses are graded on: the nationalities a sender
#: could instrumentalise ("Others" in the ukrrussbel and top-k groupings,
#: :func:`hybridflow.data.panel.group_nationalities`). UkrRussBel (refugees and nationals of
#: the belligerents) is reported beside it as a comparison, never pooled into the grade.
INSTRUMENTALISED_GROUP = "Others"


class Hypothesis(StrictModel):
    """One of the report's hypotheses and the model term that tests it.

    ``driver`` is the driver in ``model`` whose cumulative effect is graded;
    ``direction`` is what the report claims ("+" raises detections, "-" lowers them).
    The primary estimand: ``estimand = "group"`` (default) grades the effect on ``group``
    (default "Others", the report's claim being about the instrumentalised nationalities);
    ``"pooled"`` grades the population mean across groups, for a claim about every group.
    A share model (H7) has one series, the Others share: its estimand is the odds of that
    share. Every group's effect is reported either way.
    """

    id: str
    title: str
    claim: str
    model: str
    driver: str
    direction: Literal["+", "-"] = "+"
    estimand: Literal["group", "pooled"] = "group"
    group: str = INSTRUMENTALISED_GROUP
    #: Run the placebo and lead checks for this hypothesis (every driver kind has one).
    placebo: bool = True

    @property
    def estimand_label(self) -> str:
        """The primary estimand in words: the group's name, or "pooled"."""
        return self.group if self.estimand == "group" else "pooled"

    @property
    def graded_group(self) -> str | None:
        """The group graded (None: the population mean)."""
        return self.group if self.estimand == "group" else None


class Episode(StrictModel):
    """A documented episode used to validate anomaly scores (never given to the model)."""

    name: str
    start: str
    end: str
    route: str = EASTERN_BORDERS


class Sensitivity(StrictModel):
    """Variants of the headline models: each changes one choice at a time."""

    hypotheses: list[str] = Field(default_factory=list)
    prior_scales: list[float] = Field(default_factory=lambda: [0.5, 2.0])
    kernels: list[KernelName] = Field(default_factory=lambda: list(DEFAULT_KERNELS))
    window_starts: list[str] = Field(default_factory=lambda: ["2021-01", "2022-02"])
    groupings: list[Any] = Field(default_factory=lambda: [{"top_k": 5}])
    trend_scales: list[float] = Field(default_factory=lambda: [0.5, 2.0])


class GatedSampling(StrictModel):
    """Sampling of the checks whose every refit must pass the headline fits' convergence
    gate (placebo, leads, negative controls, sensitivity): R-hat <= 1.01 and bulk and tail
    ESS >= 400 need well over 400 draws in all (docs/checks.md gives the measurements
    behind the defaults). ``target_accept`` None: the study's ``[sampling]`` value."""

    draws: int = Field(default=1000, ge=10)
    tune: int = Field(default=500, ge=10)
    chains: int = Field(default=2, ge=1, le=16)
    target_accept: float | None = Field(default=None, gt=0.5, lt=1.0)

    def sampling(self, sampler: Any, target_accept: float) -> Sampling:
        """These settings as a :class:`Sampling` (``target_accept`` when unset here)."""
        return Sampling(draws=self.draws, tune=self.tune, chains=self.chains, sampler=sampler,
                        target_accept=self.target_accept or target_accept)


class Checks(StrictModel):
    """Which checks to run and how large they are."""

    #: Placebo offsets per hypothesis (fewer when fewer are admissible): 24 lets
    #: p = (k + 1) / (n + 1) reach 0.04, leaves room for 4 refits failing the gate
    #: (20 usable needed), and keeps gated refits for all hypotheses affordable
    #: (docs/checks.md).
    placebo_n: int = Field(default=24, ge=0)
    #: Limit placebo checks to these hypotheses (default: every hypothesis with placebo).
    placebo_hypotheses: list[str] = Field(default_factory=list)
    #: The placebo window: "exposure" (the months where the driver's real exposure can be
    #: non-zero) or "model" (the whole window); placebo_start/placebo_end (YYYY-MM) narrow
    #: it (e.g. placebo_start = "2022-02": war months only).
    placebo_window: Literal["exposure", "model"] = "exposure"
    placebo_start: str | None = None
    placebo_end: str | None = None
    #: Offsets in "months" or whole "years"; the smallest shift (None: the kernel's length).
    placebo_unit: Literal["months", "years"] = "months"
    placebo_min_offset: int | None = Field(default=None, ge=1)
    #: The placebo check passes when p = (k + 1) / (n + 1) <= placebo_alpha.
    placebo_alpha: float = Field(default=0.10, gt=0.0, lt=1.0)
    #: The lead test (with every placebo check): lead terms at these months.
    lead_months: list[int] = Field(default_factory=lambda: [1, 2, 3])
    leads_enabled: bool = True
    #: Sampling of the gated check refits (placebo, leads, controls, sensitivity).
    gated: GatedSampling = Field(default_factory=lambda: GatedSampling())
    negative_control_routes: list[str] = Field(default_factory=lambda: list(CONTROL_ROUTES))
    negative_control_hypotheses: list[str] = Field(default_factory=list)
    episodes: list[Episode] = Field(default_factory=list)
    episode_model: str = "null"
    #: How the episodes are scored: "in_sample" (the model saw their counts, only not as
    #: events: conservative) and/or "holdout" (their months left out of the fit: would the
    #: model have expected them?).
    episode_modes: list[EpisodeMode] = Field(
        default_factory=lambda: list(EPISODE_MODES), min_length=1
    )
    sensitivity: Sensitivity = Field(default_factory=lambda: Sensitivity())
    ppc: bool = True
    forecast_horizon: int = Field(default=3, ge=1, le=6)
    #: Sampling for the backtests' many refits: smaller than the main fits (the gated
    #: checks sample as ``gated`` says).
    refit_draws: int = Field(default=300, ge=10)
    refit_tune: int = Field(default=300, ge=10)
    refit_chains: int = Field(default=2, ge=1)
    sensitivity_enabled: bool = True
    placebo_enabled: bool = True
    controls_enabled: bool = True
    episodes_enabled: bool = True
    backtest_origins: int = Field(default=24, ge=0)
    #: Models to backtest (default: every count model of the study).
    backtest_models: list[str] = Field(default_factory=list)
    #: The audit the briefing reports (``hybridflow check audit``), relative to the study
    #: folder; a missing file is reported as "not run", a stale one as "stale".
    audit: str = "audit/audit.json"


class Profile(StrictModel):
    """Overrides for one profile; fields left out keep the study's values."""

    sampling: dict[str, Any] = Field(default_factory=dict)
    checks: dict[str, Any] = Field(default_factory=dict)
    models: list[str] | None = None
    fallback_model: str = "full"


class StudySpec(StrictModel):
    """A whole study."""

    name: str
    title: str
    subtitle: str = ""
    models_dir: str = "../../models"
    null_model: str = "null"
    models: list[str]
    hypotheses: list[Hypothesis]
    sampling: StudySampling = Field(default_factory=lambda: StudySampling())
    checks: Checks = Field(default_factory=lambda: Checks())
    profiles: dict[str, Profile] = Field(default_factory=dict)
    #: Set by a profile that fits fewer models: hypotheses whose own model is not fitted
    #: are read from this model instead (and the briefing says so).
    fallback_model: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> StudySpec:
        missing = {h.model for h in self.hypotheses} - set(self.models)
        if self.fallback_model is not None:
            if self.fallback_model not in self.models:
                raise ValueError(f"fallback_model {self.fallback_model!r} is not in 'models'")
            missing = set()
        if missing:
            raise ValueError(f"hypotheses use models not listed in 'models': {sorted(missing)}")
        if self.null_model not in self.models:
            raise ValueError(f"null_model {self.null_model!r} is not listed in 'models'")
        ids = [h.id for h in self.hypotheses]
        if len(set(ids)) != len(ids):
            raise ValueError("hypothesis ids must be unique")
        return self

    def gated_sampling(self) -> Sampling:
        """The gated checks' sampling (``checks.gated``; target acceptance and sampler of
        the headline fits unless set there)."""
        return self.checks.gated.sampling(self.sampling.sampler, self.sampling.target_accept)

    def with_profile(self, profile: str) -> StudySpec:
        """This study with a profile's overrides applied (``default``: unchanged)."""
        if profile == "default":
            return self
        if profile not in self.profiles:
            raise SpecError(
                f"unknown profile {profile!r}; this study has: default, "
                + ", ".join(sorted(self.profiles))
            )
        p = self.profiles[profile]
        data = self.model_dump()
        data["sampling"].update(p.sampling)
        data["checks"].update(p.checks)
        if p.models is not None:
            data["models"] = list(p.models)
            data["fallback_model"] = p.fallback_model
        return validate(StudySpec, data, what=f"study spec with profile {profile!r}")


def load_study(path: str | Path) -> tuple[StudySpec, Path]:
    """Read ``study.toml`` (``path`` may be the folder); return the spec and its folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "study.toml"
    return load_toml(path, StudySpec, what="study spec"), path.parent


def study_hash(spec: StudySpec) -> str:
    """A stable hash of a study's content."""
    text = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
