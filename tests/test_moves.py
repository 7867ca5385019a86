"""A document that moves keeps its history: ``SourceMoved``, then checks at the new URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckReport, CheckRunner
from monitor.config.settings import ChannelSettings, MonitorSettings, Settings, SourceSettings
from monitor.core.moves import canonical_link, permanent_target, safe_move
from monitor.core.projections import fold, replay, state_digest
from monitor.notify.render import SourceInfo, render_alert
from monitor.notify.routing import route
from monitor.store import EventStore, open_store
from tests.pageserver import PageServer

TEXT = (
    "<h1>Law enforcement guidelines</h1>"
    "<p>We respond to valid legal process from government authorities in the countries "
    "where we operate, and we publish the number of requests twice a year.</p>"
)


def page(body: str = TEXT, canonical: str | None = None) -> str:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return (
        f"<!doctype html><html><head><title>Guidelines</title>{link}</head>"
        f"<body><main>{body}</main></body></html>"
    )


@dataclass
class Rig:
    store: EventStore
    fetcher: Fetcher
    source: SourceSettings
    server: PageServer
    now: list[datetime] = field(default_factory=lambda: [datetime(2026, 3, 1, tzinfo=UTC)])

    async def check(self, source: SourceSettings | None = None) -> CheckReport:
        """A check by a fresh runner (state folded from the log, as after a restart)."""
        self.now[0] += timedelta(hours=6)
        chosen = source or self.source
        runner = CheckRunner(
            store=self.store,
            fetcher=self.fetcher,
            settings=Settings(path="test", sources=(chosen,)),
            clock=lambda: self.now[0],
        )
        await runner.reconcile()
        return await runner.check(chosen)

    def asked(self) -> list[str]:
        paths = [path for path, _ in self.server.requests]
        self.server.requests.clear()
        return paths


@pytest.fixture
async def rig(tmp_path: Path, page_server: PageServer) -> AsyncIterator[Rig]:
    url = page_server.set("/old", page())
    source = SourceSettings(id="guidelines", url=url, company="Example")
    clock = [datetime(2026, 3, 1, tzinfo=UTC)]
    async with (
        open_store(f"sqlite:///{tmp_path / 'monitor.db'}", clock=lambda: clock[0]) as store,
        Fetcher(MonitorSettings(), NetworkPolicy()) as fetcher,
    ):
        yield Rig(store=store, fetcher=fetcher, source=source, server=page_server, now=clock)


def types(report: CheckReport) -> list[str]:
    return [e.type for e in report.events]


@pytest.mark.parametrize("status", [301, 308])
async def test_a_permanent_redirect_is_one_move_and_no_change(rig: Rig, status: int) -> None:
    assert (await rig.check()).outcome == "baseline"
    rig.server.set("/new", page())
    rig.server.set("/old", "", status=status, headers={"Location": "/new"})
    rig.asked()
    report = await rig.check()
    assert report.outcome == "moved" and types(report) == ["SourceMoved"]
    moved = report.events[0].data
    assert moved == {
        "from_url": rig.server.url("/old"),
        "to_url": rig.server.url("/new"),
        "how": "redirect",
        "status": status,
    }
    assert rig.asked() == ["/old", "/new"]
    # From now on the new address is checked directly; the old one is not asked again.
    rig.server.set("/old", "gone", status=404, content_type="text/plain")
    assert types(await rig.check()) == []
    assert rig.asked() == ["/new"]
    rig.server.set("/new", page(TEXT + "<p>We now also report requests from Hong Kong.</p>"))
    changed = await rig.check()
    assert changed.outcome == "changed" and rig.asked() == ["/new"]


async def test_replay_rebuilds_where_a_source_moved(rig: Rig) -> None:
    await rig.check()
    rig.server.set("/new", page())
    rig.server.set("/old", "", status=301, headers={"Location": "/new"})
    await rig.check()
    events = await rig.store.read()
    state = fold("guidelines", [e for e in events if e.stream == "guidelines"])
    assert state.moved_to == rig.server.url("/new")
    assert state.current_url(rig.source.url) == rig.server.url("/new")
    assert replay(events)["guidelines"].moved_to == rig.server.url("/new")
    assert state_digest(replay(events)) == state_digest({"guidelines": state})


async def test_a_move_with_a_rewrite_is_a_move_and_a_change(rig: Rig) -> None:
    await rig.check()
    rig.server.set("/new", page(TEXT + "<p>Requests from Hong Kong are now reviewed.</p>"))
    rig.server.set("/old", "", status=301, headers={"Location": "/new"})
    report = await rig.check()
    assert types(report) == ["SourceMoved", "ChangeDetected"]
    assert report.outcome == "changed"


@pytest.mark.parametrize("status", [302, 303, 307])
async def test_a_temporary_redirect_is_not_a_move(rig: Rig, status: int) -> None:
    await rig.check()
    rig.server.set("/elsewhere", page())
    rig.server.set("/old", "", status=status, headers={"Location": "/elsewhere"})
    assert types(await rig.check()) == []
    rig.asked()
    await rig.check()
    assert rig.asked()[0] == "/old"


async def test_a_permanent_redirect_to_another_site_is_suspect_not_a_move(rig: Rig) -> None:
    await rig.check()
    # "localhost" is another host name than 127.0.0.1: another site, same test server.
    elsewhere = rig.server.url("/new").replace("127.0.0.1", "localhost")
    rig.server.set("/new", page())
    rig.server.set("/old", "", status=301, headers={"Location": elsewhere})
    # The same document on the other site: nothing to report, and no move.
    assert types(await rig.check()) == []
    rig.server.set("/new", page("<h1>Welcome</h1><p>Our new site has a new look.</p>" * 3))
    report = await rig.check()
    assert report.outcome == "suspect" and types(report) == ["ContentSuspect"]
    assert report.events[0].data["reason"] == "moved_off_site"
    rig.asked()
    await rig.check()
    assert rig.asked()[0] == "/old"


@pytest.mark.parametrize("target", ["/", "/login?next=/old"])
async def test_a_permanent_redirect_to_a_home_or_login_page_is_suspect(
    rig: Rig, target: str
) -> None:
    await rig.check()
    rig.server.set(target.partition("?")[0], page("<p>Welcome. Sign in to continue.</p>"))
    rig.server.set("/old", "", status=301, headers={"Location": target})
    report = await rig.check()
    assert types(report) == ["ContentSuspect"]
    assert "SourceMoved" not in [e.type for e in await rig.store.read()]


async def test_a_changed_canonical_link_is_a_move(rig: Rig) -> None:
    rig.server.set("/old", page(canonical="/old"))
    await rig.check()
    rig.server.set("/old", page(canonical="/guidelines/2026"))
    rig.server.set("/guidelines/2026", page(canonical="/guidelines/2026"))
    report = await rig.check()
    assert types(report) == ["SourceMoved"]
    assert report.events[0].data["how"] == "canonical"
    assert report.events[0].data["to_url"] == rig.server.url("/guidelines/2026")
    rig.asked()
    assert types(await rig.check()) == []
    assert rig.asked() == ["/guidelines/2026"]


async def test_a_url_edited_in_the_config_wins_over_an_earlier_move(rig: Rig) -> None:
    await rig.check()
    rig.server.set("/new", page())
    rig.server.set("/old", "", status=301, headers={"Location": "/new"})
    await rig.check()
    edited = replace(rig.source, url=rig.server.set("/edited", page()))
    rig.asked()
    await rig.check(edited)
    assert rig.asked() == ["/edited"]


async def test_a_move_is_alerted_at_low(rig: Rig) -> None:
    await rig.check()
    rig.server.set("/new", page())
    rig.server.set("/old", "", status=301, headers={"Location": "/new"})
    [moved] = (await rig.check()).events
    channels = (
        ChannelSettings(name="all", url="json://x"),
        ChannelSettings(name="urgent", url="json://y", min_severity="medium"),
    )
    assert route(moved, channels, source_tags=(), rules=(), alert_after=3) == ("all",)
    message = render_alert(moved, SourceInfo(source_id="guidelines", company="Example"))
    assert message.title.startswith("[low] Example moved to ")
    assert rig.server.url("/new") in message.body


def test_only_the_unbroken_run_of_permanent_redirects_counts() -> None:
    capture = {
        "requested_url": "https://example.com/old",
        "final_url": "https://example.com/new?session=1",
        "redirects": [
            {"url": "https://example.com/old", "status": 301},
            {"url": "https://example.com/new", "status": 302},
        ],
    }
    assert permanent_target(capture) == ("https://example.com/new", 301)
    capture["redirects"] = [
        {"url": "https://example.com/old", "status": 302},
        {"url": "https://example.com/tmp", "status": 301},
    ]
    assert permanent_target(capture) is None


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (b'<link href="/a?x=1&amp;y=2" rel="canonical">', "https://example.com/a?x=1&y=2"),
        (b"<LINK REL='Canonical' HREF='https://example.com/b'>", "https://example.com/b"),
        (b'<link rel="alternate canonical" href=c>', "https://example.com/dir/c"),
        (b'<link rel="stylesheet" href="/canonical.css">', None),
        (b'<link rel="canonical" href="javascript:alert(1)">', None),
    ],
)
def test_canonical_link_is_read_from_the_head(html: bytes, expected: str | None) -> None:
    body = b"<html><head>" + html + b"</head><body>text</body></html>"
    assert canonical_link(body, "https://example.com/dir/page") == expected


@pytest.mark.parametrize(
    ("current", "target", "sends_headers", "safe"),
    [
        ("http://example.com/a", "https://example.com/a", False, True),
        ("https://example.com/a", "https://www.example.com/a", False, True),
        ("https://example.com/a", "http://example.com/a", False, False),
        ("https://example.com/a", "https://example.com/b", True, True),
        ("https://example.com/a", "https://www.example.com/a", True, False),
        ("http://example.com/a", "https://example.com/a", True, False),
    ],
)
def test_moves_never_downgrade_nor_carry_headers_to_another_origin(
    current: str, target: str, sends_headers: bool, safe: bool
) -> None:
    assert safe_move(current, target, sends_headers=sends_headers) is safe


@pytest.mark.parametrize("with_headers", [False, True])
async def test_a_source_with_headers_does_not_move_to_another_origin(
    rig: Rig, with_headers: bool
) -> None:
    headers = (("Authorization", "Bearer s3cret"),) if with_headers else ()
    source = replace(rig.source, headers=headers)
    await rig.check(source)
    other = PageServer().start()  # the same host on another port: another origin
    try:
        other.set("/new", page())
        rig.server.set("/old", "", status=301, headers={"Location": other.url("/new")})
        moved = "SourceMoved" in types(await rig.check(source))
        assert moved is not with_headers
        # The credentials never reached the other origin, moved or not.
        assert all("Authorization" not in h for _, h in other.requests)
    finally:
        other.stop()


async def test_a_canonical_link_to_another_site_or_the_home_page_is_no_move(rig: Rig) -> None:
    rig.server.set("/old", page(canonical="/old"))
    await rig.check()
    elsewhere = rig.server.url("/old").replace("127.0.0.1", "localhost")
    for canonical in (elsewhere, "/"):
        rig.server.set("/old", page(canonical=canonical))
        assert "SourceMoved" not in types(await rig.check())
    rig.asked()
    await rig.check()
    assert rig.asked() == ["/old"]
