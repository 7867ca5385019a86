"""When checks run: jitter, spreading after a (re)start, cron, one run per source at a time."""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config.settings import SourceSettings
from monitor.daemon.scheduler import (
    CRON_JITTER_CAP,
    NEW_SOURCE_SPREAD,
    Cadence,
    CheckScheduler,
    JitteredInterval,
    cadence_of,
    first_check_at,
)

NOW = datetime(2026, 3, 12, 3, 0, tzinfo=UTC)


def every(seconds: int, percent: int = 10) -> Cadence:
    return Cadence(interval=seconds, cron=None, jitter=seconds * percent / 100)


def offsets(cadence: Cadence, last: datetime | None, n: int = 400) -> list[float]:
    rng = random.Random(7)
    return [(first_check_at(cadence, last, NOW, rng) - NOW).total_seconds() for _ in range(n)]


def test_overdue_sources_are_spread_over_the_jitter_window_not_fired_at_once() -> None:
    hourly = every(3600)  # ±10 %: a 360 s window
    found = offsets(hourly, last=NOW - timedelta(hours=5))
    assert all(0 <= s <= 360 for s in found)
    assert max(found) - min(found) > 0.9 * 360
    # Roughly uniform: each tenth of the window gets some of the 400 sources.
    buckets = {int(s // 36) for s in found}
    assert buckets == set(range(10))


def test_a_source_not_yet_due_keeps_its_rhythm() -> None:
    hourly = every(3600)
    last = NOW - timedelta(minutes=20)
    found = offsets(hourly, last=last)
    # last check + 1 h ± 6 min, i.e. 34 to 46 minutes from now
    assert all(34 * 60 <= s <= 46 * 60 for s in found)


def test_never_checked_sources_start_within_a_minute_but_not_all_at_once() -> None:
    daily = every(86400)  # the jitter window alone would be 2.4 h
    found = offsets(daily, last=None)
    assert all(0 <= s <= NEW_SOURCE_SPREAD for s in found)
    assert max(found) - min(found) > 0.9 * NEW_SOURCE_SPREAD
    short = offsets(every(20, percent=25), last=None)  # window 5 s < 60 s
    assert all(0 <= s <= 5 for s in short)


def test_zero_jitter_means_exactly_on_time() -> None:
    exact = every(600, percent=0)
    assert set(offsets(exact, last=NOW - timedelta(minutes=4), n=20)) == {360.0}
    assert set(offsets(exact, last=NOW - timedelta(hours=2), n=20)) == {0.0}


def test_jittered_interval_keeps_the_mean_period_where_apscheduler_drifts() -> None:
    trigger = JitteredInterval(600, 60.0, random.Random(3))
    times = [NOW]
    for _ in range(2000):
        times.append(trigger.get_next_fire_time(times[-1], times[-1]))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(540 <= g <= 660 for g in gaps)
    assert statistics.mean(gaps) == pytest.approx(600, abs=3)
    assert statistics.pstdev(gaps) > 25  # really jittered, not a fixed beat


def source(**kwargs: object) -> SourceSettings:
    return SourceSettings(id="s", url="https://example.org/", **kwargs)  # type: ignore[arg-type]


def test_cron_sources_fire_at_cron_times_in_utc_and_are_only_delayed() -> None:
    six_hourly = cadence_of(
        source(cron="0 */6 * * *"), jitter_percent=10, default_interval=3600, now=NOW
    )
    assert six_hourly.cron is not None
    assert six_hourly.jitter == CRON_JITTER_CAP  # 10 % of 6 h is 36 min; capped at 5 min
    # Checked at 01:00, now 03:00: the next cron time is 06:00 UTC, plus at most the jitter.
    found = offsets(six_hourly, last=NOW - timedelta(hours=2))
    assert all(3 * 3600 <= s <= 3 * 3600 + CRON_JITTER_CAP for s in found)
    # Checked at 23:00 the day before: the 00:00 run was missed, so it runs soon.
    found = offsets(six_hourly, last=NOW - timedelta(hours=4))
    assert all(0 <= s <= CRON_JITTER_CAP for s in found)
    every_minute = cadence_of(
        source(cron="* * * * *"), jitter_percent=10, default_interval=1, now=NOW
    )
    assert every_minute.jitter == pytest.approx(6.0)


def test_interval_falls_back_to_the_default() -> None:
    assert cadence_of(source(), jitter_percent=20, default_interval=600, now=NOW) == Cadence(
        interval=600, cron=None, jitter=120.0
    )


async def test_jobs_fire_one_at_a_time_per_source_and_follow_config_changes() -> None:
    running: dict[str, int] = {}
    peak: dict[str, int] = {}
    calls: list[str] = []
    enough = asyncio.Event()  # waited on, not slept for: a loaded machine only takes longer

    async def on_due(source_id: str) -> None:
        calls.append(source_id)
        running[source_id] = running.get(source_id, 0) + 1
        peak[source_id] = max(peak.get(source_id, 0), running[source_id])
        await asyncio.sleep(1.5 if source_id == "slow" else 0)
        running[source_id] -= 1
        if calls.count("fast") >= 3 and calls.count("slow") >= 2:
            enough.set()

    scheduler = CheckScheduler(on_due, rng=random.Random(1))
    scheduler.start()
    try:
        fast = SourceSettings(id="fast", url="https://a.example/", interval=1)
        slow = SourceSettings(id="slow", url="https://b.example/", interval=1)
        changes = scheduler.sync(
            [fast, slow], last_checked={}, jitter_percent=0, default_interval=60
        )
        assert sorted(changes.added) == ["fast", "slow"]
        await asyncio.wait_for(enough.wait(), 60)
        assert peak["slow"] == 1  # due every second, but never two at once

        # An unchanged cadence keeps its next run; a changed one is retimed; gone is gone.
        before = scheduler.next_check("fast")
        slower = SourceSettings(id="fast", url="https://a.example/other", interval=3600)
        unchanged = scheduler.sync([fast], last_checked={}, jitter_percent=0, default_interval=60)
        assert unchanged.removed == ("slow",) and not unchanged.rescheduled
        assert scheduler.next_check("fast") == before
        assert scheduler.next_check("slow") is None
        retimed = scheduler.sync(
            [slower],
            last_checked={"fast": datetime.now(UTC)},
            jitter_percent=0,
            default_interval=60,
        )
        assert retimed.rescheduled == ("fast",)
        next_fast = scheduler.next_check("fast")
        assert next_fast is not None
        assert next_fast - datetime.now(UTC) > timedelta(minutes=59)
    finally:
        scheduler.shutdown()
        await asyncio.sleep(0)
