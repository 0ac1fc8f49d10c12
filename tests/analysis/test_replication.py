"""The report's figures recomputed: statistics, claims on a synthetic panel, real data."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from hybridflow.analysis.replication import (
    REPORT_OTHERS_SHARE_MONTHS,
    REPORT_TOP10_OTHERS,
    STATUSES,
    Claim,
    before_after,
    claim_ids,
    effective_n,
    lag1_autocorrelation,
    misdated_rounds,
    pearson,
    pearson_pvalue,
    r_r2_consistent,
    remove_trend_season,
    replicate,
    report_sanctions_dates,
)
from hybridflow.data.panel import EASTERN_BORDERS

# --------------------------------------------------------------------------------------------
# statistics


def test_pearson_equals_numpy_and_r2_is_its_square() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    y = 0.6 * x + rng.normal(size=50)
    r, r2, n = pearson(x, y)
    assert n == 50
    assert r == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    assert r2 == pytest.approx(r * r, abs=1e-15)


def test_pearson_drops_incomplete_pairs_and_aligns_series() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=30)
    y = rng.normal(size=30)
    x[3] = np.nan
    y[10] = np.inf
    keep = np.ones(30, bool)
    keep[[3, 10]] = False
    r, _, n = pearson(x, y)
    assert n == 28
    assert r == pytest.approx(np.corrcoef(x[keep], y[keep])[0, 1], abs=1e-12)
    # Series are aligned on their index, not by position.
    sx = pd.Series([1.0, 2.0, 3.0, 4.0], index=[0, 1, 2, 3])
    sy = pd.Series([4.0, 3.0, 2.0, 1.0, 100.0], index=[3, 2, 1, 0, 9])
    assert pearson(sx, sy)[0] == pytest.approx(1.0)


def test_pearson_degenerate_cases_are_nan() -> None:
    assert math.isnan(pearson([1.0, 2.0], [3.0, 4.0])[0])
    assert math.isnan(pearson([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0])[0])
    with pytest.raises(ValueError, match="differ in length"):
        pearson([1.0, 2.0, 3.0], [1.0, 2.0])


def test_pvalue_equals_scipy_pearsonr() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    y = 0.3 * x + rng.normal(size=40)
    r, _, n = pearson(x, y)
    assert pearson_pvalue(r, n) == pytest.approx(stats.pearsonr(x, y).pvalue, rel=1e-9)


def test_partial_correlation_pvalue_equals_ols_coefficient_test() -> None:
    """Frisch-Waugh-Lovell: residual r with df n-2-k gives the OLS t-test of x."""
    sm = pytest.importorskip("statsmodels.api")
    months = pd.date_range("2022-02-01", periods=42, freq="MS")
    rng = np.random.default_rng(4)
    t = np.arange(42.0)
    season = np.sin(2 * np.pi * months.month / 12)
    x = pd.Series(5 + 0.2 * t + season + rng.normal(size=42), index=months)
    y = pd.Series(1 + 0.1 * t + 2 * season + 0.4 * x + rng.normal(size=42), index=months)
    rx, ry = remove_trend_season(x), remove_trend_season(y)
    k = rx.attrs["n_controls"]
    assert k == 12  # trend + 11 month dummies
    r, _, n = pearson(rx, ry)
    dummies = pd.get_dummies(months.month, drop_first=True).to_numpy(dtype=float)
    design = sm.add_constant(np.column_stack([x.to_numpy(), t, dummies]))
    fit = sm.OLS(y.to_numpy(), design).fit()
    assert pearson_pvalue(r, n, n_controls=k) == pytest.approx(fit.pvalues[1], rel=1e-6)


def test_effective_n_bartlett() -> None:
    assert effective_n(40, 0.0, 0.5) == 40
    assert effective_n(40, 0.5, 0.5) == pytest.approx(40 * 0.75 / 1.25)
    assert effective_n(40, 0.99, 0.99) == 3.0  # clipped
    assert effective_n(40, math.nan, 0.5) == 40
    # Fewer effective months: a larger p-value for the same r.
    assert pearson_pvalue(0.4, 40, n_eff=10) > pearson_pvalue(0.4, 40)


def test_lag1_autocorrelation() -> None:
    sm = pytest.importorskip("statsmodels.tsa.stattools")
    rng = np.random.default_rng(5)
    x = rng.normal(size=60).cumsum()
    assert lag1_autocorrelation(x) == pytest.approx(sm.acf(x, nlags=1)[1], rel=1e-9)
    assert lag1_autocorrelation(np.tile([1.0, -1.0], 20)) < -0.9
    assert lag1_autocorrelation(np.arange(50.0)) > 0.9


def test_remove_trend_season_clears_trend_and_season_and_keeps_nans() -> None:
    months = pd.date_range("2020-01-01", periods=48, freq="MS")
    pattern = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8], float)
    s = pd.Series(10 + 0.7 * np.arange(48) + pattern[months.month - 1], index=months)
    s.iloc[7] = np.nan
    res = remove_trend_season(s)
    assert np.isnan(res.iloc[7])
    assert np.nanmax(np.abs(res.to_numpy())) < 1e-9
    assert res.attrs["n_controls"] == 12


def test_r_r2_consistency() -> None:
    assert r_r2_consistent(0.5, 0.26, r_decimals=1, r2_decimals=2)
    assert r_r2_consistent(0.17, 0.03, r_decimals=2, r2_decimals=2)
    assert not r_r2_consistent(-0.8, 0.007, r_decimals=1, r2_decimals=3)
    assert r_r2_consistent(-0.8, 0.64, r_decimals=1, r2_decimals=2)


def test_random_walks_correlate_in_levels_not_in_differences() -> None:
    """Spurious regression: independent random walks, 41 months, 300 fixed-seed pairs."""
    rng = np.random.default_rng(20250101)
    levels, diffs = [], []
    for _ in range(300):
        a = rng.normal(size=41).cumsum()
        b = rng.normal(size=41).cumsum()
        levels.append(abs(pearson(a, b)[0]))
        diffs.append(abs(pearson(np.diff(a), np.diff(b))[0]))
    assert np.median(levels) > 0.3
    assert np.median(diffs) < 0.15
    assert np.mean(np.array(levels) > 0.5) > 0.2  # many |r| > 0.5 from nothing at all
    assert np.mean(np.array(diffs) > 0.5) < 0.01


def test_before_after_and_seasonal_benchmark() -> None:
    months = pd.date_range("2022-01-01", periods=36, freq="MS")
    s = pd.Series(100.0, index=months)
    s.loc["2024-01-01":] = 150.0
    out = before_after(s, "2023-12", "2024-01", k=3)
    assert out["before"] == 100 and out["after"] == 150
    assert out["change_pct"] == pytest.approx(50.0)
    assert out["before_window"] == "2023-10 to 2023-12"
    assert out["after_window"] == "2024-01 to 2024-03"
    assert out["seasonal_benchmark_pct"] == pytest.approx(0.0)
    assert math.isnan(before_after(s, "2024-12", "2025-01")["change_pct"])  # beyond the data


# --------------------------------------------------------------------------------------------
# synthetic panel


NATS = [
    "AFG",
    "BLR",
    "ERI",
    "ETH",
    "IND",
    "IRN",
    "IRQ",
    "RUS",
    "SDN",
    "SOM",
    "SYR",
    "UKR",
    "XUN",
    "YEM",
]
OTHER_ROUTE = "Central Mediterranean Route"


def _panel(seed: int = 0) -> xr.Dataset:
    """A small panel with the load_panel interface; nationality data to Apr 2025."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2021-01-01", "2026-08-01", freq="MS", name="month")
    nm = len(months)
    routes = [OTHER_ROUTE, EASTERN_BORDERS]
    det = rng.poisson(20, size=(nm, 2, len(NATS))).astype(float)
    ukr = NATS.index("UKR")
    det[:, 1, ukr] = rng.poisson(400, size=nm)
    feb22 = months.get_loc(pd.Timestamp("2022-02-01"))
    det[feb22, 1, :] = 0.0
    det[feb22, 1, ukr] = 100.0
    det[feb22, 1, NATS.index("SYR")] = 150.0  # Others majority: 150 / 250 = 60%
    det[:, 1, NATS.index("XUN")] = 0.0
    end = months.get_loc(pd.Timestamp("2025-04-01"))
    det[end + 1 :] = np.nan
    da = xr.DataArray(
        det,
        coords={"month": months, "route": routes, "nationality": NATS},
        dims=("month", "route", "nationality"),
    )
    from_det = da.sum("nationality", min_count=1)
    latest = from_det.copy()
    latest[end + 1 : nm - 2, :] = rng.poisson(900, size=(nm - end - 3, 2))
    latest[nm - 2 :, :] = np.nan
    ext = from_det.isnull() & latest.notnull()
    ds = xr.Dataset(coords={"month": months})
    ds["detections"] = da
    ds["route_total"] = from_det.where(~ext, latest)
    ds["route_total_extended"] = ext
    ds["route_total_latest"] = latest
    war = months >= pd.Timestamp("2022-02-01")
    losses = np.where(war, 5000 + 400 * np.arange(nm) + rng.normal(0, 500, nm), np.nan)
    ds["losses_personnel"] = ("month", losses)
    ds["losses_days_covered"] = ("month", np.where(war, 30.0, np.nan))
    live = np.where(war & (months <= pd.Timestamp("2025-01-01")), rng.normal(0, 300, nm), np.nan)
    deep = np.where(months >= pd.Timestamp("2022-10-01"), rng.normal(50, 200, nm), np.nan)
    ds["territory_net_change"] = xr.DataArray(
        np.column_stack([deep, live]),
        coords={"month": months, "tracker": ["deepstate", "liveuamap"]},
        dims=("month", "tracker"),
    )
    acled_months = (months >= pd.Timestamp("2021-01-01")) & (months <= pd.Timestamp("2024-09-01"))
    expl = np.where(acled_months, rng.poisson(50, nm), np.nan).astype(float)
    ds["acled_russia"] = xr.DataArray(
        np.column_stack([expl, expl / 2]),
        coords={"month": months, "acled_event_type": ["Explosions/Remote violence", "Battles"]},
        dims=("month", "acled_event_type"),
    )
    pv = np.where(months <= pd.Timestamp("2026-03-01"), rng.poisson(80, nm), np.nan)
    ds["acled_pv"] = xr.DataArray(
        pv[:, None].astype(float),
        coords={"month": months, "acled_country": ["Russia"]},
        dims=("month", "acled_country"),
    )
    return ds


@pytest.fixture(scope="module")
def synthetic() -> tuple[xr.Dataset, object]:
    panel = _panel()
    return panel, replicate(panel)


def _claim(result: object, cid: str) -> pd.Series:
    claims = result.claims  # type: ignore[attr-defined]
    row = claims.loc[claims["id"] == cid]
    assert len(row) == 1, cid
    return row.iloc[0]


def test_every_claim_present_once_with_a_valid_status(synthetic: tuple) -> None:
    _, res = synthetic
    assert list(res.claims["id"]) == list(claim_ids())
    assert set(res.claims["status"]) <= set(STATUSES)
    for code in REPORT_TOP10_OTHERS:
        assert f"top10_{code}" in set(res.claims["id"])
    for month in REPORT_OTHERS_SHARE_MONTHS:
        assert f"others_share_{month.replace('-', '_')}" in set(res.claims["id"])


def test_shares_on_synthetic_panel(synthetic: tuple) -> None:
    panel, res = synthetic
    eb = panel["detections"].sel(route=EASTERN_BORDERS)
    total = eb.sum("nationality")
    others = eb.drop_sel(nationality=["UKR", "RUS", "BLR"]).sum("nationality")
    share = (others / total).sel(month=slice("2022-02-01", "2025-04-01")).to_series()
    assert _claim(res, "others_share_max")["our_value"] == pytest.approx(0.6)
    assert _claim(res, "others_share_max")["our_text"].endswith("(2022-02)")
    assert _claim(res, "others_share_mean")["our_value"] == pytest.approx(share.mean())
    dec23 = _claim(res, "others_share_2023_12")
    assert dec23["our_value"] == pytest.approx(share["2023-12-01"])
    assert dec23["difference"] == pytest.approx(share["2023-12-01"] - 0.13)
    assert _claim(res, "others_share_min")["our_value"] == pytest.approx(share.min())
    maj = _claim(res, "others_share_majority_months")
    assert maj["our_text"] == "2022-02" and maj["status"] == "matches"


def test_eb_mean_and_top10_on_synthetic_panel(synthetic: tuple) -> None:
    panel, res = synthetic
    eb = panel["route_total"].sel(route=EASTERN_BORDERS, month=slice("2022-02-01", "2025-06-01"))
    assert _claim(res, "eb_mean")["our_value"] == pytest.approx(float(eb.mean()))
    assert _claim(res, "eb_mean")["details"]["months_from_newer_vintage"] == ["2025-05", "2025-06"]
    det = panel["detections"].sel(route=EASTERN_BORDERS, month=slice("2022-02-01", None))
    syr = float(det.sel(nationality="SYR").sum())
    top = _claim(res, "top10_SYR")
    assert top["our_value"] == pytest.approx(syr)
    assert top["difference"] == pytest.approx(syr - 685)
    assert "XUN" not in _claim(res, "top10_set")["our_text"]  # not a country


def test_correlations_recomputed_four_ways(synthetic: tuple) -> None:
    panel, res = synthetic
    corr = res.correlations
    sel = corr.loc[(corr["claim"] == "losses") & (corr["encounters"] == "route_total")]
    assert list(sel["transform"]) == ["levels", "first_difference", "trend_season_residual"]
    months = slice("2022-02-01", "2025-07-01")
    x = panel["losses_personnel"].sel(month=months).to_series()
    y = panel["route_total"].sel(route=EASTERN_BORDERS, month=months).to_series()
    lv = sel.set_index("transform").loc["levels"]
    assert lv["r"] == pytest.approx(pearson(x, y)[0])
    assert lv["n"] == 42
    fd = sel.set_index("transform").loc["first_difference"]
    assert fd["r"] == pytest.approx(pearson(x.diff(), y.diff())[0])
    assert fd["n"] == 41
    claim = _claim(res, "losses_vs_encounters_r")
    assert claim["our_value"] == pytest.approx(lv["r"])
    assert _claim(res, "losses_vs_encounters_r2")["our_value"] == pytest.approx(lv["r"] ** 2)
    trend = res.trend.set_index("claim").loc["losses"]
    assert trend["share_lost_first_difference"] == pytest.approx(1 - fd["r"] / lv["r"])
    # Territory: the primary tracker covers Mar 2022 - Jan 2025 only.
    uk = corr.loc[
        (corr["claim"] == "ukr_gains")
        & corr["primary"]
        & (corr["transform"] == "levels")
        & (corr["encounters"] == "route_total")
    ]
    assert uk.iloc[0]["tracker"] == "liveuamap"
    assert (uk.iloc[0]["first_month"], uk.iloc[0]["last_month"]) == ("2022-03", "2025-01")
    net = panel["territory_net_change"].sel(
        tracker="liveuamap", month=slice("2022-03-01", "2025-07-01")
    )
    gains = (-net).clip(min=0).to_series()
    y2 = (
        panel["route_total"]
        .sel(route=EASTERN_BORDERS, month=slice("2022-03-01", "2025-07-01"))
        .to_series()
    )
    assert uk.iloc[0]["r"] == pytest.approx(pearson(gains, y2)[0])


def test_report_r_r2_inconsistency_is_flagged(synthetic: tuple) -> None:
    _, res = synthetic
    flag = _claim(res, "ukr_gains_r_r2_consistency")
    assert flag["status"] == "inconsistent"
    assert flag["our_value"] == pytest.approx(0.64)
    assert "implies r^2 = 0.64" in flag["cause"]
    assert "supports" in flag["cause"]
    assert _claim(res, "losses_r_r2_consistency")["status"] == "matches"
    assert _claim(res, "rus_gains_r_r2_consistency")["status"] == "matches"


def test_json_round_trip(synthetic: tuple) -> None:
    _, res = synthetic
    text = res.to_json()  # strict JSON: fails on NaN
    back = json.loads(text)
    assert back == res.to_dict()
    assert len(back["claims"]) == len(claim_ids())
    assert {"claims", "correlations", "trend", "misdated", "notes"} <= set(back)
    assert all(isinstance(c["details"], dict) for c in back["claims"])
    text_summary = res.render_text()
    assert "[inconsistent] ukr_gains_r_r2_consistency" in text_summary


def test_model_residuals_add_a_transform() -> None:
    panel = _panel(1)
    months = panel["month"].values
    rng = np.random.default_rng(9)
    resid = xr.DataArray(
        rng.normal(size=(2, 5, len(months))),
        coords={"chain": [0, 1], "draw": range(5), "month": months},
        dims=("chain", "draw", "month"),
    )
    res = replicate(panel, model_residuals=resid)
    corr = res.correlations
    mr = corr.loc[corr["transform"] == "model_residual"]
    assert set(mr["claim"]) == {"losses", "ukr_gains", "rus_gains"}
    assert mr["r"].abs().max() < 0.6  # noise residuals
    assert np.isfinite(res.trend["r_model_residual"]).all()
    with pytest.raises(ValueError, match="month"):
        replicate(panel, model_residuals=xr.DataArray(np.zeros(3), dims="x"))


def test_missing_variables_give_not_reproducible() -> None:
    panel = _panel().drop_vars(["territory_net_change", "acled_russia"])
    res = replicate(panel)
    assert _claim(res, "ukr_gains_vs_encounters_r")["status"] == "not_reproducible"
    assert _claim(res, "attacks_ratio_2024_2023")["status"] == "not_reproducible"
    assert _claim(res, "eb_mean")["status"] in {"matches", "differs"}
    assert list(res.claims["id"]) == list(claim_ids())


def test_claim_rejects_unknown_status() -> None:
    with pytest.raises(ValueError, match="unknown status"):
        Claim(
            id="x",
            statement="",
            report_value=None,
            report_text="",
            our_value=None,
            our_text="",
            difference=None,
            tolerance=None,
            unit="",
            window="",
            grouping="",
            method="",
            cause="",
            status="close",
        )


# --------------------------------------------------------------------------------------------
# mis-dated sanctions rounds


def test_report_sanctions_dates_table() -> None:
    table = report_sanctions_dates()
    assert list(table.columns) == [
        "report_table",
        "report_label",
        "report_month",
        "event_id",
        "note",
    ]
    assert set(table["event_id"]) == {"EU-RU-05", "EU-RU-06", "US-17", "US-22", ""}
    assert all(len(m) == 7 for m in table["report_month"])


def test_misdated_rounds_on_a_synthetic_catalogue() -> None:
    events = pd.DataFrame(
        {
            "event_id": ["EU-RU-05", "EU-RU-06", "US-17", "US-22"],
            "kind": ["sanctions_package", "sanctions_package", "sanctions_action", "bill"],
            "direction": ["tighten", "tighten", "tighten", "none"],
            "effective_date": pd.to_datetime(["2022-04-08", "2022-03-20", "2024-02-23", None]),
            "announced_date": pd.to_datetime([None, None, None, "2025-04-01"]),
        }
    )
    out = misdated_rounds(events).set_index("report_label")
    assert out.loc["5th package", "issue"] == "wrong month"
    assert out.loc["5th package", "months_off"] == 1
    assert out.loc["5th package", "catalogue_date"] == "2022-04-08"
    assert out.loc["6th package", "issue"] == "consistent"  # this stand-in agrees
    assert out.loc["Mar 2024 action", "months_off"] == -1
    assert out.loc["Sanctioning Russia Act", "issue"] == "not a sanction"
    assert out.loc["Sanctioning Russia Act", "catalogue_date"] == "2025-04-01"
    assert out.loc["Feb 2025 action", "issue"] == "no matching action"
    missing = misdated_rounds(events.iloc[:1]).set_index("report_label")
    assert missing.loc["6th package", "issue"] == "not in catalogue"
    assert (misdated_rounds(None)["issue"].iloc[0]) == "catalogue not given"


def test_misdated_rounds_with_the_packaged_catalogue() -> None:
    events_mod = pytest.importorskip("hybridflow.data.events")
    out = misdated_rounds(events_mod.load_events()).set_index("event_id")
    assert out.loc["EU-RU-05", "catalogue_date"] == "2022-04-08"
    assert out.loc["EU-RU-06", "catalogue_date"] == "2022-06-03"
    assert out.loc["EU-RU-06", "months_off"] == 3
    assert out.loc["US-17", "catalogue_date"] == "2024-02-23"
    assert out.loc["US-22", "issue"] == "not a sanction"
    issues = set(out["issue"])
    assert "consistent" not in issues


# --------------------------------------------------------------------------------------------
# real data (the embedded snapshot)


@pytest.fixture(scope="module")
def real() -> object:
    from hybridflow.data.build import default_snapshot_dir
    from hybridflow.data.panel import load_panel

    # HYBRIDFLOW_TEST_SNAPSHOT: a snapshot folder built elsewhere (optional).
    snap = Path(os.environ.get("HYBRIDFLOW_TEST_SNAPSHOT", default_snapshot_dir()))
    if not (snap / "MANIFEST.json").is_file():
        pytest.skip(f"no snapshot at {snap} (run `hybridflow data build`)")
    from hybridflow.data.events import load_events

    return replicate(load_panel(snap), load_events())


def test_real_eastern_borders_mean(real: object) -> None:
    c = _claim(real, "eb_mean")
    assert 800 < c["our_value"] < 840  # 817.4 with the corrected Apr 2025
    assert c["status"] == "matches"
    # Feb 2022 - Jul 2025 gives the report's 832.
    assert c["details"]["alternatives"]["window to 2025-07"] == pytest.approx(832, abs=1)


def test_real_others_shares(real: object) -> None:
    mx = _claim(real, "others_share_max")
    assert mx["our_value"] > 0.5 and mx["our_text"].endswith("(2022-02)")
    assert _claim(real, "others_share_majority_months")["our_text"] == "2022-02"
    assert abs(_claim(real, "others_share_mean")["our_value"] - 0.16) < 0.01
    assert _claim(real, "others_share_min")["our_value"] < 0.01
    assert _claim(real, "others_share_2023_04")["status"] == "matches"
    assert _claim(real, "others_share_2025_max")["our_value"] <= 0.16
    # As published, the provisional Unknown entry made Apr 2025 an Others majority.
    assert "2025-04" in _claim(real, "others_share_majority_months")["details"]["as_published"]


def test_real_top10(real: object) -> None:
    assert _claim(real, "top10_set")["our_value"] == 10
    syr = _claim(real, "top10_SYR")
    assert abs(syr["difference"]) <= 5
    for code in REPORT_TOP10_OTHERS:  # our window ends Apr 2025, the report's later
        assert _claim(real, f"top10_{code}")["difference"] <= 0


def test_real_correlations(real: object) -> None:
    r = _claim(real, "losses_vs_encounters_r")["our_value"]
    assert 0.4 < r < 0.55
    ukr = _claim(real, "ukr_gains_vs_encounters_r")["our_value"]
    assert abs(ukr) < 0.3  # nowhere near the report's -0.8
    flag = _claim(real, "ukr_gains_r_r2_consistency")
    assert flag["status"] == "inconsistent" and "supports r^2 = 0.007" in flag["cause"]
    trend = real.trend.set_index("claim")  # type: ignore[attr-defined]
    # Losses and detections both trend: far fewer effective months than 42.
    assert trend.loc["losses", "n_eff_levels"] < 15
    assert trend.loc["losses", "p_adjusted_levels"] > trend.loc["losses", "p_naive_levels"]


def test_real_losses_and_growth(real: object) -> None:
    assert _claim(real, "losses_dec_2023")["status"] == "matches"
    assert _claim(real, "losses_dec_vs_sep_2023")["status"] == "matches"
    cum = _claim(real, "losses_cumulative_300k")
    assert "2023-10" in cum["our_text"] and cum["status"] == "matches"
    assert 190 < _claim(real, "encounters_rise_2023_2024")["our_value"] < 210
    assert _claim(real, "attacks_2022")["status"] == "not_reproducible"
