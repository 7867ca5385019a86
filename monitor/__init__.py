"""policy-monitor: a change monitor for corporate transparency-report and policy pages.

The package is a pure core (``extract``, ``diff``, ``classify``, ``projections``,
``events``) wrapped in a thin async shell (``fetch``, ``store``, ``pipeline``,
``cli``). See ``docs/architecture.md``.
"""

__version__ = "0.1.0"
