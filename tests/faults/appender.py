"""A child process for the SIGKILL tests: writes to a log until it is killed.

``python -m tests.faults.appender batches DB COUNT SIZE`` appends COUNT batches of
SIZE events (one stream per batch, deterministic event ids, so a rerun of the same
plan is idempotent) and prints each batch number once it is committed.

``python -m tests.faults.appender checks DB URL...`` checks each URL as a source,
over and over, through ``CheckRunner`` (blobs, then events), printing each report.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from monitor.events import NewEvent
from monitor.store import EventStore, open_store

NAMESPACE = uuid.UUID("6f1d6c1e-5d0b-4c8e-9a55-0d2b4f1f0c11")
PAD = "evidence " * 400  # ~3.6 KB per event: a batch takes a while to write


def batch(number: int, size: int) -> list[NewEvent]:
    stream = f"batch-{number:04d}"
    return [
        NewEvent(
            event_id=str(uuid.uuid5(NAMESPACE, f"{number}/{k}")),
            stream=stream,
            type="Noted",
            schema=1,
            data={"batch": number, "k": k, "pad": PAD},
        )
        for k in range(size)
    ]


async def append_batches(store: EventStore, count: int, size: int) -> None:
    for number in range(1, count + 1):
        await store.append(batch(number, size), expected={f"batch-{number:04d}": 0})
        print(number, flush=True)


async def run_checks(store: EventStore, urls: list[str]) -> None:
    # Imported here: the batch mode starts faster without the fetch and extract stack.
    from monitor.check.fetch import Fetcher
    from monitor.check.pipeline import CheckRunner
    from monitor.config.settings import Settings, SourceSettings

    sources = tuple(
        SourceSettings(id=f"page-{n}", url=url, learn_volatile_after=0)
        for n, url in enumerate(urls)
    )
    settings = Settings(path="child.toml", sources=sources)
    async with Fetcher(settings.monitor) as fetcher:
        runner = CheckRunner(store=store, fetcher=fetcher, settings=settings)
        while True:
            reports = await asyncio.gather(*(runner.check(s) for s in sources))
            for report in reports:
                print(report.line(), flush=True)


async def main(argv: list[str]) -> None:
    mode, db, *rest = argv
    async with open_store(f"sqlite:///{db}") as store:
        if mode == "batches":
            await append_batches(store, int(rest[0]), int(rest[1]))
        else:
            await run_checks(store, rest)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
