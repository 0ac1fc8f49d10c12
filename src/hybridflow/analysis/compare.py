"""Model comparison: PSIS-LOO with Pareto-k diagnostics, differences to the null, stacking.

Every fit stores the pointwise log-likelihood of its observed cells (``log_likelihood``
group, variable ``y``, dim ``obs``), so models fitted to the *same* observations can be
compared. :func:`loo_table` refuses to compare fits whose observations differ (different
windows or outcomes), because their ELPDs are not on the same footing.

PSIS-LOO on a time series estimates how well the model predicts a left-out month *given
the months on both sides*; it is not a forecast test. Leave-future-out scores (see
:mod:`hybridflow.analysis.backtest`) answer the forecasting question.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

from hybridflow.errors import HybridflowError
from hybridflow.inference.posterior import Posterior, has_group

#: Pareto-k above this makes the PSIS estimate for that observation unreliable.
PARETO_K_BAD = 0.7


class ComparisonError(HybridflowError, ValueError):
    """Fits cannot be compared (no log-likelihood, or different observations)."""


def _observed(idata: Posterior) -> np.ndarray:
    if not has_group(idata, "observed_data") or "y" not in idata["observed_data"]:
        raise ComparisonError("fit has no observed_data 'y'")
    return np.asarray(idata["observed_data"]["y"].values)


def _loo(idata: Posterior) -> Any:
    """ArviZ's PSIS-LOO (pointwise) of the outcome ``y``."""
    if not has_group(idata, "log_likelihood"):
        raise ComparisonError("fit has no log_likelihood group; refit with log_likelihood=True")
    with warnings.catch_warnings():
        # arviz warns when some k > 0.7; we report the counts instead.
        warnings.simplefilter("ignore")
        return az.loo(idata, pointwise=True, var_name="y")


def _loo_row(loo: Any) -> dict[str, float]:
    k = np.asarray(loo.pareto_k)
    return {
        "elpd_loo": float(loo.elpd),
        "se": float(loo.se),
        "p_loo": float(loo.p),
        "n_obs": int(k.size),
        "pareto_k_max": float(np.nanmax(k)),
        "n_pareto_k_bad": int(np.sum(k > PARETO_K_BAD)),
        "share_pareto_k_bad": float(np.mean(k > PARETO_K_BAD)),
    }


def loo_summary(idata: Posterior) -> dict[str, float]:
    """PSIS-LOO for one fit: elpd, its SE, p_loo and Pareto-k counts."""
    return _loo_row(_loo(idata))


def loo_table(
    fits: Mapping[str, Posterior], *, baseline: str | None = "null"
) -> pd.DataFrame:
    """Compare fits by PSIS-LOO and stacking weights.

    Parameters
    ----------
    fits
        Name -> posterior, all fitted to the same observed cells.
    baseline
        Name of the reference model (the null model); differences are reported against it
        when it is among ``fits``.

    Returns
    -------
    pandas.DataFrame
        One row per model: ``elpd_loo, se, p_loo, pareto_k_max, n_pareto_k_bad``,
        ``elpd_diff_vs_baseline`` and its ``se_diff`` (paired, from pointwise values),
        ``stacking_weight`` and ``rank`` (by elpd).
    """
    if not fits:
        raise ComparisonError("no fits to compare")
    names = list(fits)
    ref_obs = _observed(fits[names[0]])
    for name in names[1:]:
        obs = _observed(fits[name])
        if obs.shape != ref_obs.shape or not np.array_equal(obs, ref_obs):
            raise ComparisonError(
                f"fits '{names[0]}' and '{name}' were fitted to different observations; "
                "compare models on the same window and outcome"
            )
    loos = {name: _loo(fits[name]) for name in names}
    table = pd.DataFrame.from_dict({n: _loo_row(v) for n, v in loos.items()}, orient="index")
    pointwise = {name: np.asarray(loo.elpd_i).ravel() for name, loo in loos.items()}
    if baseline is not None and baseline in fits:
        base = pointwise[baseline]
        diffs = {n: pointwise[n] - base for n in names}
        table["elpd_diff_vs_baseline"] = [float(diffs[n].sum()) for n in names]
        table["se_diff"] = [float(np.sqrt(diffs[n].size) * diffs[n].std(ddof=1))
                            if n != baseline else 0.0 for n in names]
    if len(names) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cmp = az.compare(loos, method="stacking")
        table["stacking_weight"] = cmp["weight"].reindex(table.index).astype(float)
    else:
        table["stacking_weight"] = 1.0
    table["rank"] = table["elpd_loo"].rank(ascending=False, method="min").astype(int)
    table.index.name = "model"
    return table
