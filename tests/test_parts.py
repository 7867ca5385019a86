"""A document over several pages (``urls``) is one source with one capture per check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckReport, CheckRunner
from monitor.config.parse import parse_config
from monitor.config.settings import MonitorSettings, Settings, SourceSettings
from monitor.errors import ConfigError, HostPausedError
from monitor.store import EventStore, open_store
from tests.pageserver import PageServer

INTRO = "<p>This report covers the requests we received from governments in 2026.</p>"
SECTION_1 = "<h2>Section 1: Requests</h2><p>We received 1,204 requests for user data.</p>"
SECTION_2 = "<h2>Section 2: Removals</h2><p>We removed 88 items at government request.</p>"
HONG_KONG = "<p>Requests from Hong Kong authorities are reviewed by our legal team first.</p>"


def page(*blocks: str) -> str:
    return (
        "<!doctype html><html><head><title>Transparency report</title></head>"
        f"<body><main>{''.join(blocks)}</main></body></html>"
    )


@dataclass
class Rig:
    store: EventStore
    fetcher: Fetcher
    source: SourceSettings
    server: PageServer
    now: list[datetime] = field(default_factory=lambda: [datetime(2026, 3, 1, tzinfo=UTC)])

    async def check(self) -> CheckReport:
        self.now[0] += timedelta(hours=6)
        runner = CheckRunner(
            store=self.store,
            fetcher=self.fetcher,
            settings=Settings(path="test", sources=(self.source,)),
            clock=lambda: self.now[0],
        )
        await runner.reconcile()
        return await runner.check(self.source)


@pytest.fixture
async def rig(tmp_path: Path, page_server: PageServer) -> AsyncIterator[Rig]:
    urls = (
        page_server.set("/report/1", page(INTRO, SECTION_1, HONG_KONG)),
        page_server.set("/report/2", page(SECTION_2)),
    )
    source = SourceSettings(id="report", url=urls[0], urls=urls, company="Example")
    clock = [datetime(2026, 3, 1, tzinfo=UTC)]
    async with (
        open_store(f"sqlite:///{tmp_path / 'monitor.db'}", clock=lambda: clock[0]) as store,
        # Retries of a failing part are immediate: the test is about the outcome.
        Fetcher(MonitorSettings(), NetworkPolicy(), retry_base=0.001) as fetcher,
    ):
        yield Rig(store=store, fetcher=fetcher, source=source, server=page_server, now=clock)


def types(report: CheckReport) -> list[str]:
    return [e.type for e in report.events]


async def test_one_capture_holds_every_part_in_order_under_its_heading(rig: Rig) -> None:
    report = await rig.check()
    assert types(report) == ["BaselineCaptured"]
    capture = report.events[0].data["capture"]
    text = (await rig.store.get_blob(capture["text_sha256"])).decode()
    first, second = rig.source.urls
    assert text.index(f"# Part 1 of 2: {first}") < text.index("1,204 requests")
    assert text.index("1,204 requests") < text.index(f"# Part 2 of 2: {second}")
    assert text.index(f"# Part 2 of 2: {second}") < text.index("88 items")
    # Each part's exact bytes are kept.
    assert [p["url"] for p in capture["parts"]] == [first, second]
    for part, body in zip(
        capture["parts"], (page(INTRO, SECTION_1, HONG_KONG), page(SECTION_2)), strict=True
    ):
        assert await rig.store.get_blob(part["raw_sha256"]) == body.encode()
    assert await rig.store.get_blob(capture["raw_sha256"])  # the manifest naming them


async def test_a_change_in_part_two_is_one_change_of_the_one_source(rig: Rig) -> None:
    await rig.check()
    rig.server.set("/report/2", page(SECTION_2.replace("88 items", "131 items")))
    report = await rig.check()
    assert types(report) == ["ChangeDetected"]
    assert report.events[0].stream == "report"
    assert "131" in " ".join(report.events[0].data["diff"]["added"])


async def test_a_failing_part_is_a_fetch_failure_naming_the_part_not_a_change(rig: Rig) -> None:
    await rig.check()
    rig.server.set("/report/2", "oops", status=500, content_type="text/plain")
    report = await rig.check()
    assert types(report) == ["FetchFailed"]
    failed = report.events[0].data
    assert failed["url"] == rig.source.urls[1] and failed["status"] == 500
    assert failed["message"].startswith(f"part 2 of 2 ({rig.source.urls[1]}): HTTP 500")
    rig.server.set("/report/2", page(SECTION_2))
    assert types(await rig.check()) == ["SourceRecovered"]


async def test_text_moving_between_parts_is_a_move_not_a_deletion(rig: Rig) -> None:
    await rig.check()
    rig.server.set("/report/1", page(INTRO, SECTION_1))
    rig.server.set("/report/2", page(SECTION_2, HONG_KONG))
    report = await rig.check()
    assert types(report) == ["ChangeDetected"]
    diff = report.events[0].data["diff"]
    ops = [change["op"] for change in diff["changes"]]
    assert ops == ["moved"], diff["changes"]
    assert diff["removed"] == [] and diff["added"] == []


def config(source: str) -> str:
    return f'[[source]]\nid = "report"\n{source}\n'


def test_urls_parse_into_ordered_parts() -> None:
    settings = parse_config(
        config('urls = ["https://example.com/r/1", "https://example.com/r/2"]'),
        path="sources.toml",
        environ={},
    )
    [source] = settings.sources
    assert source.url == "https://example.com/r/1"
    assert source.urls == ("https://example.com/r/1", "https://example.com/r/2")
    assert source.public_dict()["urls"] == list(source.urls)
    # One-page sources record the settings they always did.
    assert "urls" not in SourceSettings(id="a", url="https://example.com").public_dict()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            'url = "https://example.com/a"\nurls = ["https://example.com/a", "https://example.com/b"]',
            "set either url (one page) or urls (the parts), not both",
        ),
        ('urls = ["https://example.com/a"]', "expected a list of 2 to 50 page URLs"),
        ('urls = ["https://example.com/a", "ftp://example.com/b"]', "only http:// and https://"),
        ('urls = ["https://example.com/a", "https://example.com/a"]', "the same page twice"),
        (
            'urls = ["https://example.com/a", "https://example.com/b"]\nrender = "browser"',
            "fetched over plain HTTP",
        ),
    ],
)
def test_bad_urls_are_config_errors_on_their_line(source: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(config(source), path="sources.toml", environ={})
    text = str(raised.value)
    assert message in text and "sources.toml:" in text and "urls" in text


async def test_a_part_whose_host_wants_quiet_defers_the_whole_check(
    tmp_path: Path, page_server: PageServer
) -> None:
    other = PageServer().start()  # part 2 on another host:port, which rate-limits us
    try:
        urls = (
            page_server.set("/report/1", page(INTRO, SECTION_1)),
            other.set("/report/2", "slow down", status=429, headers={"Retry-After": "3600"}),
        )
        source = SourceSettings(id="report", url=urls[0], urls=urls)
        async with (
            open_store(f"sqlite:///{tmp_path / 'monitor.db'}") as store,
            Fetcher(MonitorSettings(), NetworkPolicy(), retry_base=0.001, max_wait=1) as fetcher,
        ):
            runner = CheckRunner(
                store=store, fetcher=fetcher, settings=Settings(path="t", sources=(source,))
            )
            await runner.reconcile()
            first = await runner.check(source)
            assert types(first) == ["FetchFailed"]
            assert first.events[0].data["message"].startswith("part 2 of 2")
            other.requests.clear()
            with pytest.raises(HostPausedError) as paused:
                await runner.check(source)
            deferred = await runner.defer(source, paused.value)
            assert deferred.outcome == "deferred"
            assert deferred.events[0].data["error"] == "deferred"
            assert deferred.events[0].data["paused_until"]
            assert other.requests == []  # the quiet host was not asked again
    finally:
        other.stop()
