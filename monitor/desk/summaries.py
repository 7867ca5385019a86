"""Pure: a change's one-line summary in the words of its format.

The recorded ``diff.summary`` speaks of paragraphs and quoted runs. For data and
documents the diff knows more, and ``change_summary`` says it:

* CSV, by row key: ``Hong Kong: requests 0 → 45, disclosed 0 → 12``
  (records are ``key · column: value · …``, see ``monitor.extract.data``);
* JSON, by path: ``report.hk.requests: 0 → 45``;
* PDF, by page: ``page 4: '0' → '45'`` (the page is the first step of a block's
  path, see ``monitor.diff``);
* and, for any format, the documents a change linked or unlinked:
  ``link removed: Transparency Report 2019 (PDF)`` (``monitor.desk.links``).

It reads only the event's data, so alerts, feeds, the web view and ``monitor
log`` say the same, for changes recorded before this existed too. Anything it
cannot say better falls back to the recorded summary. When rules matched, the
blocks holding their sentences come first (and a PDF names the page of the
recorded, rule-led summary), so it leads with what the rule saw, like the
recorded headline (``monitor.core.headline``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from monitor.desk.links import link_changes
from monitor.events import ChangeDetected
from monitor.extract.data import RECORD_SEPARATOR

MAX_CHARS = 200
MAX_ITEMS = 3
_VALUE_CHARS = 40


def _clip(text: str, limit: int = _VALUE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _record(text: str | None) -> tuple[str, dict[str, str]]:
    """A CSV record line → (its key, its column values)."""
    if not text:
        return "", {}
    key: list[str] = []
    fields: dict[str, str] = {}
    for part in text.split(RECORD_SEPARATOR):
        name, sep, value = part.partition(": ")
        if sep:
            fields[name] = value
        elif not fields:
            key.append(part)
    return " · ".join(key), fields


_Side = TypeVar("_Side")


def _sides(
    changes: Sequence[Mapping[str, Any]], read: Callable[[str | None], _Side]
) -> Iterator[tuple[str | None, _Side, _Side]]:
    """(op, old side, new side) of each change, each side read by ``read``."""
    for change in changes:
        yield change.get("op"), read(change.get("old")), read(change.get("new"))


def _csv(changes: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for op, (old_key, old), (new_key, new) in _sides(changes, _record):
        key = new_key or old_key or "row"
        if op == "added":
            shown = ", ".join(f"{k} {_clip(v)}" for k, v in list(new.items())[:4])
            out.append(f"{key}: row added" + (f" ({shown})" if shown else ""))
        elif op == "removed":
            out.append(f"{key}: row removed")
        elif op == "changed":
            edits = [
                f"{name} {_clip(old.get(name, '—'))} → {_clip(new.get(name, '—'))}"
                for name in dict.fromkeys([*old, *new])
                if old.get(name) != new.get(name)
            ]
            if old_key != new_key:
                edits.insert(0, f"key {_clip(old_key)} → {_clip(new_key)}")
            if edits:
                out.append(f"{key}: " + ", ".join(edits))
    return out


def _field(text: str | None) -> tuple[str, str]:
    path, _, value = (text or "").partition(": ")
    return path, value


def _json(changes: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for op, (old_path, old), (new_path, new) in _sides(changes, _field):
        if op == "added":
            out.append(f"{new_path}: {_clip(new)} (added)")
        elif op == "removed":
            out.append(f"{old_path}: removed (was {_clip(old)})")
        elif op == "changed" and old_path == new_path:
            out.append(f"{new_path}: {_clip(old)} → {_clip(new)}")
        elif op == "changed":
            out.append(f"{old_path} → {new_path}: {_clip(new)}")
    return out


def _pdf(changes: Sequence[Mapping[str, Any]], summary: str, *, led: bool = False) -> list[str]:
    pages = list(
        dict.fromkeys(
            str(path[0])
            for change in changes
            if (path := change.get("path")) and str(path[0]).startswith("page ")
        )
    )
    if not pages:
        return []
    if led:  # the recorded summary leads with the rule's edit: say which page it is on
        return [f"{pages[0]}: {summary}"] if summary else [pages[0]]
    detail = summary.partition("; ")[2]
    where = pages[0] if len(pages) == 1 else f"pages {', '.join(p[5:] for p in pages[:6])}"
    if len(pages) > 6:
        where += ", …"
    return [f"{where}: {detail}" if detail else where]


def _joined(items: list[str], what: str) -> str:
    shown = items[:MAX_ITEMS]
    text = "; ".join(shown)
    if len(items) > MAX_ITEMS:
        text += f"; and {len(items) - MAX_ITEMS} more {what}"
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def _rule_led(changes: list[Mapping[str, Any]], rules: Sequence[Any]) -> list[Mapping[str, Any]]:
    """The blocks holding a matched rule's sentences first (the most severe rule's, then the
    rest), so a format's summary leads with what the rule saw, as the recorded one does."""
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
    ranked = sorted(
        (r for r in rules if isinstance(r, Mapping)),
        key=lambda r: order.get(str(r.get("severity")), 5),
    )
    probes = [
        " ".join(str(s).rstrip("…").split())
        for r in ranked
        for s in r.get("sentences") or ()
        if str(s).strip()
    ]
    if not probes:
        return changes

    def rank(change: Mapping[str, Any]) -> int:
        text = " ".join(f"{change.get('old') or ''} {change.get('new') or ''}".split())
        return next((i for i, probe in enumerate(probes) if probe and probe in text), len(probes))

    return sorted(changes, key=rank)


def format_summary(
    diff: Mapping[str, Any], rules: Sequence[Mapping[str, Any]], fmt: str | None
) -> str | None:
    """What a change's diff says in its format's words (``fmt``: the capture's), or None."""
    changes = [c for c in diff.get("changes") or () if isinstance(c, Mapping)]
    rules = list(rules)
    changes = _rule_led(changes, rules)
    summary = str(diff.get("summary") or "")
    items: list[str] = []
    what = "blocks"
    if any(isinstance(r, Mapping) and r.get("side") == "figures" for r in rules):
        fmt = None  # a figures rule's headline already speaks the table (monitor.figures)
    if fmt == "csv":
        items, what = _csv(changes), "rows"
    elif fmt == "json":
        items, what = _json(changes), "fields"
    elif fmt == "pdf":
        items, what = _pdf(changes, summary, led=bool(rules)), "pages"
    links = link_changes(diff)
    if not items and not links:
        return None
    parts = [_joined(items, what)] if items else [summary] if summary else []
    if links:
        parts.append(_joined(links, "links"))
    text = "; ".join(p for p in parts if p)
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def diff_summary(
    diff: Mapping[str, Any], rules: Sequence[Mapping[str, Any]] = (), fmt: str | None = None
) -> str:
    """The summary to show for a diff: the format's words, else the recorded one."""
    return format_summary(diff, rules, fmt) or str(diff.get("summary") or "")


def change_summary(change: ChangeDetected) -> str:
    """The summary to show for a change: ``diff_summary`` of its diff, rules and format."""
    return diff_summary(change.diff, change.rules, change.capture.format)
