"""The web view: HTML pages, Atom feeds, the JSON API (with its OpenAPI document), metrics.

``app`` builds the aiohttp application; ``model`` is the pure read model folded from
the log; ``views``, ``feeds``, ``api`` and ``metrics`` render it. Templates and static
files live beside the modules.
"""
