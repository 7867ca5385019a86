"""Benchmark ``monitor search`` over 10,000 changes; prints query times (not a test).

Run: ``python tests/perf/bench_search.py [CHANGES] [--pg=postgresql://…?schema=NEW]``
(default 10,000; with ``--pg`` the log is also copied into that PostgreSQL schema,
which must not exist yet, and searched with PostgreSQL full-text search). The target is
under 100 ms per query (median and worst of several runs) once the index is built:
the index is the FTS5 projection beside the SQLite log (``monitor.db.search``).
The log is synthetic: 100 sources at 20 companies, each change rewording a few
blocks of a page that mentions places, numbers and some Chinese text, so common
words ("Hong Kong", "香港") match thousands of documents and rare ones a handful.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

from monitor.core.classify import words_digest
from monitor.desk.search_index import index_for
from monitor.diff.textdiff import diff_texts
from monitor.events import ChangeDetected, NewEvent, SourceRegistered, format_time
from monitor.store import EventStore, SqliteEventStore, open_store

TARGET_MS = 100
SOURCES = 100
PLACES = ["Hong Kong", "Brazil", "India", "Germany", "Turkey", "Russia", "Japan", "Kenya"]
CJK = ["我们收到了香港的政府请求。", "我们暂停处理香港的政府请求。", "政府请求报告每年两次。"]


def line(rnd: random.Random, n: int, i: int) -> str:
    place = rnd.choice(PLACES)
    verb = rnd.choice(["received", "paused", "resumed", "reviewed"])
    return f"In period {n} we {verb} {rnd.randint(0, 900)} requests from {place} ({i})."


def page(rnd: random.Random, n: int) -> list[str]:
    return ["# Government requests", *(line(rnd, n, i) for i in range(12)), rnd.choice(CJK)]


def edited(rnd: random.Random, lines: list[str], n: int) -> list[str]:
    """Two blocks reworded, like most real changes."""
    out = list(lines)
    for i in rnd.sample(range(1, 13), 2):
        out[i] = line(rnd, n, i)
    if rnd.random() < 0.2:
        out[13] = rnd.choice(CJK)
    return out


async def build(path: Path, changes: int) -> None:
    rnd = random.Random(17)
    store = await SqliteEventStore.open(str(path))
    batch = [
        NewEvent.of(
            f"s{s}",
            SourceRegistered(settings={"company": f"Company {s % 20}", "url": f"https://e/{s}"}),
        )
        for s in range(SOURCES)
    ]
    await store.append(batch)
    texts = {s: page(rnd, 0) for s in range(SOURCES)}
    batch = []
    for n in range(changes):
        s = n % SOURCES
        old_lines = texts[s]
        new_lines = edited(rnd, old_lines, n)
        texts[s] = new_lines
        old, new = "\n".join(old_lines) + "\n", "\n".join(new_lines) + "\n"
        sha = await store.put_blob(new.encode())
        diff = diff_texts(old, new)
        capture = {"text_sha256": sha, "raw_sha256": sha, "fetched_at": format_time_now()}
        capture["words_sha256"] = words_digest(new)
        batch.append(
            NewEvent.of(
                f"s{s}",
                ChangeDetected(
                    capture=capture,
                    previous="0" * 64,
                    previous_seen_until=capture["fetched_at"],
                    diff=diff.to_data(),
                    classification="substantive",
                ),
            )
        )
        if len(batch) == 500:
            await store.append(batch)
            batch = []
    if batch:
        await store.append(batch)
    await store.close()


def format_time_now() -> str:
    from datetime import UTC, datetime

    return format_time(datetime.now(UTC))


async def measure(url: str) -> int:
    async with open_store(url, create=False) as store:
        return await measure_store(store)


async def measure_store(store: EventStore) -> int:
    index = index_for(store)
    print(f"index: {type(index).__name__} ({index.path})")
    started = time.perf_counter()
    await index.catch_up(store)
    print(f"index built in {time.perf_counter() - started:.1f} s")
    worst = 0.0
    for query, options in [
        ("Hong Kong", {}),
        ("Hong Kong", {"side": "removed"}),
        ("香港", {}),
        ("暂停处理", {"side": "added"}),
        ("resumed 417 requests", {}),
        ("Kenya", {"company": "Company 7"}),
        ("no such words anywhere", {}),
    ]:
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            hits = await index.search(query, limit=50, **options)  # type: ignore[arg-type]
            times.append((time.perf_counter() - t0) * 1000)
        median, top = statistics.median(times), max(times)
        worst = max(worst, median)
        print(
            f"{query!r:28} {options!s:24} {len(hits):3} hits  "
            f"median {median:6.1f} ms  max {top:6.1f} ms"
        )
    index.close()
    print(f"worst median {worst:.1f} ms (target < {TARGET_MS} ms)")
    return 0 if worst < TARGET_MS else 1


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--pg=")]
    pg = next((a[5:] for a in sys.argv[1:] if a.startswith("--pg=")), None)
    changes = int(args[0]) if args else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "monitor.db"
        started = time.perf_counter()
        asyncio.run(build(path, changes))
        print(f"{changes} changes written in {time.perf_counter() - started:.1f} s")
        code = asyncio.run(measure(f"sqlite:///{path}"))
        if pg is None:
            return code
        # The same log copied verbatim into PostgreSQL (a schema of its own), searched there.
        from monitor.cli import main as cli

        if cli(["migrate", "--from", f"sqlite:///{path}", "--to", pg]) != 0:
            return 1
        return max(code, asyncio.run(measure(pg)))


if __name__ == "__main__":
    sys.exit(main())
