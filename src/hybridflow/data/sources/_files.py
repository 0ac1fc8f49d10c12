"""File reading shared by the source readers: one wording for every unreadable file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hybridflow.errors import InputError


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
