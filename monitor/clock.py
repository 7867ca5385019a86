"""The one clock: ``utc_now`` and the ``Clock`` type every shell component takes.

Pure code never reads the clock; it is handed ``now``. Shell components take a
``clock`` argument defaulting to ``utc_now`` so tests can freeze or step time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)
