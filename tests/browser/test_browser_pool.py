"""The browser pool on its own: failures as FetchError kinds, network policy, restarts, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from monitor.check.browser import MEMORY_CHECK_SECONDS, BrowserPool
from monitor.check.netpolicy import NetworkPolicy
from monitor.config.settings import MonitorSettings, SourceSettings
from monitor.errors import FetchError
from tests.browser.conftest import LOOP, MONITOR, requires_browser
from tests.pageserver import PageServer

pytestmark = LOOP


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def pool() -> AsyncIterator[BrowserPool]:
    """The module's pool; its policy forbids 127.0.0.2, where nothing listens anyway."""
    policy = NetworkPolicy.from_strings(allow_private=False, deny=("127.0.0.2/32",))
    async with BrowserPool(MONITOR, policy) as opened:
        yield opened


NOW = datetime(2026, 1, 1, tzinfo=UTC)
PAGE = "<!doctype html><html><body><p>Transparency report, second half of 2025.</p></body></html>"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"  # a zombie is gone
    except OSError:
        return False


async def wait_until_gone(pid: int | None) -> None:
    """A replaced browser is closed once its last page is done."""
    assert pid is not None
    for _ in range(200):
        if not alive(pid):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"browser pid {pid} still runs 10 s after it was replaced")


async def render_error(pool: BrowserPool, source: SourceSettings) -> FetchError:
    with pytest.raises(FetchError) as caught:
        await pool.render(source, now=NOW)
    return caught.value


@requires_browser
async def test_a_slow_page_is_a_timeout_and_the_pool_keeps_working(
    page_server: PageServer, pool: BrowserPool
) -> None:
    slow = page_server.set("/slow", PAGE, delay=2.5)
    error = await render_error(pool, SourceSettings(id="slow", url=slow, timeout=1))
    assert error.kind == "timeout"

    fast = page_server.set("/fast", PAGE)
    rendered = await pool.render(SourceSettings(id="fast", url=fast), now=NOW)
    assert b"second half of 2025" in rendered.result.body
    assert rendered.result.status == 200
    assert rendered.result.fetched_at == NOW


@requires_browser
async def test_the_sources_headers_go_to_its_own_origin_only(
    page_server: PageServer, pool: BrowserPool
) -> None:
    third_party = f"http://localhost:{page_server.port}/widget.js"
    page_server.set("/widget.js", "document.body.dataset.widget = 'yes';")
    url = page_server.set(
        "/private",
        f"<!doctype html><body><p>Internal policy draft.</p><script src='{third_party}'>"
        "</script></body>",
    )
    source = SourceSettings(id="private", url=url, headers=(("Authorization", "Bearer s3cret"),))

    rendered = await pool.render(source, now=NOW)

    assert b'data-widget="yes"' in rendered.result.body  # the other origin's script ran
    sent = {path: headers for path, headers in page_server.requests}
    assert sent["/private"].get("Authorization") == "Bearer s3cret"
    assert "Authorization" not in sent["/widget.js"]


@requires_browser
async def test_every_check_is_a_first_visit_though_contexts_are_reused(
    page_server: PageServer, pool: BrowserPool
) -> None:
    script = (
        "const seen = document.cookie.includes('seen=1') || localStorage.getItem('seen')"
        " || sessionStorage.getItem('seen');"
        "document.cookie = 'seen=1; max-age=86400'; localStorage.setItem('seen', '1');"
        "sessionStorage.setItem('seen', '1');"
        "document.getElementById('visit').textContent = seen ? 'returning visitor' : 'first visit';"
    )
    url = page_server.set(
        "/visit", f"<!doctype html><body><p id='visit'></p><script>{script}</script></body>"
    )
    source = SourceSettings(id="visit", url=url, select="#visit")
    bodies = [(await pool.render(source, now=NOW)).result.body]
    launches = pool.launches
    bodies += [(await pool.render(source, now=NOW)).result.body for _ in range(2)]

    assert pool.launches == launches  # the same browser, its contexts reused
    assert all(b'<p id="visit">first visit</p>' in body for body in bodies), bodies


@requires_browser
async def test_an_error_status_is_an_http_failure_with_the_status(
    page_server: PageServer, pool: BrowserPool
) -> None:
    url = page_server.set("/gone", "<p>Not here</p>", status=410)
    error = await render_error(pool, SourceSettings(id="gone", url=url))
    assert (error.kind, error.status) == ("http", 410)


@requires_browser
async def test_the_network_policy_covers_the_document_and_its_redirects(
    page_server: PageServer, pool: BrowserPool
) -> None:
    denied = f"http://127.0.0.2:{page_server.port}/report"  # the module's pool denies it
    hop = page_server.set("/moved", "", status=302, headers={"Location": denied})
    direct = await render_error(pool, SourceSettings(id="direct", url=denied))
    redirected = await render_error(pool, SourceSettings(id="hop", url=hop))
    # Without the policy both would be "connect" (nothing listens on 127.0.0.2).
    assert direct.kind == "forbidden_address"
    assert redirected.kind == "forbidden_address"
    assert "forbids" in str(redirected)


@requires_browser
async def test_the_browser_is_replaced_when_it_uses_more_memory_than_allowed(
    page_server: PageServer, pool: BrowserPool
) -> None:
    source = SourceSettings(id="page", url=page_server.set("/page", PAGE))
    await pool.render(source, now=NOW)
    launches, restarts, pid = pool.launches, pool.restarts, pool.browser_pid
    pool.memory_limit, pool.memory_check_every = 1, 0.0
    try:
        await pool.render(source, now=NOW)
    finally:
        pool.memory_limit = MonitorSettings().browser_memory
        pool.memory_check_every = MEMORY_CHECK_SECONDS
    assert pool.restarts == restarts + 1
    assert pool.peak_memory > 1
    await pool.render(source, now=NOW)
    assert pool.launches == launches + 1
    assert pool.browser_pid != pid
    await wait_until_gone(pid)


@requires_browser
async def test_the_browser_is_replaced_after_its_page_budget_and_ends_with_the_pool(
    page_server: PageServer,
) -> None:
    source = SourceSettings(id="page", url=page_server.set("/page", PAGE))
    pids = set()
    async with BrowserPool(MONITOR, restart_after=2) as own:
        for _ in range(4):
            await own.render(source, now=NOW)
            if own.browser_pid is not None:  # None once a browser has used its budget
                pids.add(own.browser_pid)
        assert own.launches == 2
        assert len(pids) == 2
    for pid in pids:
        await wait_until_gone(pid)
    after = await render_error(own, source)
    assert after.kind == "browser_unavailable"


async def test_a_missing_chromium_is_browser_unavailable_with_install_advice(
    page_server: PageServer,
) -> None:
    url = page_server.set("/page", PAGE)
    async with BrowserPool(MONITOR, executable="/nonexistent/chromium") as pool:
        error = await render_error(pool, SourceSettings(id="page", url=url))
    assert error.kind == "browser_unavailable"
    assert "apt-get install chromium" in str(error)
    assert "policy-monitor[browser]" in str(error)
    assert "/nonexistent/chromium" in str(error)
