"""Error types shared by every stage.

Every problem with a user's input is raised as :class:`InputError`, whose message is one
line naming the file, sheet, row and column and what was expected. The CLI turns it into
exit code 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any


class HybridflowError(Exception):
    """Base class for errors hybridflow raises on purpose."""


class InputError(HybridflowError, ValueError):
    """Bad input data: names where the problem is and what was expected.

    Parameters
    ----------
    path
        The file (or directory) being read.
    problem
        What is wrong, e.g. ``"expected a non-negative integer count, got 'abc'"``.
    sheet, row, column
        Where in the file, when known. ``row`` is the 1-based row number as a user sees it
        in a spreadsheet or text editor (header row included).
    """

    def __init__(
        self,
        path: str | Path | None,
        problem: str,
        *,
        sheet: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        self.sheet = sheet
        self.row = row
        self.column = column
        super().__init__(self._format())

    def _format(self) -> str:
        where: list[str] = []
        if self.path is not None:
            where.append(str(self.path))
        if self.sheet is not None:
            where.append(f"sheet '{self.sheet}'")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        prefix = ", ".join(where)
        # One line, always: newlines in the problem text would break log parsing.
        problem = " ".join(self.problem.split())
        return f"{prefix}: {problem}" if prefix else problem


class SpecError(HybridflowError, ValueError):
    """A model or study spec is invalid (unknown field, unknown kernel, bad prior...)."""


def spec_error(
    errors: Iterable[Mapping[str, Any]],
    *,
    what: str,
    source: str | Path | None,
    format_error: Callable[[dict[str, Any]], str],
) -> SpecError:
    """One :class:`SpecError` listing every distinct validation problem of a file.

    ``errors`` are pydantic's ``ValidationError.errors()``; ``format_error`` turns one into
    ``"field.path: what was wrong"``; ``what`` names the kind of file ("model spec").
    """
    lines: list[str] = []
    for err in errors:
        line = format_error(dict(err))
        if line not in lines:
            lines.append(line)
    where = f"{source}: " if source is not None else ""
    if len(lines) == 1:
        return SpecError(f"{where}invalid {what}: {lines[0]}")
    body = "\n".join(f"  - {line}" for line in lines)
    return SpecError(f"{where}invalid {what} ({len(lines)} problems):\n{body}")


class ConvergenceError(HybridflowError, RuntimeError):
    """A fit failed its diagnostics gate and the caller asked for ``strict`` behaviour."""


class OfflineError(HybridflowError, OSError):
    """A download was needed but the network (or the server) could not be reached."""
