"""Pure: *when* the notifier sends — digest times and retry back-off.

A channel with ``digest = "daily@HH:MM"`` or ``digest = "weekly@mon HH:MM"``
(UTC, 24-hour) gets its alerts batched into one message at the next digest
time. ``next_digest_time(spec, after)`` is strictly after ``after``: an event
recorded exactly at 08:00 goes into the *next* 08:00 digest, so a digest that
was just sent never gains new members afterwards.

Retries of a failed send wait ``base * 2**(attempt - 1)`` seconds, capped, so a
channel that is down is asked a handful of times over a few minutes, not
hammered.

No I/O; every function takes the moment it reasons about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["DigestSpec", "digest_id", "next_digest_time", "parse_digest", "retry_delay"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_RETRY_DELAY = 3600.0  # seconds; back-off never waits longer than this between attempts

_SPEC = re.compile(
    r"^(?:(?P<daily>daily)@|weekly@(?P<day>mon|tue|wed|thu|fri|sat|sun) )"
    r"(?P<hour>\d\d):(?P<minute>\d\d)$"
)


@dataclass(frozen=True, slots=True)
class DigestSpec:
    """A parsed digest setting: a time of day, and a weekday (0 = Monday) for weekly digests."""

    hour: int
    minute: int
    weekday: int | None = None  # None: every day


def parse_digest(spec: str) -> DigestSpec:
    """``"daily@08:00"`` or ``"weekly@mon 08:00"`` → DigestSpec; ValueError otherwise."""
    found = _SPEC.match(spec.strip().lower())
    if not found:
        raise ValueError(
            f'digest {spec!r} is not "daily@HH:MM" or "weekly@mon HH:MM" (UTC, 24-hour)'
        )
    hour, minute = int(found["hour"]), int(found["minute"])
    if hour > 23 or minute > 59:
        raise ValueError(f"digest {spec!r} names a time of day that does not exist")
    weekday = None if found["daily"] else WEEKDAYS.index(found["day"])
    return DigestSpec(hour=hour, minute=minute, weekday=weekday)


def next_digest_time(spec: str | DigestSpec, after: datetime) -> datetime:
    """The first digest time strictly after ``after`` (an aware datetime), in UTC."""
    if after.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
    parsed = parse_digest(spec) if isinstance(spec, str) else spec
    moment = after.astimezone(UTC)
    candidate = moment.replace(hour=parsed.hour, minute=parsed.minute, second=0, microsecond=0)
    if parsed.weekday is not None:
        candidate += timedelta(days=(parsed.weekday - candidate.weekday()) % 7)
    step = timedelta(days=1 if parsed.weekday is None else 7)
    while candidate <= moment:
        candidate += step
    return candidate


def digest_id(channel: str, due: datetime) -> str:
    """The id shared by every ``NotificationSent`` of one digest message."""
    return f"{channel}@{due.astimezone(UTC).strftime('%Y-%m-%dT%H:%MZ')}"


def retry_delay(attempt: int, base: float, cap: float = MAX_RETRY_DELAY) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based) before the next."""
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, not {attempt}")
    return float(min(cap, base * 2 ** (attempt - 1)))
