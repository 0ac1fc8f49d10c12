"""Forecasts: posterior predictive detections for the months after a fit, under scenarios.

How a forecast is made (see ``docs/forecasting.md``)
----------------------------------------------------
A fitted model's linear predictor is additive::

    log mu[t,s] = intercept[s] + season[t,s] + trend[t,s] + regimes[t,s] + factor[t,s]
                  + drivers[t,s]

:func:`forecast` extends each piece past the last fitted month ``T`` with the *same
posterior draws* of the fit, so every forecast is the fit's own posterior predictive.
Each piece is a term of :mod:`hybridflow.models.terms` and extends itself
(:meth:`~hybridflow.models.terms.Term.extend`); this module knows none by name:

- A runtime guard first checks that the terms' numpy evaluation reproduces the fitted
  ``log_mu`` on the same draws: if the model ever gains a piece that is not a term, the
  check fails loudly instead of forecasting wrongly.
- ``intercept + season`` depends on the calendar month only (Fourier features of the
  future months).
- The latent trend is an AR(1) (or random-walk) process on knots every ``trend_step``
  months whose last knot is the last fitted month. The forecast continues the process
  with the posterior draws of ``rho`` and ``sigma``: new knots every ``trend_step``
  months, ``u[k] = rho * u[k-1] + sigma * eps``, linear in between. Its uncertainty grows
  with the horizon (and an AR(1) reverts towards the intercept).
- Regimes, common factor and drivers take the scenario's design for the forecast months
  (:func:`hybridflow.analysis.scenario_design.scenario_design`): exposures built by the same machinery as the fit (catalogue
  events through the drivers' filters, shapes and kernels; continuous drivers through
  the fit's own log/standardisation), multiplied by the posterior draws of the effects
  and kernel weights. Exposures of the last ``max_lag`` fitted months carry into the
  forecast months through the lags.
- Counts are drawn from the likelihood family (negative binomial or Poisson) at
  ``mu = exp(log mu)`` by inversion, with common random numbers: every scenario uses the same
  posterior draws, trend innovations and uniform variates, so a scenario that changes
  nothing gives exactly the baseline and scenario-minus-baseline differences are paired.

Backtests (:mod:`hybridflow.analysis.backtest`) instead refit the model on a fixed month
axis with the months after each origin held out; there the model itself extends the
trend into the unobserved months. Both give the model's own predictive distribution.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.analysis.scenario import (
    BASELINE,
    Scenario,
    load_scenario,
    parse_scenario,
)
from hybridflow.analysis.scenario_design import ScenarioDesign, future_months, scenario_design
from hybridflow.errors import InputError, SpecError
from hybridflow.inference.posterior import fit_group
from hybridflow.io import atomic_open, atomic_path
from hybridflow.models.build import ModelData, prepare_data, select_outcome
from hybridflow.models.spec import ModelSpec
from hybridflow.models.terms import (
    Design,
    Draws,
    Term,
    family_named,
    linear_predictor,
    model_terms,
)
from hybridflow.models.terms.base import SAMPLE_DIMS
from hybridflow.months import format_month

__all__ = [
    "QUANTILES",
    "Forecast",
    "ScenarioDesign",
    "forecast",
    "forecast_summary_text",
    "load_forecast",
    "predictive_counts",
    "scenario_design",
]

#: Quantiles reported everywhere (fan charts use all five).
QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)


def _qname(q: float) -> str:
    return f"q{round(100 * q):02d}"


# --------------------------------------------------------------------------- posterior pieces


def _n_samples(post: xr.Dataset) -> int:
    return int(post.sizes["chain"] * post.sizes["draw"])


def _thin(post: xr.Dataset, max_draws: int | None) -> xr.Dataset:
    """Keep every k-th draw so that chains x draws <= ``max_draws`` (deterministic)."""
    if max_draws is None or _n_samples(post) <= max_draws:
        return post
    if max_draws < post.sizes["chain"]:
        raise ValueError(f"max_draws must be >= the number of chains ({post.sizes['chain']})")
    k = math.ceil(_n_samples(post) / max_draws)
    return post.isel(draw=slice(None, None, k))


def _check_decomposition(terms: list[Term], draws: Draws, data: ModelData) -> None:
    """The runtime guard: the fitted ``log_mu`` must be the sum of the model's terms on
    the same draws, or the forecast would extend a model it does not describe."""
    eta = linear_predictor(terms, draws, Design.of_data(data))
    log_mu = draws.get("log_mu", "month", "route", "group")
    gap = np.abs(eta - log_mu) / (1.0 + np.abs(log_mu))
    if gap.size and float(gap.max()) > 1e-6:
        t = int(np.unravel_index(int(np.argmax(gap)), gap.shape)[1])
        raise RuntimeError(
            "forecast: the fitted log_mu is not the sum of the model's terms "
            f"({', '.join(type(x).__name__ for x in terms)}; discrepancy "
            f"{float(gap.max()):.3g} in {format_month(data.months[t])}); the model has a "
            "component this forecast does not know"
        )


def _extend_terms(
    terms: list[Term], draws: Draws, design: Design, horizon: int, seed: int
) -> np.ndarray:
    """``eta(sample, horizon, route, group)`` after the fit: every term extended. Latent
    processes restart their generator for every scenario (common random numbers)."""
    R, G = draws.series_shape()
    eta = np.zeros((draws.n, horizon, R, G))
    for term in terms:
        eta = eta + term.extend(draws, design, horizon, np.random.default_rng([seed, 1]))
    return eta


def predictive_counts(
    mu: np.ndarray, u: np.ndarray, family: str, dispersion: np.ndarray | None = None
) -> np.ndarray:
    """Counts from the likelihood by inversion: ``F^-1(u; mu)``.

    Inversion with shared uniforms ``u`` (common random numbers) makes draws under two
    scenarios monotone in ``mu``: equal means give equal counts, a higher mean never a
    lower count.

    Parameters
    ----------
    mu
        Expected counts.
    u
        Uniforms in (0, 1), broadcastable to ``mu``.
    family
        A count family's name (:data:`hybridflow.models.terms.FAMILIES`), e.g.
        ``"negbin"`` (needs ``dispersion``, NB2 ``alpha``: variance ``mu + mu^2/alpha``)
        or ``"poisson"``.
    """
    u = np.clip(u, 1e-12, 1.0 - 1e-12)
    return family_named(family).quantile(u, mu, dispersion)


# --------------------------------------------------------------------------- the forecast


def _as_scenario(value: Scenario | str | Path | Mapping[str, Any]) -> Scenario:
    if isinstance(value, Scenario):
        return value
    if isinstance(value, Mapping):
        return parse_scenario(dict(value))
    return load_scenario(value)


def _month_key(month: str | pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(str(month)[:7] + "-01")


@dataclass
class Forecast:
    """Posterior predictive detections for the months after a fit, under scenarios.

    Attributes
    ----------
    draws
        Predictive counts, ``(scenario, chain, draw, month, route, group)``.
    expected
        Expected counts ``exp(log mu)``, same dims (no count noise).
    history
        Observed counts in the fitted window, ``(month, route, group)``.
    observed
        Counts observed in the forecast months where the panel already has them
        (``NaN`` otherwise), ``(month, route, group)``.
    observed_total
        Route totals observed in the forecast months, ``(month, route)`` (FRONTEX route
        totals can run ahead of the nationality breakdown).
    scenarios
        The scenarios by name; ``baseline`` names the reference.
    notes
        Per scenario: what it did and what it asked for that the model cannot do.
    attrs
        Provenance (spec, hashes, seed, origin).

    Selections: ``route=None`` sums over routes and ``group=None`` over groups (the
    total); a name selects one series.
    """

    draws: xr.DataArray
    expected: xr.DataArray
    history: xr.DataArray
    observed: xr.DataArray
    observed_total: xr.DataArray
    scenarios: dict[str, Scenario]
    baseline: str = BASELINE
    notes: dict[str, list[str]] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)

    # -- selection ----------------------------------------------------------------
    @property
    def months(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.draws["month"].values)

    @property
    def scenario_names(self) -> list[str]:
        return [str(s) for s in self.draws["scenario"].values]

    def _scenario(self, scenario: str | None) -> str:
        name = self.baseline if scenario is None else scenario
        if name not in self.scenario_names:
            raise KeyError(f"no scenario {name!r}; scenarios: {', '.join(self.scenario_names)}")
        return name

    def _month(self, month: str | pd.Timestamp) -> pd.Timestamp:
        m = _month_key(month)
        if m not in self.months:
            raise ValueError(
                f"{format_month(m)} is not a forecast month "
                f"({format_month(self.months[0])}..{format_month(self.months[-1])})"
            )
        return m

    @staticmethod
    def _reduce(da: xr.DataArray, route: str | None, group: str | None) -> xr.DataArray:
        da = da.sum("route") if route is None else da.sel(route=route)
        return da.sum("group") if group is None else da.sel(group=group)

    def predictive(
        self, scenario: str | None = None, *, route: str | None = None, group: str | None = None
    ) -> xr.DataArray:
        """Predictive count draws ``(chain, draw, month)`` of one scenario and selection."""
        return self._reduce(self.draws.sel(scenario=self._scenario(scenario)), route, group)

    def quantiles(
        self,
        scenario: str | None = None,
        *,
        route: str | None = None,
        group: str | None = None,
        q: Sequence[float] = QUANTILES,
    ) -> xr.DataArray:
        """Predictive quantiles ``(quantile, month)`` (defaults: 5, 25, 50, 75, 95%)."""
        return self.predictive(scenario, route=route, group=group).quantile(
            list(q), dim=SAMPLE_DIMS
        )

    def series_quantiles(self, q: Sequence[float] = QUANTILES) -> xr.DataArray:
        """Quantiles of every series: ``(quantile, scenario, month, route, group)``."""
        return self.draws.quantile(list(q), dim=SAMPLE_DIMS)

    def exceedance(
        self,
        threshold: float,
        month: str | pd.Timestamp,
        scenario: str | None = None,
        *,
        route: str | None = None,
        group: str | None = None,
    ) -> float:
        """P(detections > ``threshold`` in ``month``): the share of predictive draws above.

        Examples
        --------
        >>> fc.exceedance(2000, "2025-07")  # doctest: +SKIP
        0.12
        """
        da = self.predictive(scenario, route=route, group=group).sel(month=self._month(month))
        return float((da > threshold).mean())

    def difference(
        self,
        scenario: str,
        *,
        kind: str = "expected",
        route: str | None = None,
        group: str | None = None,
    ) -> xr.DataArray:
        """Scenario minus baseline, draw by draw (paired), ``(chain, draw, month)``.

        ``kind="expected"``: difference in expected counts (the scenario's effect on the
        mean); ``"predictive"``: difference in predictive counts (common random numbers,
        so count noise largely cancels). Zero everywhere for a scenario that changes
        nothing.
        """
        src = {"expected": self.expected, "predictive": self.draws}.get(kind)
        if src is None:
            raise ValueError(f"kind must be 'expected' or 'predictive', got {kind!r}")
        a = self._reduce(src.sel(scenario=self._scenario(scenario)), route, group)
        b = self._reduce(src.sel(scenario=self.baseline), route, group)
        return a - b

    # -- tables -------------------------------------------------------------------
    def _selections(self) -> list[tuple[str | None, str | None, str, str]]:
        routes = [str(r) for r in self.draws["route"].values]
        groups = [str(g) for g in self.draws["group"].values]
        out: list[tuple[str | None, str | None, str, str]] = []
        for r in routes:
            out.extend((r, g, r, g) for g in groups)
            out.append((r, None, r, "total"))
        if len(routes) > 1:
            out.append((None, None, "all", "total"))
        return out

    def summary(self, threshold: float | None = None) -> pd.DataFrame:
        """One row per scenario, month, route and group (plus ``group = "total"``).

        Columns: ``mean`` and ``q05 .. q95`` of predictive counts; ``expected_mean``;
        ``diff_mean``, ``diff_q05``, ``diff_q50``, ``diff_q95`` (expected counts,
        scenario minus baseline, paired); ``p_exceed`` (P(count > ``threshold``), when
        given); ``observed`` (where already known).
        """
        rows: list[dict[str, Any]] = []
        for name in self.scenario_names:
            for route, group, r_label, g_label in self._selections():
                pred = self.predictive(name, route=route, group=group)
                qs = pred.quantile(list(QUANTILES), dim=SAMPLE_DIMS)
                exp_ = self._reduce(self.expected.sel(scenario=name), route, group)
                diff = self.difference(name, route=route, group=group)
                dq = diff.quantile([0.05, 0.5, 0.95], dim=SAMPLE_DIMS)
                obs = self._observed(route, group)
                for m in self.months:
                    row: dict[str, Any] = {
                        "scenario": name,
                        "month": format_month(m),
                        "route": r_label,
                        "group": g_label,
                        "mean": float(pred.sel(month=m).mean()),
                    }
                    for q in QUANTILES:
                        row[_qname(q)] = float(qs.sel(quantile=q, month=m))
                    row["expected_mean"] = float(exp_.sel(month=m).mean())
                    row["diff_mean"] = float(diff.sel(month=m).mean())
                    for q in (0.05, 0.5, 0.95):
                        row[f"diff_{_qname(q)}"] = float(dq.sel(quantile=q, month=m))
                    if threshold is not None:
                        row["p_exceed"] = float((pred.sel(month=m) > threshold).mean())
                    row["observed"] = float(obs.sel(month=m)) if obs is not None else np.nan
                    rows.append(row)
        return pd.DataFrame(rows)

    def _observed(self, route: str | None, group: str | None) -> xr.DataArray | None:
        if group is None:
            tot = self.observed_total
            return (
                tot.sum("route", min_count=tot.sizes["route"])
                if route is None
                else tot.sel(route=route)
            )
        if route is None:
            return self.observed.sel(group=group).sum(
                "route", min_count=self.observed.sizes["route"]
            )
        return self.observed.sel(route=route, group=group)

    # -- output -------------------------------------------------------------------
    def to_dataset(self) -> xr.Dataset:
        """Everything as one Dataset (scenarios, notes and provenance in attrs as JSON)."""
        ds = xr.Dataset(
            {
                "draws": self.draws,
                "expected": self.expected,
                "history": self.history.rename(month="history_month"),
                "observed": self.observed,
                "observed_total": self.observed_total,
            }
        )
        ds.attrs.update({k: v for k, v in self.attrs.items() if isinstance(v, str | int | float)})
        ds.attrs["baseline"] = self.baseline
        ds.attrs["scenarios_json"] = json.dumps(
            {k: s.model_dump(mode="json", by_alias=True) for k, s in self.scenarios.items()}
        )
        ds.attrs["notes_json"] = json.dumps(self.notes)
        ds.attrs["quantity"] = "detections per month (predictive counts and expected counts)"
        return ds

    def to_netcdf(self, path: str | Path) -> Path:
        """Write :meth:`to_dataset` to netCDF (atomically). Read back with
        :func:`load_forecast`."""
        path = Path(path)
        ds = self.to_dataset()
        with atomic_path(path) as tmp:
            ds.to_netcdf(tmp, engine="h5netcdf")
        return path

    def to_csv(self, path: str | Path, threshold: float | None = None) -> Path:
        """Write :meth:`summary` as CSV (atomically)."""
        path = Path(path)
        table = self.summary(threshold)
        with atomic_open(path, "w") as fh:
            table.to_csv(fh, index=False, lineterminator="\n", float_format="%.6g")
        return path

    def fan_chart_data(
        self,
        scenario: str | None = None,
        *,
        route: str | None = None,
        group: str | None = None,
        compare: str | None = None,
        history_months: int = 24,
        threshold: float | None = None,
    ) -> dict[str, Any]:
        """Keyword arguments for :func:`hybridflow.briefing.figures.fan_chart`.

        The fan is ``scenario`` (default: the baseline); ``compare`` adds another
        scenario's median as a dashed line.
        """
        name = self._scenario(scenario)
        hist = self._reduce(self.history, route, group)
        hist = hist.isel(month=slice(-history_months, None))
        qs = self.quantiles(name, route=route, group=group).values
        where = route or "all routes"
        who = group or "all groups"
        out: dict[str, Any] = {
            "history_months": pd.DatetimeIndex(hist["month"].values),
            "history": hist.values,
            "months": self.months,
            "quantiles": qs,
            "title": f"{where}, {who}: forecast under '{name}'",
            "threshold": threshold,
        }
        if compare is not None:
            cmp_ = self.quantiles(self._scenario(compare), route=route, group=group, q=[0.5])
            out["scenario_median"] = cmp_.values[0]
            out["scenario_label"] = f"median under '{compare}'"
        return out


def load_forecast(path: str | Path) -> Forecast:
    """Read a forecast written by :meth:`Forecast.to_netcdf`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no forecast file here")
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = ds.load()
    if "scenarios_json" not in ds.attrs:
        raise InputError(path, "not a hybridflow forecast (attrs lack 'scenarios_json')")
    scen = {
        k: Scenario.model_validate(v) for k, v in json.loads(ds.attrs["scenarios_json"]).items()
    }
    attrs = {k: v for k, v in ds.attrs.items() if k not in ("scenarios_json", "notes_json")}
    return Forecast(
        draws=ds["draws"],
        expected=ds["expected"],
        history=ds["history"].rename(history_month="month"),
        observed=ds["observed"],
        observed_total=ds["observed_total"],
        scenarios=scen,
        baseline=str(ds.attrs.get("baseline", BASELINE)),
        notes=json.loads(ds.attrs.get("notes_json", "{}")),
        attrs=attrs,
    )


def forecast(
    result: Any,
    panel: xr.Dataset | None = None,
    events: pd.DataFrame | None = None,
    *,
    horizon: int = 3,
    scenarios: Sequence[Scenario | str | Path | Mapping[str, Any]] = (),
    seed: int | None = None,
    max_draws: int | None = None,
) -> Forecast:
    """Posterior predictive detections for the ``horizon`` months after a fit.

    Parameters
    ----------
    result
        A :class:`~hybridflow.inference.result.FitResult` (from ``fit_spec`` or
        ``load_result``) of a counts model.
    panel, events
        The panel and catalogue the model was fitted on (defaults: the packaged ones).
        Checked against the fit's data hash.
    horizon
        Months to forecast (1-24; the CLI offers 1-6).
    scenarios
        Scenarios (objects, TOML paths or dicts). The baseline is always included; a
        scenario named ``"baseline"`` replaces the default one.
    seed
        Seed of the trend innovations, count draws and new events' deviations (default:
        the fit's seed). Same seed, same numbers.
    max_draws
        Thin the posterior to at most this many draws (chains x draws).

    Returns
    -------
    Forecast

    Raises
    ------
    SpecError
        A share model, too short a window, or a scenario the model cannot honour.
    InputError
        The panel or catalogue differ from the ones the fit used.
    """
    if not 1 <= int(horizon) <= 24:
        raise ValueError(f"horizon must be 1..24 months, got {horizon}")
    horizon = int(horizon)
    spec: ModelSpec = result.spec
    attrs = dict(result.idata["posterior"].attrs)
    panel, events, data = _fit_data(result, panel, events)
    seed = int(attrs.get("seed", 0)) if seed is None else int(seed)
    scen = _scenario_set(scenarios)
    post = _thin(fit_group(result.idata, "posterior"), max_draws)
    designs = {
        name: scenario_design(data, panel, events, sc, future=horizon) for name, sc in scen.items()
    }
    draws, expected = _predict(post, data, designs, horizon, seed)
    months_f = future_months(data.months[-1], horizon)
    observed, observed_total = _observed_after(spec, panel, data, months_f)
    return Forecast(
        draws=draws,
        expected=expected,
        history=data.y.copy(),
        observed=observed,
        observed_total=observed_total,
        scenarios=scen,
        baseline=BASELINE,
        notes={name: list(dict.fromkeys(d.notes)) for name, d in designs.items()},
        attrs=_forecast_attrs(spec, attrs, data, seed, horizon, post),
    )


def _forecast_attrs(
    spec: ModelSpec,
    fit_attrs: Mapping[str, Any],
    data: ModelData,
    seed: int,
    horizon: int,
    post: xr.Dataset,
) -> dict[str, Any]:
    """A forecast's provenance: the fit (spec, data hash, seeds, convergence) and the run."""
    return {
        "spec_name": spec.name,
        "spec_hash": str(fit_attrs.get("spec_hash", "")),
        "data_hash": data.data_hash(),
        "fit_seed": int(fit_attrs.get("seed", -1)),
        "seed": seed,
        "origin": format_month(data.months[-1]),
        "horizon": horizon,
        **_spec_attrs(spec),
        "converged": int(fit_attrs.get("converged", -1)),
        "n_samples": _n_samples(post),
    }


def _spec_attrs(spec: ModelSpec) -> dict[str, Any]:
    return {
        "family": spec.likelihood.family,
        "trend": spec.baseline.trend,
        "trend_step": spec.baseline.trend_step,
    }


def _fit_data(
    result: Any, panel: xr.Dataset | None, events: pd.DataFrame | None
) -> tuple[xr.Dataset, pd.DataFrame, ModelData]:
    """The panel and catalogue (default: the packaged ones) and the fit's design arrays
    rebuilt from them, checked against the fit (window, data hash)."""
    spec: ModelSpec = result.spec
    if spec.data.outcome != "counts":
        raise SpecError(
            f"model '{spec.name}': forecasts need a counts model (outcome 'share' would need "
            "the future route totals)"
        )
    if panel is None:
        from hybridflow.data.panel import load_panel

        panel = load_panel()
    if events is None:
        from hybridflow.data.events import load_events

        events = load_events()
    attrs = dict(result.idata["posterior"].attrs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = prepare_data(spec, panel, events)
    post_months = pd.DatetimeIndex(result.idata["posterior"]["month"].values)
    if not post_months.equals(pd.DatetimeIndex(data.months)):
        raise InputError(
            None,
            f"the panel gives the window {format_month(data.months[0])}..{format_month(data.months[-1])} "
            f"but the fit covers {format_month(post_months[0])}..{format_month(post_months[-1])}",
        )
    fitted_hash = attrs.get("data_hash")
    if fitted_hash and fitted_hash != data.data_hash():
        raise InputError(
            None,
            f"the panel/catalogue differ from the ones model '{spec.name}' was fitted on "
            f"(data hash {data.data_hash()[:12]} vs {str(fitted_hash)[:12]}); pass the same "
            "--data/--drivers/--events as the fit",
        )
    if len(data.months) < 12:
        raise SpecError(
            "forecasts need at least 12 fitted months (seasonality is carried by calendar month)"
        )
    return panel, events, data


def _scenario_set(
    scenarios: Sequence[Scenario | str | Path | Mapping[str, Any]],
) -> dict[str, Scenario]:
    """Scenarios by name, the baseline first (a scenario named 'baseline' replaces it)."""
    scen: dict[str, Scenario] = {}
    for value in scenarios:
        sc = _as_scenario(value)
        if sc.name in scen:
            raise SpecError(f"two scenarios are named {sc.name!r}")
        scen[sc.name] = sc
    base = scen.pop(BASELINE, Scenario.baseline())
    return {BASELINE: base, **scen}


def _predict(
    post: xr.Dataset,
    data: ModelData,
    designs: dict[str, ScenarioDesign],
    horizon: int,
    seed: int,
) -> tuple[xr.DataArray, xr.DataArray]:
    """Predictive and expected counts ``(scenario, chain, draw, month, route, group)``:
    the model's terms extended under each scenario's design, counts drawn from its
    family by inversion with shared uniforms (common random numbers)."""
    spec = data.spec
    draws = Draws(post)
    R, G = len(data.routes), len(data.groups)
    terms = model_terms(spec, data)
    _check_decomposition(terms, draws, data)
    fam = family_named(spec.likelihood.family)
    u = np.random.default_rng([seed, 2]).random((draws.n, horizon, R, G))
    disp = draws.get(fam.dispersion, "route", "group")[:, None] if fam.dispersion else None
    exp_all, y_all = [], []
    for design in designs.values():
        eta = _extend_terms(terms, draws, design.terms_design(data, seed), horizon, seed)
        mu = fam.inverse_link(eta)
        exp_all.append(mu)
        y_all.append(predictive_counts(mu, u, fam.name, disp))
    coords = {
        "scenario": list(designs),
        "chain": post["chain"].values,
        "draw": post["draw"].values,
        "month": future_months(data.months[-1], horizon),
        "route": data.routes,
        "group": data.groups,
    }
    dims = ("scenario", "chain", "draw", "month", "route", "group")
    shape = (len(designs), post.sizes["chain"], post.sizes["draw"], horizon, R, G)
    return (
        xr.DataArray(np.stack(y_all).reshape(shape), dims=dims, coords=coords, name="draws"),
        xr.DataArray(np.stack(exp_all).reshape(shape), dims=dims, coords=coords, name="expected"),
    )


def _observed_after(
    spec: ModelSpec, panel: xr.Dataset, data: ModelData, months_f: pd.DatetimeIndex
) -> tuple[xr.DataArray, xr.DataArray]:
    """Counts ``(month, route, group)`` and route totals ``(month, route)`` the panel
    already has for the forecast months (NaN otherwise)."""
    G = len(data.groups)
    observed = select_outcome(spec, panel).reindex(month=months_f).sel(group=data.groups)
    if "route_total" in panel:
        observed_total = panel["route_total"].sel(route=data.routes).reindex(month=months_f)
    else:
        observed_total = observed.sum("group", min_count=G)
    observed_total = observed_total.where(
        observed_total.notnull(), observed.sum("group", min_count=G)
    )
    return (
        observed.transpose("month", "route", "group"),
        observed_total.transpose("month", "route"),
    )


# --------------------------------------------------------------------------- plain words


def _pct(p: float) -> str:
    if p < 0.005:
        return "under 1%"
    if p > 0.995:
        return "over 99%"
    return f"{100 * p:.0f}%"


def _where(fc: Forecast, route: str | None, group: str | None) -> str:
    routes = [str(r) for r in fc.draws["route"].values]
    r = route or (routes[0] if len(routes) == 1 else "all modelled routes")
    r = r if r.lower().startswith("all") else f"the {r}"
    return r if group is None else f"{r} ({group})"


def forecast_summary_text(
    fc: Forecast,
    *,
    threshold: float | None = None,
    month: str | pd.Timestamp | None = None,
    route: str | None = None,
    group: str | None = None,
) -> list[str]:
    """Plain-language sentences about a forecast, every number computed from it.

    Parameters
    ----------
    fc
        The forecast.
    threshold, month
        Add the chance of more than ``threshold`` detections in ``month`` (default: the
        last forecast month) under each scenario.
    route, group
        The series to talk about (default: the total over routes and groups).

    Returns
    -------
    list of str
        Baseline expectation with its 90% interval; each scenario's difference from the
        baseline (percent and detections per month, with 90% intervals); exceedance
        chances; notes and the caveat that these forecasts are conditional.
    """
    months = fc.months
    m1, mH = months[0], months[-1]
    span = f"{m1:%b %Y}" if len(months) == 1 else f"{m1:%b %Y}-{mH:%b %Y}"
    where = _where(fc, route, group)
    out = [_baseline_sentence(fc, route, group, where)]
    base_exp = fc._reduce(fc.expected.sel(scenario=fc.baseline), route, group).sum("month")
    for name in fc.scenario_names:
        if name != fc.baseline:
            out.append(_scenario_sentence(fc, name, route, group, span, base_exp))
    if threshold is not None:
        m = months[-1] if month is None else fc._month(month)
        out.append(_exceedance_sentence(fc, threshold, m, route, group, where))
    notes = list(dict.fromkeys(n for ns in fc.notes.values() for n in ns))
    if notes:
        out.append("Notes: " + "; ".join(notes) + ".")
    out.append(
        "These forecasts are conditional: they assume the scenario happens and that the "
        f"relationships estimated up to {fc.attrs.get('origin', 'the fit')} still hold; their "
        "intervals cover parameter, trend and count uncertainty, not doubts about the model "
        "itself (the backtest shows how such intervals did out of sample)."
    )
    return out


def _baseline_sentence(fc: Forecast, route: str | None, group: str | None, where: str) -> str:
    """The baseline's median and 90% interval in the first (and last) forecast month."""
    months = fc.months
    m1, mH = months[0], months[-1]
    qs = fc.quantiles(route=route, group=group)
    lo1, med1, hi1 = (float(qs.sel(quantile=q, month=m1)) for q in (0.05, 0.5, 0.95))
    base = fc.scenarios[fc.baseline]
    desc = base.description.rstrip(".") if base.description else "no change"
    text = (
        f"Baseline ({desc[0].lower() + desc[1:]}): the model expects a median of about "
        f"{med1:,.0f} detections on {where} in {m1:%b %Y} (90% predictive interval "
        f"{lo1:,.0f}-{hi1:,.0f})"
    )
    if len(months) > 1:
        loH, medH, hiH = (float(qs.sel(quantile=q, month=mH)) for q in (0.05, 0.5, 0.95))
        text += f" and about {medH:,.0f} ({loH:,.0f}-{hiH:,.0f}) in {mH:%b %Y}; the interval widens with the horizon"
    return text + "."


def _scenario_sentence(
    fc: Forecast,
    name: str,
    route: str | None,
    group: str | None,
    span: str,
    base_exp: xr.DataArray,
) -> str:
    """How scenario ``name`` differs from the baseline (``base_exp``: its expected total
    over the forecast months), in percent and detections per month."""
    sc = fc.scenarios[name]
    label = f"'{name}'" + (f" ({sc.description.rstrip('.')})" if sc.description else "")
    diff = fc.difference(name, route=route, group=group)
    if float(np.abs(diff).max()) == 0.0:
        return f"Scenario {label} changes nothing in this model's forecast for {span}."
    scen_exp = fc._reduce(fc.expected.sel(scenario=name), route, group).sum("month")
    pct = 100.0 * (scen_exp / base_exp - 1.0)
    p_lo, p_med, p_hi = (float(pct.quantile(q, dim=SAMPLE_DIMS)) for q in (0.05, 0.5, 0.95))
    per_month = float(diff.mean()) if len(fc.months) else 0.0
    p_up = float((pct > 0).mean())
    if abs(p_med) < 0.5:
        size = "about as many expected detections as the baseline"
    else:
        word = "more" if p_med > 0 else "fewer"
        size = f"about {abs(p_med):.0f}% {word} expected detections than the baseline"
    return (
        f"Scenario {label}: {size} over {span} (90% interval {p_lo:+.0f}% to {p_hi:+.0f}%), i.e. "
        f"{per_month:+,.0f} a month on average; probability that it raises detections: "
        f"{_pct(p_up)}."
    )


def _exceedance_sentence(
    fc: Forecast,
    threshold: float,
    m: pd.Timestamp,
    route: str | None,
    group: str | None,
    where: str,
) -> str:
    """The chance of more than ``threshold`` detections in month ``m`` under each scenario."""
    parts = [
        f"{_pct(fc.exceedance(threshold, m, s, route=route, group=group))} under "
        + ("the baseline" if s == fc.baseline else f"'{s}'")
        for s in fc.scenario_names
    ]
    return (
        f"Chance of more than {threshold:,.0f} detections on {where} in {m:%b %Y}: "
        + ", ".join(parts)
        + "."
    )
