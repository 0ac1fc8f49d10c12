"""The design arrays of one model: what :func:`~hybridflow.models.build.prepare_data` makes
and every term builds from, as plain arrays with named dims.

Its own module so that the terms (:mod:`hybridflow.models.terms`), which read it, and the
builder (:mod:`hybridflow.models.build`), which makes it and loops over the terms, do not
import each other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.design import drivers as dd
from hybridflow.design.kernels import LagKernel
from hybridflow.models.spec import ModelSpec
from hybridflow.months import format_month

__all__ = ["DriverDesign", "ModelData"]


@dataclass
class DriverDesign:
    """One driver's exposure and what one unit of it means.

    Attributes
    ----------
    exposure
        ``(month,)`` over history + window (the aggregate; for per-event drivers the sum of
        the event columns).
    event_exposure
        ``(month, event)`` for per-event drivers, else None.
    unit
        Plain-words meaning of one unit of exposure (used in effects' attrs).
    event_columns
        ``(month, event)``: every event's own column for an event driver, per-event or
        not (what excess detections per event are computed from), else None.
    """

    name: str
    source: str
    kernel: LagKernel
    exposure: xr.DataArray
    unit: str
    center: float = 0.0
    scale: float = 1.0
    per_event: bool = False
    event_exposure: xr.DataArray | None = None
    event_columns: xr.DataArray | None = None
    first_observed: str = ""
    last_observed: str = ""


@dataclass
class ModelData:
    """Everything :func:`build_model` needs, as plain arrays with named dims."""

    spec: ModelSpec
    months: pd.DatetimeIndex
    history: int
    routes: list[str]
    groups: list[str]
    y: xr.DataArray
    trials: xr.DataArray | None
    drivers: list[DriverDesign]
    regimes: xr.DataArray
    factor: xr.DataArray | None
    regime_sd: list[float] = field(default_factory=list)
    #: Per regime column, the groups it applies to (None: every group).
    regime_groups: list[tuple[str, ...] | None] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    panel_attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def months_ext(self) -> pd.DatetimeIndex:
        """History months plus the window."""
        return dd.with_history(self.months, self.history)

    @property
    def n_lags(self) -> int:
        return self.history + 1

    @property
    def driver_names(self) -> list[str]:
        return [d.name for d in self.drivers]

    def exposure_matrix(self) -> xr.DataArray:
        """``(driver, month)`` exposures over history + window."""
        if not self.drivers:
            return xr.DataArray(
                np.zeros((0, len(self.months_ext))),
                dims=("driver", "month"),
                coords={"driver": [], "month": self.months_ext},
            )
        return xr.concat([d.exposure for d in self.drivers], dim="driver").assign_coords(
            driver=self.driver_names
        )

    def event_table(self) -> tuple[list[str], list[str], list[str], np.ndarray]:
        """Per-event columns: (labels, event_ids, driver of each, exposure (event, month))."""
        labels: list[str] = []
        ids: list[str] = []
        owners: list[str] = []
        cols: list[np.ndarray] = []
        all_ids = [
            str(e)
            for d in self.drivers
            if d.per_event and d.event_exposure is not None
            for e in d.event_exposure["event"].values
        ]
        for d in self.drivers:
            if not d.per_event or d.event_exposure is None:
                continue
            for e in d.event_exposure["event"].values:
                e = str(e)
                # An id used by two per-event drivers is labelled with its driver too.
                label = e if all_ids.count(e) == 1 else f"{e} [{d.name}]"
                labels.append(label)
                ids.append(e)
                owners.append(d.name)
                cols.append(d.event_exposure.sel(event=e).to_numpy())
        mat = np.vstack(cols) if cols else np.zeros((0, len(self.months_ext)))
        return labels, ids, owners, mat

    def regime_mask(self) -> np.ndarray:
        """``(regime, group)``: 1 where a regime column applies to a group, else 0."""
        n = self.regimes.sizes["regime"]
        limits = self.regime_groups or [None] * n
        return np.array(
            [[1.0 if gs is None or g in gs else 0.0 for g in self.groups] for gs in limits],
            dtype=float,
        ).reshape(n, len(self.groups))

    def data_hash(self) -> str:
        """sha256 over the arrays the model uses (outcome, exposures, regimes, factor)."""
        h = hashlib.sha256()

        def add(name: str, arr: Any) -> None:
            h.update(name.encode())
            a = np.ascontiguousarray(np.asarray(arr, dtype=float))
            h.update(str(a.shape).encode())
            h.update(a.tobytes())

        h.update("|".join(format_month(m) for m in self.months).encode())
        h.update("|".join(self.routes).encode())
        h.update("|".join(self.groups).encode())
        h.update(str(self.history).encode())
        add("y", self.y.values)
        if self.trials is not None:
            add("trials", self.trials.values)
        add("exposure", self.exposure_matrix().values)
        _, ids, owners, ev = self.event_table()
        h.update("|".join(f"{o}:{i}" for o, i in zip(owners, ids, strict=True)).encode())
        add("events", ev)
        h.update("|".join(map(str, self.regimes["regime"].values)).encode())
        add("regimes", self.regimes.values)
        add("regime_mask", self.regime_mask())
        if self.factor is not None:
            add("factor", self.factor.values)
        return h.hexdigest()
