"""Standard five-field cron expressions: validated, and rewritten for APScheduler 3.

Pure. ``normalize_cron`` rewrites an expression so that APScheduler 3 (which counts
weekday 0 as Monday, not Sunday, and knows no month names with steps) fires at
exactly the times cron would.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

__all__ = ["normalize_cron", "validate_cron"]

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron numbering: sun = 0 (or 7)
_APS_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # APScheduler 3 numbering
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_CRON_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# name, lowest, highest, names (indexed from `lowest`)
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _CRON_DAYS),
)


def _cron_number(token: str, field: int) -> int:
    name, low, high, names = _CRON_FIELDS[field]
    if token.isdigit():
        value = int(token)
        if not low <= value <= high:
            raise ValueError(f"{name} {value} is out of range {low}-{high}")
        return value
    if names and token.lower() in names:
        return names.index(token.lower()) + low
    if names:
        close = difflib.get_close_matches(token.lower(), names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f" ({', '.join(names)})"
        raise ValueError(f"{token!r} is not a {name} number or name{hint}")
    raise ValueError(
        f"{token!r} is not valid in the {name} field; use numbers, *, ranges (1-5), "
        "lists (1,3) or steps (*/15)"
    )


def _cron_values(text: str, field: int) -> set[int]:
    name, low, high, _ = _CRON_FIELDS[field]
    if field == 4:
        high = 6  # 7 is only another spelling of Sunday
    values: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        if not base:
            raise ValueError(f"empty item in the {name} field {text!r}")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"step {step_text!r} in {item!r} must be a whole number from 1")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            start, _, end = base.partition("-")
            first, last = _cron_number(start, field), _cron_number(end, field)
            if field == 4 and last == 0 and first > 0:
                last = 7  # "fri-sun": Sunday closes the week
            if first > last:
                raise ValueError(
                    f"range {base!r} in the {name} field goes backwards; "
                    "cron ranges do not wrap around"
                )
        else:
            first = _cron_number(base, field)
            last = high if slash else first  # "5/15" means 5-59/15, as in Vixie cron
        if step > 1 and step > last - first:
            hint = (
                f" (for every {step} {name}s use interval = '{step}{name[0]}' instead)"
                if field in (0, 1)
                else ""
            )
            raise ValueError(
                f"step /{step} in {item!r} is larger than the {name} range "
                f"{first}-{last}, so it would only ever match {first}{hint}"
            )
        values.update(range(first, last + 1, step))
    if field == 4 and 7 in values:
        values.discard(7)
        values.add(0)
    return values


def _compress(indexes: Iterable[int], names: tuple[str, ...]) -> str:
    """Sorted indexes into ``names`` → 'mon-fri,sun' (runs of three or more become ranges)."""
    ordered = sorted(set(indexes))
    out: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            out.append(f"{names[ordered[i]]}-{names[ordered[j]]}")
        else:
            out.extend(names[k] for k in ordered[i : j + 1])
        i = j + 1
    return ",".join(out)


def normalize_cron(expr: str) -> str:
    """Validate a standard 5-field cron expression and return it in a form APScheduler 3 agrees on.

    Minute, hour and day-of-month are kept as written; month names become numbers;
    the day of week becomes names (``"1-5"`` → ``"mon-fri"``) because APScheduler 3
    reads weekday numbers as Monday = 0. Raises ``ValueError`` with a readable reason.
    """
    text = _CRON_NICKNAMES.get(expr.strip().lower(), expr)
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(
            f"{expr!r} is not a valid cron expression: it needs 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    try:
        values = [_cron_values(part, i) for i, part in enumerate(parts)]
    except ValueError as exc:
        raise ValueError(f"{expr!r} is not a valid cron expression: {exc}") from None
    day_text, week_text = parts[2], parts[4]
    if not day_text.startswith("*") and not week_text.startswith("*"):
        raise ValueError(
            f"{expr!r} restricts both the day of month ({day_text!r}) and the day of week "
            f"({week_text!r}); cron fires when either matches, which the scheduler cannot "
            "express — restrict one of them and write * for the other"
        )
    if not any(day <= _DAYS_IN_MONTH[month - 1] for day in values[2] for month in values[3]):
        raise ValueError(f"{expr!r} never fires: none of its months has day {min(values[2])}")
    month_text = re.sub(r"[A-Za-z]+", lambda m: str(_MONTHS.index(m.group().lower()) + 1), parts[3])
    if week_text.startswith("*") and len(values[4]) == 7:
        week = "*"
    else:
        week = _compress(((day - 1) % 7 for day in values[4]), _APS_DAYS)
    return " ".join((parts[0], parts[1], day_text, month_text, week))


def validate_cron(expr: str) -> str | None:
    """The reason ``expr`` is not a valid standard 5-field cron expression, or None if it is."""
    try:
        normalize_cron(expr)
    except ValueError as exc:
        return str(exc)
    return None
