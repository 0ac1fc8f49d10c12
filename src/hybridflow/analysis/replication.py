"""Replication of the report's figures: every number recomputed from the data, beside the report's.

The report (McManus, Henry Jackson Society, 2025; summarised in ``docs/report-claims.md``)
states descriptive figures, Pearson correlations and event narratives for the Eastern
Borders route. :func:`replicate` recomputes each one with the report's own method (its
window, its UkrRussBel/Others grouping, Pearson r and r^2 on raw monthly levels) and
returns a :class:`ReplicationResult` with:

``claims``
    One :class:`Claim` per report figure: the report's value, ours, the difference, the
    window and grouping, the method, a computed likely cause of any difference and a
    status: ``matches`` (within the stated tolerance), ``differs``, ``not_reproducible``
    (the data cannot measure what the report measured) or ``inconsistent`` (the report's
    own figures contradict each other: its r = -0.8 with r^2 = 0.007).
``correlations``
    Each correlation claim recomputed four ways: (a) raw levels as the report did,
    (b) first differences, (c) residuals after removing a linear trend and month-of-year
    seasonality from both series by ordinary least squares (``trend_season_residual``;
    by Frisch-Waugh-Lovell this is the partial correlation given trend and season) and,
    when supplied, (d) a fitted model's residuals. Each row has the naive p-value and one
    adjusted for autocorrelation with Bartlett's effective sample size
    ``n_eff = n (1 - rho_x rho_y) / (1 + rho_x rho_y)`` (lag-1 autocorrelations): with about
    40 trending, autocorrelated months the naive p-value overstates the evidence.
``trend``
    Per correlation claim: r in levels, differenced and detrended, and
    ``share_lost_<transform> = 1 - r_<transform> / r_levels``, the share of the levels r
    that disappears when the shared trend is removed (0: it survives intact; 1: it
    vanishes; above 1: it reverses sign; below 0: it grows).
``misdated``
    The report's sanctions rounds with wrong dates, beside the event catalogue's dates.

Data conventions used here
--------------------------
* Encounters = ``route_total`` on the Eastern Borders route: the nationality-level FRONTEX
  workbook (FRAN data as of 3 Jun 2025, Jan 2009 - Apr 2025, with its known provisional
  April 2025 ``Unknown`` entry corrected by the loader) extended from May 2025 with the Aug
  2026 route-total vintage. The as-published April 2025 value and the newer vintage are
  shown as alternatives in each claim's ``details``.
* Nationality figures end where the workbook ends (Apr 2025); the report's ran to Jun/Jul
  2025, so its counts can exceed ours by up to three months of arrivals.
* Territorial gains: the report counted ACLED territory-capture events, which the data do
  not hold (no ACLED sub-event types). The proxy is the monthly net change of the area of
  Ukraine held by Russia (+ = Russia gained km^2). Russian gains = its positive part,
  Ukrainian gains = its negative part (km^2 regained by Ukraine in net-Ukrainian months, 0
  otherwise). The signed net change is reported as an alternative. A net monthly change
  cannot separate gross gains made by both sides in the same month. Tracker: Liveuamap
  (to Jan 2025, covers the large 2022 Ukrainian counter-offensives), with DeepState (from
  Oct 2022) and a splice (DeepState where available, Liveuamap before) as checks.
* Attacks inside Russia: ACLED ``Explosions/Remote violence`` events located in Russia, the
  closest series held. It counts shelling, missile and drone strikes and remote explosives,
  so it is not the report's count of drone attacks.

Nothing here is hard-coded except the report's own figures, all named ``REPORT_*``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from hybridflow.data.panel import EASTERN_BORDERS, UKRRUSSBEL
from hybridflow.data.summary import REPORT_EB_MEAN_FEB2022_JUN2025, REPORT_TOP10_OTHERS
from hybridflow.errors import InputError
from hybridflow.months import format_month, month_range

__all__ = [
    "REPORT_ATTACKS_2022",
    "REPORT_ATTACKS_JAN_JUL_2023",
    "REPORT_CUM_LOSSES_MILESTONE",
    "REPORT_EB_MEAN_FEB2022_JUN2025",
    "REPORT_ENCOUNTERS_RISE_2023_2024",
    "REPORT_INCIDENTS_RATIO_2024_2023",
    "REPORT_LOSSES_DEC2023",
    "REPORT_LOSSES_DEC_SEP_RATIO",
    "REPORT_OTHERS_SHARE_2025_MAX",
    "REPORT_OTHERS_SHARE_MAX",
    "REPORT_OTHERS_SHARE_MEAN",
    "REPORT_OTHERS_SHARE_MIN_BELOW",
    "REPORT_OTHERS_SHARE_MONTHS",
    "REPORT_R",
    "REPORT_R2",
    "REPORT_STRENGTH_RATIO",
    "REPORT_TOP10_OTHERS",
    "STATUSES",
    "Claim",
    "ReplicationResult",
    "before_after",
    "claim_ids",
    "effective_n",
    "lag1_autocorrelation",
    "misdated_rounds",
    "pearson",
    "pearson_pvalue",
    "r_r2_consistent",
    "remove_trend_season",
    "replicate",
    "report_sanctions_dates",
]

# --------------------------------------------------------------------------------------------
# The report's own figures (docs/report-claims.md, "Every figure the report states").

#: Mean monthly Others share, and its extremes (shares as fractions).
REPORT_OTHERS_SHARE_MEAN = 0.16
REPORT_OTHERS_SHARE_MAX = 0.56
REPORT_OTHERS_SHARE_MAX_MONTH = "2022-02"
REPORT_OTHERS_SHARE_MIN_BELOW = 0.01
REPORT_OTHERS_SHARE_MONTHS: dict[str, float] = {
    "2023-03": 0.13,
    "2023-04": 0.41,
    "2023-12": 0.13,
    "2024-06": 0.27,
    "2024-12": 0.10,
}
REPORT_OTHERS_SHARE_2025_MAX = 0.16
#: Pearson r and r^2 as printed, and the decimals they were printed with.
REPORT_R: dict[str, float] = {"losses": 0.5, "ukr_gains": -0.8, "rus_gains": 0.17}
REPORT_R2: dict[str, float] = {"losses": 0.26, "ukr_gains": 0.007, "rus_gains": 0.03}
REPORT_R_DECIMALS: dict[str, int] = {"losses": 1, "ukr_gains": 1, "rus_gains": 2}
REPORT_R2_DECIMALS: dict[str, int] = {"losses": 2, "ukr_gains": 3, "rus_gains": 2}
#: "personnel loss relationship 8.6 times stronger" (0.26 / 0.03).
REPORT_STRENGTH_RATIO = 8.6
REPORT_LOSSES_DEC2023 = 30_000.0
REPORT_LOSSES_DEC_SEP_RATIO = 2.0
REPORT_CUM_LOSSES_MILESTONE = 300_000.0
#: "late 2023": the months accepted as matching the milestone's timing.
REPORT_CUM_LOSSES_LATE_2023 = ("2023-09", "2023-12")
REPORT_ATTACKS_2022 = 20.0
REPORT_ATTACKS_JAN_JUL_2023 = 160.0
REPORT_INCIDENTS_RATIO_2024_2023 = 4.0
#: "encounters rose about 200% over 2023-2024", read as a 200% increase (x3).
REPORT_ENCOUNTERS_RISE_2023_2024 = 200.0
#: Windows the report used.
REPORT_WAR_START = "2022-02"
REPORT_EB_MEAN_WINDOW = ("2022-02", "2025-06")
REPORT_NATIONALITY_END = "2025-06"
#: The last month of the report's data (Jul 2025).
REPORT_DATA_END = "2025-07"
REPORT_LOSSES_WINDOW = ("2022-02", "2025-07")
REPORT_TERRITORY_WINDOW = ("2022-03", "2025-07")
#: Months of the events the report's narratives refer to.
REPORT_DEC2023_ROUNDS = "2023-12"
REPORT_SHADOW_FLEET_2025 = "2025-05"
REPORT_FALL_FROM = "2024-10"

STATUSES = ("matches", "differs", "not_reproducible", "inconsistent")

PRIMARY_TRACKER = "liveuamap"
CHECK_TRACKERS = ("deepstate", "spliced")
ATTACKS_EVENT_TYPE = "Explosions/Remote violence"
ACLED_RUSSIA = "Russia"
_CORRELATION_CLAIMS = ("losses", "ukr_gains", "rus_gains")
_NARRATIVE_WINDOW = 3

# --------------------------------------------------------------------------------------------
# statistics


def _aligned(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(x, pd.Series) and isinstance(y, pd.Series):
        x, y = x.align(y, join="inner")
    a = np.asarray(x, dtype=float).ravel()
    b = np.asarray(y, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"x and y differ in length ({a.size} vs {b.size})")
    return a, b


def pearson(x: Any, y: Any) -> tuple[float, float, int]:
    """Pearson correlation over the pairs where both values are finite.

    Parameters
    ----------
    x, y
        Equal-length array-likes, or two ``pandas.Series`` (aligned on their index first).

    Returns
    -------
    tuple
        ``(r, r2, n)``: the correlation, its square and the number of pairs used. ``r`` is
        NaN when fewer than three pairs remain or either series is constant.
    """
    a, b = _aligned(x, y)
    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    if n < 3:
        return math.nan, math.nan, n
    da = a[ok] - a[ok].mean()
    db = b[ok] - b[ok].mean()
    den = math.sqrt(float(np.sum(da * da)) * float(np.sum(db * db)))
    if den == 0.0:
        return math.nan, math.nan, n
    r = float(np.clip(np.sum(da * db) / den, -1.0, 1.0))
    return r, r * r, n


def pearson_pvalue(r: float, n: int, *, n_controls: int = 0, n_eff: float | None = None) -> float:
    """Two-sided p-value of a (partial) Pearson r under independence.

    Uses ``t = r sqrt(df / (1 - r^2))`` with ``df = n - 2 - n_controls`` (``n_controls``:
    regressors partialled out of both series, e.g. trend and month dummies). With
    ``n_eff`` (an effective sample size, see :func:`effective_n`) the degrees of freedom
    shrink in proportion, ``df * n_eff / n``. NaN when ``df <= 0`` or ``r`` is NaN.
    """
    df = float(n - 2 - n_controls)
    if n_eff is not None and n > 0:
        df *= n_eff / n
    if not math.isfinite(r) or not math.isfinite(df) or df <= 0:
        return math.nan
    if abs(r) >= 1.0:
        return 0.0
    t = r * math.sqrt(df / (1.0 - r * r))
    return float(2.0 * stats.t.sf(abs(t), df))


def lag1_autocorrelation(x: Any) -> float:
    """Lag-1 autocorrelation ``sum (x_t - m)(x_{t+1} - m) / sum (x_t - m)^2``.

    NaNs split the series: only consecutive finite pairs enter the numerator.
    """
    a = np.asarray(x, dtype=float).ravel()
    fin = np.isfinite(a)
    if fin.sum() < 3:
        return math.nan
    d = a - a[fin].mean()
    den = float(np.sum(d[fin] ** 2))
    pair = fin[:-1] & fin[1:]
    if den == 0.0 or not pair.any():
        return math.nan
    return float(np.sum(d[:-1][pair] * d[1:][pair]) / den)


def effective_n(n: int, rho_x: float, rho_y: float) -> float:
    """Bartlett's effective sample size for the correlation of two AR(1)-like series.

    ``n_eff = n (1 - rho_x rho_y) / (1 + rho_x rho_y)``, clipped to ``[3, n]``; ``n`` when
    either autocorrelation is NaN. Two series that both trend (rho near 1) carry far fewer
    independent months than ``n``.
    """
    if not (math.isfinite(rho_x) and math.isfinite(rho_y)):
        return float(n)
    prod = rho_x * rho_y
    raw = n * (1.0 - prod) / (1.0 + prod)
    return float(min(max(raw, 3.0), n))


def _trend_season_design(index: pd.DatetimeIndex) -> np.ndarray:
    """Intercept, linear trend in months, and a dummy per month-of-year present bar one."""
    t = (index.year - index[0].year) * 12 + (index.month - index[0].month)
    cols = [np.ones(len(index)), np.asarray(t, dtype=float)]
    present = sorted(set(index.month))
    for m in present[1:]:
        cols.append((index.month == m).astype(float))
    return np.column_stack(cols)


def remove_trend_season(series: pd.Series) -> pd.Series:
    """Residuals of a monthly series after an OLS fit of linear trend + month-of-year dummies.

    Parameters
    ----------
    series
        Indexed by month-start Timestamps. NaNs are skipped in the fit and stay NaN.

    Returns
    -------
    pandas.Series
        Same index; the residuals. ``attrs["n_controls"]`` holds the number of regressors
        removed besides the intercept (trend + dummies), for p-value degrees of freedom.
    """
    s = series.astype(float)
    ok = s.notna().to_numpy()
    out = pd.Series(np.nan, index=s.index, name=s.name)
    idx = pd.DatetimeIndex(s.index[ok])
    if len(idx) < 3:
        out.attrs["n_controls"] = 0
        return out
    design = _trend_season_design(idx)
    yv = s.to_numpy()[ok]
    beta, *_ = np.linalg.lstsq(design, yv, rcond=None)
    out.iloc[np.flatnonzero(ok)] = yv - design @ beta
    out.attrs["n_controls"] = int(design.shape[1] - 1)
    return out


def r_r2_consistent(r: float, r2: float, *, r_decimals: int, r2_decimals: int) -> bool:
    """Whether a printed r and a printed r^2 can both be roundings of one correlation.

    The interval of r values that round to the printed r is squared and compared with the
    interval that rounds to the printed r^2; they are consistent when the two overlap.
    """
    hr = 0.5 * 10.0 ** (-r_decimals)
    h2 = 0.5 * 10.0 ** (-r2_decimals)
    lo, hi = abs(r) - hr, abs(r) + hr
    sq_lo = 0.0 if lo <= 0 else lo * lo
    sq_hi = hi * hi
    return sq_lo <= r2 + h2 and r2 - h2 <= sq_hi


def _correlation_rows(
    x: pd.Series, y: pd.Series, model_residuals: pd.Series | None = None
) -> list[dict[str, Any]]:
    """The four transforms of one (x, y) pair restricted to the window already applied."""
    rows: list[dict[str, Any]] = []

    def row(transform: str, a: pd.Series, b: pd.Series, n_controls: int) -> None:
        a, b = a.align(b, join="inner")
        r, r2, n = pearson(a, b)
        both = a.notna() & b.notna()
        rho_x = lag1_autocorrelation(a.where(both))
        rho_y = lag1_autocorrelation(b.where(both))
        n_eff = effective_n(n, rho_x, rho_y)
        used = a.index[both.to_numpy()]
        rows.append(
            {
                "transform": transform,
                "r": r,
                "r2": r2,
                "n": n,
                "first_month": format_month(used.min()) if len(used) else None,
                "last_month": format_month(used.max()) if len(used) else None,
                "n_controls": n_controls,
                "p_naive": pearson_pvalue(r, n, n_controls=n_controls),
                "rho1_x": rho_x,
                "rho1_y": rho_y,
                "n_eff": n_eff,
                "p_adjusted": pearson_pvalue(r, n, n_controls=n_controls, n_eff=n_eff),
            }
        )

    x, y = x.astype(float).align(y.astype(float), join="outer")
    row("levels", x, y, 0)
    row("first_difference", x.diff(), y.diff(), 0)
    both = x.notna() & y.notna()
    xr_ = remove_trend_season(x[both])
    yr_ = remove_trend_season(y[both])
    row("trend_season_residual", xr_, yr_, int(xr_.attrs.get("n_controls", 0)))
    if model_residuals is not None:
        m = model_residuals.astype(float).reindex(x.index)
        okm = x.notna() & m.notna()
        xm = remove_trend_season(x[okm])
        row("model_residual", xm, m[okm], int(xm.attrs.get("n_controls", 0)))
    return rows


# --------------------------------------------------------------------------------------------
# result objects


@dataclass
class Claim:
    """One report figure beside our recomputation.

    ``report_value``/``our_value`` are numbers in ``unit`` (shares as fractions, r as r);
    ``report_text``/``our_text`` say the same in words where a number alone is not enough
    (a month, a list). ``difference`` = ours - report. ``tolerance`` is the absolute
    difference accepted as ``matches`` (in ``unit``). ``details`` holds the alternatives
    that the ``cause`` refers to (JSON-serialisable).
    """

    id: str
    statement: str
    report_value: float | None
    report_text: str
    our_value: float | None
    our_text: str
    difference: float | None
    tolerance: float | None
    unit: str
    window: str
    grouping: str
    method: str
    cause: str
    status: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; expected one of {STATUSES}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray | pd.Index):
        return [_jsonable(v) for v in value]
    if isinstance(value, pd.Timestamp | np.datetime64):
        return format_month(pd.Timestamp(value))
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if value is None or isinstance(value, int | str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [_jsonable(dict(r)) for r in df.to_dict(orient="records")]


@dataclass
class ReplicationResult:
    """What :func:`replicate` returns; see the module docstring for each table."""

    claims: pd.DataFrame
    correlations: pd.DataFrame
    trend: pd.DataFrame
    misdated: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """All tables as JSON-serialisable lists of records (NaN -> None, months as YYYY-MM)."""
        return {
            "claims": _records(self.claims),
            "correlations": _records(self.correlations),
            "trend": _records(self.trend),
            "misdated": _records(self.misdated),
            "notes": list(self.notes),
        }

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as JSON text (strict: no NaN)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    def render_text(self) -> str:
        """A short plain-text summary: every claim, the trend check, the mis-dated rounds."""
        lines = ["Replication of the report's figures", ""]
        for c in self.claims.to_dict(orient="records"):
            lines.append(
                f"[{c['status']}] {c['id']}: report {c['report_text']}; ours {c['our_text']}"
            )
            if c["status"] != "matches" and c["cause"]:
                lines.append(f"    cause: {c['cause']}")
        if len(self.trend):
            lines += [
                "",
                "How much of each correlation is shared trend "
                "(r: levels / first differences / trend+season residuals):",
            ]
            for t in self.trend.to_dict(orient="records"):
                lines.append(
                    f"  {t['claim']}: {_fmt(t['r_levels'])} / {_fmt(t['r_first_difference'])}"
                    f" / {_fmt(t['r_trend_season_residual'])}; p naive "
                    f"{_fmt(t['p_naive_levels'], 3)}, p adjusted (n_eff "
                    f"{_fmt(t['n_eff_levels'], 1)}) {_fmt(t['p_adjusted_levels'], 3)}"
                )
        if len(self.misdated):
            lines += ["", "Sanctions rounds the report mis-dates:"]
            for m in self.misdated.to_dict(orient="records"):
                date = m["catalogue_date"] or "no matching action"
                lines.append(
                    f"  {m['report_table']} {m['report_label']} "
                    f"({m['report_month']}): {m['issue']}; catalogue {date}"
                )
        for note in self.notes:
            lines.append(f"note: {note}")
        return "\n".join(lines)


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:,.{digits}f}"


def _status(ours: float | None, report: float, tol: float) -> str:
    if ours is None or not math.isfinite(ours):
        return "not_reproducible"
    return "matches" if abs(ours - report) <= tol + 1e-12 else "differs"


def _diff(ours: float | None, report: float | None) -> float | None:
    if ours is None or report is None or not math.isfinite(ours):
        return None
    return ours - report


def _closest(report: float, alternatives: Mapping[str, float]) -> tuple[str, float] | None:
    finite = {k: v for k, v in alternatives.items() if v is not None and math.isfinite(v)}
    if not finite:
        return None
    name = min(finite, key=lambda k: abs(finite[k] - report))
    return name, finite[name]


def _ts(value: Any) -> pd.Timestamp:
    return pd.Timestamp(value)


def _m(text: str) -> pd.Timestamp:
    return pd.Timestamp(f"{text}-01")


def _window(a: str | pd.Timestamp, b: str | pd.Timestamp) -> str:
    return f"{format_month(pd.Timestamp(a))} to {format_month(pd.Timestamp(b))}"


# --------------------------------------------------------------------------------------------
# series taken from the panel


class _Series:
    """The monthly series the claims need, taken once from the panel as pandas objects."""

    def __init__(self, panel: xr.Dataset) -> None:
        self.panel = panel
        months = pd.DatetimeIndex(panel["month"].values)
        self.months = months
        self.encounters = self._route("route_total")
        self.latest = self._route("route_total_latest")
        self.extended = self._route("route_total_extended")
        self.revisions = _revisions_for_route(EASTERN_BORDERS)
        # As published in the nationality workbook: the loader's corrections undone.
        self.as_published = self.encounters.copy()
        in_workbook = self.extended.fillna(0.0) == 0.0
        self.as_published = self.encounters + self._delta().where(in_workbook, 0.0)
        self.nat = self._nationalities()
        self.losses = self._var1("losses_personnel")
        self.losses_days = self._var1("losses_days_covered")

    def _delta(self, others_only: bool = False) -> pd.Series:
        """Monthly sum of (original - revised) over the loader's known corrections."""
        rev = self.revisions
        if others_only:
            rev = rev.loc[~rev["nationality"].isin(UKRRUSSBEL)]
        delta = rev.groupby("month")["delta"].sum()
        delta.index = pd.DatetimeIndex(delta.index)
        return delta.reindex(self.months, fill_value=0.0).astype(float)

    def _route(self, name: str) -> pd.Series:
        if name not in self.panel or EASTERN_BORDERS not in self.panel["route"].values:
            return pd.Series(np.nan, index=self.months, dtype=float)
        return self.panel[name].sel(route=EASTERN_BORDERS).to_series().astype(float)

    def _var1(self, name: str) -> pd.Series:
        if name not in self.panel:
            return pd.Series(np.nan, index=self.months, dtype=float)
        return self.panel[name].to_series().astype(float)

    def _nationalities(self) -> pd.DataFrame:
        if (
            "detections" not in self.panel
            or "nationality" not in self.panel["detections"].dims
            or EASTERN_BORDERS not in self.panel["route"].values
        ):
            return pd.DataFrame(index=self.months, dtype=float)
        da = self.panel["detections"].sel(route=EASTERN_BORDERS).transpose("month", "nationality")
        df = pd.DataFrame(
            da.values, index=self.months, columns=[str(n) for n in da["nationality"].values]
        )
        return df.dropna(how="all")

    @property
    def nat_months(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.nat.index)

    def others(self, as_published: bool = False) -> tuple[pd.Series, pd.Series]:
        """Monthly (Others, total) detections on the route from the nationality data."""
        urb = [c for c in self.nat.columns if c in UKRRUSSBEL]
        total = self.nat.sum(axis=1, min_count=1)
        others = self.nat.drop(columns=urb).sum(axis=1, min_count=1)
        if as_published:
            total = total + self._delta().reindex(total.index, fill_value=0.0)
            others = others + self._delta(others_only=True).reindex(others.index, fill_value=0.0)
        return others, total

    def shares(self, as_published: bool = False) -> pd.Series:
        others, total = self.others(as_published)
        return (others / total.where(total > 0)).astype(float)

    def territory(self, tracker: str) -> pd.Series:
        if "territory_net_change" not in self.panel:
            return pd.Series(np.nan, index=self.months, dtype=float)
        net = self.panel["territory_net_change"]
        have = [str(t) for t in net["tracker"].values]
        if tracker == "spliced":
            if "deepstate" not in have or "liveuamap" not in have:
                return pd.Series(np.nan, index=self.months, dtype=float)
            deep = net.sel(tracker="deepstate").to_series().astype(float)
            live = net.sel(tracker="liveuamap").to_series().astype(float)
            return deep.where(deep.notna(), live)
        if tracker not in have:
            return pd.Series(np.nan, index=self.months, dtype=float)
        return net.sel(tracker=tracker).to_series().astype(float)

    def acled_russia(self, event_type: str) -> pd.Series:
        if (
            "acled_russia" not in self.panel
            or event_type not in self.panel["acled_russia"]["acled_event_type"].values
        ):
            return pd.Series(np.nan, index=self.months, dtype=float)
        return self.panel["acled_russia"].sel(acled_event_type=event_type).to_series().astype(float)

    def acled_pv(self, country: str) -> pd.Series:
        if (
            "acled_pv" not in self.panel
            or country not in self.panel["acled_pv"]["acled_country"].values
        ):
            return pd.Series(np.nan, index=self.months, dtype=float)
        return self.panel["acled_pv"].sel(acled_country=country).to_series().astype(float)


def _revisions_for_route(route: str) -> pd.DataFrame:
    """Known provisional values the FRONTEX loader corrected, with ``delta = original - revised``."""
    try:
        from hybridflow.data.sources.frontex import revisions_table
    except ImportError:  # loader not installed: no known corrections to undo
        return pd.DataFrame(columns=["month", "nationality", "original", "revised", "delta"])
    rev = revisions_table()
    rev = rev.loc[rev["route"] == route].copy()
    rev["delta"] = (rev["original"] - rev["revised"]).astype(float)
    return rev[["month", "nationality", "original", "revised", "delta"]].reset_index(drop=True)


def _non_country_codes() -> frozenset[str]:
    """Codes the nationality table marks "not a country" (Unknown, Stateless, ...)."""
    path = resources.files("hybridflow.data") / "tables" / "nationalities.csv"
    with path.open("r", encoding="utf-8") as fh:
        table = pd.read_csv(fh, dtype=str, keep_default_na=False)
    mask = table["note"].str.startswith("not a country")
    return frozenset(table.loc[mask, "iso3"])


def _slice(s: pd.Series, a: str | pd.Timestamp, b: str | pd.Timestamp) -> pd.Series:
    return s.loc[pd.Timestamp(a) : pd.Timestamp(b)]


def _sum(s: pd.Series) -> float:
    return float(s.sum(min_count=1))


def _mean(s: pd.Series) -> float:
    return float(s.mean()) if s.notna().any() else math.nan


# --------------------------------------------------------------------------------------------
# claims: descriptive figures


def _vintage_note(ser: _Series, a: str, b: str) -> tuple[list[str], str]:
    ext = _slice(ser.extended, a, b)
    ext_months = [format_month(m) for m in ext.index[ext.fillna(0).to_numpy() > 0]]
    note = ""
    if ext_months:
        note = (
            f"months {ext_months[0]} to {ext_months[-1]} come from the Aug 2026 route-total "
            "vintage (the nationality workbook ends earlier)"
        )
    return ext_months, note


def _revision_note(ser: _Series, a: str, b: str) -> str:
    rev = ser.revisions
    rev = rev.loc[(rev["month"] >= _m(a)) & (rev["month"] <= _m(b))]
    parts = [
        f"{format_month(_ts(r.month))} {r.nationality} entry {r.original:,} in the Jun 2025 workbook "
        f"is a provisional value revised to {r.revised:,} (we use the revised value)"
        for r in rev.itertuples(index=False)
    ]
    return "; ".join(parts)


def _claim_eb_mean(ser: _Series) -> list[Claim]:
    a, b = REPORT_EB_MEAN_WINDOW
    ours = _mean(_slice(ser.encounters, a, b))
    n = int(_slice(ser.encounters, a, b).notna().sum())
    alts = {
        "as published (provisional Apr 2025 entry kept)": _mean(_slice(ser.as_published, a, b)),
        "Aug 2026 vintage only": _mean(_slice(ser.latest, a, b)),
        "window to 2025-07 (Aug 2026 vintage)": _mean(_slice(ser.latest, a, "2025-07")),
        "window to 2025-07": _mean(_slice(ser.encounters, a, "2025-07")),
    }
    report = REPORT_EB_MEAN_FEB2022_JUN2025
    tol = 0.05 * report
    ext_months, vnote = _vintage_note(ser, a, b)
    causes = [c for c in (vnote, _revision_note(ser, a, b)) if c]
    best = _closest(report, alts)
    if best:
        causes.append(
            f"closest variant: {best[0]} gives {best[1]:.1f}; the report's vintage "
            "(Jun/Jul 2025) is not held"
        )
    return [
        Claim(
            id="eb_mean",
            statement="Mean monthly detections on the Eastern Borders route",
            report_value=report,
            report_text=f"{report:.0f}/month",
            our_value=ours,
            our_text=f"{_num(ours, 1)}/month over {n} months",
            difference=_diff(ours, report),
            tolerance=tol,
            unit="detections/month",
            window=_window(a, b),
            grouping="all nationalities",
            method="arithmetic mean of monthly route totals",
            cause="; ".join(causes),
            status=_status(ours, report, tol),
            details={"alternatives": alts, "months_from_newer_vintage": ext_months, "n": n},
        )
    ]


def _claim_top10(ser: _Series) -> list[Claim]:
    claims: list[Claim] = []
    if ser.nat.empty:
        for code, rep in REPORT_TOP10_OTHERS.items():
            claims.append(
                Claim(
                    id=f"top10_{code}",
                    statement=f"Detections of {code} nationals since Feb 2022",
                    report_value=float(rep),
                    report_text=str(rep),
                    our_value=None,
                    our_text="n/a",
                    difference=None,
                    tolerance=None,
                    unit="detections",
                    window="",
                    grouping="",
                    method="",
                    cause="panel has no nationality-level detections",
                    status="not_reproducible",
                )
            )
        return claims
    nat = ser.nat.loc[_m(REPORT_WAR_START) :]
    first, last = nat.index.min(), nat.index.max()
    non_country = _non_country_codes()
    others = nat.drop(columns=[c for c in nat.columns if c in UKRRUSSBEL])
    totals = others.sum(axis=0).sort_values(ascending=False, kind="mergesort")
    ranked = totals.drop(index=[c for c in totals.index if c in non_country])
    top = ranked.head(10)
    rank_of = {code: i + 1 for i, code in enumerate(ranked.index)}
    missing_months = len(month_range(last, _m(REPORT_NATIONALITY_END))) - 1
    window = _window(first, last)
    grouping = "non-UkrRussBel nationalities, countries only"
    method = "sum of monthly detections per nationality, ranked"
    for i, (code, rep) in enumerate(REPORT_TOP10_OTHERS.items()):
        ours = float(totals.get(code, 0.0))
        tol = max(0.05 * rep, 5.0)
        if ours < rep:
            cause = (
                f"our nationality data end {format_month(last)}; the report's window runs to "
                f"{REPORT_NATIONALITY_END}, up to {missing_months} more months of arrivals"
            )
        elif ours > rep:
            cause = (
                "ours exceeds the report over a shorter window: a later revision or a "
                "different window start"
            )
        else:
            cause = ""
        claims.append(
            Claim(
                id=f"top10_{code}",
                statement=f"{code} is no. {i + 1} of the non-UkrRussBel nationalities since Feb 2022",
                report_value=float(rep),
                report_text=f"{rep} (rank {i + 1})",
                our_value=ours,
                our_text=f"{ours:.0f} (rank {rank_of.get(code, 'n/a')})",
                difference=ours - rep,
                tolerance=tol,
                unit="detections",
                window=window,
                grouping=grouping,
                method=method,
                cause=cause,
                status=_status(ours, rep, tol),
                details={"rank": rank_of.get(code)},
            )
        )
    report_set = list(REPORT_TOP10_OTHERS)
    ours_set = list(top.index)
    overlap = len(set(report_set) & set(ours_set))
    excluded = {c: float(totals[c]) for c in totals.index if c in non_country and totals[c] > 0}
    cause = ""
    if ours_set != report_set:
        cause = (
            "same ten nationalities, order differs within close counts"
            if overlap == 10
            else f"{10 - overlap} of the report's ten are outside our top ten"
        )
    claims.append(
        Claim(
            id="top10_set",
            statement="The ten largest non-UkrRussBel nationalities since Feb 2022",
            report_value=10.0,
            report_text=", ".join(report_set),
            our_value=float(overlap),
            our_text=", ".join(ours_set) + f" ({overlap}/10 in common)",
            difference=float(overlap - 10),
            tolerance=0.0,
            unit="nationalities in common",
            window=window,
            grouping=grouping,
            method=method,
            cause=cause,
            status="matches" if overlap == 10 else "differs",
            details={
                "ours": {c: float(v) for c, v in top.items()},
                "non_country_codes_excluded": excluded,
            },
        )
    )
    return claims


def _share_month_cause(ser: _Series, month: pd.Timestamp, report: float) -> str:
    others, total = ser.others()
    if month not in total.index or not math.isfinite(total[month]):
        return "no nationality data for the month"
    implied = report * total[month]
    latest = ser.latest.get(month, math.nan)
    same = math.isfinite(latest) and abs(latest - total[month]) < 0.5
    vintage = (
        "the month's route total is the same in the Aug 2026 vintage, so the difference "
        "is not a revision of the total"
        if same
        else f"the Aug 2026 vintage gives {_num(latest)} for the month's total"
    )
    return (
        f"the report's share implies about {implied:.0f} Others of {total[month]:.0f}; "
        f"our data have {others[month]:.0f}; {vintage}"
    )


def _claims_shares(ser: _Series) -> list[Claim]:
    ids_months = [
        (f"others_share_{k.replace('-', '_')}", k, v) for k, v in REPORT_OTHERS_SHARE_MONTHS.items()
    ]
    if ser.nat.empty:
        names = [
            "others_share_mean",
            "others_share_max",
            "others_share_majority_months",
            "others_share_min",
            *[i for i, _, _ in ids_months],
            "others_share_2025_max",
        ]
        return [
            Claim(
                id=i,
                statement="Others share",
                report_value=None,
                report_text="",
                our_value=None,
                our_text="n/a",
                difference=None,
                tolerance=None,
                unit="share",
                window="",
                grouping="UkrRussBel vs Others",
                method="",
                cause="panel has no nationality-level detections",
                status="not_reproducible",
            )
            for i in names
        ]
    share = ser.shares().loc[_m(REPORT_WAR_START) :]
    pub = ser.shares(as_published=True).loc[_m(REPORT_WAR_START) :]
    first, last = share.index.min(), share.index.max()
    window = _window(first, last)
    grouping = "Others = all nationalities except UKR, RUS, BLR (Unknown included)"
    method = "Others / all detections per month on the Eastern Borders route"
    tol = 0.01  # the report prints whole percents
    rev_note = _revision_note(ser, format_month(first), format_month(last))
    claims: list[Claim] = []

    mean = _mean(share)
    pooled = _sum(ser.others()[0].loc[first:last]) / _sum(ser.others()[1].loc[first:last])
    cause = ""
    if abs(mean - REPORT_OTHERS_SHARE_MEAN) > tol:
        cause = (
            f"as published the mean is {_pct(_mean(pub))}; "
            f"pooled (sum Others / sum all) {_pct(pooled)}"
        )
    elif rev_note:
        cause = f"as published (before correction) {_pct(_mean(pub))}: {rev_note}"
    claims.append(
        Claim(
            id="others_share_mean",
            statement="Mean monthly share of Others",
            report_value=REPORT_OTHERS_SHARE_MEAN,
            report_text="16%",
            our_value=mean,
            our_text=_pct(mean),
            difference=_diff(mean, REPORT_OTHERS_SHARE_MEAN),
            tolerance=tol,
            unit="share",
            window=window + f" (the report's ran to {REPORT_NATIONALITY_END})",
            grouping=grouping,
            method=method + "; mean of monthly shares",
            cause=cause,
            status=_status(mean, REPORT_OTHERS_SHARE_MEAN, tol),
            details={
                "as_published": _mean(pub),
                "pooled": pooled,
                "mean_to_2025_03": _mean(share.loc[: _m("2025-03")]),
            },
        )
    )

    imax = _ts(share.idxmax())
    smax = float(share.max())
    rep_month = _m(REPORT_OTHERS_SHARE_MAX_MONTH)
    feb = float(share.get(rep_month, math.nan))
    status = (
        "matches"
        if (imax == rep_month and abs(smax - REPORT_OTHERS_SHARE_MAX) <= tol)
        else "differs"
    )
    cause = (
        "" if status == "matches" else _share_month_cause(ser, rep_month, REPORT_OTHERS_SHARE_MAX)
    )
    if imax != rep_month:
        cause = f"our maximum is in {format_month(imax)}; " + cause
    claims.append(
        Claim(
            id="others_share_max",
            statement="Highest monthly Others share, in Feb 2022",
            report_value=REPORT_OTHERS_SHARE_MAX,
            report_text="56% (Feb 2022)",
            our_value=smax,
            our_text=f"{_pct(smax)} ({format_month(imax)})",
            difference=_diff(smax, REPORT_OTHERS_SHARE_MAX),
            tolerance=tol,
            unit="share",
            window=window,
            grouping=grouping,
            method=method,
            cause=cause,
            status=status,
            details={
                "share_feb_2022": feb,
                "as_published_max": float(pub.max()),
                "as_published_max_month": format_month(_ts(pub.idxmax())),
            },
        )
    )

    majority = [format_month(m) for m in share.index[share.to_numpy() > 0.5]]
    pub_majority = [format_month(m) for m in pub.index[pub.to_numpy() > 0.5]]
    ok = majority == [REPORT_OTHERS_SHARE_MAX_MONTH]
    cause = ""
    if pub_majority != majority:
        cause = (
            f"as published also {', '.join(sorted(set(pub_majority) - set(majority)))}: " + rev_note
        )
    claims.append(
        Claim(
            id="others_share_majority_months",
            statement="Feb 2022 is the only month in which Others are a majority",
            report_value=1.0,
            report_text=REPORT_OTHERS_SHARE_MAX_MONTH,
            our_value=float(len(majority)),
            our_text=", ".join(majority) or "none",
            difference=float(len(majority) - 1),
            tolerance=0.0,
            unit="months",
            window=window,
            grouping=grouping,
            method=method + "; months with share > 50%",
            cause=cause if (not ok or cause) else "",
            status="matches" if ok else "differs",
            details={"as_published": pub_majority},
        )
    )

    imin = _ts(share.idxmin())
    smin = float(share.min())
    claims.append(
        Claim(
            id="others_share_min",
            statement="Lowest monthly Others share is under 1%",
            report_value=REPORT_OTHERS_SHARE_MIN_BELOW,
            report_text="under 1%",
            our_value=smin,
            our_text=f"{_pct(smin)} ({format_month(imin)})",
            difference=_diff(smin, REPORT_OTHERS_SHARE_MIN_BELOW),
            tolerance=0.0,
            unit="share",
            window=window,
            grouping=grouping,
            method=method + "; minimum",
            cause="" if smin < REPORT_OTHERS_SHARE_MIN_BELOW else "our minimum is not under 1%",
            status="matches" if smin < REPORT_OTHERS_SHARE_MIN_BELOW else "differs",
            details={
                "months_under_1pct": [format_month(m) for m in share.index[share.to_numpy() < 0.01]]
            },
        )
    )

    for cid, month_text, rep in ids_months:
        month = _m(month_text)
        ours = float(share.get(month, math.nan))
        st = _status(ours, rep, tol)
        claims.append(
            Claim(
                id=cid,
                statement=f"Others share in {month_text}",
                report_value=rep,
                report_text=f"{100 * rep:.0f}%",
                our_value=ours if math.isfinite(ours) else None,
                our_text=_pct(ours),
                difference=_diff(ours, rep),
                tolerance=tol,
                unit="share",
                window=month_text,
                grouping=grouping,
                method=method,
                cause="" if st == "matches" else _share_month_cause(ser, month, rep),
                status=st,
            )
        )

    s25 = share.loc[_m("2025-01") :]
    p25 = pub.loc[_m("2025-01") :]
    if s25.notna().any():
        m25 = float(s25.max())
        w25 = _window(s25.index.min(), s25.index.max())
        st = "matches" if m25 <= REPORT_OTHERS_SHARE_2025_MAX + 0.005 else "differs"
        nxt = format_month(_ts(s25.index.max()) + pd.DateOffset(months=1))
        cause = (
            f"nationality data for 2025 cover {w25} only; {nxt} to "
            f"{REPORT_DATA_END} cannot be checked"
        )
        if float(p25.max()) > REPORT_OTHERS_SHARE_2025_MAX + 0.005:
            cause += (
                f"; as published {format_month(_ts(p25.idxmax()))} reads {_pct(float(p25.max()))}"
                f" because {rev_note}"
            )
        claims.append(
            Claim(
                id="others_share_2025_max",
                statement="The Others share never exceeds 16% in 2025",
                report_value=REPORT_OTHERS_SHARE_2025_MAX,
                report_text="never above 16%",
                our_value=m25,
                our_text=f"max {_pct(m25)} ({format_month(_ts(s25.idxmax()))})",
                difference=m25 - REPORT_OTHERS_SHARE_2025_MAX,
                tolerance=0.005,
                unit="share",
                window=w25,
                grouping=grouping,
                method=method + "; maximum over 2025",
                cause=cause,
                status=st,
                details={
                    "monthly": {format_month(_ts(k)): v for k, v in s25.items()},
                    "as_published": {format_month(_ts(k)): v for k, v in p25.items()},
                },
            )
        )
    else:
        claims.append(
            Claim(
                id="others_share_2025_max",
                statement="The Others share never exceeds 16% in 2025",
                report_value=REPORT_OTHERS_SHARE_2025_MAX,
                report_text="never above 16%",
                our_value=None,
                our_text="n/a",
                difference=None,
                tolerance=0.005,
                unit="share",
                window="2025",
                grouping=grouping,
                method=method,
                cause="no nationality-level data for 2025",
                status="not_reproducible",
            )
        )
    return claims


# --------------------------------------------------------------------------------------------
# claims: correlations


def _driver_series(ser: _Series) -> dict[str, list[tuple[str, str, pd.Series]]]:
    """Per correlation claim: (series label, tracker, series); the first is the primary."""
    out: dict[str, list[tuple[str, str, pd.Series]]] = {
        "losses": [("monthly personnel losses", "", ser.losses)],
        "ukr_gains": [],
        "rus_gains": [],
    }
    for tracker in (PRIMARY_TRACKER, *CHECK_TRACKERS):
        net = ser.territory(tracker)
        out["ukr_gains"].append(
            ("Ukrainian gains km2 (negative part of net change)", tracker, (-net).clip(lower=0.0))
        )
        out["rus_gains"].append(
            ("Russian gains km2 (positive part of net change)", tracker, net.clip(lower=0.0))
        )
    for tracker in (PRIMARY_TRACKER, *CHECK_TRACKERS):
        net = ser.territory(tracker)
        out["ukr_gains"].append(("Ukrainian net gain km2 (signed, = -net change)", tracker, -net))
        out["rus_gains"].append(("Russian net gain km2 (signed net change)", tracker, net))
    return out


def _windows() -> dict[str, tuple[str, str]]:
    return {
        "losses": REPORT_LOSSES_WINDOW,
        "ukr_gains": REPORT_TERRITORY_WINDOW,
        "rus_gains": REPORT_TERRITORY_WINDOW,
    }


def _correlations(ser: _Series, model_residuals: pd.Series | None) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    encounters = {
        "route_total": ser.encounters,
        "as_published": ser.as_published,
        "aug_2026_vintage": ser.latest,
    }
    for claim, series in _driver_series(ser).items():
        a, b = _windows()[claim]
        for i, (label, tracker, x) in enumerate(series):
            for enc_name, enc in encounters.items():
                # Vintage checks are run in levels only, on the primary driver series.
                if enc_name != "route_total" and i != 0:
                    continue
                xs, ys = _slice(x, a, b), _slice(enc, a, b)
                mr = model_residuals if enc_name == "route_total" else None
                for r in _correlation_rows(xs, ys, mr):
                    if enc_name != "route_total" and r["transform"] != "levels":
                        continue
                    rows.append(
                        {
                            "claim": claim,
                            "x": label,
                            "tracker": tracker,
                            "y": f"Eastern Borders detections ({enc_name})",
                            "encounters": enc_name,
                            "primary": i == 0,
                            "window": _window(a, b),
                            **r,
                        }
                    )
    cols = [
        "claim",
        "x",
        "tracker",
        "y",
        "encounters",
        "primary",
        "window",
        "transform",
        "r",
        "r2",
        "n",
        "first_month",
        "last_month",
        "n_controls",
        "p_naive",
        "rho1_x",
        "rho1_y",
        "n_eff",
        "p_adjusted",
    ]
    return pd.DataFrame(rows, columns=cols)


def _pick(
    corr: pd.DataFrame,
    claim: str,
    transform: str = "levels",
    *,
    encounters: str = "route_total",
    tracker: str | None = None,
    primary: bool | None = True,
) -> pd.Series | None:
    sel = corr.loc[
        (corr["claim"] == claim)
        & (corr["transform"] == transform)
        & (corr["encounters"] == encounters)
    ]
    if tracker is not None:
        sel = sel.loc[sel["tracker"] == tracker]
    if primary is not None:
        sel = sel.loc[sel["primary"] == primary]
    return None if sel.empty else sel.iloc[0]


def _trend_table(corr: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for claim in _CORRELATION_CLAIMS:
        lv = _pick(corr, claim)
        if lv is None:
            continue
        row: dict[str, Any] = {
            "claim": claim,
            "x": lv["x"],
            "tracker": lv["tracker"],
            "n_levels": lv["n"],
            "p_naive_levels": lv["p_naive"],
            "n_eff_levels": lv["n_eff"],
            "p_adjusted_levels": lv["p_adjusted"],
        }
        for transform in ("levels", "first_difference", "trend_season_residual", "model_residual"):
            r = _pick(corr, claim, transform)
            row[f"r_{transform}"] = math.nan if r is None else r["r"]
        base = row["r_levels"]
        for transform in ("first_difference", "trend_season_residual"):
            other = row[f"r_{transform}"]
            ok = math.isfinite(base) and base != 0 and math.isfinite(other)
            # 0: the correlation survives intact; 1: it vanishes; > 1: it reverses sign.
            row[f"share_lost_{transform}"] = 1.0 - other / base if ok else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _corr_note(corr: pd.DataFrame, claim: str) -> str:
    d = _pick(corr, claim, "first_difference")
    t = _pick(corr, claim, "trend_season_residual")
    lv = _pick(corr, claim)
    if lv is None:
        return ""
    bits = [
        f"naive p {_fmt(lv['p_naive'], 3)}, autocorrelation-adjusted p "
        f"{_fmt(lv['p_adjusted'], 3)} (n_eff {_fmt(lv['n_eff'], 1)} of {lv['n']})"
    ]
    if d is not None:
        bits.append(f"r in first differences {_fmt(d['r'])}")
    if t is not None:
        bits.append(f"r after trend+season removal {_fmt(t['r'])}")
    return "; ".join(bits)


def _claims_correlations(ser: _Series, corr: pd.DataFrame) -> list[Claim]:
    claims: list[Claim] = []
    statements = {
        "losses": "Monthly Russian personnel losses vs Eastern Borders detections",
        "ukr_gains": "Ukrainian territorial gains vs Eastern Borders detections",
        "rus_gains": "Russian territorial gains vs Eastern Borders detections",
    }
    ours_r2: dict[str, float] = {}
    for claim in _CORRELATION_CLAIMS:
        a, b = _windows()[claim]
        lv = _pick(corr, claim)
        r = float(lv["r"]) if lv is not None else math.nan
        r2 = float(lv["r2"]) if lv is not None else math.nan
        ours_r2[claim] = r2
        window = _window(a, b)
        if lv is not None and lv["first_month"] is not None:
            window += f" (data {lv['first_month']} to {lv['last_month']}, n = {lv['n']})"
        alts: dict[str, float] = {}
        for _, row in corr.loc[
            (corr["claim"] == claim) & (corr["transform"] == "levels")
        ].iterrows():
            if row["primary"] and row["encounters"] == "route_total":
                continue
            key = f"{row['x']}, {row['tracker'] or '-'}, {row['encounters']}"
            alts[key] = float(row["r"])
        if claim == "losses":
            method = "Pearson r on monthly levels (report's method)"
            grouping = "all nationalities; personnel losses as claimed by Ukraine's General Staff"
            measure = ""
            excl = _slice(ser.losses, a, b).copy()
            excl = excl.where(excl.index != _m(a))  # the first war month covers 24-28 Feb only
            alts["excluding the partial first month"] = pearson(excl, _slice(ser.encounters, a, b))[
                0
            ]
        else:
            method = (
                f"Pearson r on monthly levels; tracker {PRIMARY_TRACKER} (checks: "
                f"{', '.join(CHECK_TRACKERS)})"
            )
            grouping = "all nationalities"
            measure = (
                "the report counted ACLED territory-capture events, which the data do not "
                "hold; ours is km2 of net monthly change in the area held by Russia"
            )
        for value, report, unit, key in (
            (r, REPORT_R[claim], "r", "r"),
            (r2, REPORT_R2[claim], "r2", "r2"),
        ):
            tol = 0.05
            if key == "r":
                st = _status(value, report, tol)
            else:
                # r^2 is compared on the |r| scale, so a small r^2 gets no looser a test.
                st = _status(
                    math.sqrt(value) if math.isfinite(value) else math.nan, math.sqrt(report), tol
                )
            cause_bits = [measure] if measure else []
            cand = alts if key == "r" else {k: v * v for k, v in alts.items()}
            best = _closest(report, cand)
            if (
                best is not None
                and math.isfinite(value)
                and abs(best[1] - report) < abs(value - report)
            ):
                cause_bits.append(f"closest variant: {best[0]} gives {best[1]:.3f}")
            if st != "matches" and lv is not None and lv["first_month"] is not None:
                vn = _vintage_note(ser, lv["first_month"], lv["last_month"])[1]
                if vn:
                    cause_bits.append(vn)
            cause_bits.append(_corr_note(corr, claim))
            claims.append(
                Claim(
                    id=f"{claim}_vs_encounters_{key}",
                    statement=statements[claim],
                    report_value=report,
                    report_text=f"{key.replace('r2', 'r^2')} = {report:g}",
                    our_value=value if math.isfinite(value) else None,
                    our_text=f"{key.replace('r2', 'r^2')} = {_fmt(value, 3)}",
                    difference=_diff(value, report),
                    tolerance=tol,
                    unit=unit,
                    window=window,
                    grouping=grouping,
                    method=method
                    if key == "r"
                    else method + "; r^2 matches "
                    "when its square root is within 0.05 of the report's",
                    cause="; ".join(c for c in cause_bits if c),
                    status=st,
                    details={"alternatives": alts},
                )
            )
        consistent = r_r2_consistent(
            REPORT_R[claim],
            REPORT_R2[claim],
            r_decimals=REPORT_R_DECIMALS[claim],
            r2_decimals=REPORT_R2_DECIMALS[claim],
        )
        implied = REPORT_R[claim] ** 2
        cause = ""
        if not consistent:
            root = math.sqrt(REPORT_R2[claim])
            support = "neither"
            if math.isfinite(r):
                support = (
                    "r^2 = " + f"{REPORT_R2[claim]:g} (|r| about {root:.2f})"
                    if abs(abs(r) - root) < abs(abs(r) - abs(REPORT_R[claim]))
                    else f"r = {REPORT_R[claim]:g}"
                )
            cause = (
                f"r = {REPORT_R[claim]:g} implies r^2 = {implied:.2f}, and r^2 = "
                f"{REPORT_R2[claim]:g} implies |r| = {root:.3f}; our r = {_fmt(r, 3)} "
                f"supports {support}"
            )
        claims.append(
            Claim(
                id=f"{claim}_r_r2_consistency",
                statement=f"The report's r and r^2 for {statements[claim].lower()} agree",
                report_value=REPORT_R2[claim],
                report_text=f"r = {REPORT_R[claim]:g}, r^2 = {REPORT_R2[claim]:g}",
                our_value=implied,
                our_text=f"r^2 implied by r = {implied:.3f}",
                difference=implied - REPORT_R2[claim],
                tolerance=None,
                unit="r2",
                window="",
                grouping="",
                method="interval arithmetic on the printed roundings",
                cause=cause,
                status="matches" if consistent else "inconsistent",
                details={"our_r": r if math.isfinite(r) else None},
            )
        )
    ratio = ours_r2["losses"] / ours_r2["rus_gains"] if ours_r2["rus_gains"] else math.nan
    tol = 0.2 * REPORT_STRENGTH_RATIO
    check = {}
    for tracker in CHECK_TRACKERS:
        crow = _pick(corr, "rus_gains", tracker=tracker)
        if crow is not None and crow["r2"]:
            check[tracker] = ours_r2["losses"] / float(crow["r2"])
    claims.append(
        Claim(
            id="losses_vs_rus_gains_strength_ratio",
            statement="The losses relationship is 8.6 times stronger than the Russian-gains one "
            "(ratio of r^2)",
            report_value=REPORT_STRENGTH_RATIO,
            report_text="8.6 (= 0.26 / 0.03)",
            our_value=ratio if math.isfinite(ratio) else None,
            our_text=f"{_fmt(ratio, 1)} (= {_fmt(ours_r2['losses'], 3)} / "
            f"{_fmt(ours_r2['rus_gains'], 3)})",
            difference=_diff(ratio, REPORT_STRENGTH_RATIO),
            tolerance=tol,
            unit="ratio",
            window="",
            grouping="",
            method="r^2 (losses) / r^2 (Russian gains), levels",
            cause=(
                "a ratio of two small r^2 values is unstable: with other trackers it is "
                + ", ".join(f"{k} {v:.1f}" for k, v in check.items())
            )
            if check
            else "",
            status=_status(ratio, REPORT_STRENGTH_RATIO, tol),
            details={"other_trackers": check},
        )
    )
    return claims


# --------------------------------------------------------------------------------------------
# claims: losses, attacks


def _claims_losses(ser: _Series) -> list[Claim]:
    L = ser.losses
    method = "monthly increment of the cumulative personnel figure (last report of the month)"
    grouping = "Ukraine's General Staff claims"
    dec, sep = _m("2023-12"), _m("2023-09")
    ldec, lsep = float(L.get(dec, math.nan)), float(L.get(sep, math.nan))
    claims = [
        Claim(
            id="losses_dec_2023",
            statement="Russian personnel losses in Dec 2023 were nearly 30,000",
            report_value=REPORT_LOSSES_DEC2023,
            report_text="nearly 30,000",
            our_value=ldec if math.isfinite(ldec) else None,
            our_text=_num(ldec),
            difference=_diff(ldec, REPORT_LOSSES_DEC2023),
            tolerance=0.05 * REPORT_LOSSES_DEC2023,
            unit="persons",
            window="2023-12",
            grouping=grouping,
            method=method,
            cause=""
            if _status(ldec, REPORT_LOSSES_DEC2023, 1500) == "matches"
            else "the report may have read a chart or another daily cut-off",
            status=_status(ldec, REPORT_LOSSES_DEC2023, 0.05 * REPORT_LOSSES_DEC2023),
        )
    ]
    ratio = ldec / lsep if lsep else math.nan
    claims.append(
        Claim(
            id="losses_dec_vs_sep_2023",
            statement="Dec 2023 losses were about double Sep 2023",
            report_value=REPORT_LOSSES_DEC_SEP_RATIO,
            report_text="about double",
            our_value=ratio if math.isfinite(ratio) else None,
            our_text=f"{_fmt(ratio)}x ({_num(ldec)} / {_num(lsep)})",
            difference=_diff(ratio, REPORT_LOSSES_DEC_SEP_RATIO),
            tolerance=0.2,
            unit="ratio",
            window="2023-09, 2023-12",
            grouping=grouping,
            method=method,
            cause="",
            status=_status(ratio, REPORT_LOSSES_DEC_SEP_RATIO, 0.2),
        )
    )
    fvi = L.first_valid_index()
    start = None if fvi is None else _ts(fvi)
    cross_text, cross_val, st, cause = "n/a", None, "not_reproducible", "no losses series"
    if start is not None:
        cum = L.loc[start:].fillna(0.0).cumsum()
        over = cum.index[cum.to_numpy() >= REPORT_CUM_LOSSES_MILESTONE]
        if len(over):
            cm = over[0]
            cross_val = float(cum[cm])
            cross_text = f"crossed in {format_month(cm)} (cumulative {cross_val:,.0f} at month end)"
            lo, hi = REPORT_CUM_LOSSES_LATE_2023
            st = "matches" if _m(lo) <= cm <= _m(hi) else "differs"
            cause = "" if st == "matches" else "the crossing month is outside late 2023"
        else:
            cause = "the cumulative total never reaches 300,000 in the data"
            st = "differs"
    claims.append(
        Claim(
            id="losses_cumulative_300k",
            statement="Cumulative Russian personnel losses passed 300,000 in late 2023",
            report_value=REPORT_CUM_LOSSES_MILESTONE,
            report_text="over 300,000 in late 2023",
            our_value=cross_val,
            our_text=cross_text,
            difference=None,
            tolerance=None,
            unit="persons",
            window=f"from {format_month(start) if start is not None else 'n/a'}",
            grouping=grouping,
            method="cumulative sum of monthly increments; first month at or over 300,000",
            cause=cause,
            status=st,
        )
    )
    return claims


def _claims_attacks(ser: _Series) -> list[Claim]:
    ex = ser.acled_russia(ATTACKS_EVENT_TYPE)
    grouping = f"ACLED '{ATTACKS_EVENT_TYPE}' events located in Russia"
    proxy = (
        "proxy: ACLED explosions/remote violence inside Russia counts shelling, missile and "
        "drone strikes and remote explosives, so it is not the report's drone-attack count"
    )
    claims: list[Claim] = []
    for cid, text, a, b, rep in (
        (
            "attacks_2022",
            "About 20 drone attacks inside Russia in 2022",
            "2022-01",
            "2022-12",
            REPORT_ATTACKS_2022,
        ),
        (
            "attacks_jan_jul_2023",
            "About 160 drone attacks inside Russia in Jan-Jul 2023",
            "2023-01",
            "2023-07",
            REPORT_ATTACKS_JAN_JUL_2023,
        ),
    ):
        part = _slice(ex, a, b)
        ours = _sum(part) if part.notna().all() and len(part) else math.nan
        claims.append(
            Claim(
                id=cid,
                statement=text,
                report_value=rep,
                report_text=f"about {rep:.0f}",
                our_value=ours if math.isfinite(ours) else None,
                our_text=_num(ours),
                difference=_diff(ours, rep),
                tolerance=None,
                unit="events",
                window=_window(a, b),
                grouping=grouping,
                method="sum of monthly event counts",
                cause=proxy + "; the report's drone count cannot be reproduced from the data held",
                status="not_reproducible",
            )
        )
    # 2023 vs 2024: the event-type export ends before 2024 does, so compare the same months.
    y23, y24 = _slice(ex, "2023-01", "2023-12"), _slice(ex, "2024-01", "2024-12")
    months24 = [m.month for m in y24.index[y24.notna().to_numpy()]]
    same23 = y23.loc[[m for m in y23.index if m.month in months24]]
    ratio = _sum(y24) / _sum(same23) if months24 and _sum(same23) else math.nan
    pv = ser.acled_pv(ACLED_RUSSIA)
    p23, p24 = _slice(pv, "2023-01", "2023-12"), _slice(pv, "2024-01", "2024-12")
    pv_ratio = (
        _sum(p24) / _sum(p23)
        if (p23.notna().sum() == 12 and p24.notna().sum() == 12 and _sum(p23))
        else math.nan
    )
    tol = 0.25 * REPORT_INCIDENTS_RATIO_2024_2023
    span = f"{min(months24):02d}-{max(months24):02d}" if months24 else "none"
    claims.append(
        Claim(
            id="attacks_ratio_2024_2023",
            statement="Incidents inside Russia rose about fourfold from 2023 to 2024",
            report_value=REPORT_INCIDENTS_RATIO_2024_2023,
            report_text="about 4x",
            our_value=ratio if math.isfinite(ratio) else None,
            our_text=f"{_fmt(ratio)}x (months {span} of each year); all political violence, full "
            f"years: {_fmt(pv_ratio)}x",
            difference=_diff(ratio, REPORT_INCIDENTS_RATIO_2024_2023),
            tolerance=tol,
            unit="ratio",
            window=f"2023 vs 2024, months {span}",
            grouping=grouping,
            method="ratio of summed monthly counts over the same calendar months",
            cause=proxy
            + (
                f"; the event-type export covers 2024 months {span} only"
                if months24 and len(months24) < 12
                else ""
            ),
            status=_status(ratio, REPORT_INCIDENTS_RATIO_2024_2023, tol),
            details={"acled_political_violence_ratio_full_years": pv_ratio},
        )
    )
    e23 = _slice(ser.encounters, "2023-01", "2023-12")
    e24 = _slice(ser.encounters, "2024-01", "2024-12")
    full = e23.notna().sum() == 12 and e24.notna().sum() == 12
    rise = 100.0 * (_sum(e24) / _sum(e23) - 1.0) if full and _sum(e23) else math.nan
    l23, l24 = _slice(ser.latest, "2023-01", "2023-12"), _slice(ser.latest, "2024-01", "2024-12")
    rise_latest = 100.0 * (_sum(l24) / _sum(l23) - 1.0) if _sum(l23) else math.nan
    claims.append(
        Claim(
            id="encounters_rise_2023_2024",
            statement="Eastern Borders detections rose about 200% from 2023 to 2024",
            report_value=REPORT_ENCOUNTERS_RISE_2023_2024,
            report_text="about +200%",
            our_value=rise if math.isfinite(rise) else None,
            our_text=f"{_fmt(rise, 1)}% ({_num(_sum(e23))} -> {_num(_sum(e24))})",
            difference=_diff(rise, REPORT_ENCOUNTERS_RISE_2023_2024),
            tolerance=25.0,
            unit="percent",
            window="2023 vs 2024",
            grouping="all nationalities",
            method="percent change of annual sums",
            cause=""
            if _status(rise, REPORT_ENCOUNTERS_RISE_2023_2024, 25.0) == "matches"
            else "read as a 200% increase; 'rose to 200%' would be +100%",
            status=_status(rise, REPORT_ENCOUNTERS_RISE_2023_2024, 25.0),
            details={"aug_2026_vintage": rise_latest},
        )
    )
    return claims


# --------------------------------------------------------------------------------------------
# claims: narratives (before/after)


def before_after(
    series: pd.Series,
    before_end: str | pd.Timestamp,
    after_start: str | pd.Timestamp,
    k: int = _NARRATIVE_WINDOW,
) -> dict[str, Any]:
    """Mean of ``k`` months up to ``before_end`` vs ``k`` months from ``after_start``.

    Returns
    -------
    dict
        ``before``, ``after`` (means), ``change_pct`` (100 * (after / before - 1)), the two
        windows as text, and ``seasonal_benchmark_pct``: the same comparison twelve months
        earlier, the change a calendar (seasonal) effect alone would give.
    """

    def one(be: pd.Timestamp, af: pd.Timestamp) -> tuple[float, float, float, str, str]:
        bw = month_range(be - pd.DateOffset(months=k - 1), be)
        aw = month_range(af, af + pd.DateOffset(months=k - 1))
        b = series.reindex(bw)
        a = series.reindex(aw)
        bm = float(b.mean()) if b.notna().all() else math.nan
        am = float(a.mean()) if a.notna().all() else math.nan
        ch = 100.0 * (am / bm - 1.0) if bm else math.nan
        return bm, am, ch, _window(bw[0], bw[-1]), _window(aw[0], aw[-1])

    be, af = pd.Timestamp(before_end), pd.Timestamp(after_start)
    bm, am, ch, bw, aw = one(be, af)
    year = pd.DateOffset(months=12)
    sb, sa, sch, _, _ = one(be - year, af - year)
    return {
        "before": bm,
        "after": am,
        "change_pct": ch,
        "before_window": bw,
        "after_window": aw,
        "k": k,
        "seasonal_benchmark_pct": sch,
        "seasonal_before": sb,
        "seasonal_after": sa,
    }


def _events_in(
    events: pd.DataFrame | None, month: str, keep: Callable[[pd.DataFrame], pd.Series] | None = None
) -> list[str]:
    if events is None or "effective_date" not in events:
        return []
    eff = pd.to_datetime(events["effective_date"], errors="coerce")
    sel = events.loc[(eff >= _m(month)) & (eff < _m(month) + pd.DateOffset(months=1))]
    if keep is not None and len(sel):
        sel = sel.loc[keep(sel)]
    return [str(e) for e in sel["event_id"]]


_CONFOUNDER_KINDS = (
    "barrier",
    "closure",
    "emergency",
    "legal_change",
    "instrumentalisation_episode",
)


def _border_events(events: pd.DataFrame | None, first: str, last: str) -> list[str]:
    """Catalogue border-policy events starting within ``first``..``last`` (``YYYY-MM``)."""
    if events is None or "effective_date" not in events or "kind" not in events:
        return []
    eff = pd.to_datetime(events["effective_date"], errors="coerce")
    sel = events.loc[
        (eff >= _m(first))
        & (eff < _m(last) + pd.DateOffset(months=1))
        & events["kind"].isin(_CONFOUNDER_KINDS)
    ]
    out = []
    for r in sel.to_dict(orient="records"):
        date = _to_ts(r.get("effective_date"))
        border = r.get("border", "")
        where = ";".join(border) if isinstance(border, tuple | list) else str(border or "")
        out.append(
            f"{r['event_id']} {r['kind']} {date:%Y-%m-%d}"
            if date is not None
            else str(r["event_id"])
        )
        if where:
            out[-1] += f" ({where})"
    return out


def _claims_narrative(ser: _Series, events: pd.DataFrame | None) -> list[Claim]:
    enc = ser.encounters
    one_month = pd.DateOffset(months=1)

    def sanctions(df: pd.DataFrame) -> pd.Series:
        kind = df["kind"].astype(str) if "kind" in df else pd.Series("", index=df.index)
        family = (
            df["family"].astype(str) if "family" in df else pd.Series("sanctions", index=df.index)
        )
        return (family == "sanctions") & ~kind.isin(["bill", "sanctions_relief"])

    specs = [
        (
            "narrative_dec2023_rounds",
            "Detections rose after the Dec 2023 EU package and the Dec 2023 US Belarus designations",
            REPORT_DEC2023_ROUNDS,
            _m(REPORT_DEC2023_ROUNDS) - one_month,
            _m(REPORT_DEC2023_ROUNDS) + one_month,
            "rise",
        ),
        (
            "narrative_summer2025_shadow_fleet",
            "Detections rose in summer 2025 after the shadow-fleet sanctions (EU 17th package, May "
            "2025)",
            REPORT_SHADOW_FLEET_2025,
            _m(REPORT_SHADOW_FLEET_2025) - one_month,
            _m(REPORT_SHADOW_FLEET_2025) + one_month,
            "rise",
        ),
        (
            "narrative_fall_from_oct2024",
            "Detections fell from Oct 2024 as Russian territorial gains increased",
            REPORT_FALL_FROM,
            _m(REPORT_FALL_FROM) - one_month,
            _m(REPORT_FALL_FROM),
            "fall",
        ),
    ]
    claims: list[Claim] = []
    for cid, text, month, before_end, after_start, direction in specs:
        ba = before_after(enc, before_end, after_start)
        ba6 = before_after(enc, before_end, after_start, k=6)
        ch = ba["change_pct"]
        if not math.isfinite(ch):
            st = "not_reproducible"
        else:
            st = "matches" if (ch > 0) == (direction == "rise") else "differs"
        cause_bits = [
            f"{ba['k']}-month means {_num(ba['before'])} -> {_num(ba['after'])}; "
            f"6-month windows {_fmt(ba6['change_pct'], 0)}%; the same calendar comparison a "
            f"year earlier changed {_fmt(ba['seasonal_benchmark_pct'], 0)}% "
            f"(6-month {_fmt(ba6['seasonal_benchmark_pct'], 0)}%), so part of any change is "
            "seasonal"
        ]
        details: dict[str, Any] = {"window_3": ba, "window_6": ba6}
        if cid == "narrative_fall_from_oct2024":
            for tracker in ("deepstate", PRIMARY_TRACKER):
                g = ser.territory(tracker).clip(lower=0.0)
                gba = before_after(g, before_end, after_start)
                if math.isfinite(gba["change_pct"]):
                    details["russian_gains_km2"] = {"tracker": tracker, **gba}
                    cause_bits.append(
                        f"Russian gains ({tracker}) {_num(gba['before'])} -> "
                        f"{_num(gba['after'])} km2/month"
                    )
                    break
        ids = _events_in(events, month, sanctions)
        border = _border_events(events, ba["before_window"][:7], ba["after_window"][-7:])
        if border:
            cause_bits.append(
                "border-policy events in the windows, which change counts "
                "regardless of any sanction: " + ", ".join(border)
            )
        if events is not None:
            details["catalogue_events_in_month"] = ids
            details["border_policy_events_in_windows"] = border
        claims.append(
            Claim(
                id=cid,
                statement=text,
                report_value=None,
                report_text="rose" if direction == "rise" else "fell",
                our_value=ch if math.isfinite(ch) else None,
                our_text=f"{_fmt(ch, 0)}% ({ba['before_window']} vs {ba['after_window']})",
                difference=None,
                tolerance=None,
                unit="percent change",
                window=f"{ba['before_window']} vs {ba['after_window']}",
                grouping="all nationalities",
                method=f"mean of {ba['k']} months before vs after; "
                "direction compared with the report's",
                cause="; ".join(cause_bits),
                status=st,
                details=details,
            )
        )
    return claims


# --------------------------------------------------------------------------------------------
# mis-dated sanctions rounds

_MISDATED_COLUMNS = ["report_table", "report_label", "report_month", "event_id", "note"]


def report_sanctions_dates() -> pd.DataFrame:
    """The report's table entries known to be mis-dated (``data/tables/report_sanctions_dates.csv``).

    Returns
    -------
    pandas.DataFrame
        Columns ``report_table, report_label, report_month`` (``YYYY-MM`` as the report
        states it), ``event_id`` (the catalogue event it refers to; empty when no matching
        action exists) and ``note``.
    """
    path = resources.files("hybridflow.data") / "tables" / "report_sanctions_dates.csv"
    with path.open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, dtype=str, keep_default_na=False)
    missing = set(_MISDATED_COLUMNS) - set(df.columns)
    if missing:
        raise InputError(str(path), f"missing columns {sorted(missing)}", row=1)
    return df[_MISDATED_COLUMNS]


def _to_ts(value: Any) -> pd.Timestamp | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    return None if pd.isna(ts) else ts


def misdated_rounds(events: pd.DataFrame | None) -> pd.DataFrame:
    """The report's mis-dated sanctions rounds beside the event catalogue's dates.

    Parameters
    ----------
    events
        The event catalogue (:func:`hybridflow.data.events.load_events`): needs
        ``event_id`` and ``effective_date``; ``announced_date``, ``kind`` and
        ``direction`` are used when present. ``None``: catalogue columns are left empty.

    Returns
    -------
    pandas.DataFrame
        One row per report entry: ``report_table, report_label, report_month, event_id,
        catalogue_date`` (effective date, ``YYYY-MM-DD``), ``catalogue_month``,
        ``months_off`` (catalogue month - report month), ``issue`` (``wrong month``,
        ``not a sanction``, ``no matching action``, ``not in catalogue`` or ``consistent``)
        and ``note``.
    """
    table = report_sanctions_dates()
    rows = []
    by_id: dict[str, dict[str, Any]] = {}
    if events is not None:
        by_id = {
            str(r["event_id"]): {str(k): v for k, v in r.items()}
            for r in events.to_dict(orient="records")
        }
    for row in table.to_dict(orient="records"):
        r = {str(k): str(v) for k, v in row.items()}
        eid = r["event_id"].strip()
        rep_month = _m(r["report_month"])
        out: dict[str, Any] = {
            **r,
            "catalogue_date": None,
            "catalogue_month": None,
            "months_off": None,
        }
        ev = by_id.get(eid)
        if ev is not None:
            date = _to_ts(ev.get("effective_date"))
            if date is None:
                date = _to_ts(ev.get("announced_date"))
            if date is not None:
                out["catalogue_date"] = f"{date:%Y-%m-%d}"
                out["catalogue_month"] = format_month(date)
                out["months_off"] = int(
                    (date.year - rep_month.year) * 12 + date.month - rep_month.month
                )
        kind = str(ev.get("kind", "")) if ev is not None else ""
        direction = str(ev.get("direction", "")) if ev is not None else ""
        if not eid:
            issue = "no matching action"
        elif events is None:
            issue = "catalogue not given"
        elif ev is None:
            issue = "not in catalogue"
        elif kind == "bill" or direction == "none":
            issue = "not a sanction"
        elif out["months_off"] not in (0, None):
            issue = "wrong month"
        else:
            issue = "consistent"
        out["issue"] = issue
        rows.append(out)
    cols = [
        "report_table",
        "report_label",
        "report_month",
        "event_id",
        "catalogue_date",
        "catalogue_month",
        "months_off",
        "issue",
        "note",
    ]
    frame = pd.DataFrame(rows, columns=cols)
    frame["months_off"] = frame["months_off"].astype("Int64")
    return frame


# --------------------------------------------------------------------------------------------
# entry point


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
    ser = _Series(panel)
    resid = _model_residual_series(model_residuals)
    corr = _correlations(ser, resid)
    claims: list[Claim] = []
    claims += _claim_eb_mean(ser)
    claims += _claim_top10(ser)
    claims += _claims_shares(ser)
    claims += _claims_correlations(ser, corr)
    claims += _claims_losses(ser)
    claims += _claims_attacks(ser)
    claims += _claims_narrative(ser, events)
    table = pd.DataFrame([asdict(c) for c in claims])
    notes = [
        "Correlations of trending monthly series overstate association (spurious regression): "
        "compare the levels r with the first-difference and trend+season-residual r.",
        "With about 40 autocorrelated months the naive p-values overstate the evidence; "
        "p_adjusted uses Bartlett's effective sample size n(1 - rho_x rho_y)/(1 + rho_x rho_y) "
        "from the lag-1 autocorrelations.",
        "Associations here are descriptive; none of them identifies a causal effect.",
    ]
    return ReplicationResult(
        claims=table,
        correlations=corr,
        trend=_trend_table(corr),
        misdated=misdated_rounds(events),
        notes=notes,
    )


def claim_ids() -> Sequence[str]:
    """The ids :func:`replicate` produces, in order (for checks and documentation)."""
    ids = [
        "eb_mean",
        *[f"top10_{c}" for c in REPORT_TOP10_OTHERS],
        "top10_set",
        "others_share_mean",
        "others_share_max",
        "others_share_majority_months",
        "others_share_min",
        *[f"others_share_{k.replace('-', '_')}" for k in REPORT_OTHERS_SHARE_MONTHS],
        "others_share_2025_max",
    ]
    for c in _CORRELATION_CLAIMS:
        ids += [f"{c}_vs_encounters_r", f"{c}_vs_encounters_r2", f"{c}_r_r2_consistency"]
    ids += [
        "losses_vs_rus_gains_strength_ratio",
        "losses_dec_2023",
        "losses_dec_vs_sep_2023",
        "losses_cumulative_300k",
        "attacks_2022",
        "attacks_jan_jul_2023",
        "attacks_ratio_2024_2023",
        "encounters_rise_2023_2024",
        "narrative_dec2023_rounds",
        "narrative_summer2025_shadow_fleet",
        "narrative_fall_from_oct2024",
    ]
    return ids
