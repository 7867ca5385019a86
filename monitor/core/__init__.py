"""The pure decisions: what a check means, which rules fire, what the log says about a source.

Modules here take values (and ``now``) and return values or events; they import
``monitor.events``, ``monitor.errors``, the settings and other pure packages
(``extract``, ``diff``), never an I/O library (aiohttp, sqlite, Apprise, the clock).
"""
