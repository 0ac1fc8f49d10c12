"""Numbers for readers: thousands separators, sensible digits, never scientific notation."""

from __future__ import annotations

import numpy as np
import pytest

from hybridflow.numbers import format_number, plain_numbers


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (12720.4, "12,720"),
        (1.272e04, "12,720"),
        (1234567, "1,234,567"),
        (np.int64(284004), "284,004"),
        (-12720.0, "-12,720"),
        (0.35, "0.35"),
        (3.2, "3.2"),
        (832.0, "832"),
        (12.345, "12.3"),
        (0.000123456, "0.000123"),
        (2.0e-5, "0.00002"),
        (999.96, "1,000"),
        (0.0, "0"),
        (-0.0, "0"),
        (np.float64(5.0), "5"),
        (7, "7"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


def test_format_number_digits_missing_and_infinite() -> None:
    assert format_number(4.0365, 4) == "4.037"
    assert format_number(None) == "n/a"
    assert format_number(float("nan"), missing="") == ""
    assert format_number(float("inf")) == "infinity"
    assert "e" not in format_number(1e21) and "e" not in format_number(1.5e-9)


def test_plain_numbers_rewrites_only_scientific_notation() -> None:
    assert plain_numbers("+1 SD of losses (1 SD = 1.272e+04)") == "+1 SD of losses (1 SD = 12,720)"
    assert (
        plain_numbers("p = 2.5E-05; counts up to 1e+07") == "p = 0.000025; counts up to 10,000,000"
    )
    # Hex digests, identifiers and plain numbers are not numbers in e-notation.
    for text in ("sha 3e45bc9d01aa", "fit 12e4567890", "h1e+05x", "1.5 and 12,720", "1e5"):
        assert plain_numbers(text) == text
