"""Benchmark ``monitor replay`` over a large SQLite log; prints events/s (not a test).

Run: ``python tests/perf/bench_replay.py [EVENTS]`` (default 100,000). The target is
>= 50,000 events/s for a full replay (read + JSON decode + fold + digest) on a
2-core machine. The log is synthetic but shaped like a real one: 200 sources, mostly
``ContentConfirmed``, with captures, changes carrying diffs, failures and
recoveries, and the data of each type as the pipeline writes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

from monitor.audit.replay import replay_log
from monitor.events import NewEvent, format_time
from monitor.store import SqliteEventStore

TARGET_EVENTS_PER_S = 50_000
SOURCES = 200
BATCH = 1000


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def capture(rnd: random.Random, source: int, n: int, when: str) -> dict[str, Any]:
    return {
        "requested_url": f"https://example.org/policy/{source}",
        "final_url": f"https://www.example.org/policy/{source}",
        "redirects": [{"url": f"https://example.org/policy/{source}", "status": 301}],
        "status": 200,
        "headers": {
            "content-type": "text/html; charset=utf-8",
            "etag": f'"{sha(str(n))[:16]}"',
            "last-modified": "Tue, 03 Mar 2026 10:00:00 GMT",
            "date": "Tue, 03 Mar 2026 10:00:00 GMT",
            "server": "nginx",
            "cache-control": "max-age=600",
        },
        "fetched_at": when,
        "elapsed_ms": rnd.randint(80, 900),
        "raw_sha256": sha(f"raw {source} {n}"),
        "text_sha256": sha(f"text {source} {n}"),
        "bytes": rnd.randint(50_000, 400_000),
        "text_chars": rnd.randint(5_000, 60_000),
        "extractor": "extract-1",
        "extraction_key": sha(str(source))[:16],
        "media_type": "text/html",
        "format": "html",
        "title": f"Transparency report of company {source}",
    }


def change_data(rnd: random.Random, source: int, n: int, when: str) -> dict[str, Any]:
    words = [f"word{rnd.randint(0, 999)}" for _ in range(12)]
    return {
        "capture": capture(rnd, source, n, when),
        "previous": sha(f"text {source} {n - 1}"),
        "previous_seen_until": when,
        "diff": {
            "patch": "@@ -1021,24 +1021,25 @@\n " + " ".join(words)[:80] + "\n",
            "stats": {"blocks_added": 0, "blocks_changed": 1, "words_added": 2, "words_removed": 1},
            "summary": "1 paragraph changed under 'Government requests'",
            "changes": [
                {
                    "op": "changed",
                    "old": " ".join(words[:6]),
                    "new": " ".join(words[6:]),
                    "path": ["Government requests"],
                    "words_removed": words[:1],
                    "words_added": words[6:8],
                    "inline": [[0, "We have "], [-1, words[0]], [1, words[6]], [0, " requests."]],
                }
            ],
            "added": words[6:8],
            "removed": words[:1],
        },
        "classification": "substantive",
        "rules": [],
        "severity": "info",
    }


def plan(rnd: random.Random, total: int) -> list[NewEvent]:
    """``total`` events over SOURCES streams, each stream a plausible history."""
    events: list[NewEvent] = []
    versions = [0] * SOURCES
    captures = [0] * SOURCES
    failing = [0] * SOURCES
    clock = 1_772_000_000
    for source in range(SOURCES):
        settings = {"id": f"src-{source}", "url": f"https://example.org/policy/{source}"}
        events.append(_new(source, versions, "SourceRegistered", {"settings": settings}))
    while len(events) < total:
        source = rnd.randrange(SOURCES)
        clock += rnd.randint(1, 30)
        when = format_time(_utc(clock))
        roll = rnd.random()
        kind: str
        data: dict[str, Any]
        if captures[source] == 0:
            captures[source] = 1
            kind, data = "BaselineCaptured", {"capture": capture(rnd, source, 1, when)}
        elif failing[source] and roll < 0.5:
            kind = "SourceRecovered"
            data = {"failures": failing[source], "failing_since": when}
            failing[source] = 0
        elif roll < 0.10:
            captures[source] += 1
            kind, data = "ChangeDetected", change_data(rnd, source, captures[source], when)
        elif roll < 0.18:
            failing[source] += 1
            kind = "FetchFailed"
            data = {
                "url": f"https://example.org/policy/{source}",
                "error": "timeout",
                "message": "no complete answer within 30s",
                "status": None,
                "attempt": 1,
                "consecutive_failures": failing[source],
                "fetched_at": when,
            }
        elif roll < 0.20:
            kind = "ContentSuspect"
            data = {
                "capture": capture(rnd, source, 10_000 + captures[source], when),
                "reason": "bot_challenge",
                "detail": "the page says 'Just a moment...'",
            }
        else:
            kind = "ContentConfirmed"
            data = {
                "text_sha256": sha(f"text {source} {captures[source]}"),
                "fetched_at": when,
                "checks_since_last_event": rnd.randint(1, 30),
            }
        events.append(_new(source, versions, kind, data))
    return events


def _utc(seconds: int) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC)


def _new(source: int, versions: list[int], kind: str, data: dict[str, Any]) -> NewEvent:
    versions[source] += 1
    return NewEvent(
        event_id=f"bench-{source}-{versions[source]}",
        stream=f"src-{source}",
        type=kind,
        schema=1,
        data=data,
    )


async def main(total: int) -> int:
    rnd = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        store = await SqliteEventStore.open(path)
        try:
            events = plan(rnd, total)
            started = time.perf_counter()
            for start in range(0, len(events), BATCH):
                await store.append(events[start : start + BATCH])
            written = time.perf_counter() - started
            size = path.stat().st_size
            print(f"wrote {len(events):,} events in {written:.1f}s ({size / 1e6:.0f} MB)")

            # Best of three; CPU time (all threads) as well as wall time, since a busy
            # machine stretches wall time without the replay doing more work.
            read_wall, read_cpu, replay_wall, replay_cpu = [], [], [], []
            for _ in range(3):
                wall, cpu = time.perf_counter(), time.process_time()
                count = 0
                async for _event in store.iterate(batch=5000):
                    count += 1
                read_wall.append(time.perf_counter() - wall)
                read_cpu.append(time.process_time() - cpu)
                wall, cpu = time.perf_counter(), time.process_time()
                result = await replay_log(store)
                replay_wall.append(time.perf_counter() - wall)
                replay_cpu.append(time.process_time() - cpu)
        finally:
            await store.close()
    n = result.events
    print(
        f"read only:   {count / min(read_wall):,.0f} events/s wall, "
        f"{count / min(read_cpu):,.0f} events/s CPU"
    )
    print(
        f"full replay: {n / min(replay_wall):,.0f} events/s wall ({min(replay_wall):.2f}s), "
        f"{n / min(replay_cpu):,.0f} events/s CPU ({min(replay_cpu):.2f}s) for {n:,} events, "
        f"{len(result.states)} sources; digest {result.digest[:16]}…"
    )
    rate = n / min(replay_wall)
    verdict = "meets" if rate >= TARGET_EVENTS_PER_S else "MISSES"
    print(f"{verdict} the target of {TARGET_EVENTS_PER_S:,} events/s")
    return 0 if rate >= TARGET_EVENTS_PER_S else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)))
