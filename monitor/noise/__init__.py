"""Noise handling that generalizes: what a reader sees, what kind of token changed.

- ``visibility``: the rules that decide which markup is never page text (hidden
  content, consent banners, screen-reader-only copies) and which is page *chrome*
  (navigation, banners, footers, asides) — declared once, as CSS selectors and small
  predicates, for the extractor's walker and for any other pass over a Lexbor tree;
- ``volatile``: tokens that change on every request or every day (identifiers,
  relative and clock times, counters, dates) and the classification of a change
  made only of them;
- ``learned``: blocks of one source that change on every check, learned from the log;
- ``suggest``: a ready ``[[source]]`` block for a page nobody tuned.
"""
