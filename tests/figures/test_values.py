"""Every way reports write a figure: its text kept, its number or range read, blanks not 0."""

from __future__ import annotations

from decimal import Decimal

import pytest

from monitor.figures.values import parse_value

D = Decimal


@pytest.mark.parametrize(
    ("text", "low", "high", "unit"),
    [
        ("1,234", D(1234), D(1234), ""),
        ("1 234", D(1234), D(1234), ""),
        ("1\u00a0234", D(1234), D(1234), ""),
        ("1,234,567.5", D("1234567.5"), D("1234567.5"), ""),
        ("5.5", D("5.5"), D("5.5"), ""),
        ("0", D(0), D(0), ""),
        ("97%", D(97), D(97), "%"),
        ("12*", D(12), D(12), ""),
        ("12 †", D(12), D(12), ""),
        ("12 [1]", D(12), D(12), ""),
        ("< 10", D(0), D(10), ""),
        ("<10", D(0), D(10), ""),
        ("fewer than 10", D(0), D(10), ""),
        ("0 - 249", D(0), D(249), ""),
        ("0–249", D(0), D(249), ""),
        ("1,000 - 1,499", D(1000), D(1499), ""),
        ("> 1000", D(1000), None, ""),
        ("1000+", D(1000), None, ""),
    ],
)
def test_numbers_and_ranges(text: str, low: Decimal, high: Decimal | None, unit: str) -> None:
    value = parse_value(text)
    assert (value.text, value.low, value.high, value.unit) == (text, low, high, unit)
    assert value.reported


@pytest.mark.parametrize("text", ["", "  ", "-", "—", "n/a", "N/A", "not reported"])
def test_blanks_are_not_reported_and_not_zero(text: str) -> None:
    value = parse_value(text)
    assert not value.reported
    assert value.number is None and not value.is_zero() and not value.is_positive()


def test_a_range_is_neither_zero_nor_positive_unless_it_says_so() -> None:
    assert not parse_value("0 - 249").is_zero() and not parse_value("0 - 249").is_positive()
    assert parse_value("1 - 249").is_positive()
    assert parse_value("0").is_zero() and parse_value("45").is_positive()
    assert parse_value("0 - 249").midpoint == D("124.5")


def test_words_stay_text() -> None:
    value = parse_value("pending review")
    assert value.reported and value.low is None and value.number is None


def test_reformatting_is_not_a_different_figure() -> None:
    assert parse_value("1,234").same_figure(parse_value("1234"))
    assert parse_value("12*").same_figure(parse_value("12"))
    assert not parse_value("45").same_figure(parse_value("48"))
    assert not parse_value("< 10").same_figure(parse_value("10"))
    assert not parse_value("").same_figure(parse_value("0"))  # not reported is not 0
    assert parse_value("Pending").same_figure(parse_value("pending"))


def test_json_view_has_no_decimal() -> None:
    assert parse_value("5.5").as_json() == {"text": "5.5", "reported": True, "number": 5.5}
    assert parse_value("> 1000").as_json() == {
        "text": "> 1000",
        "reported": True,
        "low": 1000,
        "high": None,
    }
