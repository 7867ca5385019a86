"""A page nobody tuned, through the real pipeline: noise is recorded quietly, text alerts.

The page is written for this test and carries every kind of noise at once: a
consent banner whose A/B wording changes, a per-request trace id in a hidden span,
a site menu that gains items, a "Updated … ago" line, view counters, a footer year.
Checked without ``select``, as most users add pages.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner
from monitor.config.settings import MonitorSettings, Settings, SourceSettings
from monitor.store import open_store
from tests.pageserver import PageServer

STAMPS = ["2 hours ago", "yesterday", "3 days ago", "this week", "over a week ago", "a month ago"]


def terms_page(n: int, *, retention: str = "30 days") -> str:
    menu = "".join(f"<li><a href='/s{k}'>Solution {k}</a></li>" for k in range(3 + n % 3))
    return (
        "<!doctype html><html><head><title>Terms</title><script>boot()</script></head><body>"
        f"<div id='onetrust-consent-sdk'><p>We use cookies (variant {'AB'[n % 2]}).</p></div>"
        f"<header><nav><ul>{menu}</ul></nav></header>"
        "<main><h1>Terms of Service</h1>"
        f"<p>Updated {STAMPS[n % len(STAMPS)]} · {1200 + 37 * n:,} views</p>"
        f"<span style='display:none'>trace {n:08x}-{n * 7919:08x}</span>"
        "<p>These terms govern your use of our services.</p>"
        f"<p>We keep your data for {retention} after you close your account.</p>"
        "</main>"
        f"<aside><p>Try our new product {n}!</p></aside>"
        f"<footer><p>© {2024 + n // 4} Example Corp</p></footer>"
        "</body></html>"
    )


async def test_noise_never_alerts_and_a_real_change_does(
    tmp_path: Path, page_server: PageServer
) -> None:
    url = page_server.set("/terms", terms_page(0))
    source = SourceSettings(id="terms", url=url)
    db_url = f"sqlite:///{tmp_path / 'monitor.db'}"
    settings = Settings(path="t", monitor=MonitorSettings(database=db_url), sources=(source,))
    outcomes = []
    async with (
        open_store(db_url) as store,
        Fetcher(settings.monitor, NetworkPolicy()) as fetcher,
    ):
        runner = CheckRunner(store=store, fetcher=fetcher, settings=settings)
        await runner.reconcile()
        for n in itertools.chain(range(12), [12]):
            retention = "90 days" if n == 12 else "30 days"
            page_server.set("/terms", terms_page(n, retention=retention))
            outcomes.append((await runner.check(source)).outcome)
        changes = [e for e in await store.read(stream="terms") if e.type == "ChangeDetected"]
    assert outcomes[0] == "baseline"
    loud = [e for e in changes if not e.data.get("silent")]
    assert [e.data["classification"] for e in loud] == ["substantive"]
    assert "90" in loud[0].data["diff"]["added"]
    # Every check in between changed the chrome (menu, aside, footer) and, inside the
    # document, only volatile tokens: recorded as chrome changes, none alerted.
    assert set(outcomes[1:-1]) == {"chrome"}


def help_page(n: int) -> str:
    return (
        "<!doctype html><html><head><title>Help</title></head><body><div class='article'>"
        "<h1>Deleting your account</h1>"
        f"<p>Updated {STAMPS[n % len(STAMPS)]}</p>"
        f"<p>{100 + n} comments · request {n * 104729:012x}</p>"
        f"<div hidden>csrf {n:016x}</div>"
        "<p>You can delete your account at any time from the settings page.</p>"
        "</div></body></html>"
    )


async def test_a_page_without_landmarks_records_its_tokens_as_volatile(
    tmp_path: Path, page_server: PageServer
) -> None:
    url = page_server.set("/help", help_page(0))
    source = SourceSettings(id="help", url=url)
    db_url = f"sqlite:///{tmp_path / 'monitor.db'}"
    settings = Settings(path="t", monitor=MonitorSettings(database=db_url), sources=(source,))
    async with (
        open_store(db_url) as store,
        Fetcher(settings.monitor, NetworkPolicy()) as fetcher,
    ):
        runner = CheckRunner(store=store, fetcher=fetcher, settings=settings)
        await runner.reconcile()
        assert (await runner.check(source)).outcome == "baseline"
        outcomes = []
        for n in range(1, 8):
            page_server.set("/help", help_page(n))
            outcomes.append((await runner.check(source)).outcome)
    assert set(outcomes) == {"volatile"}
