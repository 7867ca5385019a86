"""Rows of a report's table → a keyed table of figures, its periods in time order. Pure.

A row is named by its ``key`` cells and its ``period`` cell; its figures are the
``values`` columns (by default every other named column). Column names are
matched ignoring case and spacing. The header is the first row that holds the
period and every key column, so a title or a note above the table is skipped.
Two rows with the same key and period keep the first (reports repeat a row for
a footnote now and then); ``FiguresTable.duplicates`` counts them.

Periods sort by their year, then the other numbers in them (months by name,
"H1", "Q3", "1st half"), then their text: "2010 (2nd half)" < "2011 (1st half)",
"Jul–Dec 2010" < "Jan–Jun 2011", "2011-06-30" < "2011-12-31".
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Final

from monitor.config.settings import FiguresSettings
from monitor.errors import FiguresError

Key = tuple[str, ...]
RowId = tuple[Key, str]  # (key cells, period)

_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
_MONTHS: Final = {
    name: n
    for n, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_TOKEN = re.compile(r"[a-z]+|\d+", re.I)
_ORDINAL = {"first": 1, "second": 2, "third": 3, "fourth": 4}


def period_order(period: str) -> tuple[int, tuple[int, ...], str]:
    """The sort key of a period label (see the module docstring)."""
    year_match = _YEAR.search(period)
    year = int(year_match.group()) if year_match else 0
    rest = period[: year_match.start()] + " " + period[year_match.end() :] if year_match else period
    numbers: list[int] = []
    for token in _TOKEN.findall(rest.casefold()):
        if token.isdigit():
            numbers.append(int(token))
        elif token in _MONTHS:
            numbers.append(_MONTHS[token])
        elif token in _ORDINAL:
            numbers.append(_ORDINAL[token])
        elif len(token) == 1 and token in "hq":
            continue  # "H1", "Q3": the number that follows is the part of the year
    return year, tuple(numbers), period.casefold()


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class FiguresTable:
    """The figures of one capture: (key, period) → one text per value column."""

    key_names: tuple[str, ...]
    period_name: str
    columns: tuple[str, ...]
    rows: dict[RowId, tuple[str, ...]]
    duplicates: int = 0
    periods: tuple[str, ...] = field(default=())  # in time order

    def value(self, row: RowId, column: str) -> str | None:
        """The text of one figure; None when the row or the column is not there."""
        values = self.rows.get(row)
        if values is None or column not in self.columns:
            return None
        return values[self.columns.index(column)]

    def keys(self) -> list[Key]:
        return sorted({key for key, _ in self.rows})

    def canonical(self) -> bytes:
        """Deterministic bytes of the table (for its digest)."""
        data: dict[str, Any] = {
            "key": list(self.key_names),
            "period": self.period_name,
            "columns": list(self.columns),
            "rows": [[list(k), p, list(v)] for (k, p), v in sorted(self.rows.items())],
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def digest(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


def _find(header: Sequence[str], name: str) -> int | None:
    folded = [_fold(h) for h in header]
    wanted = _fold(name)
    return folded.index(wanted) if wanted in folded else None


def _picker(indexes: Sequence[int]) -> Callable[[Sequence[str]], tuple[str, ...]]:
    """A function taking the cells at ``indexes`` as a tuple (``itemgetter`` is C-fast,
    but returns a bare value for one index)."""
    if not indexes:
        return lambda cells: ()
    if len(indexes) == 1:
        only = indexes[0]
        return lambda cells: (cells[only],)
    return itemgetter(*indexes)


def build_table(rows: Sequence[Sequence[str]], settings: FiguresSettings) -> FiguresTable:
    """The keyed table of ``rows``; raises ``FiguresError`` when a named column is missing."""
    needed = (settings.period, *settings.key)
    header_at = None
    for index, row in enumerate(rows[:50]):
        if all(_find(row, name) is not None for name in needed):
            header_at = index
            break
    if header_at is None:
        first = ", ".join(repr(c) for c in (rows[0] if rows else [])[:12]) or "no rows"
        missing = [n for n in needed if not rows or _find(rows[0], n) is None]
        raise FiguresError(
            f"the table has no header row with the columns {', '.join(map(repr, missing))} "
            f"(first row: {first})"
        )
    header = [" ".join(h.split()) for h in rows[header_at]]
    period_at = _find(header, settings.period)
    key_at = [_find(header, name) for name in settings.key]
    assert period_at is not None and None not in key_at  # found above
    taken = {period_at, *(i for i in key_at if i is not None)}
    if settings.values:
        value_at = []
        for name in settings.values:
            found = _find(header, name)
            if found is None:
                raise FiguresError(
                    f"the table has no value column {name!r} (columns: "
                    f"{', '.join(repr(h) for h in header[:20])})"
                )
            value_at.append(found)
    else:
        value_at = [i for i, name in enumerate(header) if name and i not in taken]
    columns = tuple(header[i] for i in value_at)
    width = len(header)
    table: dict[RowId, tuple[str, ...]] = {}
    duplicates = 0
    key_of = _picker([i for i in key_at if i is not None])
    values_of = _picker(value_at)
    for raw in rows[header_at + 1 :]:
        cells = raw if len(raw) >= width else [*raw, *([""] * (width - len(raw)))]
        key = key_of(cells)
        period = cells[period_at]
        if not period or not any(key):
            continue  # a note, a subtotal label, a spacer
        row_id = (key, period)
        if row_id in table:
            duplicates += 1
            continue
        table[row_id] = values_of(cells)
    periods = tuple(sorted({p for _, p in table}, key=period_order))
    return FiguresTable(
        key_names=tuple(header[i] for i in key_at if i is not None),
        period_name=header[period_at],
        columns=columns,
        rows=table,
        duplicates=duplicates,
        periods=periods,
    )
