"""A fitted model: the posterior with its spec, gate verdict and (when fresh) built model.

Its own module so that fitting (:mod:`hybridflow.inference.fit`) and the result folder
(:mod:`hybridflow.inference.store`) both use it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridflow.inference.diagnostics import DiagnosticsReport
from hybridflow.inference.posterior import Posterior
from hybridflow.models.build import ModelBundle
from hybridflow.models.spec import ModelSpec

__all__ = ["FitResult"]


@dataclass
class FitResult:
    """A fitted model.

    Attributes
    ----------
    idata
        Posterior, sample stats, observed and constant data, log-likelihood; provenance
        and diagnostics in ``idata.posterior.attrs`` (for fits from
        :func:`~hybridflow.inference.fit.fit_spec`).
    spec
        The spec that was fitted.
    diagnostics
        The convergence gate's report.
    bundle
        The built model (None when loaded from disk).
    path
        Where the result was written (None if not written).
    timings
        Seconds spent building, compiling, sampling and post-processing.
    compiled
        The compiled nutpie model (None for PyMC or when loaded), reusable with
        :func:`~hybridflow.inference.sample.sample_model` to refit data of the same shape
        without recompiling.
    """

    idata: Posterior
    spec: ModelSpec
    diagnostics: DiagnosticsReport
    bundle: ModelBundle | None = None
    path: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    compiled: Any = None

    @property
    def converged(self) -> bool:
        return self.diagnostics.converged

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.idata.posterior.attrs)
