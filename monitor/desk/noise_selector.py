"""Pure: the ``remove`` selector that would have kept a noisy block out of the text.

When no ``ignore`` pattern fits a change marked noise (a rotating banner, a
"related articles" box: words, not dates), the element that holds the changed
text can be removed instead. ``remove_selector`` finds, in the page's raw HTML,
the smallest element whose text holds the block, then the nearest element at or
above it that a selector names on its own: ``#id``, or ``tag.class…`` matching
exactly one element. Nothing above ``main``/``article``/``body`` is offered:
removing those would empty the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.extract.charset import decode

NEEDLE_CHARS = 60
_STOP = frozenset({"html", "body", "main", "article"})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_MARKER = re.compile(r"^(?:#{1,6} |- |> |\| )")


def _squash(text: str) -> str:
    return " ".join(text.split())


def _selector(node: LexborNode) -> str | None:
    ident = str(node.attributes.get("id") or "")
    if ident and _NAME.match(ident):
        return f"#{ident}"
    classes = [c for c in str(node.attributes.get("class") or "").split() if _NAME.match(c)]
    if classes:
        return f"{node.tag or ''}." + ".".join(classes)
    return None


def remove_selector(body: bytes, content_type: str | None, blocks: Iterable[str]) -> str | None:
    """A CSS selector naming one element that holds every given block's text, or None."""
    needles = [_squash(_MARKER.sub("", b))[:NEEDLE_CHARS] for b in blocks if b and b.strip()]
    if not needles:
        return None
    text, _ = decode(body, content_type, html=True)
    tree = LexborHTMLParser(text)
    root = tree.body
    if root is None:
        return None
    holder: LexborNode | None = None
    for element in root.traverse(include_text=False):
        tag = element.tag or ""
        if tag in _STOP or tag.startswith("-"):
            continue
        content = _squash(element.text(deep=True) or "")
        if all(n in content for n in needles) and (
            holder is None or len(content) <= len(_squash(holder.text(deep=True) or ""))
        ):
            holder = element
    current = holder
    while current is not None and (current.tag or "") not in _STOP:
        selector = _selector(current)
        if selector is not None and len(tree.css(selector)) == 1:
            return selector
        current = current.parent
    return None
