"""Same text without reading it: a fingerprint of everything an HTML page's text is made of.

Pure. Most checks of a page find the same text in different bytes (a CSRF token,
a nonce, a timestamp in a script). Reading the text — the Python walk, block
model and rendering of ``extract.html`` — is most of a check's CPU; deciding that
it did not change need not be. ``tree_fingerprint`` hashes the tree that
``extract.html.prepare_html`` prepared (consent managers, ``remove`` matches and
hidden content already gone; only the selected roots) as Lexbor serializes it, in
C, with what the text walk never reads taken out:

* the elements that are never text (``PreparedHtml.never_text``: scripts, styles,
  templates …), removed from the tree before serializing;
* comments, and every attribute of every element (tokens, nonces, tracking ids),
  cut from the serialized markup.

What is left determines every element's name, the nesting and every character of
text — everything ``extract.html``'s walk reads, except three things added to the
hash explicitly: which table rows are layout rows (decided on the whole tree), the
base URL and each link's target when links are watched. Invariant: **two pages
with equal fingerprints under the same extraction settings have the same
extracted text.** So a check whose page fingerprint was seen before with the last
good text (``same_text_marker``) records exactly what reading the page would.

The cut relies on how Lexbor serializes: ``<`` and ``>`` escaped in text and in
attribute values, so that in serialized markup every ``<`` starts a tag or a
comment. ``serializer_is_safe`` checks that once per process; elements whose
content is serialized unescaped (``xmp``, ``plaintext``, ``noembed``,
``noframes``) make a page take the reading path instead (``None``).
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from typing import Final

import selectolax
from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.extract.html import PreparedHtml

# Bump when what is hashed changes; part of every marker, so old markers simply stop matching.
FINGERPRINT_VERSION: Final = "tree-1"
_COMMENT: Final = re.compile(r"<!--.*?-->", re.DOTALL)
# A start tag's attributes: from the first space after its name to its ">". Split on
# (the tag's name is the group, kept) and joined: no per-match template expansion.
_ATTRIBUTES: Final = re.compile(r"(<[^\s>/]+)\s[^>]*")
# Elements whose text Lexbor serializes raw: markup-looking text would be taken for tags.
_RAW_TEXT: Final = re.compile(r"<(?:xmp|plaintext|noembed|noframes)[\s>]")  # one scan


@cache
def serializer_is_safe() -> bool:
    """Whether this Lexbor escapes ``<`` and ``>`` in text and attribute values."""
    probe = LexborHTMLParser('<p title="<a>">1 < 2 > 0</p>').css_first("p")
    return probe is not None and probe.html == '<p title="&lt;a&gt;">1 &lt; 2 &gt; 0</p>'


def tree_fingerprint(prepared: PreparedHtml, *, watch_links: bool) -> bytes | None:
    """The fingerprint of a prepared page's text, or None when it cannot be taken.

    Removes the never-text elements from ``prepared``'s tree: the walk skips them
    anyway, so ``walk_prepared`` reads the same text afterwards.
    """
    if not prepared.select_matched or not prepared.roots or not serializer_is_safe():
        return None
    never_text = prepared.never_text
    selector = _selector(never_text)
    digest = hashlib.sha256(FINGERPRINT_VERSION.encode())
    digest.update(b"\0skipped " + " ".join(sorted(never_text)).encode())
    for root in prepared.roots:
        if root.tag in never_text:  # a root the walk skips whole: rare, not worth a rule
            return None
        for node in root.css(selector):
            node.decompose()
        # Which rows lay the page out was decided on the whole tree; removing never-text
        # elements changes no other node, so the rows left keep their ids.
        layout = _layout_row_positions(root, prepared.layout_rows)
        markup = root.html
        if markup is None or _RAW_TEXT.search(markup):
            return None
        markup = "".join(_ATTRIBUTES.split(_COMMENT.sub("", markup)))
        encoded = markup.encode("utf-8", "surrogatepass")
        digest.update(b"\0root %d\0" % len(encoded))
        digest.update(encoded)
        digest.update(b"\0layout " + json.dumps(layout).encode())
        if watch_links:
            # Every link's target in document order (None: an anchor without href).
            targets = [a.attrs.get("href") for a in root.css("a")]
            digest.update(b"\0links " + _json(targets))
    if watch_links:
        digest.update(b"\0base " + _json(prepared.base))
    return digest.digest()


@cache
def _selector(tags: frozenset[str]) -> str:
    """A CSS selector list of the element tags (comments are cut from the markup)."""
    return ", ".join(sorted(tag for tag in tags if tag[0] != "-"))


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _layout_row_positions(root: LexborNode, layout_rows: frozenset[int]) -> list[int]:
    """Positions, among the root's ``tr`` elements, of those that are layout rows."""
    if not layout_rows:
        return []
    return [index for index, row in enumerate(root.css("tr")) if row.mem_id in layout_rows]


def same_text_marker(fingerprint: bytes, extraction_key: str, text_sha256: str) -> bytes:
    """The bytes that record "a page with this fingerprint has this text".

    Stored as a content-addressed blob, so that any process can later ask whether
    the pair was seen (``has_blob`` of its sha256) without a table of its own. The
    Lexbor version is part of it: another parser may build another tree.
    """
    return (
        f"monitor same-text marker\n{FINGERPRINT_VERSION}\nselectolax {selectolax.__version__}\n"
        f"extraction {extraction_key}\ntree {fingerprint.hex()}\ntext {text_sha256}\n"
    ).encode()
