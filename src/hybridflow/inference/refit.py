"""Compile once, refit many: swap data into an already-compiled model.

Placebo re-datings, sensitivity variants that only change data, cross-validation folds and
simulation-based calibration all refit the *same model structure* on different data. The
expensive step is compiling the log-density (numba, for nutpie); :class:`Refitter` does it
once and then swaps the model's ``pm.Data`` containers (outcome, exposures, regimes...)
for each refit with nutpie's ``with_data``.

A refit must keep the model's structure: same coords for every named dim except ``obs``
(the observed cells may change, e.g. a held-out fold), same drivers and kernels. New data
are taken from a model built on the new data with :func:`data_values`, which is cheap
(PyMC graph construction, no compilation)::

    base = build_model(spec, prepare_data(spec, panel, events))
    refitter = Refitter(base)
    for events_k in placebo_catalogues:
        new = build_model(spec, prepare_data(spec, panel, events_k))
        idata = refitter.refit(data_values(new), Sampling(draws=500, chains=2), seed=k)

A refit samples exactly as a fresh fit (:func:`hybridflow.inference.fit.fit_model`) with
the same :class:`~hybridflow.inference.sampling.Sampling` and seed does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pymc as pm

from hybridflow.inference.posterior import Posterior
from hybridflow.inference.sample import compile_model, sample_model
from hybridflow.inference.sampling import Sampler, Sampling
from hybridflow.models.build import ModelBundle, ModelData, build_model
from hybridflow.models.spec import spec_hash

#: Dims whose length may change between refits (the observed cells).
FREE_DIMS = ("obs",)


class RefitShapeError(ValueError):
    """New data do not fit the compiled model's structure."""


def data_values(bundle: ModelBundle) -> dict[str, np.ndarray]:
    """The values of every ``pm.Data`` container of a built model, by name."""
    return {name: np.asarray(bundle.model[name].get_value()) for name in bundle.data_names}


def structure_key(bundle: ModelBundle) -> tuple[Any, ...]:
    """What must match for a refit: coords of all fixed dims and the free variables."""
    coords = tuple(
        (dim, tuple(map(str, values)))
        for dim, values in sorted(bundle.model.coords.items())
        if dim not in FREE_DIMS
    )
    free = tuple(sorted(rv.name for rv in bundle.model.free_RVs))
    return coords, free


class Refitter:
    """A model compiled once, refittable on new data of the same structure.

    Parameters
    ----------
    bundle
        A built model (:func:`hybridflow.models.build.build_model`). Its ``pm.Data``
        containers are updated in place on every refit, so deterministics (effects,
        ``log_mu``) are computed from the refit's data.
    sampler
        ``"nutpie"`` compiles once; ``"pymc"`` has no separate compile step (PyMC caches
        its compiled functions per model), so it is accepted for comparison.
    """

    def __init__(
        self, bundle: ModelBundle, sampler: Sampler = "nutpie", *, compiled: Any = None
    ) -> None:
        self.bundle = bundle
        self.sampler = sampler
        # A fit that has just compiled this bundle hands its compiled model over.
        self.compiled = compiled if compiled is not None else compile_model(bundle, sampler)
        self._key = structure_key(bundle)
        self._base = data_values(bundle)
        self._dims = {
            name: tuple(bundle.model.named_vars_to_dims.get(name, ())) for name in self._base
        }
        # The containers the compiled graph reads: a container no term uses (the series
        # index of a Poisson model, which has no per-series dispersion) is pruned from it,
        # and nutpie refuses to update a name it does not know.
        self._graph_data = (
            {var.name for var in self.compiled.shared_var_keys}
            if self.compiled is not None
            else set(self._base)
        )
        #: Refits done with this compiled model (it was compiled once, in ``__init__``).
        self.n_refits = 0

    def check(self, other: ModelBundle) -> None:
        """Raise :class:`RefitShapeError` unless ``other`` has this model's structure."""
        if structure_key(other) != self._key:
            raise RefitShapeError(
                "the new data give a model with different coords or parameters "
                f"(model '{other.data.spec.name}'); refits need the same structure"
            )

    def refit(
        self,
        values: Mapping[str, np.ndarray],
        sampling: Sampling,
        *,
        seed: int = 0,
        log_likelihood: bool = False,
        progress: bool = False,
        low_rank: bool = True,
    ) -> Posterior:
        """Sample the compiled model with some or all data containers replaced.

        Parameters
        ----------
        values
            New values by container name (see :func:`data_values`). Containers not given
            take the *original* bundle's values, whatever earlier refits set, so each refit
            depends only on its own arguments. Every container keeps its shape, except
            along the ``obs`` dim: ``y_obs``, ``obs_cell`` and ``obs_series`` (and
            ``n_trials``) may change length together (held-out folds).
        sampling
            The sampler settings; its sampler must be the one this model was compiled for.
        seed, log_likelihood, progress, low_rank
            As for :func:`hybridflow.inference.sample.sample_model`.

        Returns
        -------
        Posterior
            The same groups as a fresh fit; deterministics and ``observed_data`` come from
            the new data.

        Raises
        ------
        RefitShapeError
            Unknown container names, a changed shape along a fixed dim, ``obs``-dim
            containers of different lengths, or non-integer values for an integer container.
        ValueError
            ``sampling`` names another sampler than the compiled one.
        """
        if sampling.sampler != self.sampler:
            raise ValueError(
                f"this model is compiled for {self.sampler!r}; the sampling asks for "
                f"{sampling.sampler!r}"
            )
        new = self._merged(values)
        coords = {"obs": np.arange(len(new["y_obs"]))} if "y_obs" in new else None
        with self.bundle.model:
            pm.set_data(new, coords=coords)
        compiled = (
            self.compiled.with_data(**{k: v for k, v in new.items() if k in self._graph_data})
            if self.compiled is not None
            else None
        )
        idata = sample_model(
            self.bundle,
            sampling,
            seed=seed,
            progress=progress,
            compiled=compiled,
            log_likelihood=log_likelihood,
            low_rank=low_rank,
        )
        self.n_refits += 1
        return idata

    def _merged(self, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The base data with ``values`` put in, checked against the compiled structure."""
        unknown = set(values) - set(self._base)
        if unknown:
            raise RefitShapeError(
                f"unknown data containers {sorted(unknown)}; known: {sorted(self._base)}"
            )
        out = dict(self._base)
        for name, value in values.items():
            base = self._base[name]
            raw = np.asarray(value)
            # A float outcome with NaN or fractions would be silently truncated.
            if (
                np.issubdtype(base.dtype, np.integer)
                and raw.dtype.kind not in "iub"
                and (not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)))
            ):
                raise RefitShapeError(
                    f"data '{name}' must hold whole numbers (no NaN): it is an integer container"
                )
            arr = raw.astype(base.dtype, copy=False)
            if arr.ndim != base.ndim:
                raise RefitShapeError(
                    f"data '{name}' must have rank {base.ndim} (dims {self._dims[name]}); "
                    f"got shape {arr.shape}"
                )
            for axis, dim in enumerate(self._dims[name]):
                if dim not in FREE_DIMS and arr.shape[axis] != base.shape[axis]:
                    raise RefitShapeError(
                        f"data '{name}' has length {arr.shape[axis]} along '{dim}'; the compiled "
                        f"model has {base.shape[axis]} (dims {self._dims[name]}, shape {base.shape})"
                    )
            out[name] = arr
        for dim in FREE_DIMS:
            lengths = {
                name: out[name].shape[self._dims[name].index(dim)]
                for name in out
                if dim in self._dims[name]
            }
            if len(set(lengths.values())) > 1:
                raise RefitShapeError(
                    f"data on the '{dim}' dim must change length together; got lengths {lengths}"
                )
        return out

    def refit_bundle(
        self, other: ModelBundle, sampling: Sampling, **kwargs: Any
    ) -> Posterior:
        """Refit on the data of another built model with the same structure."""
        self.check(other)
        return self.refit(data_values(other), sampling, **kwargs)

    def reset(self) -> None:
        """Put the original data back into the model."""
        with self.bundle.model:
            pm.set_data(self._base, coords={"obs": np.arange(len(self._base["y_obs"]))})


def refitter_key(data: ModelData, sampler: str) -> tuple[str, str, str, str]:
    """Cache key of a compiled model in a worker process: spec, data and sampler."""
    return ("hybridflow.refitter", spec_hash(data.spec), data.data_hash(), sampler)


def cached_refitter(data: ModelData, sampler: Sampler) -> Refitter:
    """The compiled model for ``data`` in this process, compiled on first use.

    Every many-fit step (placebo, SBC, backtests, the study's fits) keys its compiled
    models the same way, so a worker that has compiled a model for one step reuses it in
    the next.
    """
    from hybridflow.inference.executor import cached

    return cached(
        refitter_key(data, sampler), lambda: Refitter(build_model(data.spec, data), sampler)
    )


def keep_compiled(bundle: ModelBundle, compiled: Any, sampler: Sampler) -> None:
    """Put a fit's compiled model into this process's cache for later refits."""
    from hybridflow.inference.executor import cached

    if sampler == "nutpie" and compiled is None:
        return
    cached(refitter_key(bundle.data, sampler), lambda: Refitter(bundle, sampler, compiled=compiled))
