"""What the diff counts: edit operations, words, headings and PDF page markers.

A word is one Han, Kana or Hangul character (those scripts are written without
spaces), or a run of other word characters keeping inner punctuation ("1,234",
"don't"). ``DMP`` is the one diff-match-patch instance, with no deadline: a diff must
never depend on how busy the machine is.
"""

from __future__ import annotations

import functools
import re

from diff_match_patch import diff_match_patch

DELETE, EQUAL, INSERT = -1, 0, 1

DMP = diff_match_patch()
DMP.Diff_Timeout = 0  # no deadline: a diff must never depend on how busy the machine is

# Han, Kana, Hangul (and their compatibility blocks): written without spaces, so every
# character is a word of its own.
CJK_CHARS = (
    "\u1100-\u11ff\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0003134f"
)
_WORD_PATTERN = rf"[{CJK_CHARS}]|[^\W{CJK_CHARS}]+(?:[^\s\w][^\W{CJK_CHARS}]+)*"


class _Patterns:
    """The patterns over CJK_CHARS, compiled when first used: ~4 ms apiece (the ranges
    beyond the BMP), at every start of a process that may never diff — a check that
    finds the same text does not."""

    @functools.cached_property
    def token(self) -> re.Pattern[str]:
        # A word keeps inner punctuation ("1,234", "don't"); trailing punctuation is its
        # own token.
        return re.compile(rf"{_WORD_PATTERN}|\s+|\S")

    @functools.cached_property
    def word(self) -> re.Pattern[str]:
        """A word: one CJK character, or a run of other word characters."""
        return re.compile(_WORD_PATTERN)

    @functools.cached_property
    def has_cjk(self) -> re.Pattern[str]:
        return re.compile(f"[{CJK_CHARS}]")


PATTERNS = _Patterns()
HEADING = re.compile(r"(#{1,6}) (.*)")
PAGE_MARKER = re.compile(r"--- page \d+ ---")


def collapse(text: str) -> str:
    return " ".join(text.split())


def word_count(text: str) -> int:
    return len(PATTERNS.word.findall(text))
