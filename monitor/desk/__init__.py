"""The analyst's desk: triage, search, stories across companies, removals.

Everything here is a fold of the log or a decision that returns events; the
shell parts (``review``, ``story_detector``, ``search_index``) append or index
and nothing else.

* ``triage`` — reviews and annotations of changes (pure fold), the review queue,
  the ``ignore`` line that would have suppressed a change marked noise;
* ``review`` — recording a review or a note (shell: appends to ``$reviews``);
* ``stories`` — the same rule on the same side at several companies (pure);
* ``story_detector`` — follows the log and appends ``StoryDetected`` (shell);
* ``search`` / ``search_index`` — what is searchable in a change or capture
  (pure) and the full-text index rebuilt from the log (SQLite FTS5);
* ``summaries`` — change summaries that speak the format (CSV rows by key,
  JSON paths, PDF pages, document links).
"""
