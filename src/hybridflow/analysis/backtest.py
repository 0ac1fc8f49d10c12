"""Honest backtests: rolling-origin forecasts scored out of sample.

For each model and each forecast origin ``o`` (an expanding window: every month up to
``o`` is used, nothing after it), the model is refitted with the observations after
``o`` held out and forecasts ``o + h`` for ``h`` in ``horizons``. Forecasts are scored
against what was then observed by

- CRPS (continuous ranked probability score, in detections; lower is better), computed
  from predictive samples with the energy form ``E|X - y| - E|X - X'| / 2``;
- coverage of the central 50% and 90% predictive intervals;
- absolute error of the predictive median (MAE).

Benchmarks: a seasonal-naive forecast (the same month a year earlier, spread by the
12-month log changes seen up to the origin), the null model, and each hypothesis model.
Skill is ``1 - CRPS_model / CRPS_benchmark`` on the same cases.

How the refits stay cheap: the month axis of a model is fixed (its whole window), so
holding out the months after an origin only drops observations (``y_obs``, ``obs_cell``,
``obs_series``) and re-centres the intercept on the data up to the origin. The structure
never changes, so one compiled model (:class:`~hybridflow.inference.refit.Refitter`)
serves every origin; each executor worker compiles it once (``cached``). In the held-out
months the model's own trend process runs on unobserved, so its forecast uncertainty
grows with the horizon exactly as the model says it should.

What the forecaster is allowed to know about the months after the origin
(``exposures``):

- ``"observed"`` (default): the drivers' realised exposures (sanctions that did come,
  the losses that were reported). This is the conditional, scenario-style question "if
  we know what the drivers do, do they help forecast detections?", the same question a
  scenario forecast answers.
- ``"baseline"``: real time; after the origin only the baseline scenario (no new
  events, continuous drivers held at their origin value, regimes that begin after the
  origin unknown). This asks whether a forecaster at the origin gains from the drivers.

Known leak, kept small on purpose: continuous drivers are standardised over the whole
window (the same affine scaling at every origin); it changes the scale a prior applies
to, not which months inform the fit.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.analysis.forecast import QUANTILES, predictive_counts, scenario_design
from hybridflow.errors import SpecError
from hybridflow.inference.executor import (
    Executor,
    ProgressArg,
    SerialExecutor,
    Task,
    TaskResult,
    raise_on_failure,
    spawn_seeds,
)
from hybridflow.inference.posterior import fit_group, n_divergences
from hybridflow.inference.sampling import Sampling
from hybridflow.io import atomic_open
from hybridflow.models.build import ModelData, prepare_data
from hybridflow.models.spec import ModelSpec
from hybridflow.models.terms import family_named
from hybridflow.months import format_month

__all__ = [
    "BACKTEST_SAMPLING",
    "NAIVE",
    "BacktestResult",
    "backtest_origins_task",
    "backtest_summary_text",
    "crps_samples",
    "held_out_values",
    "rolling_origin",
    "score_samples",
    "seasonal_naive_samples",
    "summarise_backtest",
]

#: Sampling of each backtest refit (small on purpose: many refits).
BACKTEST_SAMPLING = Sampling(draws=200, tune=200, chains=2)

#: Name of the seasonal-naive benchmark in tables.
NAIVE = "seasonal_naive"
Exposures = Literal["observed", "baseline"]
_TABLE_COLUMNS = [
    "model",
    "origin",
    "horizon",
    "target",
    "route",
    "group",
    "observed",
    "mean",
    *[f"q{round(100 * q):02d}" for q in QUANTILES],
    "crps",
    "in50",
    "in90",
    "abs_error",
]


# --------------------------------------------------------------------------- scoring


def _loc(months: pd.DatetimeIndex, month: str | pd.Timestamp) -> int:
    """Position of a month (``YYYY-MM`` or Timestamp) in ``months``."""
    i = int(months.get_indexer(pd.DatetimeIndex([pd.Timestamp(str(month)[:7] + "-01")]))[0])
    if i < 0:
        raise ValueError(f"{month} is not a month of the window")
    return i


def crps_samples(samples: np.ndarray, observed: np.ndarray | float, axis: int = -1) -> np.ndarray:
    """CRPS of a predictive distribution given by samples (lower is better).

    The CRPS of the samples' empirical distribution, ``E|X - y| - E|X - X'| / 2``, from
    scoringrules (``crps_ensemble``, quantile-decomposition estimator: exact for the
    empirical distribution, O(n log n)); a point forecast (one sample) gives the absolute
    error.

    Parameters
    ----------
    samples
        Predictive samples, the sample axis ``axis``.
    observed
        Observed values, broadcastable to ``samples`` without the sample axis.

    Returns
    -------
    numpy.ndarray
        CRPS per case, in the units of the data.
    """
    import scoringrules

    x = np.moveaxis(np.asarray(samples, dtype=float), axis, -1)
    if x.shape[-1] == 0:
        raise ValueError("crps_samples needs at least one sample")
    y = np.broadcast_to(np.asarray(observed, dtype=float), x.shape[:-1])
    return np.asarray(scoringrules.crps_ensemble(y, x, m_axis=-1, estimator="qd"), dtype=float)


def score_samples(samples: np.ndarray, observed: np.ndarray) -> pd.DataFrame:
    """Scores of many cases at once: ``samples`` ``(case, sample)``, ``observed`` ``(case,)``.

    Returns
    -------
    pandas.DataFrame
        ``mean``, ``q05 .. q95``, ``crps``, ``in50`` / ``in90`` (the observation inside
        the central 50% / 90% interval, bounds included: counts are discrete) and
        ``abs_error`` (of the predictive median).
    """
    x = np.asarray(samples, dtype=float)
    y = np.asarray(observed, dtype=float)
    qs = np.quantile(x, QUANTILES, axis=1)
    out: dict[str, np.ndarray] = {"mean": x.mean(axis=1)}
    for q, v in zip(QUANTILES, qs, strict=True):
        out[f"q{round(100 * q):02d}"] = v
    out["crps"] = crps_samples(x, y)
    out["in50"] = (y >= out["q25"]) & (y <= out["q75"])
    out["in90"] = (y >= out["q05"]) & (y <= out["q95"])
    out["abs_error"] = np.abs(out["q50"] - y)
    return pd.DataFrame(out)


def seasonal_naive_samples(
    y: np.ndarray, origin: int, target: int, *, min_errors: int = 6
) -> np.ndarray | None:
    """Seasonal-naive predictive samples for month index ``target`` made at ``origin``.

    Point: the value 12 months before the target (observed at the origin for horizons
    up to 12). Spread: every 12-month change ``log(y[u] + 0.5) - log(y[u-12] + 0.5)``
    observed up to the origin, applied to that value (an empirical seasonal random
    walk). Returns None when the point is unobserved or fewer than ``min_errors``
    changes are available.
    """
    y = np.asarray(y, dtype=float)
    if target - origin > 12 or target - 12 < 0:
        raise ValueError("the seasonal-naive forecast needs 1 <= horizon <= 12 and a year of data")
    point = y[target - 12]
    if not np.isfinite(point):
        return None
    past = y[: origin + 1]
    ratios = np.log(past[12:] + 0.5) - np.log(past[:-12] + 0.5)
    ratios = ratios[np.isfinite(ratios)]
    if len(ratios) < min_errors:
        return None
    return np.clip((point + 0.5) * np.exp(ratios) - 0.5, 0.0, None)


# --------------------------------------------------------------------------- refits (worker side)


def held_out_values(
    data: ModelData, base: Mapping[str, np.ndarray], origin_index: int
) -> dict[str, np.ndarray]:
    """``pm.Data`` values of a model fitted on the months up to ``origin_index`` only.

    Drops the observations after the origin and re-centres the intercept on the data up
    to the origin (the full-window centre would leak the future level).
    """
    R, G = len(data.routes), len(data.groups)
    cell = np.asarray(base["obs_cell"])
    keep = cell // (R * G) <= origin_index
    y = data.y.values[: origin_index + 1]
    centre = family_named(data.spec.likelihood.family).centre(y, None)
    if not np.all(np.isfinite(centre)):
        raise SpecError(
            f"model '{data.spec.name}': a series has no observation up to "
            f"{format_month(data.months[origin_index])}"
        )
    values = {
        "y_obs": np.asarray(base["y_obs"])[keep],
        "obs_cell": cell[keep],
        "obs_series": np.asarray(base["obs_series"])[keep],
        "intercept_centre": centre,
    }
    # The design containers are reset every time: a cached model may have been refitted
    # on other values before.
    for name in ("driver_lagged", "event_lagged", "regime_design", "common_factor"):
        if name in base:
            values[name] = np.asarray(base[name])
    return values


def backtest_origins_task(
    spec: ModelSpec,
    panel: xr.Dataset,
    events: pd.DataFrame | None,
    origins: Sequence[str],
    origin_seeds: Sequence[int],
    *,
    horizon: int,
    sampling: Sampling,
    exposures: Exposures,
    seed: int,
) -> list[dict[str, Any]]:
    """Refit one model at several origins and draw its predictive counts.

    Module-level so executor workers can run it; the compiled model is cached per
    worker (:func:`~hybridflow.inference.executor.cached`).

    Returns
    -------
    list of dict
        Per origin: ``origin``, ``draws`` (``(sample, horizon, route, group)`` counts,
        float32), ``seconds`` (wall) and ``cpu_seconds`` of the refit, ``divergences``.
    """
    del seed  # per-origin seeds are explicit; the task seed is the first of them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = prepare_data(spec, panel, events)
    from hybridflow.inference.refit import cached_refitter

    refitter = cached_refitter(data, sampling.sampler)
    base = refitter._base
    months = pd.DatetimeIndex(data.months)
    T = len(months)
    out: list[dict[str, Any]] = []
    for origin, s in zip(origins, origin_seeds, strict=True):
        o = _loc(months, origin)
        values = held_out_values(data, base, o)
        if exposures == "baseline":
            design = scenario_design(data, panel, events, None, origin=origin)
            values.update(design.model_values(data.n_lags, months))
        t0, c0 = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = refitter.refit(values, sampling, seed=int(s))
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        post = fit_group(idata, "posterior")
        stop = min(o + 1 + horizon, T)
        log_mu = post["log_mu"].isel(month=slice(o + 1, stop))
        lm = log_mu.transpose("chain", "draw", "month", "route", "group").values
        S = lm.shape[0] * lm.shape[1]
        lm = lm.reshape(S, *lm.shape[2:])
        fam = family_named(spec.likelihood.family)
        disp = None
        if fam.dispersion is not None:
            disp = post[fam.dispersion].transpose("chain", "draw", "route", "group").values
            disp = disp.reshape(S, 1, *disp.shape[2:])
        u = np.random.default_rng([int(s), 2]).random(lm.shape)
        y = predictive_counts(fam.inverse_link(lm), u, fam.name, disp)
        div = n_divergences(idata)
        out.append(
            {
                "origin": origin,
                "draws": y.astype(np.float32),
                "seconds": seconds,
                "cpu_seconds": cpu,
                "divergences": div,
            }
        )
    return out


# --------------------------------------------------------------------------- result


@dataclass
class BacktestResult:
    """Rolling-origin backtest of several models.

    Attributes
    ----------
    table
        One row per model, origin, horizon, route and group (``group = "total"``: the
        route's total): ``observed``, ``mean``, ``q05 .. q95``, ``crps``, ``in50``,
        ``in90``, ``abs_error``; also the seasonal-naive benchmark (``model =
        "seasonal_naive"``).
    summary
        Per model, horizon and level (``"series"``: the modelled groups; ``"total"``:
        route totals): ``n``, ``crps``, ``coverage50``, ``coverage90``, ``mae``,
        ``skill_vs_naive`` (1 - CRPS / CRPS of the seasonal naive), ``skill_vs_null``
        and ``origins_better_than_null`` / ``n_origins``.
    runs
        Per model and origin: wall and CPU seconds per refit, divergences.
    settings
        What was run (origins, horizons, draws, tune, chains, seed, exposures...).
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    runs: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return [m for m in dict.fromkeys(self.table["model"]) if m != NAIVE]

    def text(self, *, level: str = "total") -> list[str]:
        """Plain-language findings (see :func:`backtest_summary_text`)."""
        return backtest_summary_text(self, level=level)

    def figure_data(self, *, level: str = "total") -> pd.DataFrame:
        """Tidy data for a skill figure: model, horizon, crps, skill_vs_naive,
        skill_vs_null, coverage50, coverage90."""
        s = self.summary[self.summary["level"] == level]
        cols = [
            "model",
            "horizon",
            "crps",
            "skill_vs_naive",
            "skill_vs_null",
            "coverage50",
            "coverage90",
        ]
        return s[cols].reset_index(drop=True)

    def to_csv(self, folder: str | Path) -> dict[str, Path]:
        """Write ``backtest_table.csv``, ``backtest_summary.csv`` and ``backtest_runs.csv``
        (each atomically) into ``folder``."""
        folder = Path(folder)
        out: dict[str, Path] = {}
        for name, df in (("table", self.table), ("summary", self.summary), ("runs", self.runs)):
            path = folder / f"backtest_{name}.csv"
            with atomic_open(path, "w") as fh:
                df.to_csv(fh, index=False, lineterminator="\n", float_format="%.6g")
            out[name] = path
        return out


def summarise_backtest(table: pd.DataFrame, *, null: str | None = "null") -> pd.DataFrame:
    """Model x horizon x level summary of a backtest table (see :class:`BacktestResult`)."""
    t = table.copy()
    t["level"] = np.where(t["group"] == "total", "total", "series")
    keys = ["origin", "horizon", "route", "group"]
    naive = t[t["model"] == NAIVE].set_index(keys)["crps"]
    null_t = t[t["model"] == null].set_index(keys)["crps"] if null is not None else None
    rows = []
    for (model, _h, level), g in t.groupby(["model", "horizon", "level"], sort=False):
        gi = g.set_index(keys)
        row: dict[str, Any] = {
            "model": model,
            "horizon": int(g["horizon"].iloc[0]),
            "level": level,
            "n": len(g),
            "crps": float(g["crps"].mean()),
            "coverage50": float(g["in50"].mean()) if g["in50"].notna().all() else np.nan,
            "coverage90": float(g["in90"].mean()) if g["in90"].notna().all() else np.nan,
            "mae": float(g["abs_error"].mean()),
        }
        common = gi.index.intersection(naive.index)
        row["skill_vs_naive"] = (
            1.0 - gi.loc[common, "crps"].mean() / naive.loc[common].mean()
            if len(common)
            else np.nan
        )
        if null_t is not None and len(null_t):
            common = gi.index.intersection(null_t.index)
            row["skill_vs_null"] = (
                1.0 - gi.loc[common, "crps"].mean() / null_t.loc[common].mean()
                if len(common)
                else np.nan
            )
            a = gi.loc[common, "crps"].groupby(level="origin").sum()
            b = null_t.loc[common].groupby(level="origin").sum()
            row["origins_better_than_null"] = int((a < b).sum())
            row["n_origins"] = int(len(a))
        else:
            row["skill_vs_null"] = np.nan
            row["origins_better_than_null"] = 0
            row["n_origins"] = int(g["origin"].nunique())
        rows.append(row)
    return pd.DataFrame(rows)


def _better(x: float) -> str:
    return f"{abs(100 * x):.0f}% {'better' if x > 0 else 'worse'}"


def _summary_row(s: pd.DataFrame, model: str, h: int) -> pd.Series | None:
    """The summary row of ``model`` at horizon ``h`` (None when it has none)."""
    r = s[(s["model"] == model) & (s["horizon"] == h)]
    return None if r.empty else r.iloc[0]


def _opening_sentence(result: BacktestResult, horizons: list[int], level: str) -> str:
    """What was run: origins, horizons, the score and the exposures."""
    what = "route-total" if level == "total" else "series-level"
    n_orig = int(result.settings.get("n_origins", 0))
    first, last = result.settings.get("first_origin", "?"), result.settings.get("last_origin", "?")
    return (
        f"Backtest: {n_orig} forecast origins from {first} to {last}, each model refitted on the "
        f"data up to the origin and scored on the next {', '.join(map(str, horizons))} month(s) "
        f"({what} CRPS: lower is better; exposures after the origin: "
        f"{result.settings.get('exposures', 'observed')})."
    )


def _driver_sentences(
    result: BacktestResult, s: pd.DataFrame, horizons: list[int], null: str | None
) -> tuple[list[str], dict[str, list[float]]]:
    """Per model with drivers, its CRPS change relative to the null model at each horizon;
    also the skills themselves (model -> one per horizon scored) for the verdict."""
    out: list[str] = []
    gains: dict[str, list[float]] = {}
    for model in result.models:
        if model == null:
            continue
        parts = []
        for h in horizons:
            r = _summary_row(s, model, h)
            if r is None or not np.isfinite(r["skill_vs_null"]):
                continue
            gains.setdefault(model, []).append(float(r["skill_vs_null"]))
            parts.append(
                (
                    h,
                    float(r["skill_vs_null"]),
                    int(r["origins_better_than_null"]),
                    int(r["n_origins"]),
                )
            )
        if not parts:
            continue
        h0, g0, k0, n0 = parts[0]
        verb = "improves" if g0 > 0 else "worsens"
        text = (
            f"Adding the drivers of '{model}' {verb} {h0}-month-ahead CRPS by "
            f"{abs(100 * g0):.0f}% relative to the null model (better at {k0} of {n0} origins)"
        )
        if len(parts) > 1:
            text += "; " + ", ".join(
                f"{h} months ahead: {_better(g)} ({k} of {n} origins)" for h, g, k, n in parts[1:]
            )
        out.append(text + ".")
    return out, gains


def _naive_sentence(s: pd.DataFrame, ref: str, h: int) -> str | None:
    """How the reference model's CRPS at horizon ``h`` compares with the seasonal naive."""
    r = _summary_row(s, ref, h)
    if r is None or not np.isfinite(r["skill_vs_naive"]):
        return None
    word = "lower" if r["skill_vs_naive"] > 0 else "higher"
    return (
        f"Against the seasonal-naive forecast (the same month a year earlier), the "
        f"'{ref}' model's {h}-month-ahead CRPS is {abs(100 * r['skill_vs_naive']):.0f}% {word}."
    )


def _coverage_sentence(result: BacktestResult, s: pd.DataFrame) -> str | None:
    """Each model's interval coverage over all horizons, against the nominal 90% / 50%."""
    cov = []
    for model in result.models:
        g = s[s["model"] == model]
        if g.empty:
            continue
        w = g["n"].to_numpy(dtype=float)
        c90 = float(np.average(g["coverage90"], weights=w))
        c50 = float(np.average(g["coverage50"], weights=w))
        cov.append(f"'{model}' {100 * c90:.0f}% / {100 * c50:.0f}%")
    if not cov:
        return None
    return (
        "Share of observed counts inside the 90% / 50% predictive intervals (nominal 90% / "
        "50%, all horizons): " + "; ".join(cov) + "."
    )


def _verdict(gains: dict[str, list[float]], horizons: list[int]) -> str:
    """Do the drivers improve forecasts out of sample? Judged on the best model's skills."""
    best = max(gains, key=lambda m: float(np.mean(gains[m])))
    avg = float(np.mean(gains[best]))
    if avg > 0.02 and all(g > 0 for g in gains[best]):
        return (
            f"Out of sample the drivers help: the best model, '{best}', lowers CRPS by "
            f"{100 * avg:.0f}% on average over horizons {horizons[0]}-{horizons[-1]}."
        )
    if avg > 0:
        return (
            f"Out of sample the drivers help little: the best model, '{best}', lowers CRPS by "
            f"only {100 * avg:.0f}% on average, not at every horizon."
        )
    return (
        "Out of sample the drivers do not improve forecasts: no model with drivers "
        f"beats the null model on average (best: '{best}', {_better(avg)})."
    )


def backtest_summary_text(result: BacktestResult, *, level: str = "total") -> list[str]:
    """Plain-language findings of a backtest, every number computed from it.

    Sentences: for each model with drivers, how much it changes CRPS relative to the
    null model at each horizon and at how many origins it was better; how the null model
    compares with the seasonal-naive forecast; interval coverage against the nominal
    50% and 90%; and an overall verdict on whether the drivers improve forecasts out of
    sample.
    """
    s = result.summary[result.summary["level"] == level]
    null = result.settings.get("null")
    horizons = sorted(int(h) for h in s["horizon"].unique())
    out = [_opening_sentence(result, horizons, level)]
    has_null = null is not None and null in set(s["model"])
    gains: dict[str, list[float]] = {}
    if has_null:
        sentences, gains = _driver_sentences(result, s, horizons, null)
        out.extend(sentences)
    ref = null if has_null else (result.models[0] if result.models else None)
    if ref is not None:
        naive = _naive_sentence(s, ref, horizons[0])
        if naive is not None:
            out.append(naive)
    coverage = _coverage_sentence(result, s)
    if coverage is not None:
        out.append(coverage)
    if gains:
        out.append(_verdict(gains, horizons))
    for note in result.notes:
        out.append(f"Note: {note}")
    return out


# --------------------------------------------------------------------------- the driver


def _as_specs(
    specs: ModelSpec | Sequence[ModelSpec] | Mapping[str, ModelSpec],
) -> dict[str, ModelSpec]:
    if isinstance(specs, ModelSpec):
        return {specs.name: specs}
    if isinstance(specs, Mapping):
        return dict(specs)
    out: dict[str, ModelSpec] = {}
    for sp in specs:
        if sp.name in out:
            raise SpecError(f"two models are named {sp.name!r}; give a mapping name -> spec")
        out[sp.name] = sp
    return out


def _checked_horizons(
    named: Mapping[str, ModelSpec], horizons: Sequence[int], origins: int, exposures: str
) -> list[int]:
    """The sorted distinct horizons, after checking the request is one a backtest can run."""
    if not named:
        raise SpecError("rolling_origin needs at least one model spec")
    out = sorted({int(h) for h in horizons})
    if not out or out[0] < 1 or out[-1] > 12:
        raise ValueError(f"horizons must lie in 1..12, got {out}")
    if origins < 1:
        raise ValueError(f"origins must be >= 1, got {origins}")
    if exposures not in ("observed", "baseline"):
        raise ValueError(f"exposures must be 'observed' or 'baseline', got {exposures!r}")
    return out


def _prepare_backtest_data(
    sp: ModelSpec, panel: xr.Dataset, events: pd.DataFrame | None, notes: list[str]
) -> ModelData:
    """Design arrays of a counts model; its data warnings become ``notes``."""
    if sp.data.outcome != "counts":
        raise SpecError(f"model '{sp.name}': backtests need a counts model")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = prepare_data(sp, panel, events)
    notes.extend(
        f"model '{sp.name}': {w.message}" for w in caught if issubclass(w.category, UserWarning)
    )
    return data


def _common_window(
    named: dict[str, ModelSpec],
    panel: xr.Dataset,
    events: pd.DataFrame | None,
    end: str | None,
    notes: list[str],
) -> tuple[dict[str, ModelData], pd.Timestamp]:
    """Every model's data, cut to one common last month (``end`` or the earliest window end)
    so that all are scored on the same cases; ``named`` is updated for the cut models."""
    datas = {name: _prepare_backtest_data(sp, panel, events, notes) for name, sp in named.items()}
    common_end = min(d.months[-1] for d in datas.values())
    if end is not None:
        requested = pd.Timestamp(end + "-01")
        if requested > common_end:
            raise SpecError(
                f"end {end} is after the last month every model covers ({format_month(common_end)})"
            )
        common_end = requested
    for name, sp in list(named.items()):
        if datas[name].months[-1] != common_end:
            named[name] = sp.with_updates(data={"end": format_month(common_end)})
            datas[name] = _prepare_backtest_data(named[name], panel, events, notes)
            notes.append(
                f"model '{name}' scored up to {format_month(common_end)}, the common window end"
            )
    return datas, common_end


def _forecast_origins(
    datas: Mapping[str, ModelData], common_end: pd.Timestamp, hmax: int, origins: int
) -> tuple[ModelData, list[str]]:
    """The longest model's data and the last ``origins`` months with 24 months of data
    before them (in every model) and ``hmax`` months after them (up to ``common_end``)."""
    routes_groups = {(tuple(d.routes), tuple(d.groups)) for d in datas.values()}
    if len(routes_groups) != 1:
        raise SpecError(
            f"backtested models must share routes and groups; got {sorted(routes_groups)}"
        )
    longest = max(datas.values(), key=lambda d: len(d.months))
    months = pd.DatetimeIndex(longest.months)
    candidates = months[months <= common_end - pd.DateOffset(months=hmax)]
    latest_start = max(d.months[0] for d in datas.values())
    candidates = candidates[candidates >= latest_start + pd.DateOffset(months=23)]
    if len(candidates) < origins:
        raise SpecError(
            f"only {len(candidates)} origins have 24 months of data before them and {hmax} month(s) "
            f"after (window ends {format_month(common_end)}); ask for fewer origins or horizons"
        )
    return longest, [format_month(m) for m in candidates[-origins:]]


def _origin_tasks(
    named: Mapping[str, ModelSpec],
    panel: xr.Dataset,
    events: pd.DataFrame | None,
    origin_list: list[str],
    *,
    seed: int,
    per_task: int | None,
    task_kwargs: Mapping[str, Any],
) -> list[Task]:
    """One task per model and chunk of ``per_task`` origins (default: all of them); each
    (model, origin) has its own seed from ``seed``, however the origins are chunked."""
    n_o = len(origin_list)
    seeds = spawn_seeds(seed, len(named) * n_o)
    per_task = per_task or n_o
    tasks: list[Task] = []
    for i, (name, sp) in enumerate(named.items()):
        for start in range(0, n_o, per_task):
            chunk = origin_list[start : start + per_task]
            chunk_seeds = seeds[i * n_o + start : i * n_o + start + len(chunk)]
            tasks.append(
                Task(
                    key=f"backtest:{name}:{chunk[0]}..{chunk[-1]}",
                    fn=backtest_origins_task,
                    args=(sp, panel, events, chunk, chunk_seeds),
                    kwargs=dict(task_kwargs),
                    seed=chunk_seeds[0],
                )
            )
    return tasks


@dataclass(frozen=True)
class _Observed:
    """What the forecasts are scored against: counts ``y (month, route, group)`` and route
    totals ``total (month, route)`` over the longest model's window."""

    months: pd.DatetimeIndex
    routes: list[str]
    groups: list[str]
    y: np.ndarray
    total: np.ndarray

    @classmethod
    def of(cls, data: ModelData) -> _Observed:
        groups = list(data.groups)
        return cls(
            months=pd.DatetimeIndex(data.months),
            routes=list(data.routes),
            groups=groups,
            y=data.y.values,
            total=data.y.sum("group", min_count=len(groups)).values,
        )

    def series(self) -> list[tuple[int, str, int, str, np.ndarray]]:
        """``(route index, route, group index, group, counts over months)`` per scored
        series: each group, then the route's ``"total"``."""
        return [
            (ri, r, gi, g, self.total[:, ri] if g == "total" else self.y[:, ri, gi])
            for ri, r in enumerate(self.routes)
            for gi, g in enumerate([*self.groups, "total"])
        ]

    def case(
        self, model: str, origin: str, h: int, t: int, route: str, group: str
    ) -> dict[str, Any]:
        """The identifying columns of one scored case (target month index ``t``)."""
        return {
            "model": model,
            "origin": origin,
            "horizon": h,
            "target": format_month(self.months[t]),
            "route": route,
            "group": group,
        }


def _run_row(name: str, run: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "model": name,
        "origin": run["origin"],
        "seconds": run["seconds"],
        "cpu_seconds": run.get("cpu_seconds", np.nan),
        "divergences": run["divergences"],
    }


def _score_model(
    name: str, runs: Sequence[Mapping[str, Any]], obs: _Observed, horizons: list[int]
) -> pd.DataFrame | None:
    """Scored cases of one model's refits (None when no case is observed)."""
    cases: list[dict[str, Any]] = []
    samples: list[np.ndarray] = []
    observed: list[float] = []
    for run in runs:
        o = _loc(obs.months, run["origin"])
        d = run["draws"]  # sample, h, route, group
        for h in horizons:
            if h > d.shape[1]:
                continue
            for ri, r, gi, g, series in obs.series():
                value = series[o + h]
                if not np.isfinite(value):
                    continue
                x = d[:, h - 1, ri, :].sum(axis=-1) if g == "total" else d[:, h - 1, ri, gi]
                cases.append(obs.case(name, run["origin"], h, o + h, r, g))
                samples.append(x)
                observed.append(float(value))
    if not cases:
        return None
    frame = pd.DataFrame(cases)
    frame["observed"] = observed
    return pd.concat([frame, score_samples(np.vstack(samples), np.asarray(observed))], axis=1)


def _score_naive(
    origin_list: list[str], obs: _Observed, horizons: list[int]
) -> pd.DataFrame | None:
    """The seasonal-naive benchmark scored on the same cases (None when it has none)."""
    cases: list[dict[str, Any]] = []
    scores: list[pd.DataFrame] = []
    for origin in origin_list:
        o = _loc(obs.months, origin)
        for h in horizons:
            t = o + h
            for _ri, r, _gi, g, series in obs.series():
                if not np.isfinite(series[t]):
                    continue
                smp = seasonal_naive_samples(series, o, t)
                if smp is None:
                    continue
                cases.append({**obs.case(NAIVE, origin, h, t, r, g), "observed": float(series[t])})
                scores.append(score_samples(smp[None, :], np.asarray([series[t]])))
    if not cases:
        return None
    return pd.concat([pd.DataFrame(cases), pd.concat(scores, ignore_index=True)], axis=1)


def _divergence_note(runs: pd.DataFrame) -> str | None:
    div = int(runs["divergences"].sum()) if len(runs) else 0
    if not div:
        return None
    return (
        f"{div} divergent transition{'' if div == 1 else 's'} over {len(runs)} refits "
        "(small per-refit sampling); "
        "the scores judge the forecasts as they were made"
    )


def _score_runs(
    tasks: Sequence[Task],
    results: Sequence[TaskResult],
    longest: ModelData,
    origin_list: list[str],
    horizons: list[int],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The backtest table (every model's scored cases, then the seasonal naive's) and the
    runs table (one row per model and origin)."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for task, res in zip(tasks, results, strict=True):
        by_model.setdefault(task.key.split(":")[1], []).extend(res.value)
    obs = _Observed.of(longest)
    frames = [_score_model(name, runs, obs, horizons) for name, runs in by_model.items()]
    frames.append(_score_naive(origin_list, obs, horizons))
    table = pd.concat([f for f in frames if f is not None], ignore_index=True)[_TABLE_COLUMNS]
    runs = pd.DataFrame([_run_row(name, run) for name, runs in by_model.items() for run in runs])
    return table, runs


@dataclass
class _Plan:
    """What a backtest runs: the models (cut to a common window end), the horizons, the
    origins, the longest model's data (what is scored against) and the notes so far."""

    named: dict[str, ModelSpec]
    horizons: list[int]
    origin_list: list[str]
    longest: ModelData
    end: pd.Timestamp
    notes: list[str]

    @classmethod
    def make(
        cls,
        specs: ModelSpec | Sequence[ModelSpec] | Mapping[str, ModelSpec],
        panel: xr.Dataset,
        events: pd.DataFrame | None,
        *,
        origins: int,
        horizons: Sequence[int],
        exposures: str,
        end: str | None,
    ) -> _Plan:
        named = _as_specs(specs)
        checked = _checked_horizons(named, horizons, origins, exposures)
        notes: list[str] = []
        datas, common_end = _common_window(named, panel, events, end, notes)
        longest, origin_list = _forecast_origins(datas, common_end, checked[-1], origins)
        return cls(named, checked, origin_list, longest, common_end, notes)

    def settings(
        self,
        null: str | None,
        sampling: Sampling,
        seed: int,
        exposures: str,
        wall: float,
        runs: pd.DataFrame,
    ) -> dict[str, Any]:
        """What was run (:attr:`BacktestResult.settings`)."""
        return {
            "models": list(self.named),
            "null": null,
            "n_origins": len(self.origin_list),
            "first_origin": self.origin_list[0],
            "last_origin": self.origin_list[-1],
            "horizons": self.horizons,
            "draws": sampling.draws,
            "tune": sampling.tune,
            "chains": sampling.chains,
            "seed": seed,
            "sampler": sampling.sampler,
            "exposures": exposures,
            "end": format_month(self.end),
            "wall_seconds": wall,
            "mean_refit_seconds": float(runs["seconds"].mean()) if len(runs) else math.nan,
        }


def rolling_origin(
    specs: ModelSpec | Sequence[ModelSpec] | Mapping[str, ModelSpec],
    panel: xr.Dataset,
    events: pd.DataFrame | None = None,
    *,
    origins: int = 24,
    horizons: Sequence[int] = (1, 2, 3),
    sampling: Sampling = BACKTEST_SAMPLING,
    seed: int = 0,
    executor: Executor | None = None,
    exposures: Exposures = "observed",
    end: str | None = None,
    origins_per_task: int | None = None,
    null: str | None = "null",
    progress: ProgressArg = False,
) -> BacktestResult:
    """Rolling-origin (expanding window) backtest of one or more count models.

    Parameters
    ----------
    specs
        Model specs (a mapping gives their names in the tables; otherwise ``spec.name``).
    panel, events
        The panel and event catalogue.
    origins, horizons
        Number of forecast origins (the last ``origins`` months from which every horizon
        can still be scored) and the months ahead to score (1-12).
    sampling, seed
        Sampler settings per refit (default :data:`BACKTEST_SAMPLING`: small on purpose,
        many refits: 200 draws after 200 tuning steps x 2 chains; nutpie compiles once per
        worker) and the root seed: each (model, origin) gets its own seed from it,
        whatever the executor.
    executor, progress
        Where refits run (:func:`hybridflow.inference.executor.make_executor`; default: in
        this process) and the executor's progress bar.
    exposures
        ``"observed"`` or ``"baseline"`` (real time); see the module docstring.
    end
        Last month scored (default: the earliest window end among the models; every model
        is scored on the same cases).
    origins_per_task
        Origins per executor task (default: all of a model's origins in one task, so each
        model is compiled once; lower it to spread one model over several workers).
    null
        Name of the null model among ``specs`` (skill relative to it), or None.

    Returns
    -------
    BacktestResult
    """
    plan = _Plan.make(
        specs, panel, events, origins=origins, horizons=horizons, exposures=exposures, end=end
    )
    tasks = _origin_tasks(
        plan.named,
        panel,
        events,
        plan.origin_list,
        seed=seed,
        per_task=origins_per_task,
        task_kwargs={"horizon": plan.horizons[-1], "sampling": sampling, "exposures": exposures},
    )
    t0 = time.perf_counter()
    results = raise_on_failure((executor or SerialExecutor()).map(tasks, progress=progress))
    wall = time.perf_counter() - t0
    table, runs = _score_runs(tasks, results, plan.longest, plan.origin_list, plan.horizons)
    null_name = null if null is not None and null in plan.named else None
    settings = plan.settings(null_name, sampling, seed, exposures, wall, runs)
    notes = plan.notes
    divergences = _divergence_note(runs)
    if divergences is not None:
        notes.append(divergences)
    summary = summarise_backtest(table, null=null_name)
    return BacktestResult(table=table, summary=summary, runs=runs, settings=settings, notes=notes)
