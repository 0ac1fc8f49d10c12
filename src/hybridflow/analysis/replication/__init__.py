"""Replication of the report's figures: every number recomputed from the data, beside the report's.

The report (McManus, Henry Jackson Society, 2025; described in ``docs/report-claims.md``)
states descriptive figures, Pearson correlations and event narratives for the Eastern
Borders route. Its figures live in one table, ``data/tables/report_figures.csv``
(:mod:`hybridflow.data.report_figures`). :func:`replicate` recomputes each one with the
report's own method (its window, its UkrRussBel/Others grouping, Pearson r and r^2 on raw
monthly levels) and returns a :class:`ReplicationResult` with:

``claims``
    One :class:`Claim` per report figure: the report's value, ours, the difference, the
    window and grouping, the method, a computed likely cause of any difference and a
    status: ``matches`` (within the table's tolerance), ``differs``, ``not_reproducible``
    (the data cannot measure what the report measured) or ``inconsistent`` (the report's
    own figures contradict each other: its r = -0.8 with r^2 = 0.007).
``correlations``
    Each correlation claim recomputed four ways (levels, first differences, trend+season
    residuals, a fitted model's residuals), with naive and autocorrelation-adjusted
    p-values (:mod:`~hybridflow.analysis.replication.correlation_table`).
``trend``
    Per correlation claim: r in levels, differenced and detrended, and
    ``share_lost_<transform> = 1 - r_<transform> / r_levels``, the share of the levels r
    that disappears when the shared trend is removed (0: it survives intact; 1: it
    vanishes; above 1: it reverses sign; below 0: it grows).
``misdated``
    The report's sanctions rounds with wrong dates, beside the event catalogue's dates.

The claims are grouped by topic, one module each, in the order of the table:
:mod:`~.levels` (mean encounters), :mod:`~.nationalities` (top ten), :mod:`~.shares`
(Others share), :mod:`~.correlations`, :mod:`~.losses`, :mod:`~.attacks` (with the rise
of encounters the report sets beside them) and :mod:`~.narratives` (directions, no figure).

Data conventions used here
--------------------------
* Encounters = ``route_total`` on the Eastern Borders route: the nationality-level FRONTEX
  workbook (FRAN data as of 3 Jun 2025, Jan 2009 - Apr 2025, with its known provisional
  April 2025 ``Unknown`` entry corrected by the loader) extended from May 2025 with the Aug
  2026 route-total vintage. The as-published April 2025 value and the newer vintage are
  shown as alternatives in each claim's ``details``.
* Nationality figures end where the workbook ends (Apr 2025); the report's ran to Jun/Jul
  2025, so its counts can exceed ours by up to three months of arrivals.
* Territorial gains: a proxy from the monthly net change of the area Russia holds (the
  report's ACLED territory-capture events are not held); see ``correlation_table``.
* Attacks inside Russia: ACLED ``Explosions/Remote violence`` events located in Russia, the
  closest series held; it is not the report's count of drone attacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import pandas as pd
import xarray as xr

from hybridflow.analysis.replication import (
    attacks,
    correlations,
    levels,
    losses,
    narratives,
    nationalities,
    shares,
)
from hybridflow.analysis.replication.claim import STATUSES, Claim, figure_claim
from hybridflow.analysis.replication.correlation_table import correlation_table, trend_table
from hybridflow.analysis.replication.misdated import misdated_rounds, report_sanctions_dates
from hybridflow.analysis.replication.narratives import before_after
from hybridflow.analysis.replication.result import ReplicationResult
from hybridflow.analysis.replication.series import Inputs, PanelSeries
from hybridflow.analysis.replication.shares import REPORT_OTHERS_SHARE_MONTHS
from hybridflow.analysis.replication.statistics import (
    effective_n,
    lag1_autocorrelation,
    pearson,
    pearson_pvalue,
    r_r2_consistent,
    remove_trend_season,
)
from hybridflow.data.panel import EASTERN_BORDERS
from hybridflow.data.summary import REPORT_TOP10_OTHERS

__all__ = [
    "REPORT_OTHERS_SHARE_MONTHS",
    "REPORT_TOP10_OTHERS",
    "STATUSES",
    "TOPICS",
    "Claim",
    "ReplicationResult",
    "before_after",
    "claim_ids",
    "effective_n",
    "figure_claim",
    "lag1_autocorrelation",
    "misdated_rounds",
    "pearson",
    "pearson_pvalue",
    "r_r2_consistent",
    "remove_trend_season",
    "replicate",
    "report_sanctions_dates",
]

#: The topic modules, in the order their claims appear; each has ``claims`` and ``claim_ids``.
TOPICS = (levels, nationalities, shares, correlations, losses, attacks, narratives)

_NOTES = [
    "Correlations of trending monthly series overstate association (spurious regression): "
    "compare the levels r with the first-difference and trend+season-residual r.",
    "With about 40 autocorrelated months the naive p-values overstate the evidence; "
    "p_adjusted uses Bartlett's effective sample size n(1 - rho_x rho_y)/(1 + rho_x rho_y) "
    "from the lag-1 autocorrelations.",
    "Associations here are descriptive; none of them identifies a causal effect.",
]


def _model_residual_series(model_residuals: xr.DataArray | pd.Series | None) -> pd.Series | None:
    if model_residuals is None:
        return None
    if isinstance(model_residuals, pd.Series):
        return model_residuals.astype(float)
    da = model_residuals
    if "month" not in da.dims:
        raise ValueError("model_residuals needs a 'month' dimension")
    if "route" in da.dims:
        if EASTERN_BORDERS not in da["route"].values:
            raise ValueError(f"model_residuals has no route {EASTERN_BORDERS!r}")
        da = da.sel(route=EASTERN_BORDERS)
    extra = [d for d in da.dims if d != "month"]
    if extra:
        # Posterior draws (chain, draw) or groups: the correlation uses their mean.
        da = da.mean(extra)
    s = da.to_series().astype(float)
    s.index = pd.DatetimeIndex(s.index)
    return s


def replicate(
    panel: xr.Dataset,
    events: pd.DataFrame | None = None,
    *,
    model_residuals: xr.DataArray | pd.Series | None = None,
) -> ReplicationResult:
    """Recompute every figure of the report from the panel, beside the report's own.

    Parameters
    ----------
    panel
        The analysis panel (:func:`hybridflow.data.panel.load_panel`). Variables it lacks
        give ``not_reproducible`` claims rather than errors.
    events
        The event catalogue (:func:`hybridflow.data.events.load_events`), for the
        mis-dated rounds and to list the catalogue events behind the narratives.
    model_residuals
        Optional residuals of a fitted model for Eastern Borders detections, on ``month``
        (a ``route`` dimension is narrowed to the Eastern Borders route; any other
        dimension, e.g. ``chain``/``draw``, is averaged). Adds a ``model_residual``
        transform: each driver, with trend and season removed, against these residuals.

    Returns
    -------
    ReplicationResult
    """
    ser = PanelSeries(panel)
    corr = correlation_table(ser, _model_residual_series(model_residuals))
    inputs = Inputs(series=ser, correlations=corr, events=events)
    claims: list[Claim] = [c for topic in TOPICS for c in topic.claims(inputs)]
    return ReplicationResult(
        claims=pd.DataFrame([asdict(c) for c in claims]),
        correlations=corr,
        trend=trend_table(corr),
        misdated=misdated_rounds(events),
        notes=list(_NOTES),
    )


def claim_ids() -> Sequence[str]:
    """The ids :func:`replicate` produces, in order (for checks and documentation)."""
    return [cid for topic in TOPICS for cid in topic.claim_ids()]
