"""File reading shared by the source readers: one wording for every unreadable file."""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hybridflow.errors import InputError

_XLSX_MAGIC = b"PK\x03\x04"


def read_json(path: Path) -> Any:
    """The parsed JSON of ``path``.

    Raises
    ------
    InputError
        The file is missing or is not valid JSON (UTF-8).
    """
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not valid JSON ({exc})") from exc


def load_workbook(path: Path) -> Any:
    """Open ``path`` read-only or raise a one-line InputError saying why it cannot be read."""
    import openpyxl

    if not path.is_file():
        raise InputError(path, "file not found")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head != _XLSX_MAGIC:
        raise InputError(
            path,
            "not a readable .xlsx workbook (it does not start with the zip signature an .xlsx "
            "file has; is it a CSV or an old .xls file renamed to .xlsx?)",
        )
    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, OSError, ValueError) as exc:
        raise InputError(
            path, f"not a readable .xlsx workbook (truncated or corrupt: {exc})"
        ) from exc


def worksheet(wb: Any, path: Path, sheet: str) -> Any:
    """The sheet named ``sheet``, or an InputError listing the sheets there are."""
    if sheet not in wb.sheetnames:
        found = ", ".join(repr(s) for s in wb.sheetnames)
        raise InputError(path, f"no sheet named '{sheet}'; sheets found: {found}", sheet=sheet)
    ws = wb[sheet]
    # Some writers store a wrong <dimension> (e.g. "A1:A1"), which makes read-only mode stop
    # after the first row; reading without it costs nothing.
    ws.reset_dimensions()
    return ws


def iter_rows(ws: Any, path: Path, sheet: str) -> Iterator[tuple[Any, ...]]:
    """Rows as value tuples; a corrupt sheet part becomes an InputError."""
    try:
        yield from ws.iter_rows(values_only=True)
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, OSError) as exc:
        raise InputError(
            path, f"not a readable .xlsx workbook (corrupt sheet data: {exc})", sheet=sheet
        ) from exc


def cell_text(value: object) -> str:
    """A cell's text with runs of whitespace collapsed (an empty cell is '')."""
    return "" if value is None else " ".join(str(value).split())
