"""What a reader sees, and what is page chrome: the rules, declared once. Pure.

Every rule is a CSS selector (Lexbor evaluates it in C) plus, where CSS cannot say
it, a small predicate on the matched element. The extractor's walker
(``monitor.extract.html``) applies them, and so can any other pass over a Lexbor
tree (a fast "same text?" check must drop exactly what the extractor drops):
``strip_invisible`` is the one function that removes what is never text, and
``NEVER_TEXT_TAGS`` (+ ``noscript`` when ``has_script``, asked after
``strip_invisible`` as the extractor does) the elements whose subtree the walker
skips; ``select`` is applied after both.

Never text — hidden from every reader:

1. ``NEVER_TEXT_TAGS``: scripts, styles, ``<template>``, ``<head>`` and its
   metadata, SVG, frames, media fallbacks, form fields' values, comments;
2. ``<noscript>`` when the page has a ``<script>`` (a browser running it never
   shows the fallback); on a page without scripts it is what the reader sees;
3. ``HIDDEN`` + ``hidden_by_style``: the ``hidden`` attribute (not
   ``hidden="until-found"``, which is findable text), a closed ``<dialog>``, and an
   inline ``style`` whose last ``display`` is ``none`` or whose last ``visibility``
   is ``hidden``/``collapse`` — except an element a control on the page reveals
   (its id named by an ``aria-controls``: a collapsed accordion section, a tab
   panel), which a reader opens with one click;
4. ``CONSENT_MANAGERS``: the containers of well-known cookie-consent managers, by
   their vendors' ids (a source turns this off with ``remove_consent = false``);
5. ``SCREEN_READER_ONLY`` + ``is_copy``: off-screen screen-reader text (``sr-only``,
   ``visually-hidden`` … classes) whose words are already shown next to it (its
   parent's text holds them twice);
6. the source's own ``remove`` selectors.

``aria-hidden="true"`` is *not* a reason: it hides from screen readers only, and
sighted readers see that text (a modal sets it on the whole page behind it).

Chrome — the site around the document (``chrome_marks``): ``nav``, ``aside``,
``header``/``footer`` outside ``main``/``article``, and the roles ``navigation``,
``banner``, ``contentinfo``, ``complementary``, ``menu``, ``menubar``. When the
page (without ``select``) has a ``main`` (or ``role=main``), or else exactly one
``article`` (or ``role=article``), that element is the document and everything
outside it is chrome too. Chrome is still text — it is stored and diffed — but a
change confined to it is classified ``chrome`` (``monitor.noise.volatile``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

log = logging.getLogger(__name__)

NEVER_TEXT_TAGS = frozenset(
    {
        "-comment", "script", "style", "template", "svg", "iframe", "head", "title",
        "meta", "link", "base", "canvas", "object", "embed", "audio", "video", "frame",
        "frameset", "textarea",
    }
)  # fmt: skip

# Controls that show another element (its id in ``aria-controls``): a collapsed
# accordion section or an inactive tab panel is text a reader opens with one click.
REVEALED_BY = "[aria-controls]"
# Candidates; ``hidden_by_style`` decides for those matched by their style.
HIDDEN = (
    'dialog:not([open]), [hidden]:not([hidden="until-found"]), '
    '[style*="display" i], [style*="visibility" i]'
)

# The containers of well-known cookie-consent managers (OneTrust, Cookiebot, Usercentrics,
# Didomi, Quantcast, TrustArc, Osano, Iubenda, consentmanager, CookieYes, Complianz,
# Borlabs, Sourcepoint, Cookie Notice, Osano's "cookieconsent", Termly, CookieScript,
# Google Funding Choices): a banner whose wording
# or A/B variant changes is never a change of the page. Vendor ids only — never a pattern
# such as "[id*=cookie]", which would also match a cookie *policy*.
CONSENT_MANAGERS = ", ".join(
    (
        "#onetrust-consent-sdk", "#onetrust-banner-sdk", "#CybotCookiebotDialog",
        "#usercentrics-root", "#usercentrics-cmp-ui", "#didomi-host", "#qc-cmp2-container",
        "#truste-consent-track", "#consent_blackbar", "#truste-consent-content",
        ".osano-cm-window", "#iubenda-cs-banner", "#cmpbox", "#cmpbox2", "#cmpwrapper",
        ".cky-consent-container", "#cmplz-cookiebanner-container", "#BorlabsCookieBox",
        "[id^='sp_message_container_']", "#cookie-notice", ".cc-window.cc-banner",
        "#termly-code-snippet-support", "#cookiescript_injected", ".fc-consent-root",
    )
)  # fmt: skip

# The same list split for speed: Lexbor tests every alternative of a selector list on
# every element, so plain "#id" alternatives are matched by a set lookup on the ids the
# page has instead (``strip_invisible``); the result is what the selector gives.
_CONSENT_IDS = frozenset(
    item.strip()[1:]
    for item in CONSENT_MANAGERS.split(",")
    if re.fullmatch(r"#[\w-]+", item.strip())
)
_CONSENT_OTHERS = ", ".join(
    item.strip()
    for item in CONSENT_MANAGERS.split(",")
    if not re.fullmatch(r"#[\w-]+", item.strip())
)

# Classes that move text off-screen for screen readers (Bootstrap, Tailwind, WordPress,
# HTML5 Boilerplate, GOV.UK …). Each class costs a pass of Lexbor's matcher over the
# tree, so the list holds the common ones only.
SCREEN_READER_ONLY = (
    ".sr-only, .visually-hidden, .visuallyhidden, .screen-reader-text, .govuk-visually-hidden"
)

CHROME_LANDMARKS = (
    "nav, aside, header, footer, [role=navigation], [role=banner], [role=contentinfo], "
    "[role=complementary], [role=menu], [role=menubar]"
)
MAIN = "main, [role=main]"
ARTICLE = "article, [role=article]"
# header/footer are chrome only outside these: inside, they head the document itself.
_DOCUMENT_TAGS = frozenset({"main", "article"})
_DOCUMENT_ROLES = frozenset({"main", "article"})

CHROME, OUTSIDE, DOCUMENT = 2, 1, 0  # chrome_marks values (and the walker's states)
# The document root must hold at least this share of the text for "outside it is chrome":
# a `main` that wraps only a hero banner says nothing about where the document is.
DOCUMENT_MIN_SHARE = 0.2

_DECLARATION = re.compile(r"(?:^|;)\s*(display|visibility)\s*:\s*([a-z-]+)", re.IGNORECASE)


def hidden_by_style(style: str | None) -> bool:
    """Whether an inline ``style`` hides the element: its last display/visibility wins."""
    if not style:
        return False
    display = visibility = ""
    for name, value in _DECLARATION.findall(style):
        if name.lower() == "display":
            display = value.lower()
        else:
            visibility = value.lower()
    return display == "none" or visibility in ("hidden", "collapse")


def is_copy(text: str, context: str) -> bool:
    """Whether screen-reader text ``text`` repeats words its ``context`` already shows."""
    words = " ".join(text.split()).casefold()
    if not words:
        return True
    return " ".join(context.split()).casefold().count(words) >= 2


def _remove(tree: LexborHTMLParser, selector: str) -> None:
    try:
        nodes = tree.css(selector)
    except SelectolaxError:
        log.warning("ignoring invalid remove selector %r", selector)
        return
    # Removal only unlinks nodes, so a match inside an already removed match is harmless.
    for node in nodes:
        node.decompose()


def strip_invisible(tree: LexborHTMLParser, *, consent: bool, remove: Sequence[str]) -> None:
    """Remove from ``tree`` what no reader sees (rules 3–6 above), in place.

    Rules 1–2 are subtrees the walker skips (``NEVER_TEXT_TAGS``, ``noscript`` when
    ``has_script``); a pass that does not walk removes them itself.
    """
    if consent:
        for node in tree.css("[id]"):
            if node.id in _CONSENT_IDS:
                node.decompose()
        _remove(tree, _CONSENT_OTHERS)
    for selector in remove:
        _remove(tree, selector)
    hidden = tree.css(HIDDEN)
    revealable = _revealable(tree) if hidden else frozenset()
    for node in hidden:
        if node.tag in ("html", "body"):
            continue
        attrs = node.attributes
        if attrs.get("id") in revealable:
            continue  # a collapsed section or tab panel the reader opens with one click
        if (
            (node.tag == "dialog" and "open" not in attrs)
            or ("hidden" in attrs and attrs["hidden"] != "until-found")
            or hidden_by_style(attrs.get("style"))
        ):
            node.decompose()
    contexts: dict[int, str] = {}  # a parent's text, read once however many copies it has
    for node in tree.css(SCREEN_READER_ONLY):
        parent = node.parent
        if parent is None:
            continue
        context = contexts.get(parent.mem_id)
        if context is None:
            context = parent.text()
        text = node.text()
        if is_copy(text, context):
            node.decompose()
            context = context.replace(text, "", 1)  # what the next sibling is compared with
        contexts[parent.mem_id] = context


def _revealable(tree: LexborHTMLParser) -> frozenset[str | None]:
    """Ids of elements a control on the page shows (``aria-controls``): accordions, tabs."""
    ids: set[str | None] = set()
    for control in tree.css(REVEALED_BY):
        ids.update((control.attributes.get("aria-controls") or "").split())
    return frozenset(ids)


def has_script(tree: LexborHTMLParser) -> bool:
    """Whether the page runs scripts (then ``noscript`` content is never shown)."""
    return tree.css_first("script") is not None


def outermost(matches: Sequence[LexborNode]) -> list[LexborNode]:
    """Matches that are not inside another match, in document order."""
    if len(matches) < 2:
        return list(matches)
    ids = {m.mem_id for m in matches}
    kept = []
    for match in matches:
        parent = match.parent
        while parent is not None and parent.mem_id not in ids:
            parent = parent.parent
        if parent is None:
            kept.append(match)
    return kept


def _in_document(node: LexborNode) -> bool:
    parent = node.parent
    while parent is not None and parent.is_element_node:
        if parent.tag in _DOCUMENT_TAGS or parent.attributes.get("role") in _DOCUMENT_ROLES:
            return True
        parent = parent.parent
    return False


def document_roots(tree: LexborHTMLParser) -> list[LexborNode]:
    """The page's document: its ``main``s, else its single ``article``, else nothing."""
    mains = outermost(tree.css(MAIN))
    if mains:
        return mains
    articles = outermost(tree.css(ARTICLE))
    return articles if len(articles) == 1 else []


def chrome_marks(tree: LexborHTMLParser, *, whole_page: bool) -> dict[int, int]:
    """Elements (by ``mem_id``) that start a region: ``CHROME`` or ``DOCUMENT``.

    ``whole_page``: the page is read without ``select``, so a document root makes
    the rest ``OUTSIDE`` (the walker starts in that state when a root is marked).
    """
    marks: dict[int, int] = {}
    if whole_page:
        for root in document_roots(tree):
            marks[root.mem_id] = DOCUMENT
    for node in tree.css(CHROME_LANDMARKS):
        if node.tag in ("header", "footer") and _in_document(node):
            continue
        if node.tag in ("html", "body"):
            continue
        marks[node.mem_id] = CHROME
    return marks


def chrome_pieces(states: Sequence[int], sizes: Sequence[int]) -> tuple[int, ...]:
    """Indices of the pieces that are chrome, given each piece's state and size.

    ``OUTSIDE`` pieces are chrome only when the document root holds at least
    ``DOCUMENT_MIN_SHARE`` of the text; and when what is left as document is under
    that share, nothing is chrome (a page that is all menus is its own document).
    """
    total = sum(sizes)
    if not total:
        return ()
    inside = sum(size for state, size in zip(states, sizes, strict=True) if state == DOCUMENT)
    outside_is_chrome = inside >= DOCUMENT_MIN_SHARE * total
    chrome = tuple(
        i
        for i, state in enumerate(states)
        if state == CHROME or (state == OUTSIDE and outside_is_chrome)
    )
    if total - sum(sizes[i] for i in chrome) < DOCUMENT_MIN_SHARE * total:
        return ()
    return chrome
