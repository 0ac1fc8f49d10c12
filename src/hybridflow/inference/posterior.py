"""The posterior container: one place that knows how a fit's groups are stored.

ArviZ 1 replaced ``InferenceData`` with :class:`xarray.DataTree`: a fit is a tree whose
children are the groups ``posterior``, ``sample_stats``, ``observed_data``,
``constant_data`` and ``log_likelihood``. Every module reads groups through these helpers
so that a group is always an :class:`xarray.Dataset` (a tree node supports only part of
the Dataset API: no list indexing, no ``xr.merge``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import xarray as xr

from hybridflow.models.terms.base import SAMPLE_DIMS

__all__ = [
    "SAMPLE_DIMS",
    "Posterior",
    "as_posterior",
    "fit_group",
    "has_group",
    "hdi_bounds",
    "hdi_over_draws",
    "make_posterior",
    "n_divergences",
    "read_posterior",
    "write_posterior",
]

# SAMPLE_DIMS (the dims every posterior draw carries) is owned by the model terms, which
# evaluate themselves on draws; re-exported here for the fit container's users.

#: A fit's groups (ArviZ 1's data structure).
Posterior = xr.DataTree


def make_posterior(groups: Mapping[str, xr.Dataset]) -> Posterior:
    """A posterior tree from named groups (``{"posterior": ds, "sample_stats": ...}``)."""
    return xr.DataTree.from_dict({f"/{name}": ds for name, ds in groups.items()})


def has_group(tree: Posterior, name: str) -> bool:
    """True if the fit has the group ``name``."""
    return name in tree.children


def fit_group(tree: Posterior, name: str) -> xr.Dataset:
    """Group ``name`` as a Dataset (a shallow copy: cheap, and safe to modify)."""
    if name not in tree.children:
        raise KeyError(f"the fit has no '{name}' group (it has: {', '.join(tree.children)})")
    return tree[name].to_dataset()


def as_posterior(source: Any) -> Posterior:
    """The tree of a fit result (``.idata``) or of a tree itself."""
    if isinstance(source, xr.DataTree):
        return source
    tree = getattr(source, "idata", None)
    if isinstance(tree, xr.DataTree):
        return tree
    raise TypeError(f"expected a posterior (xarray.DataTree) or a FitResult, got "
                    f"{type(source).__name__}")


def n_divergences(tree: Posterior) -> int:
    """Divergent transitions the sampler reported (0 when it reported none)."""
    if not has_group(tree, "sample_stats") or "diverging" not in tree["sample_stats"]:
        return 0
    return int(np.asarray(tree["sample_stats"]["diverging"]).sum())


def write_posterior(tree: Posterior, path: str | Path) -> None:
    """Write a fit to one netCDF file (one HDF5 group per fit group)."""
    tree.to_netcdf(str(path), engine="h5netcdf")


def read_posterior(path: str | Path) -> Posterior:
    """Read a fit written by :func:`write_posterior`, fully into memory (file closed)."""
    with xr.open_datatree(str(path), engine="h5netcdf") as tree:
        return tree.load().copy()


def hdi_bounds(values: Any, prob: float) -> tuple[float, float]:
    """Highest-density interval (ArviZ's) of a sample flattened to 1-D; NaNs dropped.

    (NaN, NaN) when fewer than two finite values remain.
    """
    x = np.asarray(values, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size < 2:
        return float("nan"), float("nan")
    lo, hi = az.hdi(x, prob=prob)
    return float(lo), float(hi)


def hdi_over_draws(draws: xr.DataArray, prob: float) -> tuple[xr.DataArray, xr.DataArray]:
    """Lower and upper HDI bounds of every element of ``draws`` over (chain, draw).

    Elements with a missing draw get NaN bounds.
    """
    valid = draws.notnull().all(SAMPLE_DIMS)
    filled = draws.fillna(0.0) if bool(draws.isnull().any()) else draws
    bounds = az.hdi(filled, prob=prob, dim=list(SAMPLE_DIMS))
    if isinstance(bounds, xr.Dataset):
        bounds = bounds[next(iter(bounds.data_vars))]
    lower = bounds.sel(ci_bound="lower", drop=True).where(valid)
    upper = bounds.sel(ci_bound="upper", drop=True).where(valid)
    return lower, upper
