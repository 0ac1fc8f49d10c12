"""Results on disk: one folder per fit, written atomically.

Layout of a result folder::

    fit.nc            the posterior tree (netCDF, h5netcdf): posterior, sample_stats,
                      observed_data, constant_data, log_likelihood. Provenance and
                      diagnostics in the posterior group's attrs: spec (TOML text),
                      spec_json, spec_hash, data_hash, seed, sampler, draws/tune/chains,
                      version_<package>, converged, max_rhat, min_ess_*, n_divergences...
    effects.csv       the effects table, when the caller gives one (the CLI and the study
                      give :func:`hybridflow.analysis.effects.effects_table`)
    spec.toml         the spec as given (or its canonical JSON when built in Python)
    diagnostics.csv   R-hat and ESS of every reported parameter value
    diagnostics.txt   the convergence gate's verdict in words

The whole folder is replaced at once (:func:`hybridflow.io.atomic_dir`): a crash leaves the
previous result, never half of a new one.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from hybridflow.errors import InputError
from hybridflow.inference.diagnostics import DiagnosticsReport, warn_if_unconverged
from hybridflow.inference.posterior import Posterior, read_posterior, write_posterior
from hybridflow.inference.result import FitResult
from hybridflow.io import atomic_dir
from hybridflow.models.spec import spec_from_json

__all__ = ["FIT_FILE", "EffectsTable", "load_result", "save_result"]

FIT_FILE = "fit.nc"
EFFECTS_FILE = "effects.csv"

#: Computes a fit's effects table (the analysis layer's
#: :func:`hybridflow.analysis.effects.effects_table`); passed in by the caller, because
#: inference sits below analysis.
EffectsTable = Callable[[Posterior], pd.DataFrame]

#: The table of a fit without driver effects (a baseline-only, null model).
_NO_EFFECTS_COLUMNS = ["level", "driver", "route", "group", "pct_mean"]


def save_result(
    result: FitResult,
    out: str | Path,
    *,
    effects: EffectsTable | pd.DataFrame | None = None,
) -> Path:
    """Write a fit to the folder ``out`` (replacing it atomically).

    Parameters
    ----------
    result
        From :func:`hybridflow.inference.fit.fit_spec`.
    out
        Result folder (created; an existing one is replaced as a whole).
    effects
        The effects table to write as ``effects.csv``, or the function that computes it
        from the posterior (e.g. :func:`hybridflow.analysis.effects.effects_table`:
        90% HDI, ROPE +-10%); a fit without driver effects gets an empty table. None: no
        ``effects.csv``.

    Returns
    -------
    Path
        The folder.
    """
    out = Path(out)
    table = _effects_frame(result.idata, effects)
    with atomic_dir(out) as tmp:
        write_posterior(result.idata, tmp / FIT_FILE)
        if table is not None:
            table.to_csv(tmp / EFFECTS_FILE, index=False, lineterminator="\n")
        text = result.spec.source_text or str(result.idata.posterior.attrs.get("spec_json", ""))
        (tmp / "spec.toml").write_text(text, encoding="utf-8")
        result.diagnostics.table.to_csv(
            tmp / "diagnostics.csv", index_label="parameter", lineterminator="\n"
        )
        (tmp / "diagnostics.txt").write_text(
            result.diagnostics.summary_text() + "\n", encoding="utf-8"
        )
    return out


def _effects_frame(
    idata: Posterior, effects: EffectsTable | pd.DataFrame | None
) -> pd.DataFrame | None:
    if effects is None or isinstance(effects, pd.DataFrame):
        return effects
    if "effect" not in idata.posterior:
        return pd.DataFrame(columns=_NO_EFFECTS_COLUMNS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the gate's verdict is already reported
        return effects(idata)


def load_result(path: str | Path, *, warn: bool = True) -> FitResult:
    """Load a result folder written by :func:`save_result` (or a ``fit.nc`` file).

    A fit that failed the convergence gate is loaded, with a loud ``UnconvergedWarning``
    (unless ``warn=False``).

    Raises
    ------
    InputError
        The folder or file is missing or was not written by hybridflow.
    """
    path = Path(path)
    nc = path / FIT_FILE if path.is_dir() else path
    if not nc.is_file():
        raise InputError(nc, "no hybridflow result here (expected a folder holding fit.nc)")
    try:
        idata = read_posterior(nc)
    except (OSError, ValueError) as exc:
        raise InputError(nc, f"cannot read this fit file ({exc})") from None
    attrs = dict(idata["posterior"].attrs) if "posterior" in idata.children else {}
    if "spec_json" not in attrs:
        raise InputError(nc, "not a hybridflow result: posterior attrs lack 'spec_json'")
    spec = spec_from_json(str(attrs["spec_json"]))
    spec._source_text = str(attrs.get("spec", "")) or None
    report = DiagnosticsReport.from_attrs(attrs)
    diag_csv = nc.parent / "diagnostics.csv"
    if diag_csv.is_file():
        report.table = pd.read_csv(diag_csv, index_col=0)
    if warn:
        warn_if_unconverged(attrs, where=str(nc))
    return FitResult(idata=idata, spec=spec, diagnostics=report, path=nc.parent)
