"""A ready ``[[source]]`` block for a page, from a few captures of it. Pure.

Users should not have to read HTML to add a page. From two or more captures of the
same URL (fresh fetches, or the raw bodies a source already stored):

- ``select``: the page's document (``monitor.noise.visibility.document_roots``: its
  ``main``, or its single ``article``), else the deepest element that holds most of
  the visible text; named by the shortest selector that matches it alone (a tag, an
  id, a role, a class) — never by generated-looking ids or classes;
- ``remove``: the chrome landmarks inside that selection (a table of contents in a
  ``nav``, an ``aside``), named the same way;
- the volatile spans seen: lines that differ between captures, with what the
  monitor will call them (``volatile`` tokens are quiet already; others get an
  ``ignore`` pattern built from the part of the line that stayed the same).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.config.settings import SourceSettings
from monitor.core.classify import suspect_reason
from monitor.core.projections import SourceState
from monitor.extract.document import extract
from monitor.noise.visibility import (
    CHROME_LANDMARKS,
    NEVER_TEXT_TAGS,
    document_roots,
    strip_invisible,
)
from monitor.noise.volatile import changed_lines, mask_volatile
from monitor.text.patterns import compile_user_regex

_CONTAINERS = frozenset({"div", "section", "article", "main", "form", "center", "td"})
_NAMED_TAGS = frozenset({"main", "article", "nav", "aside", "header", "footer", "form"})
MOST_TEXT = 0.6  # the element chosen without a document root holds this share of the text
MIN_SHARE = 0.2  # a document root holding less than this is not the document
MAX_SPANS = 12  # volatile spans listed
_GENERATED = re.compile(r"\d{3,}|[:_-][a-z0-9]{5,}$|^[a-z]{1,2}\d|^x[0-9a-z]{4,}$|css-|sc-")
_ROLE = re.compile(r"[a-z]{2,30}")
_MIN_PREFIX = 4  # stable characters an ignore pattern starts with


@dataclass(frozen=True, slots=True)
class Span:
    """Text that differed between two captures, and how the monitor will read it."""

    before: str
    after: str
    volatile: bool  # only volatile tokens differ: classified volatile, never alerted
    ignore: str | None  # an ignore pattern for the rest, when the line has a stable start


@dataclass(frozen=True, slots=True)
class Suggestion:
    """What ``monitor suggest`` prints."""

    url: str
    source_id: str
    title: str
    select: str | None
    select_share: int  # per cent of the page's visible text the selection holds
    remove: tuple[str, ...]
    spans: tuple[Span, ...]
    captures: int
    notes: tuple[str, ...] = field(default=())
    compared: int = 0  # captures whose texts were compared (error pages left out)

    def toml(self) -> str:
        """The ``[[source]]`` block, with comments saying why."""
        lines = [
            f"# monitor suggest: {self.captures} capture(s) of {self.url}",
            *(f"# {note}" for note in self.notes),
            "[[source]]",
            f"id = {_toml(self.source_id)}",
            f"url = {_toml(self.url)}",
        ]
        if self.title:
            lines.append(f"title = {_toml(self.title)}")
        if self.select:
            lines.append(
                f"select = {_toml(self.select)}  # {self.select_share}% of the page's text"
            )
        if self.remove:
            lines.append("remove = [" + ", ".join(_toml(r) for r in self.remove) + "]")
        patterns = [s.ignore for s in self.spans if s.ignore]
        if patterns:
            lines.append("ignore = [" + ", ".join(_toml(p) for p in patterns) + "]")
        if self.spans:
            lines.append("# text that changed between captures:")
            for span in self.spans:
                how = (
                    "volatile: recorded quietly, never alerted"
                    if span.volatile
                    else ("ignored by the pattern above" if span.ignore else "a change: alerts")
                )
                lines.append(f"#   {span.before[:70]!r} → {span.after[:70]!r} ({how})")
        elif self.compared > 1:
            lines.append("# the text was the same in every capture")
        else:
            lines.append("# one usable capture: no volatile text could be seen")
        return "\n".join(lines) + "\n"


def _toml(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a TOML basic string is a JSON string


def source_id_for(url: str) -> str:
    """A source id from a URL: host without www, then the path's words."""
    parts = urlsplit(url)
    host = (parts.hostname or "page").removeprefix("www.")
    words = re.findall(r"[a-z0-9]+", f"{host} {parts.path}".lower())
    return "-".join(words)[:80].strip("-") or "page"


def _stable(name: str) -> bool:
    return bool(name) and _GENERATED.search(name) is None and name.isascii()


def selector_for(tree: LexborHTMLParser, node: LexborNode) -> str | None:
    """The shortest stable selector that matches ``node`` alone, or None."""
    tag = node.tag or ""
    attrs = node.attributes
    # A bare tag only when it says what it is: a lone <div> is a layout accident.
    candidates = [tag] if tag in _NAMED_TAGS else []
    role = attrs.get("role")
    if role and _ROLE.fullmatch(role):  # page text: only a plain role word makes a selector
        candidates.append(f'[role="{role}"]')
    node_id = attrs.get("id")
    if node_id and _stable(node_id) and re.fullmatch(r"[A-Za-z][\w-]*", node_id):
        candidates.append(f"#{node_id}")
    for name in (attrs.get("class") or "").split():
        if _stable(name) and re.fullmatch(r"[A-Za-z_][\w-]*", name):
            candidates.append(f"{tag}.{name}")
    for selector in candidates:
        found = tree.css(selector)
        if len(found) == 1 and found[0].mem_id == node.mem_id:
            return selector
    return None


def _text_len(node: LexborNode) -> int:
    return len(" ".join(node.text(separator=" ").split()))


def _main_element(tree: LexborHTMLParser) -> tuple[LexborNode | None, int]:
    body = tree.body
    if body is None:
        return None, 0
    total = _text_len(body)
    if not total:
        return None, 0
    roots = document_roots(tree)
    if len(roots) == 1:
        share = _text_len(roots[0]) / total
        if share >= MIN_SHARE:
            return roots[0], round(100 * share)
    node = body
    while True:
        best = max(
            (child for child in node.iter() if child.tag in _CONTAINERS),
            key=_text_len,
            default=None,
        )
        if best is None or _text_len(best) < MOST_TEXT * total:
            break
        node = best
    # The nearest container, going back up, that a stable selector can name.
    found: LexborNode | None = node
    while found is not None and found.mem_id != body.mem_id and selector_for(tree, found) is None:
        found = found.parent
    if found is None or found.mem_id == body.mem_id:
        return None, 100
    return found, round(100 * _text_len(found) / total)


def _chrome_inside(root: LexborNode) -> tuple[str, ...]:
    """The kinds of landmark inside the selection, as generic selectors (``nav``)."""
    found: list[str] = []
    for node in root.css(CHROME_LANDMARKS):
        if node.tag in ("header", "footer"):
            continue  # inside the document they head it
        role = node.attributes.get("role")
        selector = f'[role="{role}"]' if role and _ROLE.fullmatch(role) else str(node.tag)
        if selector not in found:
            found.append(selector)
    return tuple(found)


def _ignore_for(before: str, after: str) -> str | None:
    common = 0
    while common < min(len(before), len(after)) and before[common] == after[common]:
        common += 1
    prefix = before[:common]
    # Cut back to a word boundary so the pattern names words, not half of one.
    prefix = prefix[: prefix.rfind(" ") + 1] if " " in prefix else prefix
    if len(prefix.strip()) < _MIN_PREFIX:
        return None
    pattern = "^" + re.escape(prefix).replace("\\ ", " ") + ".*$"
    try:
        compile_user_regex(pattern)  # the engine ``ignore`` runs on
    except ValueError:
        return None
    return pattern


def spans_between(texts: Sequence[str], *, fresh: bool = True) -> tuple[Span, ...]:
    """The changed lines between consecutive texts (each pair once), paired in order.

    ``fresh``: the texts were fetched seconds apart, so what changed is noise and gets
    an ``ignore`` pattern; stored captures span weeks, and real changes with them.
    """
    seen: set[tuple[str, str]] = set()
    spans: list[Span] = []
    for old, new in pairwise(texts):
        removed, added = changed_lines(old.split("\n"), new.split("\n"))
        for before, after in zip(removed, added, strict=False):
            if (before, after) in seen or len(spans) >= MAX_SPANS:
                continue
            seen.add((before, after))
            volatile = mask_volatile(before) == mask_volatile(after)
            spans.append(
                Span(
                    before,
                    after,
                    volatile,
                    None if volatile or not fresh else _ignore_for(before, after),
                )
            )
    return tuple(spans)


def _block_texts(body: bytes, source: SourceSettings) -> str:
    """The blocks' texts without their markers: what ``ignore`` patterns are matched on."""
    return "\n".join(b.text for b in extract(body, content_type="text/html", source=source).blocks)


def suggest(
    url: str, bodies: Sequence[bytes], *, source_id: str | None = None, fresh: bool = True
) -> Suggestion:
    """A ``[[source]]`` for ``url`` from raw HTML ``bodies`` of it (oldest first).

    ``fresh``: fetched just now, seconds apart (else stored captures of a source, which
    may hold real changes: no ``ignore`` is suggested from them).
    """
    if not bodies:
        raise ValueError("suggest needs at least one capture")
    base = SourceSettings(id=source_id or source_id_for(url), url=url)
    # The page's structure is read from the fullest capture that is not an error page
    # or an app shell (those are short, and what is left of them is often a dialog).
    plain = [_block_texts(body, base) for body in bodies]
    usable = [
        i
        for i, text in enumerate(plain)
        if suspect_reason(text, True, SourceState(source_id=base.id)) is None
    ] or list(range(len(bodies)))
    fullest = max(usable, key=lambda i: len(plain[i]))
    tree = LexborHTMLParser(bodies[fullest])
    title_node = tree.css_first("head > title")
    title = " ".join(title_node.text().split()) if title_node is not None else ""
    strip_invisible(tree, consent=True, remove=())
    # Text lengths below must count what a reader sees: scripts hold megabytes of data.
    never = [tag for tag in NEVER_TEXT_TAGS if tag[0] != "-" and tag not in ("html", "head")]
    for node in tree.css(", ".join(sorted([*never, "noscript"]))):
        node.decompose()
    root, share = _main_element(tree)
    select = selector_for(tree, root) if root is not None else None
    notes: list[str] = []
    if root is not None and select is None:
        notes.append("the main content has no stable name; no select suggested")
    if select is None:
        share = 100
    remove = _chrome_inside(root) if root is not None and select else ()
    chosen = replace(base, select=select, remove=remove)
    texts = [_block_texts(body, chosen) for body in bodies]
    if select and not all(texts):
        notes.append(f"{select!r} matched nothing in some captures; no select suggested")
        select, remove, share = None, (), 100
        texts = [_block_texts(body, base) for body in bodies]
    # Error pages and app shells say nothing about which text is volatile.
    good = []
    for number, text in enumerate(texts, start=1):
        suspect = suspect_reason(text, True, SourceState(source_id=base.id))
        if suspect is None:
            good.append(text)
        else:
            notes.append(f"capture {number} looks like an error page ({suspect[1]}): left out")
    texts = good
    return Suggestion(
        url=url,
        source_id=base.id,
        title=title[:120],
        select=select,
        select_share=share,
        remove=remove,
        spans=spans_between(texts, fresh=fresh),
        captures=len(bodies),
        notes=tuple(notes),
        compared=len(texts),
    )
