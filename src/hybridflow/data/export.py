"""Write the panel out: netCDF (one file), one tidy CSV file, or a folder of CSV files.

The target decides the CSV layout: ``--out panel.csv`` writes that one file (one long table
for every variable), a path without a suffix (or an existing folder) writes one long table
per variable into that folder. A target that fits neither is refused before anything is
written (:func:`check_export_target`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
import xarray as xr

from hybridflow.errors import InputError
from hybridflow.io import atomic_dir, atomic_open, atomic_path
from hybridflow.months import format_month

__all__ = ["FORMATS", "check_export_target", "export_panel"]

#: The formats :func:`export_panel` writes.
FORMATS: tuple[str, ...] = ("netcdf", "csv")

Layout = Literal["netcdf", "csv_file", "csv_folder"]


def check_export_target(out: str | Path, fmt: str) -> Layout:
    """Say what :func:`export_panel` will write at ``out``, or refuse before writing.

    Returns
    -------
    str
        ``"netcdf"`` (one file), ``"csv_file"`` (``out`` ends in ``.csv``: one tidy table)
        or ``"csv_folder"`` (``out`` has no suffix or is a folder: one table per variable).

    Raises
    ------
    ValueError
        ``fmt`` is not ``"csv"`` or ``"netcdf"``.
    InputError
        ``out`` does not suit ``fmt`` (e.g. ``panel.nc`` with ``csv``, ``panel.csv`` with
        ``netcdf``, an existing folder where a file is to go).
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected 'csv' or 'netcdf'")
    if fmt == "netcdf":
        if out.is_dir():
            raise InputError(out, "is a folder; --format netcdf writes one file, e.g. panel.nc")
        if suffix == ".csv":
            raise InputError(
                out,
                "--format netcdf writes a netCDF file; give a path ending in "
                ".nc, or use --format csv for a .csv file",
            )
        return "netcdf"
    if suffix == ".csv":
        if out.is_dir():
            raise InputError(
                out,
                "is a folder; --format csv writes one tidy .csv file here, "
                "so remove the folder or choose another path",
            )
        return "csv_file"
    if out.is_dir() or (not suffix and not out.exists()):
        return "csv_folder"
    what = "an existing file" if out.is_file() and not suffix else f"a path ending in {suffix}"
    raise InputError(
        out,
        f"--format csv writes one .csv file (e.g. panel.csv) or a folder of "
        f"CSV files (a path without a suffix); got {what}",
    )


def _long_tables(panel: xr.Dataset) -> list[tuple[str, pd.DataFrame]]:
    """One long table per variable: ``month`` as ``YYYY-MM``, its other dims, ``value``."""
    tables = []
    for name, da in panel.data_vars.items():
        df = da.to_dataframe(name="value").reset_index()
        if "month" in df.columns:
            df["month"] = df["month"].map(format_month)
        tables.append((str(name), df.dropna(subset=["value"])))
    return tables


def _tidy(panel: xr.Dataset) -> pd.DataFrame:
    """Every variable in one table: ``variable``, every dim (blank where it does not
    apply), ``value`` (true/false flags as 1/0)."""
    frames = []
    dims: list[str] = []
    for name, df in _long_tables(panel):
        if df["value"].dtype == bool:
            df = df.assign(value=df["value"].astype("int8"))
        frames.append(df.assign(variable=name))
        dims += [c for c in df.columns if c not in ("value", *dims)]
    columns = ["variable", *dims, "value"]
    return pd.concat(frames, ignore_index=True)[columns]


def export_panel(panel: xr.Dataset, out: str | Path, fmt: str = "netcdf") -> Path:
    """Write ``panel`` to exactly ``out``, atomically.

    ``fmt="netcdf"`` writes one netCDF file (flags as int8). ``fmt="csv"`` writes, for an
    ``out`` ending in ``.csv``, that one tidy file (columns ``variable``, ``month`` as
    ``YYYY-MM``, the other dims, ``value``); for an ``out`` without a suffix, a folder with
    one long CSV per variable (``month``, its other dims, ``value``), so a spreadsheet user
    can open each. :func:`check_export_target` refuses any other target first.
    """
    out = Path(out)
    layout = check_export_target(out, fmt)
    if layout == "netcdf":
        ds = panel.copy()
        for name in ds.data_vars:
            if ds[name].dtype == bool:
                ds[name] = ds[name].astype("int8")
        with atomic_path(out) as tmp:
            ds.to_netcdf(tmp, engine="h5netcdf")
    elif layout == "csv_file":
        with atomic_open(out) as fh:
            _tidy(panel).to_csv(fh, index=False, lineterminator="\n")
    else:
        with atomic_dir(out) as tmp:
            for name, df in _long_tables(panel):
                df.to_csv(tmp / f"{name}.csv", index=False, lineterminator="\n")
    return out
