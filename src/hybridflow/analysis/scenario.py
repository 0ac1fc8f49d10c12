"""Forecast scenarios: what happens after the last observed month, declared in a TOML file.

A scenario says how the drivers and regimes of a model behave in the forecast months.
Everything it does not mention follows the **baseline**: no new events (no new sanctions
packages, no new border measures; measures already in force continue as the catalogue
dates them), every continuous driver held at its value in the last fitted month, every
regime as its definition dates it. A scenario file holds::

    name = "eu_package_energy"
    description = "A new EU package on oil and the shadow fleet in the first forecast month."

    [[events]]                  # synthetic catalogue events (see hybridflow.data.events)
    month = "+1"                # "+k" = k-th forecast month, or a calendar month "2025-07"
    actor = "EU"
    target = "Russia"
    kind = "sanctions_package"
    sectors = ["energy_oil", "shadow_fleet"]

    [[levels]]                  # continuous drivers, in the driver's own units per month
    driver = "losses"
    value = 30000               # a number, "last" (hold the last fitted value) or "observed"
    from = "+1"

    [[regimes]]                 # switch a regime of the model on or off
    name = "fi_closure"
    state = "off"               # e.g. Finland reopens its border
    from = "+2"

Events go through the model's own machinery: they are added to the event catalogue and
every driver whose filter matches them gets their exposure, with the driver's shape
(pulse or step) and lag kernel. Months are resolved against the first forecast month, so
one file serves every forecast origin (backtests included).

Everything is validated strictly (unknown keys, kinds, sectors... are errors naming the
field and the valid options); problems are :class:`~hybridflow.errors.SpecError`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field, field_validator, model_validator

from hybridflow.data.events import (
    COLUMNS,
    KINDS,
    SANCTIONS_KINDS,
    SECTORS,
    TARGETS,
    MeasureDirection,
    Target,
)
from hybridflow.errors import SpecError
from hybridflow.schema import StrictModel, check_choice, format_options, load_toml, validate

__all__ = [
    "BASELINE",
    "Level",
    "RegimeSwitch",
    "Scenario",
    "ScenarioEvent",
    "load_scenario",
    "parse_scenario",
    "resolve_month",
    "scenario_events_frame",
]

#: Name of the default scenario (nothing new happens).
BASELINE = "baseline"

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
_REL_RE = re.compile(r"^\+(\d{1,3})$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ACTOR_RE = re.compile(r"^[A-Z]{2,3}$")
_DYAD_RE = re.compile(r"^[A-Z]{2}-[A-Z]{2}$")


def _check_month_text(value: Any, field: str) -> str:
    text = str(value).strip()
    m = _MONTH_RE.match(text)
    if m and 1 <= int(m.group(2)) <= 12:
        return text
    r = _REL_RE.match(text)
    if r and int(r.group(1)) >= 1:
        return text
    raise ValueError(
        f"{field} must be a calendar month 'YYYY-MM' or '+k' (the k-th forecast month, "
        f"k >= 1), got {value!r}"
    )


def resolve_month(text: str, first: pd.Timestamp) -> pd.Timestamp:
    """A scenario month as a month-start Timestamp.

    Parameters
    ----------
    text
        ``"YYYY-MM"`` or ``"+k"`` (``"+1"`` is ``first``, the first forecast month).
    first
        The first forecast month.
    """
    r = _REL_RE.match(text)
    if r:
        return pd.Timestamp(first) + pd.DateOffset(months=int(r.group(1)) - 1)
    return pd.Timestamp(text + "-01")


class ScenarioEvent(StrictModel):
    """A hypothetical event, added to the catalogue for the forecast months.

    ``family`` follows from ``kind`` (sanctions kinds: ``sanctions``; border kinds:
    ``border_policy``). Sanctions events need ``target`` and at least one sector; border
    events need at least one ``border`` dyad (``"BY-PL"``) and take no target or sectors,
    as in the catalogue. ``end`` (a month) bounds a step-shaped measure; without it the
    measure lasts to the end of the forecast.
    """

    month: str
    actor: list[str]
    kind: str
    target: Target | None = None
    sectors: list[str] = Field(default_factory=list)
    border: list[str] = Field(default_factory=list)
    direction: MeasureDirection = "tighten"
    end: str | None = None
    label: str = ""

    @field_validator("month")
    @classmethod
    def _month(cls, v: Any) -> str:
        return _check_month_text(v, "month")

    @field_validator("end")
    @classmethod
    def _end(cls, v: Any) -> str | None:
        return None if v is None else _check_month_text(v, "end")

    @field_validator("actor", "sectors", "border", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("actor")
    @classmethod
    def _actor(cls, v: list[str]) -> list[str]:
        if not v or not all(_ACTOR_RE.match(a) for a in v):
            raise ValueError(
                f"actor must be upper-case state codes such as 'EU', 'US', 'PL'; got {v!r}"
            )
        return v

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        return check_choice(v, KINDS, kind="kind")

    @field_validator("sectors")
    @classmethod
    def _sectors(cls, v: list[str]) -> list[str]:
        for s in v:
            check_choice(s, SECTORS, kind="sector")
        if len(set(v)) != len(v):
            raise ValueError(f"a sector is listed twice in {v!r}")
        return v

    @field_validator("border")
    @classmethod
    def _border(cls, v: list[str]) -> list[str]:
        for b in v:
            if not _DYAD_RE.match(b):
                raise ValueError(f"border dyads look like 'BY-PL' or 'RU-FI'; got {b!r}")
        return v

    @model_validator(mode="after")
    def _family_rules(self) -> ScenarioEvent:
        if self.kind in SANCTIONS_KINDS:
            if self.target is None:
                raise ValueError(f"a {self.kind} event needs a target: one of {format_options(TARGETS)}")
            if not self.sectors:
                raise ValueError(
                    f"a {self.kind} event needs at least one sector from {format_options(SECTORS)}"
                )
            if self.border:
                raise ValueError("sanctions events have no border dyads")
        else:
            if self.target is not None or self.sectors:
                raise ValueError(f"a {self.kind} (border policy) event takes no target or sectors")
            if not self.border:
                raise ValueError(
                    f"a {self.kind} event needs at least one border dyad, e.g. 'BY-PL'"
                )
        return self

    @property
    def family(self) -> str:
        return "sanctions" if self.kind in SANCTIONS_KINDS else "border_policy"


class Level(StrictModel):
    """A continuous driver's value from a month on.

    ``driver`` names a driver of the model (e.g. ``losses``) or, for spike and milestone
    drivers, the panel series they are computed from (e.g. ``losses_personnel``).
    ``value`` is in the driver's own units per month, before any log or standardisation
    (Russian personnel losses per month, ACLED events per month, km2 of territory per
    month as the driver's sign selects it), or ``"last"`` (the value in the last fitted
    month) or ``"observed"`` (the panel's data for those months; an error where there are
    none: never imputed silently).
    """

    driver: str
    value: float | Literal["last", "observed"]
    from_: str = Field(default="+1", alias="from")

    @field_validator("from_")
    @classmethod
    def _from(cls, v: Any) -> str:
        return _check_month_text(v, "from")

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("value must be a number, 'last' or 'observed'")
        if isinstance(v, int | float) and not math.isfinite(float(v)):
            raise ValueError(f"value must be finite, got {v!r}")
        if isinstance(v, str) and v not in ("last", "observed"):
            raise ValueError(f"value must be a number, 'last' or 'observed'; got {v!r}")
        return v


class RegimeSwitch(StrictModel):
    """Turn a regime of the model on or off from a month on (a border closure, a reopening).

    ``name`` is a regime of the model spec (``fi_closure``) or one of its event columns
    (``closures[BP-039]``). A regime the model does not have cannot be forecast: the fit
    holds no estimate of its effect.
    """

    name: str
    state: Literal["on", "off"]
    from_: str = Field(default="+1", alias="from")

    @field_validator("from_")
    @classmethod
    def _from(cls, v: Any) -> str:
        return _check_month_text(v, "from")


class Scenario(StrictModel):
    """A forecast scenario (see the module docstring).

    An empty scenario is the baseline.
    """

    name: str
    description: str = ""
    events: list[ScenarioEvent] = Field(default_factory=list)
    levels: list[Level] = Field(default_factory=list)
    regimes: list[RegimeSwitch] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(f"name {v!r} may hold only letters, digits, '_', '-', '.'")
        return v

    @model_validator(mode="after")
    def _no_duplicates(self) -> Scenario:
        seen: set[tuple[str, str]] = set()
        for lv in self.levels:
            key = (lv.driver, lv.from_)
            if key in seen:
                raise ValueError(f"levels: driver {lv.driver!r} is given twice from {lv.from_!r}")
            seen.add(key)
        seen = set()
        for rg in self.regimes:
            key = (rg.name, rg.from_)
            if key in seen:
                raise ValueError(f"regimes: {rg.name!r} is switched twice from {rg.from_!r}")
            seen.add(key)
        return self

    @classmethod
    def baseline(cls) -> Scenario:
        """The default scenario: no new events, drivers held, regimes as dated."""
        return cls(
            name=BASELINE,
            description=(
                "No new events; continuous drivers held at their last fitted value; "
                "regimes as their definitions date them."
            ),
        )

    @property
    def is_empty(self) -> bool:
        """True when the scenario changes nothing relative to the baseline."""
        return not (self.events or self.levels or self.regimes)


def parse_scenario(data: dict[str, Any], *, source: str | Path | None = None) -> Scenario:
    """Validate a dict (parsed TOML) into a :class:`Scenario`.

    Raises
    ------
    SpecError
        Naming every invalid field, what was wrong and the valid options.
    """
    return validate(Scenario, data, what="scenario", source=source)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file.

    Raises
    ------
    SpecError
        The file is missing, is not valid TOML, or does not validate.
    """
    return load_toml(path, Scenario, what="scenario file")


def scenario_events_frame(
    scenario: Scenario, first: pd.Timestamp, *, horizon_end: pd.Timestamp | None = None
) -> pd.DataFrame:
    """The scenario's events as catalogue rows (the columns of ``load_events()``).

    Each event is dated the 1st of its month (``date_precision = "month"``), with
    confidence ``high`` and ids ``scenario:<name>:<k>``.

    Parameters
    ----------
    scenario
        The scenario.
    first
        The first forecast month (resolves ``"+k"`` months).
    horizon_end
        The last forecast month; when given, events dated after it are left out (they
        cannot change the forecast) and an event before ``first`` is an error.

    Raises
    ------
    SpecError
        An event dated before the first forecast month (the past is observed).
    """
    rows: list[dict[str, Any]] = []
    for k, ev in enumerate(scenario.events):
        month = resolve_month(ev.month, first)
        if month < first:
            raise SpecError(
                f"scenario '{scenario.name}': events[{k}] is dated {month:%Y-%m}, before the "
                f"first forecast month {first:%Y-%m} (the past is observed, not a scenario)"
            )
        if horizon_end is not None and month > horizon_end:
            continue
        end = None if ev.end is None else resolve_month(ev.end, first) + pd.offsets.MonthEnd(0)
        if end is not None and end < month:
            raise SpecError(f"scenario '{scenario.name}': events[{k}].end is before its month")
        rows.append(
            {
                "event_id": f"scenario:{scenario.name}:{k + 1}",
                "family": ev.family,
                "actor": ";".join(ev.actor),
                "target": ev.target or "",
                "kind": ev.kind,
                "announced_date": pd.NaT,
                "start_date": month,
                "end_date": pd.NaT if end is None else end.normalize(),
                "package_number": pd.NA,
                "sectors": tuple(ev.sectors),
                "border": tuple(ev.border),
                "direction": ev.direction,
                "confidence": "high",
                "date_precision": "month",
                "summary": ev.label
                or f"scenario {scenario.name}: {ev.kind} by {';'.join(ev.actor)}",
                "source": f"scenario {scenario.name}",
                "note": "",
            }
        )
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for col in ("announced_date", "start_date", "end_date"):
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    frame["package_number"] = frame["package_number"].astype("Int64")
    frame["effective_date"] = frame["start_date"]
    return frame
