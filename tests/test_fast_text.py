"""Faster text helpers give exactly what the plain definitions give."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.same_words import _LINE_MARKER, _TYPOGRAPHY, words_of

TEXTS = st.text(st.sampled_from(list("ab Z\n#-|>\\*‘’‚‛′ʼ“”„‟″«»‐‑‒–—―−…é香")), max_size=60)


@settings(max_examples=500)
@given(TEXTS)
def test_words_of_reads_typography_as_the_translation_table_says(text: str) -> None:
    """``words_of`` replaces only the typographic characters, by ``_TYPOGRAPHY``."""
    plain = " ".join(_LINE_MARKER.sub("", text).translate(_TYPOGRAPHY).split())
    assert words_of(text) == plain


def test_words_of_folds_quotes_dashes_and_the_ellipsis() -> None:
    assert words_of("# “Requests” — 12… ‘x’") == "\"Requests\" - 12... 'x'"
