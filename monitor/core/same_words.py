"""Whether two texts say the same words: block markers, line breaks and typography aside.

A heading that became a paragraph, a paragraph split in two, "smart" quotes turned
straight: the page says the same, and a check reports no change (row 6 of
``classify``). ``words_digest`` is recorded with each capture (``words_sha256``) so
a flicker back to an earlier wording is recognised. Pure.
"""

from __future__ import annotations

import hashlib
import re

# The block markers of a normalized text (``monitor.extract.blocks``): "#"… heading,
# "- " item, "> " quotation, "| … |" row, and the backslash that escapes a block's text.
_LINE_MARKER = re.compile(r"^(?:#{1,6} |- |> |\| )?\\?|(?<= )\|$", re.MULTILINE)


# Typography a CMS swaps at will ("smart quotes" on or off, hyphen or en dash): the
# stored text keeps what the page says, the comparison reads them as the same.
_TYPOGRAPHY = str.maketrans(
    {
        **dict.fromkeys("‘’‚‛′ʼ", "'"),
        **dict.fromkeys("“”„‟″«»", '"'),
        **dict.fromkeys("‐‑‒–—―−", "-"),
        "…": "...",
    }
)
# str.translate looks every character of a page up in that table (~5 ms for 40 KB of
# text); a regex finds the few typographic ones in C and only they are replaced.
_TYPOGRAPHIC = re.compile("[" + "".join(chr(c) for c in _TYPOGRAPHY) + "]")


def _plain_typography(match: re.Match[str]) -> str:
    return str(_TYPOGRAPHY[ord(match.group())])


def words_of(text: str) -> str:
    """A normalized text without its layout: its words and punctuation, one space apart.

    Block markers and the line breaks between blocks are layout: a heading that
    became a paragraph, a paragraph split in two, a list turned into paragraphs
    read the same. So are typographic variants of quotes, dashes and the ellipsis.
    """
    return " ".join(_TYPOGRAPHIC.sub(_plain_typography, _LINE_MARKER.sub("", text)).split())


def words_digest(text: str) -> str:
    """sha256 of ``words_of(text)``: equal for texts that differ in layout only."""
    return hashlib.sha256(words_of(text).encode("utf-8")).hexdigest()
