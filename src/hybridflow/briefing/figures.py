"""Figures for the briefing. Plotting lives here and nowhere else.

Every function takes plain data (pandas / xarray / numpy) and returns a matplotlib
``Figure``; :func:`to_png` turns it into bytes for embedding. The Agg backend is used so
figures render without a display.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from hybridflow.numbers import format_number  # noqa: E402

OBSERVED = "#222222"
MODEL = "#1f5fa8"
COUNTERFACTUAL = "#c2571a"
PLACEBO = "#9a9a9a"
def _style(ax: plt.Axes) -> None:
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)


def _count_axis(ax: plt.Axes) -> None:
    """Label the y axis of counts as a reader writes them (12,500, not 1.25e4)."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_number(v)))


def to_png(fig: Figure, dpi: int = 110) -> bytes:
    """Render a figure to PNG bytes and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def counterfactual_plot(
    months: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    observed: np.ndarray,
    fitted: np.ndarray,
    counterfactual: np.ndarray,
    *,
    title: str,
    events: Sequence[pd.Timestamp] = (),
    ylabel: str = "detections per month",
) -> Figure:
    """Observed counts, the model's expected counts, and the counterfactual without a driver.

    ``fitted`` and ``counterfactual`` are arrays of shape (3, month): lower, mean, upper of
    the expected monthly detections (e.g. a 90% interval).
    """
    x = pd.DatetimeIndex(list(months))
    fig, ax = plt.subplots(figsize=(8.0, 3.0))
    ax.fill_between(x, fitted[0], fitted[2], color=MODEL, alpha=0.2, lw=0)
    ax.plot(x, fitted[1], color=MODEL, lw=1.4, label="model, with driver")
    ax.fill_between(x, counterfactual[0], counterfactual[2], color=COUNTERFACTUAL, alpha=0.15,
                    lw=0)
    ax.plot(x, counterfactual[1], color=COUNTERFACTUAL, lw=1.2, ls="--",
            label="counterfactual, driver removed")
    ax.plot(x, observed, "o", color=OBSERVED, ms=2.5, label="observed")
    for ev in events:
        ax.axvline(mdates.date2num(pd.Timestamp(ev)), color=PLACEBO, lw=0.6, alpha=0.7)
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel(ylabel, fontsize=8)
    if len(x) <= 48:
        # A few years: label every half year so a reader can find the months.
        ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 7)))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    else:
        ax.xaxis.set_major_locator(mdates.YearLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    _style(ax)
    _count_axis(ax)
    return fig


def effect_by_lag_plot(
    lags: Sequence[int],
    mean: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    *,
    title: str,
    hdi_prob: float = 0.9,
) -> Figure:
    """Percent change in expected detections at each lag after a one-unit exposure."""
    fig, ax = plt.subplots(figsize=(4.0, 2.6))
    lag = np.asarray(lags)
    ax.axhline(0, color=OBSERVED, lw=0.8)
    ax.fill_between(lag, low, high, color=MODEL, alpha=0.25, lw=0,
                    label=f"{int(hdi_prob * 100)}% HDI")
    ax.plot(lag, mean, "o-", color=MODEL, ms=3, lw=1.2, label="posterior mean")
    ax.set_xlabel("months after exposure", fontsize=8)
    ax.set_ylabel("% change", fontsize=8)
    ax.set_title(title, fontsize=9, loc="left")
    ax.legend(fontsize=7, frameon=False)
    _style(ax)
    return fig


def forest_plot(
    table: pd.DataFrame,
    *,
    title: str,
    label: str = "label",
    panel: str = "panel",
    rope: float = 10.0,
) -> Figure:
    """Effects with intervals, one row per variant, grouped into panels (one per headline).

    ``table`` columns: ``label``, ``panel``, ``mean``, ``low``, ``high`` (percent), and
    optionally ``converged`` (unconverged rows are drawn hollow).
    """
    panels = list(dict.fromkeys(table[panel]))
    heights = [max(1.0, 0.28 * int((table[panel] == p).sum()) + 0.6) for p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.0, sum(heights) + 0.4),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, name in zip(axes[:, 0], panels, strict=True):
        sub = table[table[panel] == name].reset_index(drop=True)
        y = np.arange(len(sub))[::-1]
        ax.axvspan(-rope, rope, color="#eeeeee", lw=0)
        ax.axvline(0, color=OBSERVED, lw=0.8)
        conv = sub["converged"].astype(bool) if "converged" in sub else pd.Series(True,
                                                                                   index=sub.index)
        for yi, (_, row) in zip(y, sub.iterrows(), strict=True):
            ok = bool(conv.loc[_])
            ax.plot([row["low"], row["high"]], [yi, yi], color=MODEL, lw=1.6)
            ax.plot(row["mean"], yi, "o", ms=5, color=MODEL, mfc=MODEL if ok else "white")
        ax.set_yticks(y)
        ax.set_yticklabels(sub[label], fontsize=7)
        ax.set_title(str(name), fontsize=9, loc="left")
        _style(ax)
    axes[-1, 0].set_xlabel("% change in expected monthly detections (90% HDI; grey band = ROPE)",
                           fontsize=8)
    fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def placebo_histogram(placebo: np.ndarray, observed: float, *, title: str,
                      rank_p: float | None = None) -> Figure:
    """Placebo-in-time effects (random re-datings) with the observed effect marked."""
    fig, ax = plt.subplots(figsize=(4.0, 2.6))
    vals = np.asarray(placebo, dtype=float)
    vals = vals[np.isfinite(vals)]
    ax.hist(vals, bins=min(30, max(8, vals.size // 5)), color=PLACEBO, alpha=0.8)
    ax.axvline(observed, color=COUNTERFACTUAL, lw=2, label="observed dating")
    ax.set_xlabel("% change (posterior mean)", fontsize=8)
    ax.set_ylabel("placebo re-datings", fontsize=8)
    sub = f" (share as large: {rank_p:.2f})" if rank_p is not None else ""
    ax.set_title(title + sub, fontsize=9, loc="left")
    ax.legend(fontsize=7, frameon=False)
    _style(ax)
    return fig


def ppc_plot(
    months: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    observed: np.ndarray,
    bands: np.ndarray,
    *,
    title: str,
) -> Figure:
    """Posterior predictive 50% and 90% intervals of counts with the observed counts.

    ``bands`` has shape (5, month): 5%, 25%, 50%, 75%, 95% quantiles.
    """
    x = pd.DatetimeIndex(list(months))
    fig, ax = plt.subplots(figsize=(8.0, 2.6))
    ax.fill_between(x, bands[0], bands[4], color=MODEL, alpha=0.15, lw=0, label="90%")
    ax.fill_between(x, bands[1], bands[3], color=MODEL, alpha=0.3, lw=0, label="50%")
    ax.plot(x, observed, "o", color=OBSERVED, ms=2.2, label="observed")
    ax.set_title(title, fontsize=9, loc="left")
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.legend(fontsize=7, frameon=False, loc="upper left", ncol=3)
    _style(ax)
    _count_axis(ax)
    return fig


def pit_histogram(pit: np.ndarray, *, title: str, bins: int = 10) -> Figure:
    """Histogram of probability integral transform values (flat if calibrated)."""
    fig, ax = plt.subplots(figsize=(3.6, 2.4))
    vals = np.asarray(pit, dtype=float)
    vals = vals[np.isfinite(vals)]
    ax.hist(vals, bins=bins, range=(0, 1), color=MODEL, alpha=0.7)
    if vals.size:
        ax.axhline(vals.size / bins, color=OBSERVED, lw=0.8, ls="--", label="uniform")
    ax.set_xlabel("PIT", fontsize=8)
    ax.set_title(title, fontsize=9, loc="left")
    _style(ax)
    return fig


def fan_chart(
    history_months: Sequence[pd.Timestamp] | pd.DatetimeIndex | pd.DatetimeIndex,
    history: np.ndarray,
    months: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    quantiles: np.ndarray,
    *,
    title: str,
    threshold: float | None = None,
    scenario_median: np.ndarray | None = None,
    scenario_label: str = "scenario",
) -> Figure:
    """Recent history and a forecast fan (quantiles 5, 25, 50, 75, 95 by month)."""
    fig, ax = plt.subplots(figsize=(6.0, 2.8))
    hx, fx = pd.DatetimeIndex(list(history_months)), pd.DatetimeIndex(list(months))
    ax.plot(hx, history, "o-", color=OBSERVED, ms=2.5, lw=1, label="observed")
    ax.fill_between(fx, quantiles[0], quantiles[4], color=MODEL, alpha=0.15, lw=0, label="90%")
    ax.fill_between(fx, quantiles[1], quantiles[3], color=MODEL, alpha=0.3, lw=0, label="50%")
    ax.plot(fx, quantiles[2], color=MODEL, lw=1.4, label="median")
    if scenario_median is not None:
        ax.plot(fx, scenario_median, color=COUNTERFACTUAL, lw=1.2, ls="--", label=scenario_label)
    if threshold is not None:
        ax.axhline(threshold, color=COUNTERFACTUAL, lw=0.8, ls=":",
                   label=f"threshold {format_number(threshold)}")
    ax.set_title(title, fontsize=9, loc="left")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    fig.autofmt_xdate()
    _style(ax)
    _count_axis(ax)
    return fig


def audit_rates(
    hypotheses: Sequence[str],
    false_positive: Sequence[float],
    fp_low: Sequence[float],
    fp_high: Sequence[float],
    power: dict[str, Sequence[float]],
    *,
    title: str = "How often would the pipeline be fooled?",
    limit: float = 0.05,
) -> Figure:
    """The audit per hypothesis: false moderate+/contrary rate in null worlds with its 95%
    interval (left; the dotted line is the ``limit`` a grade above weak needs) and power at
    each injected effect size (right)."""
    y = np.arange(len(hypotheses))[::-1]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.0, 0.45 * len(hypotheses) + 1.4),
                                      sharey=True)
    fp = np.asarray(false_positive, dtype=float)
    err = np.vstack([fp - np.asarray(fp_low, float), np.asarray(fp_high, float) - fp])
    left.errorbar(fp, y, xerr=np.nan_to_num(err), fmt="o", color=MODEL, capsize=2)
    left.axvline(limit, color=OBSERVED, ls=":", lw=1)
    left.set_xlim(0, 1)
    left.set_xlabel("false moderate+ or contrary (null worlds)", fontsize=8)
    left.set_yticks(y, list(hypotheses))
    height = 0.8 / max(1, len(power))
    for i, (size, values) in enumerate(power.items()):
        right.barh(y + (i - (len(power) - 1) / 2) * height, np.asarray(values, float),
                   height=height, label=f"{size}% effect", alpha=0.6 + 0.4 * i / max(1, len(power)))
    right.set_xlim(0, 1)
    right.set_xlabel("power: moderate+ when an effect is injected", fontsize=8)
    right.legend(fontsize=7, frameon=False, loc="lower right")
    for ax in (left, right):
        _style(ax)
    fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def sbc_rank_histogram(
    ranks: dict[str, np.ndarray],
    *,
    n_ranks: int,
    bins: int = 10,
    title: str = "SBC rank histograms",
    max_panels: int = 48,
    ncols: int = 4,
) -> Figure:
    """Simulation-based calibration rank histograms, one panel per parameter component.

    ``ranks`` maps a label to the ranks (0..``n_ranks``) of the prior draws among the
    posterior draws over replicates. A calibrated fit gives flat histograms: the grey band
    is where 99% of a uniform histogram's bin counts fall (binomial quantiles), the dashed
    line the expected count. At most ``max_panels`` panels are drawn (the first ones).
    """
    from scipy import stats

    items = list(ranks.items())[:max_panels]
    ncols = max(1, min(ncols, len(items)))
    nrows = max(1, -(-len(items) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 1.7 * nrows + 0.5), squeeze=False)
    # Bin b holds the ranks r with floor(r * bins / (n_ranks + 1)) == b (as in the test).
    starts = np.ceil(np.arange(bins + 1) * (n_ranks + 1) / bins)
    edges = starts - 0.5
    share = np.diff(starts) / (n_ranks + 1)  # exact share of rank values in each bin
    for ax, (label, vals) in zip(axes.ravel(), items, strict=False):
        r = np.asarray(vals, dtype=float)
        r = r[np.isfinite(r)]
        n = r.size
        if n:
            lo = stats.binom.ppf(0.005, n, share)
            hi = stats.binom.ppf(0.995, n, share)
            ax.bar(
                edges[:-1],
                hi - lo,
                bottom=lo,
                width=np.diff(edges),
                align="edge",
                color="#dddddd",
                lw=0,
            )
            ax.hist(r, bins=edges, color=MODEL, alpha=0.75)
            ax.plot(edges[:-1] + np.diff(edges) / 2, n * share, color=OBSERVED, lw=0.8, ls="--")
        ax.set_title(str(label), fontsize=7, loc="left")
        ax.set_xlim(edges[0], edges[-1])
        ax.set_yticks([])
        _style(ax)
    for ax in axes.ravel()[len(items) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(f"rank (0..{n_ranks})", fontsize=7)
    fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    fig.tight_layout()
    return fig
