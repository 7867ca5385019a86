"""Triage: reviews and notes are events; the CLI and the web forms record them; noise
offers the ignore line that would have suppressed the change."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from monitor.desk.triage import fold_triage, ignore_line, suggest_ignore
from monitor.diff.textdiff import diff_texts
from monitor.events import StoredEvent
from monitor.extract.document import apply_ignore
from monitor.store import open_store
from monitor.web.app import create_app
from monitor.web.context import CONTEXT
from tests.desk.conftest import ANALYST_TOKEN, EMPTY_CONFIG, VIEWER_TOKEN, with_users
from tests.web.cli import main
from tests.web.htmlcheck import parse
from tests.web.site import IMG, SCRIPT, Site
from tests.web.test_api import get_valid, openapi_doc

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def desk_client(writable: Site) -> AsyncIterator[Client]:
    async with open_store(writable.db_url, create=False) as store:
        app = create_app(store, with_users(writable.settings))
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield client


def csrf_of(html: str) -> str:
    inputs = [i for i in parse(html).elements("input") if i.get("name") == "csrf"]
    assert len(inputs) == 1
    return str(inputs[0]["value"])


async def reviews_of(site: Site) -> list[StoredEvent]:
    async with open_store(site.db_url, create=False) as store:
        return await store.read(stream="$reviews")


# --------------------------------------------------------------------------- CLI


def test_cli_review_records_an_event_and_noise_prints_the_ignore_line(
    writable: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    seq = writable.change("hk-requests").seq
    db = ["--db", writable.db_url, "--config", EMPTY_CONFIG]
    assert (
        main(["review", str(seq), "--status", "noise", "--note", "a test", "--by", "Ana", *db]) == 0
    )
    out = capsys.readouterr().out
    assert f"#{seq} marked noise by Ana" in out
    # words changed ("paused" → "resumed"), not a date or a counter: no pattern is offered
    assert "no `ignore` pattern fits this change; a `remove` selector" in out
    assert main(["review", str(seq), "--note", "on second thought", "--by", "Bo", *db]) == 0
    events = asyncio.run(reviews_of(writable))
    assert [(e.type, e.data["change_seq"], e.data["by"]) for e in events] == [
        ("ChangeReviewed", seq, "Ana"),
        ("ChangeAnnotated", seq, "Bo"),
    ]
    assert events[0].data["status"] == "noise" and events[0].data["note"] == "a test"
    # the log shows it
    assert main(["log", "--type", "ChangeReviewed", *db]) == 0
    assert "noise" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["review", "1", "--status", "noise", "--by", "Ana"], "is not a change"),
        (["review", "{seq}", "--by", "Ana"], "give a --status"),
        (["review", "{seq}", "--status", "important", "--by", "  "], "--by NAME"),
    ],
)
def test_cli_review_refuses_bad_input_in_one_line(
    writable: Site, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    seq = writable.change("hk-requests").seq
    args = [a.format(seq=seq) for a in argv]
    assert main([*args, "--db", writable.db_url, "--config", EMPTY_CONFIG]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


# --------------------------------------------------------------------------- noise


def test_the_ignore_line_removes_the_change_from_both_texts() -> None:
    old = "# Report\nLast updated: March 3, 2026\nWe received 12 requests.\nSeen by 1,234.\n"
    new = "# Report\nLast updated: April 19, 2027\nWe received 12 requests.\nSeen by 1,301.\n"
    new += "Banner: sale\n"
    diff = diff_texts(old, new).to_data()
    patterns = tuple(suggest_ignore(diff))
    assert patterns
    assert ignore_line(diff) is not None
    pieces_old = [("p", line) for line in old.splitlines()[1:]]
    pieces_new = [("p", line) for line in new.splitlines()[1:]]
    assert apply_ignore(pieces_old, patterns) == apply_ignore(pieces_new, patterns)
    # the unchanged sentence survives: the line is narrow
    assert ("p", "We received 12 requests.") in apply_ignore(pieces_new, patterns)
    assert patterns[0] == "Last updated:.*"  # next year's date is covered too


def test_reworded_sentences_get_no_ignore_line() -> None:
    diff = diff_texts("We paused Hong Kong requests.\n", "We resumed Hong Kong requests.\n")
    assert ignore_line(diff.to_data()) is None


# --------------------------------------------------------------------------- web


async def test_unauthenticated_and_viewer_writes_are_refused(
    desk_client: Client, writable: Site
) -> None:
    seq = writable.change("hk-requests").seq
    anonymous = await desk_client.post(f"/changes/{seq}/review", data={"status": "important"})
    assert anonymous.status == 401
    viewer = await desk_client.post(
        f"/changes/{seq}/review",
        data={"status": "important"},
        headers={"Authorization": f"Bearer {VIEWER_TOKEN}"},
    )
    assert viewer.status == 403
    api = await desk_client.post(f"/api/changes/{seq}/reviews", json={"status": "important"})
    assert api.status == 401
    assert await reviews_of(writable) == []


async def test_a_form_without_the_csrf_token_or_from_another_origin_is_refused(
    desk_client: Client, writable: Site
) -> None:
    seq = writable.change("hk-requests").seq
    # a browser with the analyst's cookie, lured by another site
    await desk_client.get(f"/?token={ANALYST_TOKEN}")
    page = await (await desk_client.get(f"/changes/{seq}")).text()
    csrf = csrf_of(page)
    missing = await desk_client.post(f"/changes/{seq}/review", data={"status": "noise"})
    assert missing.status == 403
    wrong = await desk_client.post(
        f"/changes/{seq}/review", data={"status": "noise", "csrf": "0" * 64}
    )
    assert wrong.status == 403
    elsewhere = await desk_client.post(
        f"/changes/{seq}/review",
        data={"status": "noise", "csrf": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert elsewhere.status == 403
    same_host_other_port = await desk_client.post(
        f"/changes/{seq}/review",
        data={"status": "noise", "csrf": csrf},
        headers={"Origin": f"http://127.0.0.1:{desk_client.port + 1}"},
    )
    assert same_host_other_port.status == 403
    cookie_api = await desk_client.post(f"/api/changes/{seq}/reviews", json={"status": "noise"})
    assert cookie_api.status == 403
    assert await reviews_of(writable) == []


async def test_an_analyst_reviews_in_the_browser_and_the_queue_moves_on(
    desk_client: Client, writable: Site
) -> None:
    seq = writable.change("hk-requests").seq
    queue = await (await desk_client.get("/review")).text()
    assert f'href="/changes/{seq}#review"' in queue
    # the queue puts the high-severity Hong Kong change before lower ones
    links = re.findall(r'href="/changes/(\d+)#review"', queue)
    assert links[0] == str(seq)
    await desk_client.get(f"/?token={ANALYST_TOKEN}")
    page = await (await desk_client.get(f"/changes/{seq}")).text()
    note = f"looks like a test {SCRIPT} {IMG}"
    # behind an HTTPS proxy the browser's Origin has the scheme the server does not see
    response = await desk_client.post(
        f"/changes/{seq}/review",
        data={"status": "noise", "note": note, "csrf": csrf_of(page)},
        headers={"Origin": f"https://127.0.0.1:{desk_client.port}"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == f"/changes/{seq}#review"
    html = await (await desk_client.get(f"/changes/{seq}")).text()
    shown = parse(html)
    assert "Marked noise by Ana Analyst" in " ".join(shown.text.split())
    assert SCRIPT in shown.text and IMG in shown.text  # the note is text, never markup
    assert shown.elements("img") == []
    assert "No ignore pattern fits this change" in " ".join(shown.text.split())
    queue = await (await desk_client.get("/review")).text()
    assert f'href="/changes/{seq}#review"' not in queue.split("Recently reviewed")[0]
    events = await reviews_of(writable)
    assert len(events) == 1


async def test_the_api_records_a_review_with_a_bearer_token(
    desk_client: Client, writable: Site
) -> None:
    seq = writable.change("zh-page").seq
    response = await desk_client.post(
        f"/api/changes/{seq}/reviews",
        json={"status": "important", "note": "香港"},
        headers={"Authorization": f"Bearer {ANALYST_TOKEN}"},
    )
    assert response.status == 201
    body = await response.json()
    assert body["status"] == "important"
    assert body["reviews"][0]["by"] == "Ana Analyst"
    doc = await openapi_doc(desk_client)
    detail = await get_valid(desk_client, doc, f"/api/changes/{seq}", "/api/changes/{seq}")
    assert [(r["status"], r["note"], r["by"]) for r in detail["reviews"]] == [
        ("important", "香港", "Ana Analyst")
    ]
    bad = await desk_client.post(
        f"/api/changes/{seq}/reviews",
        json={"status": "urgent"},
        headers={"Authorization": f"Bearer {ANALYST_TOKEN}"},
    )
    assert bad.status == 400


async def test_without_analysts_the_view_stays_read_only(writable: Site) -> None:
    seq = writable.change("hk-requests").seq
    async with open_store(writable.db_url, create=False) as store:
        app = create_app(store, writable.settings)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            response = await client.post(f"/changes/{seq}/review", data={"status": "noise"})
            assert response.status == 405
            page = parse(await (await client.get(f"/changes/{seq}")).text())
            assert page.elements("form") == [] or all(
                f.get("method") == "get" for f in page.elements("form")
            )


async def test_replayed_triage_equals_the_live_view(desk_client: Client, writable: Site) -> None:
    seq = writable.change("hk-requests").seq
    headers = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
    for status in ("important", "routine"):
        await desk_client.post(
            f"/api/changes/{seq}/reviews", json={"status": status}, headers=headers
        )
    await desk_client.post(f"/api/changes/{seq}/reviews", json={"note": "n"}, headers=headers)
    app_model = await desk_client.app[CONTEXT].follower.current()
    async with open_store(writable.db_url, create=False) as store:
        replayed = fold_triage(await store.read())
    assert replayed.digest() == app_model.triage.digest()
    status = replayed.status(seq)
    assert status is not None and status.status == "routine"


def test_remove_selector_names_the_one_element_holding_the_block() -> None:
    from monitor.desk.noise_selector import remove_selector

    html = (
        b"<html><body><main><h1>Policy</h1><p>We review requests.</p>"
        b'<div class="promo card"><p>Read our blog: ten tips</p></div>'
        b'<div class="promo card"><p>Other</p></div>'
        b'<aside id="related"><ul><li>Story A</li></ul></aside></main></body></html>'
    )
    assert remove_selector(html, "text/html", ["- Story A"]) == "#related"
    # two elements share the class: no selector names that one alone
    assert remove_selector(html, "text/html", ["Read our blog: ten tips"]) is None
    # the page's own text is never offered for removal
    assert remove_selector(html, "text/html", ["We review requests."]) is None


async def test_a_noisy_box_gets_its_remove_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.check.fetch import Fetcher
    from monitor.check.netpolicy import NetworkPolicy
    from monitor.check.pipeline import CheckRunner
    from monitor.config.parse import parse_config
    from tests.pageserver import PageServer

    server = PageServer().start()
    try:
        settings = parse_config(
            f'[[source]]\nid = "p"\nurl = "{server.url("/p")}"\n', path="s.toml", environ={}
        )
        page = (
            "<html><body><main><h1>Policy</h1><p>We review every request.</p>"
            '<div id="reading"><p>Read next: {}</p></div></main></body></html>'
        )
        server.set("/p", page.format("How we count requests"))
        url = f"sqlite:///{tmp_path / 'monitor.db'}"
        policy = NetworkPolicy.from_strings(allow_private=False)
        async with open_store(url) as store, Fetcher(settings.monitor, policy) as fetcher:
            runner = CheckRunner(store=store, fetcher=fetcher, settings=settings)
            await runner.reconcile()
            await runner.check(settings.sources[0])
            server.set("/p", page.format("Our new office in Lisbon"))
            report = await runner.check(settings.sources[0])
    finally:
        server.stop()
    (change,) = [e for e in report.events if e.type == "ChangeDetected"]
    argv = ["review", str(change.seq), "--status", "noise", "--by", "Ana"]
    argv += ["--db", url, "--config", EMPTY_CONFIG]
    assert await asyncio.to_thread(main, argv) == 0
    assert 'remove = ["#reading"]' in capsys.readouterr().out
    async with open_store(url, create=False) as store:
        app = create_app(store, with_users(settings))
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            shown = parse(await (await client.get(f"/changes/{change.seq}")).text())
    assert 'remove = ["#reading"]' in shown.text
