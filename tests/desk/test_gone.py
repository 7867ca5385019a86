"""Removals are news: SourceGone after gone_after 404/410 answers or redirects to a
generic page, SourceRecovered when the page is back; replay equals the live state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.audit.replay import replay_log
from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner
from monitor.config.parse import parse_config
from monitor.config.settings import Settings
from monitor.core.projections import state_digest
from monitor.notify.render import SourceInfo, render_alert
from monitor.notify.routing import alert_severity, route
from monitor.store import EventStore, open_store
from tests.pageserver import PageServer

PAGE = "<html><body><main><h1>Transparency report</h1><p>{}</p></main></body></html>"
TEXT = " ".join(f"Section {i} explains the numbers of government requests." for i in range(30))
HOME = "<html><body><main><h1>Welcome</h1><p>Our products.</p></main></body></html>"


@dataclass
class Rig:
    server: PageServer
    store: EventStore
    runner: CheckRunner
    settings: Settings
    clock: list[datetime]

    async def check(self, source_id: str = "report") -> list[str]:
        self.clock[0] += timedelta(hours=6)
        source = next(s for s in self.settings.sources if s.id == source_id)
        report = await self.runner.check(source)
        return [e.type for e in report.events]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    server = PageServer().start()
    try:
        text = f"""
[monitor]
gone_after = 3

[[channel]]
name = "desk"
url = "json://127.0.0.1:9/"

[[source]]
id = "report"
company = "Example"
url = "{server.url("/report")}"

[[source]]
id = "quick"
company = "Example"
url = "{server.url("/quick")}"
gone_after = 1
"""
        settings = parse_config(text, path="s.toml", environ={})
        server.set("/report", PAGE.format(TEXT))
        server.set("/quick", PAGE.format(TEXT))
        server.set("/", HOME)
        clock = [datetime(2026, 1, 5, tzinfo=UTC)]
        policy = NetworkPolicy.from_strings(allow_private=False)
        async with (
            open_store(f"sqlite:///{tmp_path / 'monitor.db'}") as store,
            Fetcher(settings.monitor, policy) as fetcher,
        ):
            runner = CheckRunner(
                store=store, fetcher=fetcher, settings=settings, clock=lambda: clock[0]
            )
            await runner.reconcile()
            rig = Rig(server, store, runner, settings, clock)
            assert await rig.check("report") == ["BaselineCaptured"]
            assert await rig.check("quick") == ["BaselineCaptured"]
            yield rig
    finally:
        server.stop()


async def test_three_404s_make_the_page_gone_and_its_return_is_news(rig: Rig) -> None:
    rig.server.set("/report", "not found", status=404, content_type="text/plain")
    assert await rig.check() == ["FetchFailed"]
    assert await rig.check() == ["FetchFailed"]
    assert await rig.check() == ["FetchFailed", "SourceGone"]
    state = await rig.runner.state("report")
    assert state.status == "gone"
    assert await rig.check() == ["FetchFailed"]  # said once
    rig.server.set("/report", PAGE.format(TEXT))
    assert (await rig.check())[0] == "SourceRecovered"
    assert (await rig.runner.state("report")).status == "ok"
    events = await rig.store.read(stream="report")
    gone = next(e for e in events if e.type == "SourceGone")
    assert gone.data["reason"] == "http_404" and gone.data["checks"] == 3
    back = next(e for e in events if e.type == "SourceRecovered")
    assert back.data["gone_since"] == gone.data["since"]
    # alertable: high when it goes, and its return is sent too
    assert alert_severity(gone.event, alert_after=3) == "high"
    assert route(gone, rig.settings.channels, source_tags=(), rules=(), alert_after=3) == ("desk",)
    assert route(back, rig.settings.channels, source_tags=(), rules=(), alert_after=9) == ("desk",)
    message = render_alert(gone, SourceInfo(source_id="report", company="Example"))
    assert message.title == "[high] Example is gone (HTTP 404)"


async def test_a_server_error_is_a_failure_not_a_removal(rig: Rig) -> None:
    rig.server.set("/report", "oops", status=500, content_type="text/plain")
    for _ in range(4):
        assert await rig.check() == ["FetchFailed"]
    assert (await rig.runner.state("report")).status == "failing"
    # a 404 among 500s starts the count again
    rig.server.set("/report", "gone", status=410, content_type="text/plain")
    assert await rig.check() == ["FetchFailed"]
    assert await rig.check() == ["FetchFailed"]
    assert await rig.check() == ["FetchFailed", "SourceGone"]


async def test_gone_after_is_a_source_key(rig: Rig) -> None:
    rig.server.set("/quick", "gone", status=410, content_type="text/plain")
    assert await rig.check("quick") == ["FetchFailed", "SourceGone"]


async def test_a_redirect_to_the_home_page_that_lasts_is_a_removal(rig: Rig) -> None:
    rig.server.set("/report", "", status=301, headers={"Location": "/"})
    assert await rig.check() == ["ContentSuspect"]
    assert await rig.check() == []
    assert await rig.check() == ["SourceGone"]
    events = await rig.store.read(stream="report")
    gone = events[-1].data
    assert gone["reason"] == "redirected" and gone["final_url"].endswith("/")
    rig.server.set("/report", PAGE.format(TEXT))
    assert await rig.check() == ["SourceRecovered", "ContentConfirmed"]


async def test_replay_of_removals_equals_the_live_states(rig: Rig) -> None:
    rig.server.set("/report", "not found", status=404, content_type="text/plain")
    for _ in range(3):
        await rig.check()
    rig.server.set("/quick", "", status=302, headers={"Location": "/"})
    await rig.check("quick")
    live = {s.id: await rig.runner.state(s.id) for s in rig.settings.sources}
    replayed = await replay_log(rig.store)
    assert replayed.states["report"].status == "gone"
    assert replayed.states["quick"].status == "gone"
    assert replayed.digest == state_digest(live)


def test_upgrading_records_no_settings_change_for_sources_without_gone_after() -> None:
    from monitor.config.settings import SourceSettings
    from monitor.core.projections import SourceState
    from monitor.core.reconcile import reconcile

    plain = SourceSettings(id="a", url="https://e.org/a")
    assert "gone_after" not in plain.public_dict()
    # the settings a source was registered with before gone_after existed
    before = {k: v for k, v in plain.public_dict().items() if k != "gone_after"}
    state = SourceState(source_id="a", registered=True, version=1, settings=before)
    assert reconcile({"a": state}, [plain]) == []
    tuned = SourceSettings(id="a", url="https://e.org/a", gone_after=1)
    (decision,) = reconcile({"a": state}, [tuned])
    assert decision.events[0].changed == ["gone_after"]  # type: ignore[attr-defined]


async def test_the_web_view_shows_a_gone_page(rig: Rig) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from monitor.web.app import create_app
    from tests.web.htmlcheck import parse

    rig.server.set("/report", "gone", status=410, content_type="text/plain")
    for _ in range(3):
        await rig.check()
    app = create_app(rig.store, rig.settings)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        page = parse(await (await client.get("/sources/report")).text())
        sources = await (await client.get("/api/sources?status=gone")).json()
    text = " ".join(page.text.split())
    assert "gone since" in text and "Gone: http_410" in text
    assert [s["id"] for s in sources["sources"]] == ["report"]
