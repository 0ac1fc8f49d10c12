"""What every model term shares: the protocol, the build context, draws and designs.

A :class:`Term` is one additive piece of the linear predictor ``eta(month, route, group)``
(``log mu`` for counts, the log-odds for shares). It owns its mathematics twice, as the
lag kernels of :mod:`hybridflow.design.kernels` do: in pytensor (:meth:`Term.add_to_model`,
inside the PyMC model) and in numpy (:meth:`Term.evaluate`, on posterior or prior draws).
:meth:`Term.extend` carries it into months after the fit (forecasts), and
:attr:`Term.gate_vars` names the parameters the convergence gate checks.

Numpy evaluations take a :class:`Draws` (posterior variables as ``(sample, ...)``
arrays, sample = chain x draw) and a :class:`Design` (the exposures, regime columns and
common factor over some months: the fit's own, or a scenario's over the fit plus the
future).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

if TYPE_CHECKING:
    from hybridflow.models.data import ModelData
    from hybridflow.models.spec import ModelSpec

__all__ = ["SAMPLE_DIMS", "BuildContext", "Design", "Draws", "Term", "lookup"]

#: The dims every posterior draw carries (one owner; inference.posterior re-exports it).
SAMPLE_DIMS: tuple[str, str] = ("chain", "draw")


def lookup(registry: dict[str, Any], name: str, what: str) -> Any:
    """``registry[name]``, or a :class:`~hybridflow.errors.SpecError` listing the names
    that exist (an unknown term name is never skipped silently)."""
    from hybridflow.errors import SpecError
    from hybridflow.schema import unknown_choice

    if name not in registry:
        raise SpecError(str(unknown_choice(what, name, list(registry))))
    return registry[name]


# --------------------------------------------------------------------------- numpy inputs


class Draws:
    """Posterior (or prior) draws as numpy arrays ``(sample, *dims)``.

    ``sample`` runs over chain x draw, chain-major, so ``reshape(chain, draw, ...)``
    restores the two dims.
    """

    def __init__(self, post: xr.Dataset) -> None:
        self.post = post
        self.n = int(post.sizes["chain"] * post.sizes["draw"])

    def __contains__(self, name: object) -> bool:
        return name in self.post

    def get(self, name: str, *dims: str) -> np.ndarray:
        """Variable ``name`` as ``(sample, *dims)`` (its own dim order when none given)."""
        da = self.post[name]
        rest = [d for d in da.dims if d not in SAMPLE_DIMS]
        order = list(dims) if dims else rest
        if set(order) != set(rest):
            raise ValueError(f"posterior '{name}' has dims {da.dims}, expected {dims}")
        vals = da.transpose(*SAMPLE_DIMS, *order).values
        return vals.reshape(self.n, *vals.shape[2:])

    def series_shape(self) -> tuple[int, int]:
        """``(route, group)`` sizes."""
        return int(self.post.sizes["route"]), int(self.post.sizes["group"])


@dataclass(frozen=True)
class Design:
    """The data side of the linear predictor over ``months``, as numpy arrays.

    Exposures run over ``history`` earlier months plus ``months`` (the lag history).
    The last ``new_events`` event columns are not in the fit (a scenario's new events);
    their effects' deviations are drawn with ``seed``.
    """

    months: pd.DatetimeIndex
    history: int = 0
    drivers: tuple[str, ...] = ()
    per_event: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    exposure: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    events: tuple[str, ...] = ()
    event_driver: tuple[str, ...] = ()
    event_exposure: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    regimes: tuple[str, ...] = ()
    regime_design: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    factor: np.ndarray | None = None
    new_events: int = 0
    seed: int = 0

    @property
    def n_months(self) -> int:
        return len(self.months)

    @classmethod
    def of_data(cls, data: ModelData) -> Design:
        """The fit's own design (:class:`~hybridflow.models.build.ModelData`)."""
        labels, _, owners, ev = data.event_table()
        return cls(
            months=pd.DatetimeIndex(data.months),
            history=data.history,
            drivers=tuple(data.driver_names),
            per_event=np.array([d.per_event for d in data.drivers], dtype=bool),
            exposure=data.exposure_matrix().values,
            events=tuple(labels),
            event_driver=tuple(owners),
            event_exposure=ev,
            regimes=tuple(str(r) for r in data.regimes["regime"].values),
            regime_design=data.regimes.values,
            factor=None if data.factor is None else data.factor.values,
        )

    @classmethod
    def of_constant_data(cls, cd: xr.Dataset, months: Any) -> Design:
        """The design a stored fit carries in its ``constant_data`` group."""
        months = pd.DatetimeIndex(np.asarray(months))
        drivers: tuple[str, ...] = ()
        exposure = np.zeros((0, len(months)))
        per_event = np.zeros(0, dtype=bool)
        if "driver_exposure" in cd:
            x = cd["driver_exposure"].transpose("driver", "month_ext")
            drivers = tuple(str(d) for d in x["driver"].values)
            exposure = x.values
            per_event = (
                cd["driver_per_event"].values.astype(bool)
                if "driver_per_event" in cd
                else np.zeros(len(drivers), dtype=bool)
            )
        events: tuple[str, ...] = ()
        owners: tuple[str, ...] = ()
        ev = np.zeros((0, exposure.shape[-1]))
        if "event_exposure" in cd and "event_driver" in cd:
            xe = cd["event_exposure"].transpose("event", "month_ext")
            events = tuple(str(e) for e in xe["event"].values)
            owners = tuple(str(o) for o in cd["event_driver"].values)
            ev = xe.values
        regimes: tuple[str, ...] = ()
        reg = np.zeros((len(months), 0))
        if "regime_design" in cd:
            rd = cd["regime_design"].transpose("month", "regime")
            regimes, reg = tuple(str(r) for r in rd["regime"].values), rd.values
        factor = cd["common_factor"].values if "common_factor" in cd else None
        return cls(
            months=months,
            history=int(cd.attrs.get("history", 0)),
            drivers=drivers,
            per_event=per_event,
            exposure=exposure,
            events=events,
            event_driver=owners,
            event_exposure=ev,
            regimes=regimes,
            regime_design=reg,
            factor=factor,
        )


# --------------------------------------------------------------------------- building


@dataclass
class BuildContext:
    """What terms need while :func:`~hybridflow.models.build.build_model` writes the model.

    ``shared`` passes tensors from one term to a later one (the driver effects and
    kernel weights to the per-event effects); ``constant`` collects the design arrays a
    fit stores in its ``constant_data`` group.
    """

    spec: ModelSpec
    data: ModelData
    model: pm.Model
    data_var: Callable[[str, np.ndarray, tuple[str, ...]], Any]
    constant: dict[str, xr.DataArray]
    mask: np.ndarray
    shared: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(month, route, group)`` sizes."""
        return len(self.data.months), len(self.data.routes), len(self.data.groups)


class Term(ABC):
    """One additive piece of the linear predictor ``eta(month, route, group)``.

    Subclasses write the piece twice, in pytensor (:meth:`add_to_model`) and numpy
    (:meth:`evaluate`); a test checks that the two agree on the same draws.
    """

    #: Registry name (the spec's own word for it, where the spec names it).
    name: ClassVar[str] = ""
    #: True for baseline terms: their :attr:`gate_vars` are checked only in a model
    #: whose other terms report nothing (the null model).
    baseline: ClassVar[bool] = True

    def __init__(self) -> None:
        self.gate_vars: list[str] = []

    def coords(self, data: ModelData) -> dict[str, Any]:
        """Model coordinates this term needs (added before any variable)."""
        return {}

    @abstractmethod
    def add_to_model(self, ctx: BuildContext) -> Any:
        """Create the term's variables in the active model and return its contribution,
        broadcastable to ``(month, route, group)`` (None: nothing to add)."""

    @abstractmethod
    def evaluate(self, draws: Draws, design: Design) -> np.ndarray:
        """The contribution on ``draws`` over the design's months, broadcastable to
        ``(sample, month, route, group)``."""

    def extend(
        self, draws: Draws, design: Design, horizon: int, rng: np.random.Generator
    ) -> np.ndarray:
        """The contribution in the ``horizon`` months after the fit; ``design`` covers
        the fitted months and then those. Deterministic terms evaluate the design there;
        latent processes (the trend) continue themselves with ``rng``."""
        full = self.evaluate(draws, design)
        if full.shape[1] == 1:  # constant over months (broadcasts)
            return full
        return full[:, full.shape[1] - horizon :]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
