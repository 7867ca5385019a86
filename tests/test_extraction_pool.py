"""Pages read in worker processes give what reading them in the check's process gives."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.check.fetch import Fetcher
from monitor.check.pipeline import CheckRunner
from monitor.check.pool import INLINE_BYTES, ExtractionPool, workers_for
from monitor.config.parse import load_config
from monitor.config.settings import MonitorSettings, Settings, SourceSettings
from monitor.errors import ConfigError
from monitor.extract.reading import LastText, marker_name, read_page
from monitor.store import MemoryEventStore
from tests.pageserver import PageServer

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SOURCE = SourceSettings(id="report", url="https://example.org/report")


def report_page(paragraphs: int, seed: int, change: str = "") -> bytes:
    """A page well over ``INLINE_BYTES`` with a per-request token outside the text."""
    rnd = random.Random(seed)
    token = f"{rnd.getrandbits(128):032x}"
    body = "".join(
        f"<p class='c{rnd.getrandbits(16)}'>Paragraph {i}: we received {i * 7} requests.</p>"
        for i in range(paragraphs)
    )
    return (
        f"<html><head><meta name=csrf content={token}><script>var t='{token}'</script></head>"
        f"<body><main><h1>Requests</h1>{change}{body}</main></body></html>"
    ).encode()


@pytest.mark.parametrize(
    ("configured", "cpus", "workers"),
    [(None, 1, 0), (None, 2, 2), (None, 8, 8), (0, 8, 0), (3, 1, 3)],
)
def test_the_pool_is_sized_to_the_machine_unless_configured(
    configured: int | None, cpus: int, workers: int
) -> None:
    assert workers_for(configured, cpus) == workers


def test_extract_workers_is_read_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "sources.toml"
    config.write_text("[monitor]\nextract_workers = 3\n")
    assert load_config(config, environ={}).monitor.extract_workers == 3
    config.write_text("[monitor]\nextract_workers = -1\n")
    with pytest.raises(ConfigError, match="extract_workers"):
        load_config(config, environ={})


def test_workers_read_what_the_process_reads() -> None:
    bodies = [
        report_page(800, 1),
        report_page(800, 2, change="<p>New paragraph.</p>"),
        b'{"requests": [' + b",".join(b'{"n": %d}' % i for i in range(5000)) + b"]}",
        b"<html><body>" + b"<p>short</p>" * 10 + b"</body></html>",  # read inline
    ]
    assert len(bodies[0]) > INLINE_BYTES

    async def both() -> None:
        pool = ExtractionPool(2)
        try:
            for body in bodies:
                for fingerprint in (False, True):
                    args = (body, "text/html", SOURCE, fingerprint, None, None)
                    assert await pool.read(
                        *args[:3], fingerprint=fingerprint, last=None, known=None
                    ) == read_page(*args)
        finally:
            await pool.aclose()

    asyncio.run(both())


def test_a_worker_that_knows_the_pair_does_not_read_the_text() -> None:
    first, second = report_page(800, 1), report_page(800, 2)
    text, tree = read_page(first, "text/html", SOURCE, True, None, None)
    assert text is not None and tree is not None
    last = LastText("key", "a" * 64)
    known = marker_name(tree, last.extraction_key, last.text_sha256)

    async def read() -> tuple[object, bytes | None]:
        pool = ExtractionPool(1)
        try:
            return await pool.read(
                second, "text/html", SOURCE, fingerprint=True, last=last, known=known
            )
        finally:
            await pool.aclose()

    assert asyncio.run(read()) == (None, tree)  # other bytes, same fingerprint: not read


def test_a_killed_worker_costs_no_check() -> None:
    body = report_page(800, 3)
    expected = read_page(body, "text/html", SOURCE, True, None, None)

    async def run() -> list[object]:
        pool = ExtractionPool(1)
        try:
            results = [
                await pool.read(body, "text/html", SOURCE, fingerprint=True, last=None, known=None)
            ]
            for pid in list(pool._executor._processes):  # type: ignore[attr-defined]
                os.kill(pid, signal.SIGKILL)
            for _ in range(3):
                results.append(
                    await pool.read(
                        body, "text/html", SOURCE, fingerprint=True, last=None, known=None
                    )
                )
            return results
        finally:
            await pool.aclose()

    assert asyncio.run(run()) == [expected] * 4


def test_checks_with_workers_record_what_checks_without_record(
    page_server: PageServer,
) -> None:
    source = SourceSettings(id="report", url=page_server.url("/report"))
    pages = [
        report_page(800, 1),
        report_page(800, 2),
        report_page(800, 3, change="<p>We stopped answering one authority.</p>"),
        report_page(800, 4, change="<p>We stopped answering one authority.</p>"),
    ]

    async def checks(pool: ExtractionPool | None) -> list[tuple[str, str]]:
        store = MemoryEventStore(clock=lambda: NOW)
        settings = Settings(path="sources.toml", sources=(source,))
        async with Fetcher(MonitorSettings()) as fetcher:
            runner = CheckRunner(
                store=store, fetcher=fetcher, settings=settings, clock=lambda: NOW, pool=pool
            )
            await runner.reconcile()
            outcomes = []
            for body in pages:
                page_server.set("/report", body)
                report = await runner.check(source)
                outcomes.append((report.outcome, report.detail))
            return outcomes

    async def with_pool() -> list[tuple[str, str]]:
        pool = ExtractionPool(2)
        try:
            return await checks(pool)
        finally:
            await pool.aclose()

    inline = asyncio.run(checks(None))
    assert [o for o, _ in inline] == ["baseline", "unchanged", "changed", "unchanged"]
    assert asyncio.run(with_pool()) == inline
