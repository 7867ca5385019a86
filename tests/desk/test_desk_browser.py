"""The review form in Debian's headless Chromium: rendered inert, and a cross-site
auto-submitted form is refused even from a browser that holds an analyst's cookie."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.store import open_store
from monitor.web.app import create_app
from tests.desk.conftest import ANALYST_TOKEN, with_users
from tests.pageserver import PageServer
from tests.web.htmlcheck import parse
from tests.web.site import IMG, SCRIPT, Site
from tests.web.test_browser_e2e import CHROMIUM, chromium

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
    pytest.mark.timeout(180),
]


async def test_the_review_form_renders_inert_and_cross_site_posts_fail(
    writable: Site, tmp_path: Path
) -> None:
    from monitor.desk.review import record_review

    seq = writable.change("xss-page").seq
    settings = with_users(writable.settings)
    evil = PageServer().start()
    try:
        answers: list[tuple[str, str, int]] = []

        async def record(request: web.Request, response: web.StreamResponse) -> None:
            answers.append((request.method, request.path, response.status))

        async with open_store(writable.db_url, create=False) as store:
            app = create_app(store, settings)
            app.on_response_prepare.append(record)
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            base = str(server.make_url("")).rstrip("/")
            await record_review(store, seq, by="Ana", note=f"{SCRIPT} {IMG}")
            dom = await chromium(
                tmp_path, "--dump-dom", f"{base}/changes/{seq}?token={ANALYST_TOKEN}"
            )
            # A page elsewhere that submits a review form to the monitor as soon as it loads,
            # authenticated as the analyst (as a browser holding the cookie would be).
            action = f"{base}/changes/{seq}/review?token={ANALYST_TOKEN}"
            evil.set(
                "/lure",
                "<!doctype html><html><body>"
                f'<form id="f" method="post" action="{action}">'
                '<input name="status" value="noise"><input name="note" value="pwned"></form>'
                "<script>document.getElementById('f').submit()</script></body></html>",
            )
            await chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", evil.url("/lure"))
            after = await store.read(stream="$reviews")
            await server.close()
    finally:
        evil.stop()

    page = parse(dom)
    forms = [f for f in page.elements("form") if f.get("method") == "post"]
    assert [f.get("action") for f in forms] == [f"/changes/{seq}/review"]
    csrf = [i for i in page.elements("input") if i.get("name") == "csrf"]
    assert len(csrf) == 1 and len(str(csrf[0]["value"])) == 64
    assert SCRIPT in page.text and IMG in page.text  # the note is shown as text
    assert page.elements("img") == []
    assert [s.get("src") for s in page.elements("script")] == ["/static/localtime.js"]
    assert ANALYST_TOKEN not in dom
    # the lure's post reached the monitor, authenticated, and was refused: nothing recorded
    assert ("POST", f"/changes/{seq}/review", 403) in answers
    assert [e.data.get("note") for e in after] == [f"{SCRIPT} {IMG}"]
