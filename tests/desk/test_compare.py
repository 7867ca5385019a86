"""Compare any two captures: ``monitor diff ID --from SEQ --to SEQ`` and the web view."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.store import open_store
from monitor.web.app import serve
from tests.desk.conftest import EMPTY_CONFIG
from tests.desk.test_triage import Client
from tests.web.cli import main
from tests.web.htmlcheck import inner_texts, parse
from tests.web.site import SCRIPT, Site
from tests.web.test_browser_e2e import CHROMIUM, chromium


def captures(site: Site, source: str) -> list[int]:
    return [e.seq for e in site.events if e.stream == source and e.type in (
        "BaselineCaptured", "ChangeDetected")]  # fmt: skip


def test_cli_compares_captures_named_by_seq(
    desk_site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline, change, revert = captures(desk_site, "hk-requests")
    db = ["--db", desk_site.db_url, "--config", EMPTY_CONFIG]
    assert main(["diff", "hk-requests", "--from", str(baseline), "--to", str(change), *db]) == 0
    out = capsys.readouterr().out
    assert f"seq {baseline} " in out and f"seq {change} " in out
    assert "[-paused-]{+resumed+}" in out
    # the baseline and the revert say the same; the other way round is a change too
    assert main(["diff", "hk-requests", "--from", str(baseline), "--to", str(revert), *db]) == 0
    assert "no change between these captures" in capsys.readouterr().out
    assert main(["diff", "hk-requests", "--from", str(revert), "--to", str(change), *db]) == 0
    assert "[-paused-]{+resumed+}" in capsys.readouterr().out
    # a seq and a time mix; a seq that is not a capture of the source is refused in one line
    assert main(["diff", "hk-requests", "--from", str(baseline), "--to", "2999-01-01", *db]) == 0
    capsys.readouterr()
    assert main(["diff", "hk-requests", "--from", "1", *db]) == 2
    err = capsys.readouterr().err
    assert "--from 1 is not a capture of 'hk-requests'" in err and err.count("\n") == 1


async def test_the_source_page_offers_every_capture_and_the_compare_page_diffs(
    read_client: Client, desk_site: Site
) -> None:
    client, site = read_client, desk_site
    baseline, change, revert = captures(site, "hk-requests")
    page = parse(await (await client.get("/sources/hk-requests")).text())
    options = [o.get("value") for o in page.elements("option")]
    assert options.count(str(baseline)) == 2 and options.count(str(revert)) == 2
    html = await (
        await client.get(f"/sources/hk-requests/compare?from={baseline}&to={change}")
    ).text()
    assert "paused" in inner_texts(html, "del") and "resumed" in inner_texts(html, "ins")
    assert f"monitor diff hk-requests --from {baseline} --to {change}" in parse(html).text
    same = parse(
        await (await client.get(f"/sources/hk-requests/compare?from={baseline}&to={revert}")).text()
    )
    assert "The two texts are the same." in same.text
    assert (await client.get("/sources/hk-requests/compare?from=1&to=2")).status == 400
    assert (await client.get("/sources/nope/compare")).status == 404
    xss = [e for e in captures(site, "xss-page")]
    shown = parse(
        await (await client.get(f"/sources/xss-page/compare?from={xss[0]}&to={xss[-1]}")).text()
    )
    assert SCRIPT in shown.text and shown.elements("img") == []


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
@pytest.mark.timeout(180)
async def test_compare_in_chromium(desk_site: Site, tmp_path: Path) -> None:
    site = desk_site
    baseline, change, _ = captures(site, "hk-requests")
    async with (
        open_store(site.db_url, create=False) as store,
        serve(store, site.settings, "127.0.0.1", 0) as base,
    ):
        dom = await chromium(
            tmp_path,
            "--dump-dom",
            f"{base}/sources/hk-requests/compare?from={baseline}&to={change}",
        )
    assert "paused" in inner_texts(dom, "del") and "resumed" in inner_texts(dom, "ins")
