"""Write the panel out: netCDF (one file) or CSV (one long table per variable)."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from hybridflow.io import atomic_dir, atomic_path
from hybridflow.months import format_month


def export_panel(panel: xr.Dataset, out: str | Path, fmt: str = "netcdf") -> Path:
    """Write ``panel`` to ``out`` atomically.

    ``fmt="netcdf"`` writes one file. ``fmt="csv"`` writes a folder with one long CSV per
    variable (``month`` as ``YYYY-MM``, one column per other dim, then ``value``), so
    a spreadsheet user can open each.
    """
    out = Path(out)
    if fmt == "netcdf":
        ds = panel.copy()
        for name in ds.data_vars:
            if ds[name].dtype == bool:
                ds[name] = ds[name].astype("int8")
        with atomic_path(out) as tmp:
            ds.to_netcdf(tmp, engine="h5netcdf")
        return out
    if fmt == "csv":
        with atomic_dir(out) as tmp:
            for name, da in panel.data_vars.items():
                df = da.to_dataframe(name="value").reset_index()
                if "month" in df.columns:
                    df["month"] = df["month"].map(format_month)
                df = df.dropna(subset=["value"])
                df.to_csv(tmp / f"{name}.csv", index=False, lineterminator="\n")
        return out
    raise ValueError(f"unknown export format {fmt!r}; expected 'csv' or 'netcdf'")
