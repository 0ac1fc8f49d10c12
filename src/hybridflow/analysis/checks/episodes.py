"""Known-episode validation: does the baseline model flag documented episodes on its own?

Two episodes of instrumentalised migration are documented: Belarus, June-November 2021,
and the Finnish border, November 2023. If the model's anomaly score is useful as an early
signal, a baseline model that is *not told* about an episode should find the episode's
months surprising. The check:

1. removes from the spec every regime that singles out an episode (see
   :func:`strip_episodes`), so the episode is not given to the model;
2. fits the model and simulates replicated counts ``y_rep`` for every month;
3. scores each month of each series (each group and the route total) by the posterior
   predictive upper-tail probability ``tail_p = P(y_rep >= y_obs)`` (small = more
   detections than the model expects), the standardised residual
   ``z = (y_obs - E[y_rep]) / sd(y_rep)`` and the log score ``-log p(y_obs)`` (the
   predictive probability averaged over posterior draws; groups only);
4. flags an episode in a series when some month of it has ``tail_p < alpha`` (default
   0.05; ``rule="tail"``). The rank of the episode's most anomalous month among all months
   of the series (by ``tail_p``, ties by ``z``) is reported too, with whether it is in the
   top ``top_share`` (default 5%). The rank rule alone (``rule="rank"``) is not the
   default because every series has a top 5%: it "flags" the most surprising months
   even of a series the model describes well (``"either"``/``"both"`` combine the two).

By default the score is in-sample: the model has seen the episode's counts (only not as an
event), so a flexible trend can absorb part of a long episode and the check is
conservative. ``holdout=True`` leaves the episodes' months out of the fit and scores them
against a prediction that never saw them (the other months stay in-sample).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special

from hybridflow.analysis.checks._common import VARIANT_SAMPLING, error_line, run_tasks
from hybridflow.analysis.checks.ppc import (
    CELL_DIMS,
    posterior_predictive,
    with_route_totals,
)
from hybridflow.inference.executor import Executor, Task
from hybridflow.inference.sampling import Sampling
from hybridflow.models.build import ModelData, prepare_data, select_driver_events
from hybridflow.models.spec import ModelSpec
from hybridflow.models.terms import FAMILIES, Family, family_named
from hybridflow.models.terms.drivers import driver_kind
from hybridflow.months import format_month, month_range

__all__ = [
    "DEFAULT_EPISODES",
    "Episode",
    "EpisodeResult",
    "episode_anomaly",
    "flag_episodes",
    "score_anomalies",
    "strip_episodes",
]


@dataclass(frozen=True)
class Episode:
    """A documented episode: ``name``, months ``start``..``end`` (``YYYY-MM``, inclusive)
    and the ``route`` it concerns (None: every modelled route)."""

    name: str
    start: str
    end: str
    route: str | None = None

    @property
    def months(self) -> pd.DatetimeIndex:
        return month_range(pd.Timestamp(self.start + "-01"), pd.Timestamp(self.end + "-01"))

    @classmethod
    def coerce(cls, value: Any) -> Episode:
        """From an :class:`Episode`, a tuple ``(name, start, end[, route])`` or any object
        with ``name``, ``start``, ``end`` (and optionally ``route``) attributes."""
        if isinstance(value, Episode):
            return value
        if isinstance(value, tuple | list):
            if len(value) not in (3, 4):
                raise ValueError(f"an episode is (name, start, end[, route]); got {value!r}")
            ep = cls(*(str(v) for v in value))
        elif all(hasattr(value, a) for a in ("name", "start", "end")):
            route = getattr(value, "route", None)
            ep = cls(str(value.name), str(value.start), str(value.end), route)
        else:
            raise ValueError(f"cannot read an episode from {value!r}")
        try:
            first, last = pd.Timestamp(ep.start + "-01"), pd.Timestamp(ep.end + "-01")
        except ValueError:
            raise ValueError(
                f"episode {ep.name!r}: months must be YYYY-MM, got {ep.start!r}, {ep.end!r}"
            ) from None
        if last < first:
            raise ValueError(f"episode {ep.name!r}: end {ep.end} is before start {ep.start}")
        return ep


DEFAULT_EPISODES: tuple[Episode, ...] = (
    Episode("Belarus 2021", "2021-06", "2021-11"),
    Episode("Finland Nov 2023", "2023-11", "2023-11"),
)


@dataclass
class EpisodeResult:
    """Outcome of :func:`episode_anomaly`.

    Attributes
    ----------
    spec
        The spec actually fitted (episode regimes removed).
    removed
        What was removed from the spec, and notes on drivers with events inside an
        episode (kept).
    scores
        :func:`score_anomalies` table: one row per month x route x series.
    summary
        :func:`flag_episodes` table: one row per episode x route x series.
    converged
        The fit's convergence gate.
    """

    spec: ModelSpec
    removed: list[str]
    scores: pd.DataFrame
    summary: pd.DataFrame
    converged: bool
    diagnostics: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- the spec


def _overlaps(lo: pd.Timestamp, hi: pd.Timestamp, ep: Episode) -> bool:
    m = ep.months
    return bool(lo <= m[-1] and hi >= m[0])


def _starts_in(start: pd.Timestamp, ep: Episode) -> bool:
    m = ep.months
    return bool(m[0] <= start <= m[-1])


def strip_episodes(
    spec: ModelSpec,
    episodes: Sequence[Any],
    events: pd.DataFrame | None = None,
    *,
    drop_regimes: Sequence[str] = (),
) -> tuple[ModelSpec, list[str]]:
    """The spec without the regimes that single out an episode.

    A dates regime is removed when it starts inside an episode, or when it is bounded (an
    ``end`` or a pulse) and overlaps an episode: it would explain the episode. Open-ended
    steps that start before an episode (e.g. the war onset) or after it (e.g. a border
    closure that followed it) are kept: they describe other breaks. An events regime loses
    the events that start inside an episode or, when bounded, overlap it (added to its
    ``exclude_ids``); with no event left it is removed. ``drop_regimes`` names further
    regimes to remove. Events drivers are never changed, but a note names those with
    events inside an episode (use a baseline-only spec to avoid them).

    Returns
    -------
    (ModelSpec, list of str)
        The new spec and one note per change.
    """
    eps = [Episode.coerce(e) for e in episodes]
    notes: list[str] = []
    unknown = set(drop_regimes) - {r.name for r in spec.baseline.regimes}
    if unknown:
        raise ValueError(
            f"drop_regimes: no regime {sorted(unknown)} in spec '{spec.name}'; regimes: "
            f"{[r.name for r in spec.baseline.regimes]}"
        )
    kept: list[dict[str, Any]] = []
    changed = False
    for r in spec.baseline.regimes:
        if r.name in drop_regimes:
            changed = True
            notes.append(f"regime '{r.name}' removed (asked for)")
            continue
        if r.source == "dates":
            assert r.start is not None
            start = pd.Timestamp(r.start + "-01")
            bounded = r.end is not None or r.shape == "pulse"
            end = (
                start
                if r.shape == "pulse"
                else (pd.Timestamp(r.end + "-01") if r.end is not None else spec.end_month)
            )
            hit = [
                e.name
                for e in eps
                if _starts_in(start, e) or (bounded and _overlaps(start, end, e))
            ]
            if hit:
                notes.append(
                    f"regime '{r.name}' ({r.start}..{r.end or 'on'}) removed: it covers the "
                    f"episode(s) {', '.join(hit)}"
                )
                changed = True
                continue
            kept.append(r.model_dump(mode="python"))
            continue
        if events is None:
            raise ValueError(
                f"regime '{r.name}' is built from events; pass the events table to check it"
            )
        dumped, note = _strip_event_regime(r, events, eps, spec.end_month)
        if dumped is not None:
            kept.append(dumped)
        if note:
            notes.append(note)
            changed = True
    notes.extend(_driver_episode_notes(spec, events, eps))
    if not changed:
        return spec, notes
    new = spec.with_updates(name=f"{spec.name}.no_episodes", baseline={"regimes": kept})
    return new, notes


def _event_bounds(
    ev: Any, shape: str, end_month: pd.Timestamp
) -> tuple[pd.Timestamp, pd.Timestamp, bool]:
    """An event regime column's first and last month, and whether it is bounded."""
    start = pd.Timestamp(ev["effective_date"]).to_period("M").to_timestamp()
    end_raw = ev.get("end_date")
    bounded = shape == "pulse" or pd.notna(end_raw)
    if shape == "pulse":
        return start, start, bounded
    if pd.notna(end_raw):
        return start, pd.Timestamp(end_raw).to_period("M").to_timestamp(), bounded
    return start, end_month, bounded


def _strip_event_regime(
    r: Any, events: pd.DataFrame, eps: list[Episode], end_month: pd.Timestamp
) -> tuple[dict[str, Any] | None, str]:
    """An events regime without its events inside an episode: (its dump or None when
    none is left, the note; "" when unchanged)."""
    assert r.filter is not None
    sel = select_driver_events(events, r.filter)
    drop: list[str] = []
    for _, ev in sel.iterrows():
        start, end, bounded = _event_bounds(ev, r.shape, end_month)
        if any(_starts_in(start, e) or (bounded and _overlaps(start, end, e)) for e in eps):
            drop.append(str(ev["event_id"]))
    dumped = r.model_dump(mode="python")
    if not drop:
        return dumped, ""
    if len(drop) == len(sel):
        return None, (
            f"regime '{r.name}' removed: all its events ({', '.join(drop)}) are in an episode"
        )
    dumped["filter"]["exclude_ids"] = sorted(
        set(dumped["filter"].get("exclude_ids") or []) | set(drop)
    )
    return dumped, f"regime '{r.name}': events {', '.join(drop)} removed (inside an episode)"


def _driver_episode_notes(
    spec: ModelSpec, events: pd.DataFrame | None, eps: list[Episode]
) -> list[str]:
    """One note per event-based driver with events inside an episode (kept)."""
    notes: list[str] = []
    for d in spec.drivers:
        flt = driver_kind(d).event_filter
        if flt is None or events is None:
            continue
        sel = select_driver_events(events, flt)
        months = pd.to_datetime(sel["effective_date"]).dt.to_period("M").dt.to_timestamp()
        inside = [
            str(i)
            for i, m in zip(sel["event_id"], months, strict=True)
            if any(m in e.months for e in eps)
        ]
        if inside:
            notes.append(
                f"driver '{d.name}' has events inside an episode ({', '.join(inside)}); kept "
                "(it may absorb part of the episode)"
            )
    return notes


# ---------------------------------------------------------------------------- scoring


def _ppd_family(ppd: xr.Dataset) -> Family | None:
    """The likelihood family a predictive dataset was simulated from (None: unknown)."""
    name = ppd.attrs.get("family")
    return family_named(str(name)) if name in FAMILIES else None


def _log_score(ppd: xr.Dataset) -> np.ndarray:
    """``-log mean_s p(y | theta_s)`` per cell (NaN where unobserved or no parameters)."""
    y = ppd["y"].transpose(*CELL_DIMS).values
    if "log_mu" not in ppd:
        return np.full(y.shape, np.nan)
    eta = ppd["log_mu"].transpose("sample", *CELL_DIMS).values
    fam = _ppd_family(ppd)
    if fam is None:
        return np.full(y.shape, np.nan)
    disp = None
    if fam.dispersion is not None:
        disp = ppd["dispersion"].transpose("sample", "route", "group").values[:, None]
    yy = np.where(np.isfinite(y), y, 0.0)[None]
    with np.errstate(all="ignore"):
        lp = fam.log_pmf(yy, eta, disp)
    if lp is None:
        return np.full(y.shape, np.nan)
    out = -(special.logsumexp(lp, axis=0) - math.log(lp.shape[0]))
    return np.where(np.isfinite(y), out, np.nan)


def score_anomalies(ppd: xr.Dataset, *, totals: bool = True) -> pd.DataFrame:
    """Anomaly scores of every observed month of every series.

    Parameters
    ----------
    ppd
        From :func:`~hybridflow.analysis.checks.ppc.posterior_predictive` (with
        ``keep_parameters=True`` for the log score).
    totals
        Also score each route's total (``series = "(total)"``) for count models with
        several groups.

    Returns
    -------
    pandas.DataFrame
        ``month`` (``YYYY-MM``), ``route``, ``series``, ``observed``, ``pred_mean``,
        ``pred_q05``, ``pred_q95``, ``tail_p`` = P(y_rep >= y_obs), ``z``, ``log_score``
        (NaN for totals), ``rank`` (1 = most anomalous month of that route x series,
        by ``tail_p`` then ``z``) and ``n_months`` (months ranked).
    """
    log_score = _log_score(ppd)
    full = ppd
    fam = _ppd_family(ppd)
    if totals and ppd.sizes["group"] > 1 and fam is not None and fam.counts:
        full = with_route_totals(ppd)
        pad = np.full((*log_score.shape[:2], 1), np.nan)
        log_score = np.concatenate([log_score, pad], axis=-1)
    y_rep = full["y_rep"].transpose("sample", *CELL_DIMS).values
    y = full["y"].transpose(*CELL_DIMS).values
    with np.errstate(invalid="ignore", divide="ignore"):
        tail = np.mean(y_rep >= y[None], axis=0)
        mean = y_rep.mean(axis=0)
        sd = y_rep.std(axis=0)
        z = (y - mean) / np.where(sd > 0, sd, np.nan)
        q05, q95 = np.quantile(y_rep, [0.05, 0.95], axis=0)
    months = pd.DatetimeIndex(full["month"].values)
    rows: list[pd.DataFrame] = []
    for i, r in enumerate(full["route"].values):
        for j, g in enumerate(full["group"].values):
            obs = np.isfinite(y[:, i, j])
            df = pd.DataFrame(
                {
                    "month": [format_month(m) for m in months[obs]],
                    "route": str(r),
                    "series": str(g),
                    "observed": y[obs, i, j],
                    "pred_mean": mean[obs, i, j],
                    "pred_q05": q05[obs, i, j],
                    "pred_q95": q95[obs, i, j],
                    "tail_p": tail[obs, i, j],
                    "z": z[obs, i, j],
                    "log_score": log_score[obs, i, j],
                }
            )
            # Most anomalous first: smallest tail probability, ties by the largest z.
            order = np.lexsort(
                (-np.nan_to_num(df["z"].to_numpy(), nan=-np.inf), df["tail_p"].to_numpy())
            )
            rank = np.empty(len(df), dtype=int)
            rank[order] = np.arange(1, len(df) + 1)
            df["rank"] = rank
            df["n_months"] = len(df)
            rows.append(df)
    return pd.concat(rows, ignore_index=True)


def flag_episodes(
    scores: pd.DataFrame,
    episodes: Sequence[Any],
    *,
    alpha: float = 0.05,
    top_share: float = 0.05,
    rule: Literal["tail", "rank", "either", "both"] = "tail",
) -> pd.DataFrame:
    """Is each episode flagged by the anomaly scores?

    Parameters
    ----------
    scores
        From :func:`score_anomalies`.
    episodes
        :class:`Episode` objects or ``(name, start, end[, route])`` tuples.
    alpha
        A month is anomalous when ``tail_p < alpha``.
    top_share
        A month ranks high when it is among the ``ceil(top_share * n_months)`` most
        anomalous months of its series.
    rule
        ``flagged`` is ``flagged_tail`` (``"tail"``, default), ``flagged_rank``
        (``"rank"``), either or both.

    Returns
    -------
    pandas.DataFrame
        One row per episode x route x series: ``episode``, ``route``, ``series``,
        ``start``, ``end``, ``months`` and ``tail_p`` (``;``-joined, one per scored
        month), ``min_tail_p``, ``max_z``, ``peak_month`` (the episode's most anomalous
        month), ``peak_rank`` (its rank among all ``n_months`` months), ``top_cut``,
        ``flagged_tail`` (some month has ``tail_p < alpha``), ``flagged_rank`` (the peak is
        in the top ``top_share``), ``flagged`` (by ``rule``), ``rule``, ``missing_months``
        (episode months outside the scored window).

    Raises
    ------
    ValueError
        An episode's route is not scored, or none of its months is.
    """
    if not 0 < alpha < 1 or not 0 < top_share < 1:
        raise ValueError("alpha and top_share must be in (0, 1)")
    if rule not in ("tail", "rank", "either", "both"):
        raise ValueError(f"rule must be 'tail', 'rank', 'either' or 'both', got {rule!r}")
    eps = [Episode.coerce(e) for e in episodes]
    routes = list(dict.fromkeys(scores["route"]))
    flags = _EpisodeFlags(alpha=alpha, top_share=top_share, rule=rule)
    rows = []
    for ep in eps:
        if ep.route is not None and ep.route not in routes:
            raise ValueError(
                f"episode {ep.name!r}: route {ep.route!r} is not scored; routes: {routes}"
            )
        for route in [ep.route] if ep.route is not None else routes:
            sub_route = scores[scores["route"] == route]
            for series, sub in sub_route.groupby("series", sort=False):
                rows.append(flags.row(ep, route, series, sub))
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class _EpisodeFlags:
    """The flagging rules of :func:`flag_episodes`."""

    alpha: float
    top_share: float
    rule: str

    def row(self, ep: Episode, route: str, series: Hashable, sub: pd.DataFrame) -> dict[str, Any]:
        """The summary row of episode ``ep`` in one series (``sub``: its scores)."""
        ep_months = [format_month(m) for m in ep.months]
        inside = sub[sub["month"].isin(ep_months)].sort_values("month")
        missing = [m for m in ep_months if m not in set(sub["month"])]
        if inside.empty:
            raise ValueError(
                f"episode {ep.name!r} ({ep.start}..{ep.end}): no scored month on "
                f"{route} / {series}; is it inside the model window?"
            )
        n_months = int(sub["n_months"].iloc[0])
        top_cut = max(1, math.ceil(self.top_share * n_months))
        peak = inside.iloc[int(np.argmin(inside["rank"].to_numpy()))]
        flagged_tail = bool(inside["tail_p"].min() < self.alpha)
        flagged_rank = bool(int(peak["rank"]) <= top_cut)
        return {
            "episode": ep.name,
            "route": route,
            "series": series,
            "start": ep.start,
            "end": ep.end,
            "months": ";".join(inside["month"]),
            "tail_p": ";".join(f"{p:.3g}" for p in inside["tail_p"]),
            "min_tail_p": float(inside["tail_p"].min()),
            "max_z": float(inside["z"].max()),
            "peak_month": str(peak["month"]),
            "peak_rank": int(peak["rank"]),
            "n_months": n_months,
            "top_cut": top_cut,
            "flagged_tail": flagged_tail,
            "flagged_rank": flagged_rank,
            "flagged": {
                "tail": flagged_tail,
                "rank": flagged_rank,
                "either": flagged_tail or flagged_rank,
                "both": flagged_tail and flagged_rank,
            }[self.rule],
            "rule": self.rule,
            "missing_months": ";".join(missing),
        }


# ---------------------------------------------------------------------------- the check


def episode_task(
    data: ModelData,
    sampling: Sampling,
    n_draws: int,
    totals: bool,
    observed: xr.DataArray | None = None,
    *,
    seed: int,
) -> dict[str, Any]:
    """Executor task: fit ``data``'s model and return its anomaly scores.

    ``observed`` (``y(month, route, group)``) replaces the fitted outcome when scoring:
    the counts of held-out months are scored although the fit did not see them.
    """
    from hybridflow.inference.fit import fit_model

    t0 = time.perf_counter()
    fit = fit_model(data, sampling, seed=seed, log_likelihood=False)
    idata, report = fit.idata, fit.diagnostics
    ppd = posterior_predictive(
        idata,
        n_draws=n_draws,
        seed=seed,
        family=data.spec.likelihood.family,
        keep_parameters=True,
    )
    if observed is not None:
        ppd["y"] = (
            observed.transpose(*CELL_DIMS)
            .reset_coords(drop=True)
            .assign_coords(month=ppd["month"].values)
        )
    return {
        "scores": score_anomalies(ppd, totals=totals),
        "converged": bool(report.converged),
        "diagnostics": report.summary_text(),
        "seconds": time.perf_counter() - t0,
    }


def _check_episodes_modelled(eps: Sequence[Episode], spec: ModelSpec) -> None:
    """Every episode lies in the model window and on a modelled route (if it names one)."""
    for ep in eps:
        if ep.months[-1] < spec.start_month or ep.months[0] > spec.end_month:
            raise ValueError(
                f"episode {ep.name!r} ({ep.start}..{ep.end}) is outside the model window "
                f"{spec.data.start}..{spec.data.end}"
            )
        if ep.route is not None and ep.route not in spec.data.routes:
            raise ValueError(
                f"episode {ep.name!r}: route {ep.route!r} is not modelled; routes: "
                f"{spec.data.routes}"
            )


def _hold_out(data: ModelData, eps: Sequence[Episode]) -> ModelData:
    """``data`` without the episodes' cells (months x route) in its fitted outcome."""
    held = xr.zeros_like(data.y, dtype=bool)
    for ep in eps:
        in_months = data.y["month"].isin(ep.months)
        in_route = data.y["route"] == ep.route if ep.route is not None else True
        held = held | (in_months & in_route)
    data = dataclasses.replace(data, y=data.y.where(~held))
    data.notes.append(f"holdout: {int(held.sum())} episode cells left out of the fit")
    return data


def episode_anomaly(
    spec: ModelSpec,
    panel: xr.Dataset,
    events: pd.DataFrame | None,
    episodes: Sequence[Any] = DEFAULT_EPISODES,
    *,
    seed: int = 0,
    sampling: Sampling = VARIANT_SAMPLING,
    n_draws: int = 1000,
    alpha: float = 0.05,
    top_share: float = 0.05,
    rule: Literal["tail", "rank", "either", "both"] = "tail",
    totals: bool = True,
    drop_regimes: Sequence[str] = (),
    holdout: bool = False,
    executor: Executor | None = None,
    progress: bool = False,
) -> EpisodeResult:
    """Fit the spec without the episodes and say whether its anomaly scores flag them.

    Parameters
    ----------
    spec, drop_regimes
        Usually the baseline-only (null) model; its regimes that single out an episode are
        removed first (:func:`strip_episodes`), and so are the regimes ``drop_regimes``.
    panel, events
        Panel and event catalogue.
    episodes
        :class:`Episode` objects, ``(name, start, end[, route])`` tuples, or the study
        spec's episodes; default Belarus Jun-Nov 2021 and Finland Nov 2023.
    sampling, seed
        Sampler settings of the one fit (default
        :data:`~hybridflow.analysis.checks._common.VARIANT_SAMPLING`) and its seed.
    n_draws
        Posterior draws used for the predictive simulation.
    alpha, top_share, rule
        Flagging rules (see :func:`flag_episodes`).
    totals
        Score route totals too (where the Finnish episode shows, if anywhere).
    holdout
        Leave the episodes' months out of the fit (their counts are scored against a
        prediction that never saw them: would the model have expected them?). Default
        False: in-sample, the conservative reading.
    executor, progress
        Runs the fit (default: in this process); its progress bar.

    Returns
    -------
    EpisodeResult
    """
    t0 = time.perf_counter()
    eps = [Episode.coerce(e) for e in episodes]
    if not eps:
        raise ValueError("episode_anomaly needs at least one episode")
    stripped, removed = strip_episodes(spec, eps, events, drop_regimes=drop_regimes)
    _check_episodes_modelled(eps, stripped)
    data = prepare_data(stripped, panel, events)
    observed = data.y if holdout else None
    data = _hold_out(data, eps) if holdout else data
    (res,) = run_tasks(
        [Task("episodes", episode_task, (data, sampling, n_draws, totals, observed), seed=seed)],
        executor,
        progress=progress,
    )
    if not res.ok:
        raise RuntimeError(f"episode check: the fit failed: {error_line(res)}")
    scores = res.value["scores"]
    summary = flag_episodes(scores, eps, alpha=alpha, top_share=top_share, rule=rule)
    return EpisodeResult(
        spec=stripped,
        removed=removed,
        scores=scores,
        summary=summary,
        converged=bool(res.value["converged"]),
        diagnostics=str(res.value["diagnostics"]),
        seconds=time.perf_counter() - t0,
        notes=list(data.notes),
    )
