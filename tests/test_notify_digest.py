"""Digest times and retry back-off: pure functions, checked with tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.notify.digest import (
    DigestSpec,
    digest_id,
    next_digest_time,
    parse_digest,
    retry_delay,
)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# 2026-03-09 is a Monday.
@pytest.mark.parametrize(
    ("spec", "after", "expected"),
    [
        ("daily@08:00", "2026-03-09T07:59:59", "2026-03-09T08:00:00"),
        ("daily@08:00", "2026-03-09T08:00:00", "2026-03-10T08:00:00"),  # strictly after
        ("daily@08:00", "2026-03-09T08:00:01", "2026-03-10T08:00:00"),
        ("daily@08:00", "2026-03-09T23:59:59", "2026-03-10T08:00:00"),
        ("daily@00:00", "2026-12-31T23:30:00", "2027-01-01T00:00:00"),
        ("daily@23:59", "2026-02-28T23:59:30", "2026-03-01T23:59:00"),
        ("weekly@mon 08:00", "2026-03-09T07:00:00", "2026-03-09T08:00:00"),
        ("weekly@mon 08:00", "2026-03-09T08:00:00", "2026-03-16T08:00:00"),
        ("weekly@mon 08:00", "2026-03-10T06:00:00", "2026-03-16T08:00:00"),
        ("weekly@sun 18:30", "2026-03-09T08:00:00", "2026-03-15T18:30:00"),
        ("weekly@fri 09:15", "2026-03-13T09:15:00", "2026-03-20T09:15:00"),
        ("weekly@wed 00:00", "2026-12-31T12:00:00", "2027-01-06T00:00:00"),
    ],
)
def test_next_digest_time(spec: str, after: str, expected: str) -> None:
    assert next_digest_time(spec, t(after)) == t(expected)


def test_next_digest_time_reads_other_offsets_as_the_same_instant() -> None:
    """Digest times are UTC whatever offset the input carries."""
    tokyo = datetime(2026, 3, 9, 16, 0, tzinfo=timezone(timedelta(hours=9)))  # 07:00 UTC
    assert next_digest_time("daily@08:00", tokyo) == t("2026-03-09T08:00:00")


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        next_digest_time("daily@08:00", datetime(2026, 3, 9, 8, 0))


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("daily@08:00", DigestSpec(hour=8, minute=0)),
        ("weekly@mon 08:00", DigestSpec(hour=8, minute=0, weekday=0)),
        ("weekly@sun 23:59", DigestSpec(hour=23, minute=59, weekday=6)),
        (" Daily@07:05 ", DigestSpec(hour=7, minute=5)),
    ],
)
def test_parse_digest(spec: str, parsed: DigestSpec) -> None:
    assert parse_digest(spec) == parsed


@pytest.mark.parametrize(
    "spec",
    [
        "daily",
        "daily@8:00",
        "daily@24:00",
        "daily@08:60",
        "weekly@08:00",
        "hourly@08:00",
        "weekly@monday 08:00",
    ],
)
def test_parse_digest_refuses_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="digest"):
        parse_digest(spec)


@given(
    after=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    weekday=st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun", None]),
)
def test_next_digest_time_is_the_first_matching_minute_after(
    after: datetime, hour: int, minute: int, weekday: str | None
) -> None:
    spec = (
        f"daily@{hour:02}:{minute:02}"
        if weekday is None
        else (f"weekly@{weekday} {hour:02}:{minute:02}")
    )
    due = next_digest_time(spec, after)
    assert after < due <= after + timedelta(days=1 if weekday is None else 7)
    assert (due.hour, due.minute, due.second, due.microsecond) == (hour, minute, 0, 0)
    if weekday is not None:
        assert due.strftime("%a").lower() == weekday


def test_digest_id_names_channel_and_minute() -> None:
    assert digest_id("team-mail", t("2026-03-09T08:00:00")) == "team-mail@2026-03-09T08:00Z"


@pytest.mark.parametrize(
    ("attempt", "base", "expected"),
    [
        (1, 5.0, 5.0),
        (2, 5.0, 10.0),
        (3, 5.0, 20.0),
        (5, 5.0, 80.0),
        (20, 5.0, 3600.0),
        (1, 0.1, 0.1),
    ],
)
def test_retry_delay_doubles_up_to_a_cap(attempt: int, base: float, expected: float) -> None:
    assert retry_delay(attempt, base) == pytest.approx(expected)


def test_retry_delay_counts_from_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        retry_delay(0, 5.0)
