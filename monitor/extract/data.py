"""JSON and CSV → text pieces, rendered canonically so that order is never a change.

Pure. JSON: one ``field`` piece per leaf, ``path.to.key: value``, object keys
sorted (a key-order change is not a change; array order is kept, it is data).
CSV: one ``record`` piece per row, ``key · col: value · col: value``, rows
sorted by their key (a reordering is not a change).

``json_path`` grammar (a small, documented subset of JSONPath)::

    path     := ["$"] step*            e.g. "data.reports[*].country"
    step     := "." name | name (first step only) | "[" index "]" | "[*]" | ".*"
               | '["' any key, JSON-escaped '"]'
    index    := integer (negative counts from the end)

``[*]`` and ``.*`` take every item of an array or every value of an object
(in key order). A path that matches nothing leaves the extraction empty with
``select_matched`` False. Rendered paths are concrete, from the document root:
``data.reports[3].country: Hong Kong``.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from monitor.extract.blocks import Piece, normalize_text

log = logging.getLogger(__name__)


class _Wildcard:
    """``[*]`` or ``.*``: every item of an array, every value of an object."""

    def __repr__(self) -> str:
        return "*"


WILDCARD: Final = _Wildcard()
Step = str | int | _Wildcard  # a key, an index, or WILDCARD

_STEP = re.compile(
    r"""\.?(?P<name>[^.\[\]"]+)|\[(?P<index>-?\d+)\]|\[(?P<star>\*)\]|\[(?P<quoted>"(?:[^"\\]|\\.)*")\]"""
)
_PLAIN_KEY = re.compile(r"[^.\[\]\s:\"]+")
RECORD_SEPARATOR: Final = " · "


class JsonPathError(ValueError):
    """A ``json_path`` that does not follow the documented grammar."""


def parse_json_path(path: str) -> tuple[Step, ...]:
    """The steps of a ``json_path``; raises ``JsonPathError`` (a ValueError) if malformed."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[Step] = []
    pos = 0
    while pos < len(text):
        match = _STEP.match(text, pos)
        if match is None:
            raise JsonPathError(f"json_path {path!r}: cannot read {text[pos:]!r}")
        if match.group("name") is not None:
            name = match.group("name").strip()
            steps.append(WILDCARD if name == "*" else name)
        elif match.group("index") is not None:
            steps.append(int(match.group("index")))
        elif match.group("star") is not None:
            steps.append(WILDCARD)
        else:
            steps.append(json.loads(match.group("quoted")))
        pos = match.end()
    return tuple(steps)


Located = tuple[tuple[str | int, ...], Any]  # concrete path from the root, value


def _children(value: Any) -> list[tuple[str | int, Any]]:
    if isinstance(value, dict):
        return [(k, value[k]) for k in sorted(value)]
    if isinstance(value, list):
        return list(enumerate(value))
    return []


def select_json(document: Any, steps: Sequence[Step]) -> list[Located]:
    """Every value the steps reach, with its concrete path, in document order."""
    current: list[Located] = [((), document)]
    for step in steps:
        following: list[Located] = []
        for path, value in current:
            if isinstance(step, _Wildcard):
                following.extend(((*path, k), v) for k, v in _children(value))
            elif isinstance(step, int) and not isinstance(value, dict):
                if isinstance(value, list) and -len(value) <= step < len(value):
                    index = step % len(value)
                    following.append(((*path, index), value[index]))
            elif isinstance(step, str) and isinstance(value, dict) and step in value:
                following.append(((*path, step), value[step]))
        current = following
    return current


def _render_path(path: Sequence[str | int]) -> str:
    out: list[str] = []
    for step in path:
        if isinstance(step, int):
            out.append(f"[{step}]")
        elif _PLAIN_KEY.fullmatch(step):
            out.append(f".{step}" if out else step)
        else:
            out.append("[" + json.dumps(step, ensure_ascii=False) + "]")
    return "".join(out) or "$"


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(value)  # true, false, null, numbers exactly as JSON writes them


def json_pieces(located: Sequence[Located]) -> list[Piece]:
    """One ``field`` piece per leaf under each located value (iteratively: no recursion)."""
    pieces: list[Piece] = []
    for root_path, root_value in located:
        stack: list[Located] = [(root_path, root_value)]
        while stack:
            path, value = stack.pop()
            children = _children(value)
            if children:
                stack.extend(((*path, k), v) for k, v in reversed(children))
                continue
            text = normalize_text(f"{_render_path(path)}: {_scalar(value)}")
            pieces.append(("field", text))
    return pieces


@dataclass(frozen=True, slots=True)
class DataDraft:
    """What a JSON or CSV document yields before ``ignore``."""

    pieces: list[Piece]
    select_matched: bool


def extract_json(document: Any, json_path: str | None) -> DataDraft:
    """Pieces of an already decoded JSON document, narrowed by ``json_path``."""
    if not json_path:
        return DataDraft(json_pieces([((), document)]), True)
    try:
        steps = parse_json_path(json_path)
    except JsonPathError:
        log.warning("invalid json_path %r: nothing can match", json_path)
        return DataDraft([], False)
    located = select_json(document, steps)
    return DataDraft(json_pieces(located), bool(located))


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def extract_csv(text: str, csv_key: Sequence[str]) -> DataDraft:
    """One ``record`` piece per data row, keyed by ``csv_key`` (default: the first column)."""
    sample = text[:8192]
    reader = csv.reader(text.splitlines(keepends=True), _dialect(sample), strict=False)
    rows = [[normalize_text(cell) for cell in row] for row in reader]
    rows = [row for row in rows if any(row)]
    if not rows:
        return DataDraft([], True)
    header = [name or f"column {n}" for n, name in enumerate(rows[0], start=1)]
    key_columns = _key_columns(header, csv_key)
    records: list[tuple[tuple[str, ...], str]] = []
    for row in rows[1:]:
        width = max(len(row), len(header))
        names = header + [f"column {n}" for n in range(len(header) + 1, width + 1)]
        cells = row + [""] * (width - len(row))
        key = tuple(cells[i] for i in key_columns)
        parts = [k for k in key if k]
        parts += [
            f"{names[i]}: {cells[i]}" for i in range(width) if i not in key_columns and cells[i]
        ]
        records.append((key, normalize_text(RECORD_SEPARATOR.join(parts))))
    records.sort()
    return DataDraft([("record", text) for _, text in records if text], True)


def _key_columns(header: Sequence[str], csv_key: Sequence[str]) -> list[int]:
    if not csv_key:
        return [0]
    folded = [name.casefold() for name in header]
    columns = []
    for name in csv_key:
        if name in header:
            columns.append(header.index(name))
        elif name.casefold() in folded:
            columns.append(folded.index(name.casefold()))
        else:
            log.warning(
                "csv_key column %r is not in the header %r; using the first column", name, header
            )
            return [0]
    return columns
