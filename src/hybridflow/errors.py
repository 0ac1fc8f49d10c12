"""Error types shared by every stage.

Every problem with a user's input is raised as :class:`InputError`, whose message is one
line naming the file, sheet, row and column and what was expected. The CLI turns it into
exit code 2.
"""

from __future__ import annotations

from pathlib import Path


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
    """A model, scenario or study spec is invalid (unknown field, unknown kernel, bad prior...).

    :mod:`hybridflow.schema` raises it with one line per problem.
    """


class ConvergenceError(HybridflowError, RuntimeError):
    """A fit failed its diagnostics gate and the caller asked for ``strict`` behaviour."""


class OfflineError(HybridflowError, OSError):
    """A download was needed but the network (or the server) could not be reached."""
