"""The lead test: does detections' past "respond" to the driver's future?

A driver cannot act before it happens. If detections in month ``t`` move with the driver's
value in ``t + L`` (a package not yet adopted, losses not yet suffered), the model's
"effect" is picking up something that precedes the driver: a trend, the war's opening
months, an anticipation the model does not describe.

The test fits the hypothesis' own model once more with, **beside** the real driver (its
kernel and prior unchanged), one lead term per ``L`` in ``leads`` (default 1, 2, 3): the
driver's exposure moved ``L`` months earlier (exposure at ``t`` is the real ``x[t + L]``),
each with an immediate kernel and the driver's own prior; an events driver's lead terms
are aggregate (no per-event effects). The last ``L`` months, whose future is not in the
data, take a neutral value: 0 for events, the exposure's mean over its observed months for
a continuous driver. The leads sit next to the real lags rather than replacing them: a
driver replaced by its lead-``L`` copy under a 6-month kernel still covers the real
months at lags ``L..6`` and would take the real effect over.

Verdict: the check **fails** when some lead effect mimics the claim at least as strongly
as the real effect does in the same fit: the claimed sign with ``p_direction >=
p_threshold`` (default 0.9) and ``|lead mean| >= ratio * |real mean|`` (default ``ratio =
1``). It passes otherwise, and did not run when the fit fails the convergence gate. (For a
hypothesis worth grading the real effect has the claimed sign, so this is "a lead as large
as the real one, of the same sign".)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.analysis.checks._common import (
    VARIANT_SAMPLING,
    CheckOutcome,
    Direction,
    did_not_run,
    error_line,
    fit_task,
    run_tasks,
    summarise_draws,
)
from hybridflow.inference.executor import Executor, Task, spawn_seeds
from hybridflow.inference.sampling import Sampling
from hybridflow.models.build import ModelData, prepare_data
from hybridflow.models.spec import ModelSpec, parse_spec

__all__ = [
    "LEADS",
    "LEAD_COLUMNS",
    "LeadResult",
    "lead_data",
    "lead_name",
    "lead_spec",
    "lead_test",
    "led_exposure",
]

#: The leads tested by default (months).
LEADS: tuple[int, ...] = (1, 2, 3)
#: A lead effect this credible in the claimed direction, and as large, fails the test.
LEAD_P = 0.9
#: The columns of :attr:`LeadResult.table`.
LEAD_COLUMNS = ["term", "lead", "mean", "sd", "low", "high", "p_positive", "p_direction",
                "z", "as_large"]  # fmt: skip


def lead_name(driver: str, lead: int) -> str:
    """The lead term's driver name, ``<driver>_lead<L>``."""
    return f"{driver}_lead{lead}"


def lead_spec(spec: ModelSpec, driver: str, leads: Sequence[int] = LEADS) -> ModelSpec:
    """``spec`` with one lead copy of ``driver`` per lead (immediate kernel, aggregate).

    Raises
    ------
    ValueError
        No lead, a lead < 1, or a lead name the spec already uses.
    """
    if not leads or min(leads) < 1 or len(set(leads)) != len(leads):
        raise ValueError(f"leads must be distinct whole months >= 1, got {list(leads)}")
    dumped = spec.model_dump(mode="python")
    real = next((d for d in dumped["drivers"] if d["name"] == driver), None)
    if real is None:
        raise ValueError(f"no driver {driver!r} in spec '{spec.name}'")
    names = {d["name"] for d in dumped["drivers"]}
    for lead in leads:
        copy = {**real, "name": lead_name(driver, lead),
                "kernel": {"name": "immediate", "max_lag": 0}}  # fmt: skip
        copy.pop("description", None)
        if "per_event" in copy:
            copy["per_event"] = False
        if copy["name"] in names:
            raise ValueError(f"spec '{spec.name}' already has a driver {copy['name']!r}")
        dumped["drivers"].append(copy)
    dumped["name"] = f"{spec.name}.leads"
    return parse_spec(dumped)


def led_exposure(exposure: xr.DataArray, lead: int, fill: float) -> xr.DataArray:
    """``exposure(month)`` moved ``lead`` months earlier: value at ``t`` = ``x[t + lead]``,
    the last ``lead`` months ``fill``."""
    values = np.full_like(exposure.values, float(fill), dtype=float)
    if lead < len(values):
        values[: len(values) - lead] = exposure.values[lead:]
    return exposure.copy(data=values)


def _neutral(data: ModelData, driver: str) -> float:
    """0 for events; a continuous driver's mean over its observed months."""
    d = data.drivers[data.driver_names.index(driver)]
    if d.source == "events":
        return 0.0
    seen = d.exposure.sel(month=slice(d.first_observed + "-01", d.last_observed + "-01"))
    return float(seen.mean())


def lead_data(
    spec: ModelSpec,
    driver: str,
    panel: xr.Dataset,
    events: pd.DataFrame | None,
    leads: Sequence[int] = LEADS,
) -> ModelData:
    """The lead model's data: :func:`lead_spec`'s, the lead terms' exposures moved."""
    data = prepare_data(lead_spec(spec, driver, leads), panel, events)
    real = data.drivers[data.driver_names.index(driver)]
    fill = _neutral(data, driver)
    drivers = list(data.drivers)
    for lead in leads:
        k = data.driver_names.index(lead_name(driver, lead))
        moved = led_exposure(real.exposure, lead, fill).rename(lead_name(driver, lead))
        drivers[k] = dataclasses.replace(drivers[k], exposure=moved)
    return dataclasses.replace(data, drivers=drivers)


@dataclass(frozen=True)
class LeadResult:
    """The lead model's real and lead effects.

    Attributes
    ----------
    table
        :data:`LEAD_COLUMNS`: one row for the real driver (``term = "real"``, ``lead = 0``)
        and one per lead; percent effects with ``hdi_prob`` HDIs, ``p_direction`` =
        P(the claimed sign), ``as_large`` = the row fails the test.
    converged, note
        The lead fit's gate, and why it failed or the builder's notes.
    """

    driver: str
    direction: Direction
    hypothesis: str
    table: pd.DataFrame
    converged: bool
    note: str
    p_threshold: float = LEAD_P
    ratio: float = 1.0
    seconds: float = 0.0

    def outcome(self) -> CheckOutcome:
        """The verdict for the grades."""
        h = self.hypothesis
        if not self.converged or self.table.empty:
            return did_not_run("lead", h, f"the lead fit is not usable: {self.note}",
                               n_requested=1)  # fmt: skip
        leads = self.table[self.table["term"] != "real"]
        real = float(self.table.loc[self.table["term"] == "real", "mean"].iloc[0])
        # The largest lead in the claimed direction over the size of the real effect.
        sign = 1.0 if self.direction == "+" else -1.0
        worst = float((sign * leads["mean"]).max() / abs(real)) if len(leads) and real else np.nan
        bad = leads[leads["as_large"].astype(bool)]
        passed = bad.empty
        if passed:
            reason = (f"passed: no lead effect in the claimed direction with P >= "
                      f"{self.p_threshold:.2f} as large as the real one (leads "
                      f"{', '.join(map(str, leads['lead']))})")
        else:
            r = bad.iloc[0]
            reason = (f"failed: lead {int(r['lead'])} effect {r['mean']:+.1f}% "
                      f"(P direction {r['p_direction']:.2f}) vs real {real:+.1f}%")
        return CheckOutcome("lead", h, True, passed, 1, 1, 0, statistic=worst, reason=reason)


def _lead_rows(
    draws: dict[str, np.ndarray], driver: str, leads: Sequence[int], direction: Direction,
    hdi_prob: float, p_threshold: float, ratio: float,
) -> pd.DataFrame:  # fmt: skip
    """The real and lead rows of :attr:`LeadResult.table`."""
    real = float(np.mean(draws[driver]))
    rows = []
    for term, lead in [("real", 0), *[(f"lead {lead}", lead) for lead in leads]]:
        name = driver if lead == 0 else lead_name(driver, lead)
        s = summarise_draws(draws[name], direction=direction, hdi_prob=hdi_prob)
        large = lead > 0 and s["p_direction"] >= p_threshold and abs(s["mean"]) >= ratio * abs(real)
        rows.append({"term": term, "lead": lead, **s, "as_large": bool(large)})
    return pd.DataFrame(rows)[LEAD_COLUMNS]


def lead_test(
    spec: ModelSpec,
    driver: str,
    panel: xr.Dataset,
    events: pd.DataFrame | None,
    *,
    leads: Sequence[int] = LEADS,
    direction: Direction = "+",
    group: str | None = None,
    route: str | None = None,
    hypothesis: str = "",
    p_threshold: float = LEAD_P,
    ratio: float = 1.0,
    hdi_prob: float = 0.9,
    seed: int = 0,
    sampling: Sampling = VARIANT_SAMPLING,
    executor: Executor | None = None,
    progress: bool = False,
) -> LeadResult:
    """Fit the lead model (one fresh fit) and judge its lead effects (module docstring).

    ``group``/``route`` select the effect as in
    :class:`~hybridflow.analysis.checks._common.Headline` (None: pooled); ``sampling``
    and ``seed`` as for any check fit (the fit is gated like a headline fit).
    """
    t0 = time.perf_counter()
    data = lead_data(spec, driver, panel, events, leads)
    names = [driver, *[lead_name(driver, lead) for lead in leads]]
    task = Task("leads", fit_task, (data, names, group, route, sampling),
                seed=spawn_seeds(seed, 1)[0])  # fmt: skip
    (res,) = run_tasks([task], executor, progress=progress)
    if not res.ok:
        table, converged, note = pd.DataFrame(columns=LEAD_COLUMNS), False, error_line(res)
    else:
        v = res.value
        table = _lead_rows(v["draws"], driver, leads, direction, hdi_prob, p_threshold, ratio)
        converged = bool(v["converged"])
        note = v.get("failing", "") if not converged else "; ".join(v["notes"])
    return LeadResult(driver, direction, hypothesis, table, converged, note,
                      p_threshold=p_threshold, ratio=ratio, seconds=time.perf_counter() - t0)
