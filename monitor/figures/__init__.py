"""Figures: the numbers of a report's table, read as series (key × period × column).

A source with ``[source.figures]`` has its table read from every good capture
(CSV, XLSX, an HTML ``<table>``, or any of these inside a ZIP). Each capture's
table is compared with the previous one's, which yields the facts recorded in
the log after the capture's ``ChangeDetected``: ``FiguresPublished`` (a period
not seen before), ``FiguresRestated`` (a figure of a published row changed) and
``FiguresWithdrawn`` (a published row is gone). Rules over figures
(``[[rule]]`` with ``when``) match those facts.

Pure modules (no I/O, no clock): ``values`` (one cell → text and number or
range), ``tables`` (a body → rows; archives are read from memory), ``model``
(rows → a keyed table, periods ordered), ``read`` (a body → its table), ``decide``
(two tables → facts and rule matches), ``history`` (the fold of the log's figures
events), ``series`` (what ``monitor figures`` and the web show), ``chart`` (the
layout of a server-side SVG chart). The shell: ``runner`` (the check pipeline's
figures step: reads blobs, appends facts) and ``view`` (loads a source's figures
from the store for the CLI and the web).
"""
