"""Durations ("1h30m") and sizes ("20MB") as ``sources.toml`` writes them, both ways.

Pure. Whole seconds and whole bytes; KB = KiB = 1024 bytes.
"""

from __future__ import annotations

import re

__all__ = [
    "DURATION_EXAMPLE",
    "MAX_CONFIG_SECONDS",
    "duration_text",
    "parse_duration",
    "parse_size",
    "size_text",
]

DURATION_EXAMPLE = "a duration like '90s', '15m', '6h' or '1d'"
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_UNIT_NAMES = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("d", "day", "days"), "d"),
    **dict.fromkeys(("w", "wk", "week", "weeks"), "w"),
}
_DURATION_PART = re.compile(r"\s*(\d+)\s*([A-Za-z]*)")
# Ten years: far past any sensible setting, far inside what datetime and timers can add.
MAX_DURATION = 3650 * 86400
# Every duration in the config is at most a year: longer is a typo, and a schedule
# that far out would overflow the scheduler's arithmetic only at run time.
MAX_CONFIG_SECONDS = 366 * 86400
MAX_SIZE = 1024**4  # 1 TiB: bounds a float-shaped size before int() sees infinity


def parse_duration(text: str) -> int:
    """Seconds in "90s", "15m", "6h", "1d", "1w" or a combination such as "1h30m"."""
    if not text.strip():
        raise ValueError(f"the duration is empty; expected {DURATION_EXAMPLE}")
    if re.search(r"\d[.,]\d", text):
        raise ValueError(f"{text!r}: use whole numbers, like '1h30m' rather than '1.5h'")
    total, pos, order = 0, 0, "wdhms"
    last = -1
    while pos < len(text.rstrip()):
        part = _DURATION_PART.match(text, pos)
        if part is None:
            raise ValueError(f"{text!r} is not a duration; expected {DURATION_EXAMPLE}")
        number, unit_text = part.group(1), part.group(2)
        if not unit_text:
            if part.end() == len(text.rstrip()) and pos == 0:
                raise ValueError(
                    f"{text!r} has no unit; write '{number}s' for seconds or '{number}m' "
                    "for minutes (also h, d, w)"
                )
            raise ValueError(f"{number!r} in {text!r} has no unit; expected {DURATION_EXAMPLE}")
        unit = _UNIT_NAMES.get(unit_text.lower())
        if unit is None:
            raise ValueError(
                f"{unit_text!r} in {text!r} is not a unit; use s, m, h, d or w ({DURATION_EXAMPLE})"
            )
        if order.index(unit) <= last:
            raise ValueError(
                f"{text!r}: write units from largest to smallest, each once, like '1h30m'"
            )
        last = order.index(unit)
        total += int(number) * _UNIT_SECONDS[unit]
        if total > MAX_DURATION:
            raise ValueError(
                f"{text!r} is longer than {MAX_DURATION // 86400} days, the longest duration "
                "the monitor accepts"
            )
        pos = part.end()
    return total


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_SIZE_UNITS = {
    **dict.fromkeys(("", "b"), 1),
    **dict.fromkeys(("k", "kb", "kib"), 1024),
    **dict.fromkeys(("m", "mb", "mib"), 1024**2),
    **dict.fromkeys(("g", "gb", "gib"), 1024**3),
}


def parse_size(text: str) -> int:
    """``"20MB"``, ``"512 KB"``, ``"1.5GiB"`` or ``"4096"`` → bytes (KB = KiB = 1024 bytes)."""
    found = _SIZE.match(text)
    factor = _SIZE_UNITS.get(found.group(2).lower()) if found else None
    if found is None or factor is None:
        raise ValueError(f"{text!r} is not a size; expected bytes or a size like '512KB' or '20MB'")
    size = float(found.group(1)) * factor  # inf for a number past float range, never an error
    if size > MAX_SIZE:
        raise ValueError(f"{text[:40]!r} is larger than 1 TiB, the largest size accepted")
    return int(size)


def size_text(size: int) -> str:
    """Bytes as the largest whole unit: ``1073741824`` → ``"1GB"``."""
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size} bytes"


def duration_text(seconds: int) -> str:
    """Seconds as ``sources.toml`` would write them: ``5400`` → ``"1h30m"``, ``0`` → ``"0s"``."""
    parts: list[str] = []
    for unit, factor in _UNIT_SECONDS.items():
        count, seconds = divmod(seconds, factor)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
