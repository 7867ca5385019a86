"""What ``monitor figures``, the API and the web chart show: one row per (key, period). Pure.

A row holds the figures as the report gave them in the capture current at the
chosen time (the latest by default), when the row was first recorded, and its
restatements (each with old and new figure, the capture that showed it). Rows
the report has withdrawn are listed too, with the figures they last had.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.figures.history import CaptureMark, FiguresHistory, Restated, Withdrawn
from monitor.figures.model import FiguresTable, Key, period_order
from monitor.figures.values import FigureValue, parse_value, plain


@dataclass(frozen=True, slots=True)
class FigureRow:
    key: tuple[tuple[str, str], ...]  # (column, cell) of each key column
    period: str
    values: tuple[tuple[str, FigureValue], ...]
    first_seen: CaptureMark | None
    restatements: tuple[Restated, ...]
    withdrawn: Withdrawn | None = None

    @property
    def key_cells(self) -> Key:
        return tuple(cell for _, cell in self.key)

    def to_json(self, history: FiguresHistory) -> dict[str, object]:
        return {
            "key": dict(self.key),
            "period": self.period,
            "values": {column: value.as_json() for column, value in self.values},
            "first_seen": _mark_json(self.first_seen),
            "restated": bool(self.restatements),
            "restatements": [_restated_json(r, history) for r in self.restatements],
            "withdrawn": (
                {
                    "seq": self.withdrawn.seq,
                    "change_seq": self.withdrawn.change_seq,
                    "recorded_at": self.withdrawn.recorded_at,
                }
                if self.withdrawn
                else None
            ),
        }


def _mark_json(mark: CaptureMark | None) -> dict[str, object] | None:
    if mark is None:
        return None
    return {"seq": mark.seq, "fetched_at": mark.fetched_at, "recorded_at": mark.recorded_at}


def _restated_json(r: Restated, history: FiguresHistory) -> dict[str, object]:
    capture = history.capture(r.change_seq)
    shown: dict[str, object] = {n: getattr(r, n) for n in ("column", "old", "new", "seq")}
    shown["change_seq"] = r.change_seq
    shown["recorded_at"] = capture.recorded_at if capture else r.recorded_at
    return shown


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def check_filters(
    table: FiguresTable, where: Sequence[tuple[str, str]], columns: Sequence[str]
) -> list[str]:
    """The value columns to show; ValueError naming a column the table lacks."""
    names = [*table.key_names, table.period_name]
    for column, _ in where:
        if _fold(column) not in {_fold(n) for n in names}:
            raise ValueError(
                f"no key or period column {column!r}; --where can use "
                + ", ".join(repr(n) for n in names)
            )
    if not columns:
        return list(table.columns)
    chosen = []
    for wanted in columns:
        found = next((c for c in table.columns if _fold(c) == _fold(wanted)), None)
        if found is None:
            raise ValueError(
                f"no value column {wanted!r}; the columns are "
                + ", ".join(repr(c) for c in table.columns)
            )
        chosen.append(found)
    return chosen


def _selected(
    key_names: Sequence[str],
    period_name: str,
    row: tuple[Key, str],
    where: Iterable[tuple[str, str]],
) -> bool:
    key, period = row
    folded = [_fold(n) for n in key_names]
    for column, wanted in where:
        name = _fold(column)
        cell = period if name == _fold(period_name) else key[folded.index(name)]
        if _fold(cell) != _fold(wanted):
            return False
    return True


def figure_rows(
    history: FiguresHistory,
    table: FiguresTable,
    *,
    where: Sequence[tuple[str, str]] = (),
    columns: Sequence[str] = (),
) -> list[FigureRow]:
    """The rows of ``table`` (and those withdrawn before it) that ``where`` selects."""
    shown = check_filters(table, where, columns)
    first_capture = history.captures[0] if history.captures else None
    rows: list[FigureRow] = []
    ids = set(table.rows) | set(history.withdrawn)
    for row_id in ids:
        if not _selected(table.key_names, table.period_name, row_id, where):
            continue
        key, period = row_id
        withdrawn = history.withdrawn.get(row_id) if row_id not in table.rows else None
        if row_id not in table.rows and withdrawn is None:
            continue
        if withdrawn is not None:
            values = tuple((c, parse_value(withdrawn.values.get(c, ""))) for c in shown)
        else:
            values = tuple((c, parse_value(table.value(row_id, c) or "")) for c in shown)
        restatements = tuple(r for r in history.restated.get(row_id, ()) if r.column in shown)
        first = first_capture
        if period in history.published:
            first = history.capture(history.published[period]) or first
        added = [r for r in history.restated.get(row_id, ()) if not parse_value(r.old).reported]
        if period not in history.published and added:
            first = history.capture(added[0].change_seq) or first
        rows.append(
            FigureRow(
                key=tuple(zip(table.key_names, key, strict=True)),
                period=period,
                values=values,
                first_seen=first,
                restatements=restatements,
                withdrawn=withdrawn,
            )
        )
    rows.sort(key=lambda r: (r.key_cells, period_order(r.period)))
    return rows


def figures_document(
    source_id: str,
    as_of: str | None,
    capture: CaptureMark,
    table: FiguresTable,
    history: FiguresHistory,
    rows: Sequence[FigureRow],
) -> dict[str, object]:
    """The JSON answer of ``monitor figures --json`` and ``GET /api/sources/{id}/figures``."""
    return {
        "source_id": source_id,
        "as_of": as_of,
        "capture": {
            "seq": capture.seq,
            "fetched_at": capture.fetched_at,
            "raw_sha256": capture.raw_sha256,
        },
        "key": list(table.key_names),
        "period": table.period_name,
        "columns": list(table.columns),
        "rows": [row.to_json(history) for row in rows],
    }


CSV_TAIL = (
    "column",
    "value",
    "number",
    "low",
    "high",
    "first_seen",
    "restated_from",
    "withdrawn_at",
)


def rows_csv(rows: Sequence[FigureRow], table: FiguresTable) -> str:
    """Long-format CSV: one line per (key, period, column)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*table.key_names, table.period_name, *CSV_TAIL])
    for row in rows:
        for column, value in row.values:
            olds = [r.old for r in row.restatements if r.column == column]
            writer.writerow(
                [
                    *row.key_cells,
                    row.period,
                    column,
                    value.text,
                    _num(value.number),
                    _num(value.low) if value.number is None else "",
                    _num(value.high) if value.number is None else "",
                    row.first_seen.fetched_at if row.first_seen else "",
                    " → ".join(olds),
                    row.withdrawn.recorded_at if row.withdrawn else "",
                ]
            )
    return out.getvalue()


def _num(value: object) -> str:
    from decimal import Decimal

    return str(plain(value)) if isinstance(value, Decimal) else ""


def rows_text(rows: Sequence[FigureRow]) -> str:
    """One line per row for a terminal: key · period: column value …, restatements after."""
    lines = []
    for row in rows:
        parts = []
        for column, value in row.values:
            shown = value.text if value.reported else "not reported"
            olds = [r for r in row.restatements if r.column == column]
            if olds:
                shown += (
                    " (restated from " + " → ".join(r.old or "not reported" for r in olds) + ")"
                )
            parts.append(f"{column}: {shown}")
        head = " · ".join([*row.key_cells, row.period])
        tail = "  [withdrawn]" if row.withdrawn else ""
        lines.append(f"{head}  " + "; ".join(parts) + tail)
    return "\n".join(lines) + ("\n" if lines else "")
