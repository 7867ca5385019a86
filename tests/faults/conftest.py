"""The fault suite's world: a real SQLite log, the daemon's check path, healthy neighbours.

``World.check(source)`` checks one hostile source the way the daemon does (a host
slot, then a global slot, then ``CheckRunner.check``) while, beside it, healthy
sources on another server change and are checked every ``TICK`` seconds. It
measures what a user of a long-running monitor would notice: how long the check
took, whether the neighbours' checks were late, how long the event loop stalled,
and how much the process's memory grew.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.audit.verify import verify_store
from monitor.check import fetch
from monitor.check.fetch import Fetcher
from monitor.check.pipeline import CheckReport, CheckRunner
from monitor.config.settings import MonitorSettings, Settings, SourceSettings
from monitor.daemon.generations import network_policy
from monitor.events import StoredEvent
from monitor.store import EventStore, open_store
from tests.faults.hostile import MIB, HostileServer, StubResolver
from tests.pageserver import PageServer

TICK = 0.25  # seconds between two checks of each healthy neighbour
HEALTHY = 3
TIMEOUT = 2  # the sources' timeout, seconds
MAX_BYTES = MIB
FORBIDDEN = "127.0.0.2"  # loopback, but denied by this world's policy
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


class RssPeak:
    """Samples this process's resident memory every few milliseconds in a thread."""

    def __init__(self) -> None:
        self.start = rss_bytes()
        self.peak = self.start
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.002):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / MIB


@dataclass(frozen=True)
class Run:
    """What one hostile check did, and what its neighbours saw meanwhile."""

    report: CheckReport
    seconds: float
    rounds: int  # rounds of healthy checks completed while it ran
    slowest_round: float  # seconds
    loop_lag: float  # the longest the event loop's thread ran without yielding, CPU seconds
    rss_growth_mb: float

    def assert_neighbours_unaffected(self) -> None:
        # Generous bounds (two cores, shared with the servers and other test runs); what
        # they catch is a neighbour held for a whole timeout or retry pause, or a loop
        # blocked by parsing or decompression, which takes many seconds.
        assert self.slowest_round < 2.0, f"a healthy round took {self.slowest_round:.2f}s"
        assert self.loop_lag < 1.0, f"the event loop stalled for {self.loop_lag:.2f}s"
        expected = int(self.seconds / (TICK + self.slowest_round))
        assert self.rounds >= expected - 1, (self.rounds, self.seconds)


class World:
    def __init__(self, store: EventStore, settings: Settings, healthy: PageServer) -> None:
        self.store = store
        self.settings = settings
        self.fetcher = Fetcher(settings.monitor, network_policy(settings), retry_base=0.05)
        self.runner = CheckRunner(store=store, fetcher=self.fetcher, settings=settings)
        self.limit = asyncio.Semaphore(settings.monitor.concurrency)
        self.healthy_server = healthy
        self.healthy = [
            # These pages change the same sentence on every check on purpose, which the
            # learner would rightly take for a volatile block: it is off here.
            SourceSettings(
                id=f"healthy-{n}",
                url=healthy.set(f"/h{n}", self._page(n, 0)),
                learn_volatile_after=0,
            )
            for n in range(HEALTHY)
        ]
        self._edition = 0

    @staticmethod
    def _page(n: int, edition: int) -> str:
        return (
            f"<html><body><h1>Report {n}</h1><p>Requests received in edition {edition}: "
            f"{edition * 7 + n}.</p><p>We publish this report every quarter.</p></body></html>"
        )

    async def check_now(self, source: SourceSettings) -> CheckReport:
        """One check through the daemon's path: host slot, then a global slot."""
        async with self.fetcher.reserve_host(source.url), self.limit:
            return await self.runner.check(source)

    async def _neighbours(self, stop: asyncio.Event, rounds: list[float]) -> None:
        while not stop.is_set():
            self._edition += 1
            for n in range(HEALTHY):
                self.healthy_server.set(f"/h{n}", self._page(n, self._edition))
            started = time.monotonic()
            reports = await asyncio.gather(*(self.check_now(s) for s in self.healthy))
            rounds.append(time.monotonic() - started)
            assert [r.outcome for r in reports] == ["changed"] * HEALTHY, reports
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK):
                    await stop.wait()

    async def check(self, source: SourceSettings) -> Run:
        stop = asyncio.Event()
        rounds: list[float] = []
        lags: list[float] = [0.0]

        async def lag_probe() -> None:
            # CPU time of the loop's own thread, not wall time: a loop blocked by parsing
            # or decompression burns CPU there, while a machine busy with other work only
            # delays the wake-up, which is not this code's fault and must not fail a test.
            while not stop.is_set():
                before = time.thread_time()
                await asyncio.sleep(0.01)
                lags.append(time.thread_time() - before)

        await asyncio.gather(*(self.check_now(s) for s in self.healthy))  # baselines
        probe = asyncio.create_task(lag_probe())
        neighbours = asyncio.create_task(self._neighbours(stop, rounds))
        with RssPeak() as rss:
            started = time.monotonic()
            report = await self.check_now(source)
            seconds = time.monotonic() - started
        stop.set()
        await asyncio.gather(probe, neighbours)
        return Run(
            report=report,
            seconds=seconds,
            rounds=len(rounds),
            slowest_round=max(rounds, default=0.0),
            loop_lag=max(lags),
            rss_growth_mb=rss.growth_mb,
        )

    async def events(self, source_id: str) -> list[StoredEvent]:
        return await self.store.read(stream=source_id)

    async def assert_log_verifies(self) -> None:
        report = await verify_store(self.store)  # the rig signs no checkpoints
        assert report.ok, report.findings


def fault_settings(**monitor: object) -> Settings:
    defaults: dict[str, object] = {
        "timeout": TIMEOUT,
        "max_bytes": MAX_BYTES,
        "deny_networks": (f"{FORBIDDEN}/32",),
        "concurrency": 8,
        "per_host": 2,
    }
    return Settings(path="faults.toml", monitor=MonitorSettings(**{**defaults, **monitor}))  # type: ignore[arg-type]


@pytest.fixture
def stub_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Name resolution from a table the test fills; other names fail as NXDOMAIN."""
    table: dict[str, str] = {}
    monkeypatch.setattr(StubResolver, "table", table)
    monkeypatch.setattr(StubResolver, "queries", [])
    monkeypatch.setattr(fetch, "DefaultResolver", StubResolver)
    return table


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def world(tmp_path: Path, page_server: PageServer) -> AsyncIterator[World]:
    async with open_store(f"sqlite:///{tmp_path / 'monitor.db'}") as store:
        made = World(store, fault_settings(), page_server)
        try:
            yield made
        finally:
            await made.fetcher.close()
