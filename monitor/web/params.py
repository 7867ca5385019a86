"""Query parameters of the JSON API that more than one route reads, parsed to its contract.

Every answer to a parameter the OpenAPI document forbids is a 400 (``web.HTTPBadRequest``,
rendered as problem details); every value it allows is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

from aiohttp import web

from monitor.events import format_time

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def time_param(query: Mapping[str, str], name: str) -> str | None:
    """An RFC 3339 time, as stored: UTC with a four-digit year.

    A leap second (``:60``) reads as the last instant of its minute. A time beyond the
    last representable instant once moved to UTC (9999-12-31T23:59:00-01:00) means
    "after everything", one before year 1 in UTC "before everything": the answer is
    the one such a bound would give, and the ``at`` echoed back stays RFC 3339.
    """
    raw = query.get(name)
    if raw is None:
        return None
    found = _RFC3339.fullmatch(raw.strip())
    try:
        if found is None:
            raise ValueError(raw)
        year, month, day, hour, minute, second = (int(found.group(i)) for i in range(1, 7))
        micro = int((found.group(7) or "0")[:6].ljust(6, "0"))
        if second == 60:
            second, micro = 59, 999999
        zone = UTC
        if found.group(8).upper() != "Z":
            sign = -1 if found.group(8)[0] == "-" else 1
            hours, minutes = int(found.group(8)[1:3]), int(found.group(8)[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError(raw)
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        # Year 0 is valid RFC 3339 but not a Python date: check the rest in leap year 4.
        moment = datetime(year or 4, month, day, hour, minute, second, micro, tzinfo=zone)
        if year == 0:
            moment = datetime.min.replace(tzinfo=UTC)
    except ValueError:
        raise web.HTTPBadRequest(
            text=f"cannot read the time {raw!r}: use RFC 3339, like 2026-03-12T08:00:00Z"
        ) from None
    try:
        return format_time(moment)
    except OverflowError:
        edge = datetime.max if moment.year > 1 else datetime.min
        return format_time(edge.replace(tzinfo=UTC))


_DIGITS = re.compile(r"[0-9]+")
_DURATION = re.compile(r"([0-9]+)([smhdw])")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_SEQ = 2**62


def seq_param(query: Mapping[str, str], name: str) -> int | None:
    """A ``seq`` bound: ASCII digits, any size (past every seq reads as "no bound")."""
    raw = query.get(name)
    if raw is None:
        return None
    if not _DIGITS.fullmatch(raw):
        raise web.HTTPBadRequest(text=f"{name} must be a whole number (a seq) from 0")
    stripped = raw.lstrip("0") or "0"
    return MAX_SEQ if len(stripped) > 19 else min(int(stripped), MAX_SEQ)


def int_param(query: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    """A whole number from ``low`` to ``high`` in ASCII digits, or None when absent."""
    raw = query.get(name)
    if raw is None:
        return None
    if not _DIGITS.fullmatch(raw) or len(raw) > 12 or not low <= int(raw) <= high:
        raise web.HTTPBadRequest(text=f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def since_param(query: Mapping[str, str], name: str, now: datetime) -> str | None:
    """An RFC 3339 time, a date (``2026-03-01``, its midnight UTC) or a duration ago
    (``30d``: s, m, h, d or w), as a stored time; a bound before every time reads as
    the earliest one."""
    raw = query.get(name)
    if raw is None:
        return None
    text = raw.strip()
    duration = _DURATION.fullmatch(text)
    if duration:
        seconds = int(duration.group(1)) * _UNIT_SECONDS[duration.group(2)]
        try:
            return format_time(now - timedelta(seconds=seconds))
        except OverflowError:
            return format_time(datetime.min.replace(tzinfo=UTC))
    date = _DATE.fullmatch(text)
    if date:
        year, month, day = (int(date.group(i)) for i in (1, 2, 3))
        try:
            moment = datetime(year or 4, month, day, tzinfo=UTC)  # year 0: check in year 4
        except ValueError:
            raise web.HTTPBadRequest(text=f"{name}: {raw!r} is not a date") from None
        return format_time(moment if year else datetime.min.replace(tzinfo=UTC))
    return time_param({name: text}, name)
