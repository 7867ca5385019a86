"""One cell of a report's table → its text and, where it has one, a number or a range. Pure.

Reports write their figures in many ways; each keeps its text (what the report
said, shown and stored as is) and gains what can be computed from it:

=================  ===================================  =====================
text               reads as                             note
=================  ===================================  =====================
``1,234``          1234                                 also ``1 234``, ``1234.0``
``5.5``            5.5
``97%``            97                                   ``unit`` is ``%``
``12*``            12                                   footnote marks dropped
``< 10``           range 0 … 10                         also ``<10``, ``fewer than 10``
``> 1000``         range 1000 … (no upper bound)        also ``1000+``
``0 - 249``        range 0 … 249                        also ``0–249``, ``1,000-1,499``
(blank)            not reported                         also ``-``, ``n/a``, ``N/A``
``pending``        text only                            no number
=================  ===================================  =====================

A blank is *not reported*, never 0: a country missing from a half-year is not a
country with no requests. Numbers are ``Decimal`` so that ``0.1 + 0.2`` and
``1,234`` stay exact; events store the text only (they allow no floats).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

NOT_REPORTED: Final = frozenset({"", "-", "–", "—", "n/a", "na", "n.a.", "not reported"})

_NUMBER = r"\d{1,3}(?:[, \u00a0\u202f]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_FOOTNOTE = re.compile(r"(?:\s*(?:[*†‡§¶^#]+|\[\w{1,3}\]|\(\w\)|[¹²³⁴⁵⁶⁷⁸⁹⁰]+))+$")
_SINGLE = re.compile(rf"(?P<sign>[-−]?)\s*(?P<n>{_NUMBER})\s*(?P<unit>%?)")
_BELOW = re.compile(rf"(?:<|≤|<=|fewer than|less than|under|below)\s*(?P<n>{_NUMBER})", re.I)
_ABOVE = re.compile(
    rf"(?:>|≥|>=|more than|over|above)\s*(?P<n>{_NUMBER})|(?P<m>{_NUMBER})\s*\+", re.I
)
_RANGE = re.compile(rf"(?P<a>{_NUMBER})\s*(?:-|–|—|to)\s*(?P<b>{_NUMBER})\s*(?P<unit>%?)", re.I)


def _number(text: str) -> Decimal:
    return Decimal(re.sub(r"[, \u00a0\u202f]", "", text))


@dataclass(frozen=True, slots=True)
class FigureValue:
    """A cell: its text, and its number (``low == high``) or range, when it has one."""

    text: str
    low: Decimal | None = None
    high: Decimal | None = None  # None with a low: no upper bound ("> 1000")
    unit: str = ""  # "%" or ""

    @property
    def reported(self) -> bool:
        return self.text.strip().casefold() not in NOT_REPORTED

    @property
    def number(self) -> Decimal | None:
        """The exact number, or None for a range or a text."""
        return self.low if self.low is not None and self.low == self.high else None

    @property
    def is_range(self) -> bool:
        return self.low is not None and self.low != self.high

    @property
    def midpoint(self) -> Decimal | None:
        """The number, or the middle of a bounded range (for charts and percentages)."""
        if self.low is None:
            return None
        if self.high is None:
            return self.low
        return (self.low + self.high) / 2

    def is_zero(self) -> bool:
        """Known to be 0: an exact 0, or a range whose top is 0."""
        return self.high is not None and self.high == 0

    def is_positive(self) -> bool:
        """Known to be above 0: its lowest possible value is above 0."""
        return self.low is not None and self.low > 0

    def same_figure(self, other: FigureValue) -> bool:
        """Whether two cells say the same thing: the same number or range, else the same text.

        ``1,234`` and ``1234`` are the same figure written twice; a report that reformats
        its numbers has not restated them.
        """
        if self.low is not None or other.low is not None:
            return (self.low, self.high, self.unit) == (other.low, other.high, other.unit)
        return " ".join(self.text.split()).casefold() == " ".join(other.text.split()).casefold()

    def as_json(self) -> dict[str, object]:
        """JSON-safe view: text, and number or low/high as ints or floats."""
        out: dict[str, object] = {"text": self.text, "reported": self.reported}
        if self.number is not None:
            out["number"] = plain(self.number)
        elif self.low is not None:
            out["low"] = plain(self.low)
            out["high"] = plain(self.high) if self.high is not None else None
        if self.unit:
            out["unit"] = self.unit
        return out


def plain(number: Decimal) -> int | float:
    """A Decimal as JSON would like it: an int when whole."""
    return int(number) if number == number.to_integral_value() else float(number)


def parse_value(text: str) -> FigureValue:
    """The meaning of one cell's text (see the module table)."""
    cleaned = " ".join(text.split())
    if cleaned.casefold() in NOT_REPORTED:
        return FigureValue(text)
    body = _FOOTNOTE.sub("", cleaned).strip()
    try:
        if found := _SINGLE.fullmatch(body):
            value = _number(found["n"])
            if found["sign"]:
                value = -value
            return FigureValue(text, value, value, found["unit"])
        if found := _RANGE.fullmatch(body):
            low, high = _number(found["a"]), _number(found["b"])
            if low <= high:
                return FigureValue(text, low, high, found["unit"])
        if found := _BELOW.fullmatch(body):
            return FigureValue(text, Decimal(0), _number(found["n"]))
        if found := _ABOVE.fullmatch(body):
            return FigureValue(text, _number(found["n"] or found["m"]), None)
    except InvalidOperation:
        pass
    return FigureValue(text)
