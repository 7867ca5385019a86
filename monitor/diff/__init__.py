"""Pure: two normalized texts → a deterministic, exact diff with stats and a summary.

``textdiff`` is the entry (``diff_texts``, ``TextDiff``, ``BlockChange``); it walks the
line alignment of ``align``, writes the exact ``patch`` and the ``summary`` line, with
words, headings and page markers defined once in ``words``. Imports only the standard
library and diff-match-patch.
"""
