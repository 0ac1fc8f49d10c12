"""Build the embedded snapshot: raw official files -> derived monthly tables + MANIFEST.

``hybridflow data build --raw ../shared/data/raw`` runs :func:`build_snapshot`. The output
is deterministic (sorted rows, fixed float formatting, no build timestamps), so rebuilding
from the same raw files gives byte-identical tables; a test checks this.

The raw files themselves are never shipped: only the derived monthly tables below, each
listed in ``MANIFEST.json`` with the sha256 of every raw input it was built from, the
source, vintage, licence and attribution.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd

from hybridflow.errors import InputError
from hybridflow.io import atomic_dir, sha256_file
from hybridflow.months import format_month

SNAPSHOT_FORMAT = 1

#: Countries whose ACLED political-violence totals ship in the snapshot.
ACLED_COUNTRIES = ("Russia", "Ukraine", "Belarus")


@dataclass(frozen=True)
class RawInput:
    """One raw file the snapshot is built from, with what a user must know to reuse it."""

    relpath: str
    source: str
    licence: str
    attribution: str
    vintage: str


@dataclass(frozen=True)
class TableSpec:
    """One derived table: its file name, inputs and the function that makes it."""

    name: str
    filename: str
    inputs: tuple[RawInput, ...]
    make: Callable[[Path], pd.DataFrame]
    description: str
    notes: tuple[str, ...] = field(default_factory=tuple)


FRONTEX_ATTRIBUTION = (
    "Source: Frontex, European Border and Coast Guard Agency, 'Monthly detections of "
    "illegal border-crossings' (Migratory Map). Detections, not persons."
)
FRONTEX_LICENCE = (
    "No explicit licence stated in the workbook; Frontex publishes the data for public "
    "use with attribution. The copies used were taken from public repositories."
)
LOSSES_ATTRIBUTION = (
    "General Staff of the Armed Forces of Ukraine daily figures, compiled by Petro "
    "Ivaniuk, '2022-Ukraine-Russia-War-Dataset' (GitHub, MIT). Ukrainian official claims, "
    "not independently verified."
)
ACLED_ATTRIBUTION = "Armed Conflict Location & Event Data (ACLED), www.acleddata.com"
ACLED_LICENCE = (
    "ACLED Terms of Use and Attribution Policy (acleddata.com/terms-of-use); only "
    "aggregated monthly counts are shipped."
)


@functools.lru_cache(maxsize=2)
def _read_ibc(path: Path) -> pd.DataFrame:
    # Two tables come from the same workbook; parse it once per build.
    from hybridflow.data.sources import frontex

    return frontex.read_ibc_workbook(path)


def _ibc(raw: Path) -> pd.DataFrame:
    df = _read_ibc(raw / "frontex" / "ibc.xlsx")
    # Zeros are dropped to keep the snapshot small; the panel restores them over the
    # workbook's coverage. Revised cells are kept even when revised to zero, so the
    # correction stays visible (original_detections holds the workbook's value).
    keep = ["month", "route", "border_type", "nationality", "detections", "original_detections"]
    out = df.loc[(df["detections"] != 0) | df["revised"], keep].copy()
    out["original_detections"] = out["original_detections"].astype("Int64")
    return out


def _ibc_rows(raw: Path) -> pd.DataFrame:
    df = _read_ibc(raw / "frontex" / "ibc.xlsx")
    return df.groupby(["route", "border_type", "nationality"], as_index=False).agg(
        nationality_name=("nationality_name", "first"),
        first_month=("month", "min"),
        last_month=("month", "max"),
        total=("detections", "sum"),
    )


def _route_totals(raw: Path) -> pd.DataFrame:
    from hybridflow.data.sources import frontex

    return frontex.read_route_totals_json(raw / "frontex" / "frontex.json")


def _losses(raw: Path) -> pd.DataFrame:
    from hybridflow.data.sources import losses

    personnel = losses.monthly_increments(
        losses.read_losses_daily(raw / "losses" / "russia_losses_personnel.json"),
        columns=["personnel"],
    )
    equipment_daily = losses.read_losses_daily(raw / "losses" / "russia_losses_equipment.json")
    equipment = losses.monthly_increments(equipment_daily)
    equipment = equipment.drop(
        columns=[c for c in ("n_reports", "days_covered", "last_report_date") if c in equipment]
    )
    return personnel.merge(equipment, on="month", how="outer", validate="one_to_one")


def _acled_pv(raw: Path) -> pd.DataFrame:
    from hybridflow.data.sources import acled

    df = acled.read_pv_country_month_xlsx(raw / "acled" / "acled.xlsx")
    return df.loc[df["country"].isin(ACLED_COUNTRIES)].reset_index(drop=True)


def _acled_event_types(raw: Path) -> pd.DataFrame:
    from hybridflow.data.sources import acled

    return acled.read_event_type_monthly_csv(
        raw / "acled" / "acled_events_by_event_type_monthly_russia_ukraine_2021-01_2024-09.csv"
    )


def _territory(raw: Path) -> pd.DataFrame:
    from hybridflow.data.sources import territory

    live = territory.monthly_area(
        territory.read_liveuamap_csv(raw / "territory" / "liveuamap_territory.csv"),
        territory.LIVEUAMAP,
    )
    deep = territory.monthly_area(
        territory.read_deepstate_daily_csv(
            raw / "territory" / "deepstate_occupied_area_daily_derived.csv"
        ),
        territory.DEEPSTATE,
    )
    return pd.concat([live, deep], ignore_index=True)


IBC = RawInput(
    "frontex/ibc.xlsx",
    "Frontex 'Monthly detections of IBC' workbook, by route x border type x nationality",
    FRONTEX_LICENCE,
    FRONTEX_ATTRIBUTION,
    "FRAN data as of 2025-06-03 (Jan 2009 - Apr 2025)",
)
ROUTE_TOTALS = RawInput(
    "frontex/frontex.json",
    "Frontex route totals from Monthly_detections_of_IBC_2026_08_04.xlsx, extracted by "
    "PhilippeGuyard/notes-and-tones (MIT)",
    FRONTEX_LICENCE,
    FRONTEX_ATTRIBUTION,
    "FRAN data as of 2026-08-04 (Jan 2009 - Jun 2026)",
)
LOSSES_P = RawInput(
    "losses/russia_losses_personnel.json",
    "Ukrainian General Staff daily cumulative Russian personnel losses",
    "MIT (dataset repository); figures are Ukrainian official claims",
    LOSSES_ATTRIBUTION,
    "daily reports to 2026-08-08 (commit 37655f8)",
)
LOSSES_E = RawInput(
    "losses/russia_losses_equipment.json",
    "Ukrainian General Staff daily cumulative Russian equipment losses",
    "MIT (dataset repository); figures are Ukrainian official claims",
    LOSSES_ATTRIBUTION,
    "daily reports to 2026-08-08 (commit 37655f8)",
)
ACLED_PV = RawInput(
    "acled/acled.xlsx",
    "ACLED 'number of political violence events by country-month-year' (public aggregate)",
    ACLED_LICENCE,
    ACLED_ATTRIBUTION,
    "release of about mid-March 2026 (Jan 2017 - Mar 2026; last month partial)",
)
ACLED_ET = RawInput(
    "acled/acled_events_by_event_type_monthly_russia_ukraine_2021-01_2024-09.csv",
    "ACLED Explorer export by country x month x event type (via R package acledrsg, GPL>=3)",
    ACLED_LICENCE,
    ACLED_ATTRIBUTION,
    "exported 2024-10-24 (Jan 2021 - Sep 2024)",
)
LIVEUAMAP = RawInput(
    "territory/liveuamap_territory.csv",
    "Area of Ukraine held by Russia per Liveuamap, computed by conflict-investigations",
    "No licence file; 'give credit to the original authors' (liveuamap.com)",
    "Liveuamap (liveuamap.com), area series by conflict-investigations/liveuamap-analysis",
    "daily 2022-02-20 - 2025-01-16",
)
DEEPSTATE = RawInput(
    "territory/deepstate_occupied_area_daily_derived.csv",
    "Area of Ukraine held by Russia per DeepStateMap GeoJSON snapshots (geodesic km2)",
    "DeepStateMap data; snapshot repositories: none stated / GPL-3.0",
    "DeepStateMap.live, via DanielRose2310/deepstatemaps-history and cyterat/deepstate-map-data",
    "daily 2022-09-26 - 2026-08-22 (earlier rows flagged as a layer-structure break)",
)

TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "detections",
        "detections.csv",
        (IBC,),
        _ibc,
        "Monthly detections by route x border type x nationality (ISO3); zero rows omitted.",
        (
            "Known provisional values are corrected per tables/revisions.csv; "
            "original_detections holds the workbook value where a revision applied.",
        ),
    ),
    TableSpec(
        "detection_rows",
        "detection_rows.csv",
        (IBC,),
        _ibc_rows,
        "Every route x border type x nationality row of the workbook, with its coverage.",
    ),
    TableSpec(
        "route_totals",
        "route_totals.csv",
        (ROUTE_TOTALS,),
        _route_totals,
        "Monthly detections per route (all nationalities), newer vintage.",
        ("Used to extend route-level series past the nationality-level workbook.",),
    ),
    TableSpec(
        "losses",
        "losses_monthly.csv",
        (LOSSES_P, LOSSES_E),
        _losses,
        "Monthly increments of Russian personnel and equipment losses (claimed).",
    ),
    TableSpec(
        "acled_pv",
        "acled_pv_monthly.csv",
        (ACLED_PV,),
        _acled_pv,
        f"ACLED political-violence events per month for {', '.join(ACLED_COUNTRIES)}.",
    ),
    TableSpec(
        "acled_event_types",
        "acled_event_types_monthly.csv",
        (ACLED_ET,),
        _acled_event_types,
        "ACLED events and fatalities per month by event type, Russia and Ukraine.",
    ),
    TableSpec(
        "territory",
        "territory_monthly.csv",
        (LIVEUAMAP, DEEPSTATE),
        _territory,
        "Month-end area held by Russia in Ukraine and net monthly change, per tracker.",
    ),
)


def default_snapshot_dir() -> Path:
    """The snapshot directory shipped inside the package."""
    return Path(str(resources.files("hybridflow.data") / "snapshot"))


def _to_csv_text(df: pd.DataFrame) -> str:
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            if col == "month":
                out[col] = out[col].map(format_month)
            else:
                out[col] = out[col].dt.strftime("%Y-%m-%d")
    sort_cols = [
        c
        for c in (
            "month",
            "route",
            "border_type",
            "nationality",
            "country",
            "event_type",
            "tracker",
        )
        if c in out.columns
    ]
    if sort_cols:
        out = out.sort_values(sort_cols, kind="mergesort")
    # Fixed float format: regeneration must be byte-identical across runs.
    return str(out.to_csv(index=False, lineterminator="\n", float_format="%.6g"))


def build_snapshot(raw_dir: str | Path, out_dir: str | Path | None = None) -> dict[str, object]:
    """Regenerate the derived monthly tables and MANIFEST from the raw official files.

    Parameters
    ----------
    raw_dir
        Folder laid out like ``../shared/data/raw`` (``frontex/``, ``losses/``, ...).
    out_dir
        Where to write; defaults to the package's embedded snapshot. The folder is
        replaced atomically only when every table has been built.

    Returns
    -------
    dict
        The manifest that was written.
    """
    raw = Path(raw_dir)
    target = Path(out_dir) if out_dir is not None else default_snapshot_dir()
    for table in TABLES:
        for inp in table.inputs:
            if not (raw / inp.relpath).is_file():
                raise InputError(raw / inp.relpath, "raw input file not found")
    manifest: dict[str, object] = {
        "format": SNAPSHOT_FORMAT,
        "description": "Derived monthly tables built by `hybridflow data build`; "
        "raw inputs are identified by sha256.",
        "tables": {},
    }
    tables: dict[str, object] = {}
    _read_ibc.cache_clear()
    with atomic_dir(target) as tmp:
        for table in TABLES:
            df = table.make(raw)
            text = _to_csv_text(df)
            (tmp / table.filename).write_text(text, encoding="utf-8")
            months = df["month"] if "month" in df.columns else None
            tables[table.name] = {
                "file": table.filename,
                "description": table.description,
                "notes": list(table.notes),
                "rows": len(df),
                "columns": list(df.columns),
                "first_month": format_month(months.min()) if months is not None else None,
                "last_month": format_month(months.max()) if months is not None else None,
                "sha256": _sha256_text(text),
                "inputs": [
                    {
                        "file": inp.relpath,
                        "sha256": sha256_file(raw / inp.relpath),
                        "source": inp.source,
                        "vintage": inp.vintage,
                        "licence": inp.licence,
                        "attribution": inp.attribution,
                    }
                    for inp in table.inputs
                ],
            }
        manifest["tables"] = tables
        (tmp / "MANIFEST.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    return manifest


def _sha256_text(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_manifest(snapshot_dir: str | Path | None = None) -> dict[str, object]:
    """Read ``MANIFEST.json`` of a snapshot (default: the embedded one)."""
    path = Path(snapshot_dir or default_snapshot_dir()) / "MANIFEST.json"
    if not path.is_file():
        raise InputError(path, "snapshot manifest not found; run `hybridflow data build`")
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data
