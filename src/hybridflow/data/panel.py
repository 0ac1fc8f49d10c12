"""The analysis panel: every source on one monthly axis, as one ``xarray.Dataset``.

:func:`load_panel` reads the embedded snapshot (or a snapshot folder the user built, or a
user's own long CSV files) and returns::

    detections(month, route, nationality)   FRONTEX detections, nationality-level vintage
    route_total(month, route)               all nationalities; extended past the workbook
                                            with the newer route-total vintage
    route_total_extended(month, route)      True where route_total comes from that vintage
    route_total_latest(month, route)        the newer vintage over its whole span
    losses_personnel(month)                 monthly Russian personnel losses (claimed)
    losses_days_covered(month)              days the month's increment spans
    losses_equipment(month, equipment)      monthly equipment-loss increments
    acled_pv(month, acled_country)          ACLED political-violence events
    acled_russia(month, acled_event_type)   ACLED events inside Russia by event type
    territory_area(month, tracker)          month-end km2 of Ukraine held by Russia
    territory_net_change(month, tracker)    its monthly change (+ = Russia gained)

Months run from the earliest to the latest month of any source; a variable is NaN where
its source does not cover the month (never silently zero). Dataset attrs carry each
source's vintage and the sha256 of its raw input (``sources``, a JSON string) so results
can cite the exact data they came from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd
import xarray as xr

from hybridflow.data.build import TABLES, default_snapshot_dir, read_manifest
from hybridflow.data.sources.frontex import EASTERN_BORDERS, UKRRUSSBEL
from hybridflow.errors import InputError
from hybridflow.months import month_range

__all__ = [
    "EASTERN_BORDERS",
    "NAMED_GROUPINGS",
    "REPORT_GROUPING",
    "UKRRUSSBEL",
    "NamedGrouping",
    "group_nationalities",
    "load_panel",
    "panel_hash",
]

#: Groupings named by one word (besides "top_k", a {nationality: group} mapping or a CSV).
NamedGrouping = Literal["ukrrussbel", "none"]
NAMED_GROUPINGS: tuple[str, ...] = get_args(NamedGrouping)
#: The report's grouping: UkrRussBel vs Others (the model specs' default).
REPORT_GROUPING: NamedGrouping = "ukrrussbel"

_TABLE_FILES = {t.name: t.filename for t in TABLES}


def _read_table(snapshot: Path, name: str) -> pd.DataFrame:
    path = snapshot / _TABLE_FILES[name]
    if not path.is_file():
        raise InputError(path, f"snapshot table '{name}' not found; run `hybridflow data build`")
    df = pd.read_csv(path, keep_default_na=True)
    if "month" in df.columns:
        df["month"] = pd.to_datetime(df["month"], format="%Y-%m")
    return df


def _grid(
    df: pd.DataFrame,
    months: pd.DatetimeIndex,
    index: str,
    value: str,
    labels: list[str] | None = None,
) -> xr.DataArray:
    """Pivot a long (month, index, value) table onto the panel's month axis (NaN = absent)."""
    wide = df.pivot_table(index="month", columns=index, values=value, aggfunc="sum")
    if labels is not None:
        wide = wide.reindex(columns=labels)
    wide = wide.reindex(months)
    wide.index.name = "month"
    wide.columns.name = index
    return xr.DataArray(
        wide.to_numpy(dtype=float),
        coords={"month": months, index: list(wide.columns)},
        dims=("month", index),
    )


def load_panel(
    snapshot_dir: str | Path | None = None,
    *,
    detections: str | Path | None = None,
    drivers: str | Path | None = None,
) -> xr.Dataset:
    """Load the analysis panel.

    Parameters
    ----------
    snapshot_dir
        A snapshot folder built by ``hybridflow data build``; default: the embedded one.
    detections
        Optional user CSV (``month,route,nationality,detections``) replacing the FRONTEX
        detections; see :mod:`hybridflow.data.byo`.
    drivers
        Optional user CSV (``month,driver,value``): a driver named like a one-dimensional
        panel variable (e.g. ``losses_personnel``) replaces it; any other name is added.

    Returns
    -------
    xarray.Dataset
        The panel described in the module docstring.
    """
    snapshot = Path(snapshot_dir) if snapshot_dir is not None else default_snapshot_dir()
    manifest = read_manifest(snapshot)

    det = _read_table(snapshot, "detections")
    rows = _read_table(snapshot, "detection_rows")
    totals = _read_table(snapshot, "route_totals")
    losses = _read_table(snapshot, "losses")
    pv = _read_table(snapshot, "acled_pv")
    etypes = _read_table(snapshot, "acled_event_types")
    terr = _read_table(snapshot, "territory")

    byo_det = None
    if detections is not None:
        from hybridflow.data import byo

        byo_det = byo.read_detections_csv(detections)
    byo_drv = None
    if drivers is not None:
        from hybridflow.data import byo

        byo_drv = byo.read_drivers_csv(drivers)

    frames = [det, totals, losses, pv, etypes, terr]
    if byo_det is not None:
        frames.append(byo_det)
    if byo_drv is not None:
        frames.append(byo_drv)
    first = min(f["month"].min() for f in frames)
    last = max(f["month"].max() for f in frames)
    months = month_range(first, last)

    ds = xr.Dataset(coords={"month": months})
    if byo_det is None:
        ds["detections"] = _detections_grid(det, rows, months)
        det_source = "snapshot"
    else:
        ds["detections"] = _byo_detections_grid(byo_det, months)
        det_source = str(detections)

    ds = _add_route_totals(ds, totals, months, user_detections=byo_det is not None)
    _add_losses(ds, losses, months)
    ds["acled_pv"] = _grid(pv, months, "country", "events").rename(country="acled_country")
    russia = etypes.loc[etypes["country"] == "Russia"]
    ds["acled_russia"] = _grid(russia, months, "event_type", "events").rename(
        event_type="acled_event_type"
    )
    ds["territory_area"] = _grid(terr, months, "tracker", "area_end_km2")
    ds["territory_net_change"] = _grid(terr, months, "tracker", "net_change_km2")
    if byo_drv is not None:
        assert drivers is not None
        _add_user_drivers(ds, byo_drv, months, drivers)
    _describe(ds)
    ds.attrs.update(_provenance(manifest, det_source, detections, drivers))
    return ds


def _add_route_totals(
    ds: xr.Dataset, totals: pd.DataFrame, months: pd.DatetimeIndex, *, user_detections: bool
) -> xr.Dataset:
    """``route_total`` (detections summed, extended by the newer route-total vintage past
    the workbook), ``route_total_extended`` and ``route_total_latest``, on every route."""
    routes = list(ds["route"].values)
    route_from_det = ds["detections"].sum("nationality", min_count=1)
    latest = _grid(totals, months, "route", "detections")
    all_routes = sorted(set(routes) | set(latest["route"].values))
    route_from_det = route_from_det.reindex(route=all_routes)
    latest = latest.reindex(route=all_routes)
    extended = route_from_det.isnull() & latest.notnull()
    if user_detections:
        # A user's detections define the outcome; do not splice in FRONTEX totals.
        extended = xr.zeros_like(extended)
    ds["route_total"] = route_from_det.where(~extended, latest)
    ds["route_total_extended"] = extended
    ds["route_total_latest"] = latest
    return ds.reindex(route=all_routes)


def _add_losses(ds: xr.Dataset, losses: pd.DataFrame, months: pd.DatetimeIndex) -> None:
    """Personnel losses, the days each month's increment spans, and equipment losses."""
    ds["losses_personnel"] = (
        "month",
        losses.set_index("month")["personnel"].reindex(months).to_numpy(dtype=float),
    )
    ds["losses_days_covered"] = (
        "month",
        losses.set_index("month")["days_covered"].reindex(months).to_numpy(dtype=float),
    )
    equip_cols = [
        c
        for c in losses.columns
        if c not in {"month", "personnel", "n_reports", "days_covered", "last_report_date"}
    ]
    equip = losses.set_index("month")[equip_cols].reindex(months)
    ds["losses_equipment"] = xr.DataArray(
        equip.to_numpy(dtype=float),
        coords={"month": months, "equipment": equip_cols},
        dims=("month", "equipment"),
    )


def _add_user_drivers(
    ds: xr.Dataset, byo_drv: pd.DataFrame, months: pd.DatetimeIndex, drivers: str | Path
) -> None:
    """A user's drivers: one replaces the panel variable of its name, or is added."""
    for name, grp in byo_drv.groupby("driver"):
        values = grp.set_index("month")["value"].reindex(months).to_numpy(dtype=float)
        if name in ds and ds[name].dims != ("month",):
            raise InputError(
                drivers,
                f"driver '{name}' clashes with a panel variable with dims {ds[name].dims}",
                column="driver",
            )
        ds[str(name)] = ("month", values)


def _detections_grid(
    det: pd.DataFrame, rows: pd.DataFrame, months: pd.DatetimeIndex
) -> xr.DataArray:
    """Sum over border type; zeros within the workbook's coverage, NaN outside it."""
    routes = sorted(rows["route"].unique())
    nats = sorted(rows["nationality"].unique())
    cov_first = pd.to_datetime(rows["first_month"]).min()
    cov_last = pd.to_datetime(rows["last_month"]).max()
    summed = det.groupby(["month", "route", "nationality"])["detections"].sum()
    full = summed.to_xarray().reindex(month=months, route=routes, nationality=nats)
    covered = (months >= cov_first) & (months <= cov_last)
    arr = full.fillna(0.0).where(xr.DataArray(covered, coords={"month": months}, dims="month"))
    return arr.astype(float).transpose("month", "route", "nationality")


def _byo_detections_grid(df: pd.DataFrame, months: pd.DatetimeIndex) -> xr.DataArray:
    summed = df.groupby(["month", "route", "nationality"])["detections"].sum()
    arr = summed.to_xarray()
    covered = (months >= df["month"].min()) & (months <= df["month"].max())
    arr = arr.reindex(month=months).fillna(0.0)
    arr = arr.where(xr.DataArray(covered, coords={"month": months}, dims="month"))
    return arr.astype(float).transpose("month", "route", "nationality")


_DESCRIPTIONS = {
    "detections": ("FRONTEX detections of illegal border crossings", "detections/month"),
    "route_total": (
        "detections, all nationalities (extended with the newer vintage)",
        "detections/month",
    ),
    "route_total_extended": ("route_total taken from the newer route-total vintage", "bool"),
    "route_total_latest": ("route totals in the newer vintage", "detections/month"),
    "losses_personnel": (
        "Russian personnel losses claimed by Ukraine's General Staff",
        "persons/month",
    ),
    "losses_days_covered": ("days between the month's first and last report", "days"),
    "losses_equipment": (
        "Russian equipment losses claimed by Ukraine's General Staff",
        "items/month",
    ),
    "acled_pv": ("ACLED political-violence events", "events/month"),
    "acled_russia": ("ACLED events located inside Russia", "events/month"),
    "territory_area": ("area of Ukraine held by Russia at month end", "km2"),
    "territory_net_change": (
        "monthly change in area held by Russia (+ = Russian gain)",
        "km2/month",
    ),
}


def _describe(ds: xr.Dataset) -> None:
    for name, (desc, units) in _DESCRIPTIONS.items():
        if name in ds:
            ds[name].attrs.update(description=desc, units=units)


def _provenance(
    manifest: Mapping[str, object],
    det_source: str,
    detections: str | Path | None,
    drivers: str | Path | None,
) -> dict[str, str]:
    tables = manifest.get("tables", {})
    assert isinstance(tables, dict)
    sources = {
        name: [
            {"file": i["file"], "sha256": i["sha256"], "vintage": i["vintage"]}
            for i in info["inputs"]
        ]
        for name, info in tables.items()
    }
    attrs = {
        "title": "hybridflow analysis panel",
        "sources": json.dumps(sources, sort_keys=True),
        "snapshot_sha256": hashlib.sha256(
            json.dumps(manifest, sort_keys=True).encode()
        ).hexdigest(),
        "detections_source": det_source,
    }
    if detections is not None:
        from hybridflow.io import sha256_file

        attrs["byo_detections_sha256"] = sha256_file(detections)
    if drivers is not None:
        from hybridflow.io import sha256_file

        attrs["byo_drivers"] = str(drivers)
        attrs["byo_drivers_sha256"] = sha256_file(drivers)
    return attrs


def group_nationalities(
    panel: xr.Dataset,
    grouping: str | Mapping[str, str] | Path = REPORT_GROUPING,
    *,
    top_k: int | None = None,
    routes: list[str] | None = None,
    since: str | pd.Timestamp | None = None,
    other_label: str = "Others",
) -> xr.Dataset:
    """Aggregate nationalities into groups: ``detections(month, route, group)``.

    Parameters
    ----------
    grouping
        ``"ukrrussbel"``: the report's ``UkrRussBel`` (Ukraine, Russia, Belarus) vs
        ``Others``. ``"top_k"``: the ``top_k`` nationalities by total detections (over
        ``routes`` and months from ``since``) each as its own group, the rest as
        ``Others``. ``"none"``: every nationality its own group. A mapping
        ``{iso3: group}`` or a path to a CSV with columns ``nationality,group``: a user's
        grouping; unmapped nationalities go to ``Others``.
    routes, since
        Restrict the ranking window for ``top_k`` (defaults: all routes, all months).

    Returns
    -------
    xarray.Dataset
        The panel with ``detections`` replaced by ``detections(month, route, group)``
        and a ``group_of(nationality)`` variable recording the mapping.
    """
    det = panel["detections"]
    nats = [str(n) for n in det["nationality"].values]
    mapping: dict[str, str]
    if isinstance(grouping, Mapping):
        mapping = {str(k): str(v) for k, v in grouping.items()}
        label = "user mapping"
    elif isinstance(grouping, Path) or (isinstance(grouping, str) and grouping.endswith(".csv")):
        mapping = _read_mapping_csv(Path(grouping))
        label = f"mapping file {grouping}"
    elif grouping == REPORT_GROUPING:
        mapping = {n: ("UkrRussBel" if n in UKRRUSSBEL else other_label) for n in nats}
        label = REPORT_GROUPING
    elif grouping == "top_k":
        if not top_k or top_k < 1:
            raise ValueError("grouping 'top_k' needs top_k >= 1")
        sel = det if routes is None else det.sel(route=routes)
        if since is not None:
            sel = sel.sel(month=slice(pd.Timestamp(since), None))
        totals = (
            sel.sum(["month", "route"]).to_series().sort_values(ascending=False, kind="mergesort")
        )
        top = list(totals.index[:top_k])
        mapping = {n: (n if n in top else other_label) for n in nats}
        label = f"top_{top_k}"
    elif grouping == "none":
        mapping = {n: n for n in nats}
        label = "none"
    else:
        raise ValueError(
            f"unknown grouping {grouping!r}; expected 'ukrrussbel', 'top_k', 'none', "
            "a mapping or a CSV path"
        )
    groups_of = np.array([mapping.get(n, other_label) for n in nats], dtype=object)
    order = list(dict.fromkeys(g for g in _group_order(groups_of, other_label)))
    group_of = xr.DataArray(groups_of, coords={"nationality": nats}, dims="nationality")
    grouped = det.groupby(group_of.rename("group")).sum(min_count=1).reindex(group=order)
    out = panel.drop_vars("detections").drop_dims("nationality", errors="ignore")
    out["detections"] = grouped.transpose("month", "route", "group")
    out["detections"].attrs = dict(det.attrs)
    out["group_of"] = group_of.astype(str)
    out.attrs["grouping"] = label
    return out


def _group_order(groups: np.ndarray, other_label: str) -> list[str]:
    seen = list(dict.fromkeys(str(g) for g in groups))
    named = sorted(g for g in seen if g != other_label)
    if "UkrRussBel" in named:
        named.remove("UkrRussBel")
        named.insert(0, "UkrRussBel")
    return named + ([other_label] if other_label in seen else [])


def _read_mapping_csv(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise InputError(path, "grouping file not found")
    df = pd.read_csv(path, dtype=str)
    missing = {"nationality", "group"} - set(df.columns)
    if missing:
        raise InputError(
            path, f"expected columns 'nationality,group'; missing {sorted(missing)}", row=1
        )
    dup = df["nationality"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(
            path,
            f"nationality {df['nationality'].iloc[i]!r} is mapped twice",
            row=i + 2,
            column="nationality",
        )
    return dict(zip(df["nationality"], df["group"], strict=True))


def panel_hash(ds: xr.Dataset, variables: list[str] | None = None) -> str:
    """sha256 over the values and coordinates of the given variables (default: all)."""
    h = hashlib.sha256()
    names = variables if variables is not None else [str(v) for v in ds.data_vars]
    for name in sorted(names):
        da = ds[name]
        h.update(name.encode())
        for dim in da.dims:
            h.update(np.asarray(da[dim].values).astype(str).tobytes())
        h.update(np.ascontiguousarray(np.asarray(da.values, dtype=float)).tobytes())
    return h.hexdigest()
