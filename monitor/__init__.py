"""policy-monitor: a change monitor for corporate transparency-report and policy pages.

The package is a pure core (``extract``, ``diff``, ``classify``, ``projections``,
``events``) wrapped in a thin async shell (``fetch``, ``store``, ``pipeline``,
``cli``). See ``docs/architecture.md``.
"""

__version__ = "0.1.0"

# Before any module defines a dataclass: their generated methods come compiled (codecache).
from monitor.codecache import install as _install_code_cache

_install_code_cache()
