"""Numbers as a reader expects them: thousands separators, no scientific notation.

:func:`format_number` is the one formatter for numbers that reach a reader (the briefing,
its figures, driver units, command-line summaries); :func:`plain_numbers` rewrites
scientific notation already inside a text (e.g. a unit stored with an older fit).
"""

from __future__ import annotations

import math
import numbers
import re
from decimal import Decimal

__all__ = ["format_number", "plain_numbers"]

# What Python's "e"/"g" formats write: a mantissa, then e, a sign and two or three digits.
# The signed exponent keeps hex digests ("3e45bc...") and identifiers out.
_SCIENTIFIC_RE = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?[eE][-+]\d{2,3}(?![\w.])")


def format_number(value: float | int | None, digits: int = 3, *, missing: str = "n/a") -> str:
    """Format a number for a reader.

    Whole numbers and numbers of at least 1,000 in size are written as whole numbers with
    thousands separators (``12,720``, ``1,234,567``); smaller ones are rounded to
    ``digits`` significant digits without trailing zeros (``0.35``, ``3.2``, ``12.3``,
    ``0.000123``). Scientific notation is never used.

    Parameters
    ----------
    value
        The number; ``None`` and NaN give ``missing``.
    digits
        Significant digits for numbers below 1,000 in size.
    missing
        Text for a missing value.
    """
    if value is None:
        return missing
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{int(value):,d}"
    x = float(value)
    if math.isnan(x):
        return missing
    if math.isinf(x):
        return "infinity" if x > 0 else "-infinity"
    if abs(x) < 1000:
        # The "g" format rounds to significant digits (and may switch to e-notation);
        # Decimal writes the rounded value back out in positional notation.
        rounded = Decimal(f"{x:.{max(1, digits)}g}")
        x = float(rounded)
        if abs(x) < 1000:
            text = format(rounded, "f")
            return "0" if float(text) == 0 else text
    text = f"{x:,.0f}"
    return "0" if text == "-0" else text


def plain_numbers(text: str, digits: int = 4) -> str:
    """Rewrite every number in scientific notation inside ``text`` with :func:`format_number`.

    ``"1 SD = 1.272e+04"`` becomes ``"1 SD = 12,720"``; other text is left as it is.
    """
    return _SCIENTIFIC_RE.sub(lambda m: format_number(float(m.group(0)), digits), text)
