"""Figures: the numbers of a report's table, read as series (key × period × column).

A source with ``[source.figures]`` has its table read from every good capture
(CSV, XLSX, an HTML ``<table>``, or any of these inside a ZIP). Each capture's
table is compared with the previous one's, which yields the facts recorded in
the log after the capture's ``ChangeDetected``: ``FiguresPublished`` (a period
not seen before), ``FiguresRestated`` (a figure of a published row changed) and
``FiguresWithdrawn`` (a published row is gone). Rules over figures
(``[[rule]]`` with ``when``) match those facts.

Modules: ``values`` (one cell → text and number or range), ``tables`` (a body →
rows), ``model`` (rows → a keyed table, periods ordered), ``decide`` (two
tables → facts and rule matches), ``history`` (the fold of the log's figures
events), ``series`` (what ``monitor figures`` and the web show), ``chart``
(a server-side SVG). All pure; the pipeline and the commands do the I/O.
"""
