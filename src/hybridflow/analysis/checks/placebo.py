"""Placebo-in-time: is the effect at the real timing unusual among shifted timings?

The model is refitted with the tested driver's exposure moved in time by a random offset
and everything else (outcome, baseline, regimes, the other drivers) unchanged. If the
effect at the real timing is no more extreme than at many false timings, the "effect" is
what any timing of the same pattern picks up from the series' own ups and downs (the war's
opening months, trend, shocks the baseline misses).

The null: one offset for the whole driver
-----------------------------------------
A placebo keeps the driver's whole calendar pattern (how many events, their spacing, the
months they share: three EU packages fell in Feb 2022) and shifts it **as a block** by one
offset ``o``, circularly inside the driver's **placebo window** of ``L`` months:

- an events driver: every event in the window moves from window month ``i`` to
  ``(i + o) mod L`` (a step keeps its duration; events outside the window stay put);
- a continuous driver (losses, territory, ACLED, a panel series): the exposure's values in
  the window are rotated by ``o`` months (a circular block shift), values outside it stay.

The **placebo window** (``window``):

- ``"exposure"`` (default): the months in which the driver's real exposure can be non-zero,
  from its first event (events) or its first observed month (continuous) to the window's
  end (events) or its last observed month (continuous). The war drivers vary only from
  Feb 2022: their placebos stay in the war, where the real ones are, instead of moving
  war-time events into 2016-2021 and comparing war with peace;
- ``"model"``: the whole model window (the old, wider null).

``within = (start, end)`` (``YYYY-MM``, either None) narrows the window further (e.g.
``("2022-02", None)`` to compare only war months for a driver observed earlier).

**Offsets** (``unit``): ``"months"`` (default) admits ``o`` in ``min_offset .. L -
min_offset``: the real timing (``o = 0``) is excluded, and so are shifts by fewer than
``min_offset`` months either way, which would be the real series shifted by a month or two
(still correlated with it through the lag kernel and the series' own persistence).
``min_offset`` defaults to the driver's kernel length (``max_lag + 1``: a shifted event's
lag window no longer overlaps its real one), at least :data:`MIN_OFFSET`. ``"years"``
admits only whole-year offsets (multiples of 12) in that range, which also keep the
events' calendar months (seasonality). An offset that reproduces the real exposure exactly
is dropped too. The offsets are drawn **without replacement**; when fewer than ``n`` are
admissible, all are used and the result says so (``n_admissible``). A 39-month window and
a 7-month kernel admit 26 offsets.

Statistic and p-value
---------------------
Each refit gives the headline's studentised effect ``z = posterior mean / posterior sd``
(comparable across refits whose posteriors differ in width). With ``k`` of the ``n`` usable
placebos at least as extreme as the observed ``z``, ``p = (k + 1) / (n + 1)``: the upper
tail for a claimed ``+``, the lower for ``-`` (``p``, also ``p_upper``/``p_lower``), and
``p_two_sided`` on ``|z|``. The check passes when ``p <= alpha`` (default
:data:`PLACEBO_ALPHA`).

Gate
----
Every refit, the observed one included, passes the headline fits' convergence gate or is
left out and counted (``n_failed``). With fewer usable placebos than
:func:`~hybridflow.analysis.checks._common.enough_usable` allows, or an observed refit that
fails the gate, the check did not run (:meth:`PlaceboResult.outcome`).

Computation
-----------
The model is compiled once (:class:`~hybridflow.inference.refit.Refitter`, once per
worker through :func:`~hybridflow.inference.executor.cached`); each refit swaps only the
``driver_lagged`` container (and ``event_lagged`` for per-event drivers), rebuilt from the
shifted exposures exactly as :func:`~hybridflow.models.build.build_model` builds them. The
offsets and every refit's sampler seed derive from ``seed`` alone, so results are the same
on every executor.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.analysis.checks._common import (
    REFIT_SAMPLING,
    CheckOutcome,
    Direction,
    Headline,
    did_not_run,
    enough_usable,
    error_line,
    refit_task,
    run_tasks,
    usable,
)
from hybridflow.design import drivers as dd
from hybridflow.inference.executor import Executor, Task, TaskResult, spawn_seeds
from hybridflow.inference.sampling import Sampling
from hybridflow.models import components as comp
from hybridflow.models.build import (
    ModelData,
    events_with_sign,
    prepare_data,
    select_driver_events,
)
from hybridflow.models.data import DriverDesign
from hybridflow.models.spec import EventsDriver, ModelSpec
from hybridflow.months import format_month, month_range

__all__ = [
    "MIN_OFFSET",
    "PLACEBO_ALPHA",
    "PlaceboResult",
    "admissible_offsets",
    "driver_events",
    "permutation_p_values",
    "placebo_arrays",
    "placebo_in_time",
    "placebo_window",
    "shift_events",
    "shifted_exposure",
]

PlaceboWindow = Literal["exposure", "model"]
OffsetUnit = Literal["months", "years"]

#: The smallest default shift (months), whatever the kernel.
MIN_OFFSET = 3
#: The check passes when ``p = (k + 1) / (n + 1) <= PLACEBO_ALPHA``.
PLACEBO_ALPHA = 0.10


@dataclass
class PlaceboResult:
    """The observed effect and its placebo-in-time distribution.

    Attributes
    ----------
    driver, direction, hypothesis
        The driver, the claimed direction, the hypothesis id (``""`` outside a study).
    observed, observed_sd, observed_z, observed_p_positive, observed_converged
        The refit at the real timing: posterior mean (percent), sd, studentised effect,
        ``P(>0)``, and whether it passed the gate.
    offsets
        ``(n,)`` the placebos' offsets (months).
    placebo, placebo_z, placebo_p_positive
        ``(n,)`` the placebo refits' posterior means, studentised effects and ``P(>0)``
        (NaN where a refit failed).
    converged
        ``(n,)`` whether each placebo refit passed the gate.
    datings
        ``(n, n_events)`` placebo months of an events driver in event order (else empty).
    overlaps
        ``(n,)`` an events driver's share of placebo events that land in a month holding
        a real event (else empty): a shifted pattern of dense or near-periodic events
        shares months with the real one, and such a placebo carries part of the real
        effect (the test is then conservative).
    events
        An events driver's shifted event ids and real months (else empty).
    window
        The placebo window's months.
    n_admissible
        How many offsets the rule admits (``n`` is the smaller of it and the request).
    p, p_upper, p_lower, p_two_sided
        ``(k + 1) / (n + 1)`` over the usable placebos (see the module docstring).
    rank_p
        ``k / n`` in the claimed direction (the share of usable placebos as extreme).
    alpha, n_requested
        The pass threshold and the offsets asked for.
    rule
        The placebo rule in words.
    """

    driver: str
    direction: Direction
    observed: float
    observed_sd: float
    observed_z: float
    observed_p_positive: float
    observed_converged: bool
    offsets: np.ndarray
    placebo: np.ndarray
    placebo_z: np.ndarray
    placebo_p_positive: np.ndarray
    converged: np.ndarray
    datings: list[list[str]]
    events: pd.DataFrame
    window: list[str]
    overlaps: list[float]
    n_admissible: int
    n_requested: int
    p: float
    p_upper: float
    p_lower: float
    p_two_sided: float
    rank_p: float
    rule: str
    alpha: float = PLACEBO_ALPHA
    hypothesis: str = ""
    seconds: float = 0.0
    divergences: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refit_seconds: list[float] = field(default_factory=list)
    refit_cpu_seconds: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Number of placebo refits run."""
        return int(len(self.placebo))

    @property
    def n_used(self) -> int:
        """Placebo refits that passed the gate."""
        return int(np.sum(self.converged))

    @property
    def n_failed(self) -> int:
        """Placebo refits that failed (an error or the gate)."""
        return self.n - self.n_used

    def outcome(self) -> CheckOutcome:
        """The verdict for the grades (did not run: observed refit or too few placebos
        unusable)."""
        h, n = self.hypothesis, self.n
        if not self.observed_converged:
            return did_not_run("placebo", h, "the refit at the real timing failed the "
                               "convergence gate", n_requested=n, n_used=self.n_used)
        why = enough_usable(self.n_used, n, permutation=True)
        if self.n_admissible < self.n_requested and why:
            why += f" ({self.n_admissible} admissible offsets in a {len(self.window)}-month window)"
        if why:
            return did_not_run("placebo", h, why, n_requested=n, n_used=self.n_used)
        passed = bool(self.p <= self.alpha)
        verdict = "passed" if passed else "failed"
        return CheckOutcome(
            "placebo", h, True, passed, n, self.n_used, self.n_failed,
            statistic=self.observed_z, p_value=self.p,
            reason=(f"{verdict}: observed z = {self.observed_z:.2f}, p = {self.p:.3f} "
                    f"({'<=' if passed else '>'} {self.alpha:.2f}) over {self.n_used} "
                    "shifted timings"),
        )  # fmt: skip

    def table(self) -> pd.DataFrame:
        """One row per placebo: ``placebo`` index, ``offset``, ``months`` (``;``-joined, an
        events driver's), ``overlap`` (share of its events in real event months; NaN for a
        continuous driver), ``pct_mean``, ``z``, ``p_positive``, ``ok`` (passed the gate),
        ``divergences``, ``seconds`` and ``cpu_seconds`` of the refit."""
        return pd.DataFrame(
            {
                "placebo": np.arange(self.n),
                "offset": self.offsets.astype(int),
                "months": [";".join(d) for d in self.datings] or [""] * self.n,
                "overlap": self.overlaps or [np.nan] * self.n,
                "pct_mean": self.placebo,
                "z": self.placebo_z,
                "p_positive": self.placebo_p_positive,
                "ok": self.converged.astype(bool),
                "divergences": self.divergences or [0] * self.n,
                "seconds": self.refit_seconds or [np.nan] * self.n,
                "cpu_seconds": self.refit_cpu_seconds or [np.nan] * self.n,
            }
        )

    def summary(self) -> dict[str, Any]:
        """Headline numbers and the outcome, JSON-serialisable."""
        ok = self.converged.astype(bool)
        used, z = self.placebo[ok], self.placebo_z[ok]
        nan = float("nan")

        def q(v: np.ndarray, p: float) -> float:
            return float(np.quantile(v, p)) if v.size else nan

        outcome = self.outcome()
        return {
            "driver": self.driver, "direction": self.direction,
            "n_events": int(len(self.events)), "n_placebo": self.n,
            "n_asked": self.n_requested, "n_admissible": self.n_admissible,
            "n_used": self.n_used, "n_failed": self.n_failed,
            "window": f"{self.window[0]}..{self.window[-1]}" if self.window else "",
            "observed_pct_mean": self.observed, "observed_z": self.observed_z,
            "observed_p_positive": self.observed_p_positive,
            "observed_converged": self.observed_converged,
            "placebo_pct_median": q(used, 0.5), "placebo_pct_q05": q(used, 0.05),
            "placebo_pct_q95": q(used, 0.95), "placebo_z_median": q(z, 0.5),
            "placebo_z_q05": q(z, 0.05), "placebo_z_q95": q(z, 0.95),
            "placebo_overlap_mean": float(np.mean(self.overlaps)) if self.overlaps else nan,
            "p": self.p, "p_upper": self.p_upper, "p_lower": self.p_lower,
            "p_two_sided": self.p_two_sided, "rank_p": self.rank_p, "alpha": self.alpha,
            "ran": outcome.ran, "passed": outcome.passed, "reason": outcome.reason,
            "rule": self.rule, "seconds": self.seconds,
            **outcome.to_columns(),
            "refit_seconds_median": _median(self.refit_seconds),
            "refit_cpu_seconds_median": _median(self.refit_cpu_seconds),
        }  # fmt: skip


def _median(values: list[float]) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


def permutation_p_values(
    observed: float, placebo: np.ndarray, direction: Direction = "+"
) -> dict[str, float]:
    """Where the observed statistic falls among the placebos, as ``(k + 1) / (n + 1)``.

    Returns
    -------
    dict
        ``p_upper`` (``k`` = placebos ``>= observed``), ``p_lower`` (``<=``),
        ``p_two_sided`` (``|placebo| >= |observed|``), ``p`` = the tail in ``direction``
        (upper for ``+``) and ``rank_p = k / n`` of that tail. NaN placebos (failed refits)
        are left out; all NaN when none is left or ``observed`` is NaN.
    """
    if direction not in ("+", "-"):
        raise ValueError(f"direction must be '+' or '-', got {direction!r}")
    v = np.asarray(placebo, dtype=float)
    v = v[np.isfinite(v)]
    nan = float("nan")
    if v.size == 0 or not np.isfinite(observed):
        return dict.fromkeys(("p", "p_upper", "p_lower", "p_two_sided", "rank_p"), nan)
    n = v.size
    upper, lower = int(np.sum(v >= observed)), int(np.sum(v <= observed))
    two = int(np.sum(np.abs(v) >= abs(observed)))
    k = upper if direction == "+" else lower
    return {
        "p": (k + 1) / (n + 1),
        "p_upper": (upper + 1) / (n + 1),
        "p_lower": (lower + 1) / (n + 1),
        "p_two_sided": (two + 1) / (n + 1),
        "rank_p": k / n,
    }


# ---------------------------------------------------------------------------- the window


def _design(data: ModelData, driver: str) -> DriverDesign:
    if driver not in data.driver_names:
        raise ValueError(f"no driver {driver!r} in the model; drivers: {data.driver_names}")
    return data.drivers[data.driver_names.index(driver)]


def _events_driver(spec: ModelSpec, driver: str) -> EventsDriver | None:
    """The driver's spec if it is an events driver, else None (KeyError -> ValueError)."""
    try:
        d = spec.driver(driver)
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None
    return d if isinstance(d, EventsDriver) else None


def placebo_window(
    data: ModelData,
    driver: str,
    events: pd.DataFrame | None = None,
    *,
    window: PlaceboWindow = "exposure",
    within: tuple[str | None, str | None] | None = None,
) -> pd.DatetimeIndex:
    """The consecutive months inside which the driver's timing is shifted (see the module
    docstring); ``events`` is the driver's events (:func:`driver_events`), for an events
    driver's ``"exposure"`` window.

    Raises
    ------
    ValueError
        An unknown ``window``, or fewer than 2 months left.
    """
    ext = data.months_ext
    if window == "model":
        lo, hi = data.months[0], data.months[-1]
    elif window == "exposure":
        d = _design(data, driver)
        if d.source == "events":
            if events is None or events.empty:
                raise ValueError(f"driver {driver!r}: the exposure window needs its events")
            lo, hi = pd.DatetimeIndex(events["month"]).min(), ext[-1]
        else:
            lo, hi = pd.Timestamp(d.first_observed + "-01"), pd.Timestamp(d.last_observed + "-01")
    else:
        raise ValueError(f"window must be 'exposure' or 'model', got {window!r}")
    if within is not None:
        lo = max(lo, pd.Timestamp(within[0] + "-01")) if within[0] else lo
        hi = min(hi, pd.Timestamp(within[1] + "-01")) if within[1] else hi
    lo, hi = max(lo, ext[0]), min(hi, ext[-1])
    months = month_range(lo, hi) if lo <= hi else pd.DatetimeIndex([])
    if len(months) < 2:
        raise ValueError(
            f"driver {driver!r}: the placebo window ({window}, within={within}) has "
            f"{len(months)} month(s); nothing to shift"
        )
    return pd.DatetimeIndex(months)


def admissible_offsets(length: int, *, min_offset: int, unit: OffsetUnit = "months") -> np.ndarray:
    """Offsets ``min_offset .. length - min_offset`` (whole years only for ``"years"``)."""
    if min_offset < 1:
        raise ValueError(f"min_offset must be >= 1, got {min_offset}")
    if unit not in ("months", "years"):
        raise ValueError(f"unit must be 'months' or 'years', got {unit!r}")
    offsets = np.arange(min_offset, length - min_offset + 1)
    if unit == "years":
        offsets = offsets[offsets % 12 == 0]
    return offsets


def default_min_offset(data: ModelData, driver: str) -> int:
    """The driver's kernel length (``max_lag + 1``), at least :data:`MIN_OFFSET`."""
    return max(MIN_OFFSET, _design(data, driver).kernel.n_lags)


# ---------------------------------------------------------------------------- shifting


def _per_event_exposure(
    d: EventsDriver, events: pd.DataFrame, months_ext: pd.DatetimeIndex
) -> xr.DataArray:
    """``events``' exposure ``(month, event)`` to driver ``d``, as the model builds it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dd.event_exposure(
            events,
            months_ext,
            shape=d.shape,
            date_column="effective_date",
            sign_column="_sign",
            per_event=True,
            name=d.name,
        )


def driver_events(
    spec: ModelSpec, driver: str, events: pd.DataFrame, data: ModelData
) -> pd.DataFrame:
    """The catalogue events a driver uses in the model (exposure in window or history).

    Returns the selected rows (with a numeric ``_sign``) in the order the model uses
    them, plus ``month`` (the effective month).
    """
    d = _events_driver(spec, driver)
    if d is None:
        raise ValueError(f"driver {driver!r} has no events (source {spec.driver(driver).source!r})")
    sel = events_with_sign(select_driver_events(events, d.filter))
    ev = _per_event_exposure(d, sel, data.months_ext)
    active = [str(e) for e in ev["event"].values[(ev != 0).any("month").values]]
    out = sel.set_index(sel["event_id"].astype(str)).loc[active].reset_index(drop=True)
    out["month"] = pd.to_datetime(out["effective_date"]).dt.to_period("M").dt.to_timestamp()
    return out


def shift_events(events: pd.DataFrame, offset: int, window: pd.DatetimeIndex) -> pd.DataFrame:
    """A copy of ``events`` with those in ``window`` moved ``offset`` months, circularly.

    An event in window month ``i`` goes to month ``(i + offset) mod len(window)``;
    ``effective_date`` and ``start_date`` become the 1st of the new month, a set
    ``end_date`` moves by the same number of months (a step keeps its duration), events
    outside the window stay where they are.
    """
    out = events.copy()
    months = pd.DatetimeIndex(pd.to_datetime(out["effective_date"]).dt.to_period("M").dt.to_timestamp())
    pos = pd.Index(window).get_indexer(months)
    inside = pos >= 0
    new = months.to_numpy().copy()
    new[inside] = window[(pos[inside] + int(offset)) % len(window)].to_numpy()
    new_idx = pd.DatetimeIndex(new)
    shift = (new_idx.year - months.year) * 12 + (new_idx.month - months.month)
    old_dates = pd.to_datetime(out["effective_date"])
    out["effective_date"] = np.where(inside, new_idx, old_dates)
    out["effective_date"] = pd.to_datetime(out["effective_date"])
    if "start_date" in out:
        out["start_date"] = np.where(inside, new_idx, pd.to_datetime(out["start_date"]))
        out["start_date"] = pd.to_datetime(out["start_date"])
    if "end_date" in out:
        ends = pd.to_datetime(out["end_date"])
        out["end_date"] = [
            e + pd.DateOffset(months=int(s)) if pd.notna(e) and s else e
            for e, s in zip(ends, shift, strict=True)
        ]
    if "month" in out:
        out["month"] = new_idx
    return out


def shifted_exposure(exposure: xr.DataArray, offset: int, window: pd.DatetimeIndex) -> xr.DataArray:
    """``exposure(month)`` with its values in ``window`` rotated ``offset`` months forward
    (the value of window month ``i`` moves to ``(i + offset) mod len(window)``)."""
    values = exposure.values.copy()
    pos = pd.Index(pd.DatetimeIndex(exposure["month"].values)).get_indexer(window)
    if (pos < 0).any():
        raise ValueError("the placebo window leaves the exposure's months")
    values[pos] = np.roll(values[pos], int(offset))
    return exposure.copy(data=values)


def _arrays(data: ModelData, k: int, design: DriverDesign) -> dict[str, np.ndarray]:
    """``driver_lagged`` (and ``event_lagged``) with driver ``k``'s design replaced."""
    new_data = dataclasses.replace(
        data, drivers=[design if i == k else x for i, x in enumerate(data.drivers)]
    )
    values = {
        "driver_lagged": comp.lag_matrix(
            new_data.exposure_matrix().values, new_data.history, new_data.n_lags
        )
    }
    if design.per_event:
        _, _, _, ev_mat = new_data.event_table()
        values["event_lagged"] = comp.lag_matrix(ev_mat, new_data.history, new_data.n_lags)
    return values


def placebo_arrays(data: ModelData, driver: str, redated: pd.DataFrame) -> dict[str, np.ndarray]:
    """The ``pm.Data`` values that change when an events ``driver``'s events are
    ``redated``: ``driver_lagged`` (and ``event_lagged`` for a per-event driver), built
    as :func:`~hybridflow.models.build.build_model` builds them, every other driver's rows
    unchanged. ``redated`` must hold the same event ids as the model uses."""
    d = _events_driver(data.spec, driver)
    if d is None:
        raise ValueError(f"driver {driver!r} is not an events driver")
    k = data.driver_names.index(driver)
    design = data.drivers[k]
    ev = _per_event_exposure(d, redated.drop(columns=["month"], errors="ignore"), data.months_ext)
    new_design = dataclasses.replace(
        design,
        exposure=ev.sum("event").rename(driver).assign_coords(month=design.exposure["month"]),
        event_exposure=(
            ev.sel(event=[str(e) for e in design.event_exposure["event"].values]).assign_coords(
                month=design.event_exposure["month"]
            )
            if design.event_exposure is not None
            else None
        ),
    )
    return _arrays(data, k, new_design)


def shifted_arrays(
    data: ModelData,
    driver: str,
    offset: int,
    window: pd.DatetimeIndex,
    events: pd.DataFrame | None = None,
) -> dict[str, np.ndarray]:
    """The ``pm.Data`` values of the placebo at ``offset``: an events driver's ``events``
    shifted (:func:`shift_events`), a continuous driver's exposure rotated
    (:func:`shifted_exposure`)."""
    k = data.driver_names.index(driver)
    design = data.drivers[k]
    if design.source == "events":
        if events is None:
            raise ValueError(f"driver {driver!r}: shifting an events driver needs its events")
        return placebo_arrays(data, driver, shift_events(events, offset, window))
    moved = shifted_exposure(design.exposure, offset, window)
    return _arrays(data, k, dataclasses.replace(design, exposure=moved))


# ---------------------------------------------------------------------------- the check


@dataclass(frozen=True)
class _Plan:
    """What the check refits: the window, the drawn offsets, the arrays of each."""

    window: pd.DatetimeIndex
    offsets: np.ndarray
    n_admissible: int
    observed: dict[str, np.ndarray]
    placebos: list[dict[str, np.ndarray]]
    datings: list[list[str]]
    overlaps: list[float]
    rule: str


def _plan(
    data: ModelData, driver: str, events: pd.DataFrame | None, n: int, seed: int,
    window: PlaceboWindow, within: tuple[str | None, str | None] | None, unit: OffsetUnit,
    min_offset: int | None,
) -> _Plan:  # fmt: skip
    """Draw the offsets (their own random stream, independent of the sampler seeds)."""
    months = placebo_window(data, driver, events, window=window, within=within)
    m0 = default_min_offset(data, driver) if min_offset is None else int(min_offset)
    observed = shifted_arrays(data, driver, 0, months, events)
    arrays = {int(o): shifted_arrays(data, driver, int(o), months, events)
              for o in admissible_offsets(len(months), min_offset=m0, unit=unit)}  # fmt: skip
    # An offset that reproduces the real exposure (a periodic pattern) is no placebo.
    admissible = [o for o, values in arrays.items()
                  if not all(np.array_equal(v, observed[key]) for key, v in values.items())]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x91ACEB0]))
    drawn = np.array(rng.permutation(admissible)[:n] if admissible else [], dtype=int)
    datings = (
        [[format_month(m) for m in shift_events(events, int(o), months)["effective_date"]]
         for o in drawn] if events is not None else []
    )  # fmt: skip
    real = {format_month(m) for m in events["month"]} if events is not None else set()
    overlaps = [float(np.mean([m in real for m in d])) for d in datings]
    rule = (
        f"the whole timing shifted by one offset, circularly within {format_month(months[0])}.."
        f"{format_month(months[-1])} ({len(months)} months, window '{window}'"
        + (f", within {within}" if within else "") + f"); offsets in {unit} from {m0} to "
        f"{len(months) - m0} months either way, the real timing excluded: {len(admissible)} "
        f"admissible, {len(drawn)} drawn without replacement"
        + (f" (fewer than the {n} asked for: all used)" if len(admissible) < n else "")
        + "; other drivers unchanged"
    )
    return _Plan(months, drawn, len(admissible), observed, [arrays[int(o)] for o in drawn],
                 datings, overlaps, rule)


def _with_base(plan: _Plan, values: Mapping[str, np.ndarray]) -> _Plan:
    """The plan's refit arrays on top of other base values (the shifted driver wins)."""
    base = {str(k): np.asarray(v) for k, v in values.items()}
    return dataclasses.replace(
        plan, observed={**base, **plan.observed},
        placebos=[{**base, **arrays} for arrays in plan.placebos],
    )


def _refit_tasks(
    data: ModelData, plan: _Plan, headline: Headline, sampling: Sampling, seed: int
) -> list[Task]:
    """The observed refit (task ``observed``, first of ``spawn_seeds(seed, n + 1)``) and
    one refit per offset (``placebo-<i>``, the next seeds)."""
    seeds = spawn_seeds(seed, len(plan.placebos) + 1)
    tasks = [Task("observed", refit_task, (data, plan.observed, headline, sampling), seed=seeds[0])]
    for i, values in enumerate(plan.placebos):
        tasks.append(
            Task(f"placebo-{i:03d}", refit_task, (data, values, headline, sampling),
                 seed=seeds[i + 1])
        )  # fmt: skip
    return tasks


def _column(results: list[TaskResult], key: str, *, gated: bool = True) -> np.ndarray:
    """A refit value per task (NaN where the task failed, or did not pass the gate)."""
    return np.array(
        [r.value[key] if (usable(r) if gated else r.ok) else np.nan for r in results], dtype=float
    )


def _placebo_result(
    headline: Headline, hypothesis: str, results: list[TaskResult], sel: pd.DataFrame | None,
    plan: _Plan, n: int, alpha: float, t0: float,
) -> PlaceboResult:  # fmt: skip
    """The check's result from its refits (the observed one first).

    Raises
    ------
    RuntimeError
        The observed refit raised an error.
    """
    obs, placebos = results[0], results[1:]
    if not obs.ok:
        raise RuntimeError(f"placebo-in-time: the observed refit failed: {error_line(obs)}")
    o = obs.value
    z = _column(placebos, "z")
    p = permutation_p_values(float(o["z"]), z, headline.direction)
    events = pd.DataFrame({"event_id": [], "month": []})
    if sel is not None:
        events = pd.DataFrame({"event_id": sel["event_id"].astype(str),
                               "month": [format_month(m) for m in pd.DatetimeIndex(sel["month"])]})
    return PlaceboResult(
        driver=headline.driver, direction=headline.direction, hypothesis=hypothesis,
        observed=float(o["mean"]), observed_sd=float(o["sd"]), observed_z=float(o["z"]),
        observed_p_positive=float(o["p_positive"]), observed_converged=bool(o["converged"]),
        offsets=plan.offsets, placebo=_column(placebos, "mean", gated=False),
        placebo_z=_column(placebos, "z", gated=False),
        placebo_p_positive=_column(placebos, "p_positive", gated=False),
        converged=np.array([usable(r) for r in placebos], dtype=bool),
        datings=plan.datings, overlaps=plan.overlaps, events=events,
        window=[format_month(m) for m in plan.window],
        n_admissible=plan.n_admissible, n_requested=n, alpha=alpha, rule=plan.rule,
        seconds=time.perf_counter() - t0,
        divergences=[int(r.value["divergences"]) if r.ok else -1 for r in placebos],
        errors=[f"{r.key}: {error_line(r)}" if not r.ok else f"{r.key}: {r.value['failing']}"
                for r in placebos if not usable(r)],
        refit_seconds=list(_column(placebos, "seconds", gated=False)),
        refit_cpu_seconds=list(_column(placebos, "cpu_seconds", gated=False)),
        **p,
    )  # fmt: skip


def placebo_in_time(
    spec: ModelSpec,
    driver: str,
    panel: xr.Dataset,
    events: pd.DataFrame | None,
    *,
    n: int = 24,
    seed: int = 0,
    sampling: Sampling = REFIT_SAMPLING,
    direction: Direction = "+",
    group: str | None = None,
    route: str | None = None,
    window: PlaceboWindow = "exposure",
    within: tuple[str | None, str | None] | None = None,
    unit: OffsetUnit = "months",
    min_offset: int | None = None,
    alpha: float = PLACEBO_ALPHA,
    hypothesis: str = "",
    executor: Executor | None = None,
    data: ModelData | None = None,
    values: Mapping[str, np.ndarray] | None = None,
    progress: bool = False,
) -> PlaceboResult:
    """Placebo-in-time check of any driver (events or continuous).

    Parameters
    ----------
    spec, driver
        The model spec and the driver whose timing is shifted.
    panel, events
        The panel and the event catalogue the model is fitted on.
    n
        Placebo offsets asked for (default 24: ``p = (k + 1) / 25`` can reach 0.04, and 4
        refits may fail the gate before the check cannot run); fewer when fewer are
        admissible.
    seed
        Root seed: the offsets and every refit's sampler seed derive from it, so results
        do not depend on the executor.
    sampling
        Sampler settings of every refit, observed and placebo alike; size them so that the
        refits pass the convergence gate (the module docstring).
    direction
        The claimed direction: ``p`` is the upper tail for ``+``.
    group, route
        Effect reported: None = the driver's pooled effect (``effect_mean``), else the
        effect in that series.
    window, within, unit, min_offset
        The placebo rule (see the module docstring).
    alpha
        The check passes when ``p <= alpha``.
    hypothesis
        The hypothesis id the outcome names.
    executor
        Runs the refits (default: serially in this process).
    data
        The prepared model data, if already at hand.
    values
        Data-container values that replace ``data``'s in every refit, observed and placebo
        alike (e.g. a simulated outcome: the audit checks its worlds this way). The model
        stays the one compiled for ``data``; only the driver's shifted arrays are put on top.
    """
    t0 = time.perf_counter()
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    is_events = _events_driver(spec, driver) is not None
    if data is None:
        data = prepare_data(spec, panel, events)
    sel = None
    if is_events:
        if events is None:
            raise ValueError(f"driver {driver!r} is an events driver: pass the event catalogue")
        sel = driver_events(spec, driver, events, data)
    plan = _plan(data, driver, sel, n, seed, window, within, unit, min_offset)
    headline = Headline(driver, group=group, route=route, direction=direction)
    if values:
        plan = _with_base(plan, values)
    tasks = _refit_tasks(data, plan, headline, sampling, seed)
    results = run_tasks(tasks, executor, progress=progress)
    return _placebo_result(headline, hypothesis, results, sel, plan, n, alpha, t0)
