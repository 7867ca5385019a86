"""Page text made safe for where it is shown: Markdown files, terminals, web links.

Watched pages are hostile input, and their text reaches people through more than
the HTML views (which Jinja escapes):

* **Bidirectional controls** (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F,
  U+061C) reorder what follows them on screen: a summary holding U+202E reads
  backwards, and can make a line say something other than its bytes. They are
  replaced by a visible ``[U+202E]`` everywhere page text is shown to a person.
* **Terminal controls** (C0 and C1, ESC among them) can move the cursor, rewrite
  earlier lines or retitle the window; ``monitor log``, ``diff`` and ``check`` show
  them as ``[U+001B]``. Line breaks and tabs inside one field are shown the same way
  where a field must stay on its line.
* **Markdown** renders inline HTML (``<img src=x onerror=…>``) and links; text
  written into the evidence README is escaped so a viewer shows it literally.

Pure functions, no I/O.
"""

from __future__ import annotations

import re

__all__ = ["BIDI_CONTROLS", "for_markdown", "for_terminal", "show_bidi"]

BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_BIDI = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")
# C0 (but tab and newline), DEL and C1, plus the bidi controls.
_TERMINAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + "".join(sorted(BIDI_CONTROLS)) + "]")
_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029" + "".join(sorted(BIDI_CONTROLS)) + "]")
# What can open Markdown or HTML markup inline (CommonMark lets any ASCII punctuation be
# backslash-escaped; these are the ones that matter mid-line).
_MARKDOWN = re.compile(r"([\\`*_\[\]<>!|~#])")


def _code(found: re.Match[str]) -> str:
    return f"[U+{ord(found.group()):04X}]"


def show_bidi(text: str) -> str:
    """``text`` with each bidirectional control replaced by a visible ``[U+XXXX]``."""
    return _BIDI.sub(_code, text)


def for_terminal(text: str, *, one_line: bool = False) -> str:
    """``text`` with terminal and bidi controls made visible; line breaks and tabs kept
    unless ``one_line`` (a record that must stay on its line)."""
    return (_ONE_LINE if one_line else _TERMINAL).sub(_code, text)


def for_markdown(text: str) -> str:
    """One line of Markdown showing ``text`` literally: no HTML, links or emphasis,
    every control character (line breaks included) visible."""
    visible = _ONE_LINE.sub(_code, text)
    return _MARKDOWN.sub(r"\\\1", visible).replace("&", "&amp;")
