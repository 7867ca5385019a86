"""`monitor suggest URL|ID`: a real local server, the real fetcher, the real CLI."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from aiohttp import web

from monitor.cli import main
from monitor.noise.suggest import suggest
from tests.pageserver import PageServer

STORIES = itertools.cycle(["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra"])


def policy_page(minutes: int, story: str) -> str:
    return (
        "<!doctype html><html><head><title>Acme Privacy Policy</title>"
        "<script>window.build='x'</script></head><body>"
        "<header><nav><a href='/'>Home</a><a href='/pricing'>Pricing</a></nav></header>"
        "<main><h1>Privacy Policy</h1>"
        f"<p>Updated {minutes} minutes ago</p>"
        "<p>We collect the data you give us when you create an account, and the data "
        "your devices send us when you use the service.</p>"
        "<p>We keep account data for as long as the account exists and delete it within "
        "30 days after the account is closed.</p>"
        f"<aside><p>Featured story: {story}</p></aside>"
        "</main><footer><p>© Acme</p></footer></body></html>"
    )


@pytest.fixture
def changing_page(page_server: PageServer) -> str:
    counter = itertools.count(3)

    async def handle(request: web.Request) -> web.Response:
        page_server.requests.append((request.path, dict(request.headers)))
        return web.Response(
            text=policy_page(next(counter), next(STORIES)), content_type="text/html"
        )

    page_server.handlers["/privacy"] = handle
    return page_server.url("/privacy")


def test_suggest_fetches_a_url_and_prints_a_block_the_config_accepts(
    workdir: Path, changing_page: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["suggest", changing_page, "--times", "3", "--wait", "0"]) == 0
    block = capsys.readouterr().out
    assert 'select = "main"' in block
    assert 'remove = ["aside"]' in block
    assert "volatile: recorded quietly, never alerted" in block  # "Updated N minutes ago"
    assert "Featured story" not in block  # in the aside, which the block removes
    (workdir / "sources.toml").write_text(block, encoding="utf-8")
    assert main(["validate"]) == 0
    # The suggested source reads the policy without the aside, and the volatile line
    # is quiet: two checks of the changing page record one baseline and no alert.
    assert main(["check"]) == 0
    assert main(["check"]) == 0
    capsys.readouterr()
    assert main(["show", "127-0-0-1-privacy"]) == 0
    shown = capsys.readouterr().out
    assert "We keep account data" in shown and "Featured story" not in shown
    assert "Home" not in shown


def test_suggest_reads_a_known_sources_stored_captures_without_fetching(
    workdir: Path, changing_page: str, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "sources.toml").write_text(
        f'[[source]]\nid = "acme-privacy"\nurl = "{changing_page}"\n', encoding="utf-8"
    )
    assert main(["check"]) == 0
    assert main(["check"]) == 0
    fetched = len(page_server.requests)
    capsys.readouterr()
    assert main(["suggest", "acme-privacy"]) == 0
    block = capsys.readouterr().out
    assert len(page_server.requests) == fetched
    assert 'id = "acme-privacy"' in block and 'select = "main"' in block
    assert "# monitor suggest: 2 capture(s)" in block


def test_suggest_follows_the_address_policy(
    workdir: Path, changing_page: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "sources.toml").write_text(
        '[monitor]\ndeny_networks = ["127.0.0.0/8"]\n', encoding="utf-8"
    )
    assert main(["suggest", changing_page, "--times", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "127.0.0.1" in err


def test_suggest_of_an_unknown_id_is_one_line_and_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "sources.toml").write_text("", encoding="utf-8")
    assert main(["check"]) == 0  # an empty log
    assert main(["suggest", "no-such-source"]) == 2
    assert "neither a URL" in capsys.readouterr().err
    assert main(["suggest", "example.org/terms"]) == 2
    assert "write https://example.org/terms" in capsys.readouterr().err


def test_without_a_document_root_the_element_holding_most_text_is_chosen() -> None:
    body = (
        "<html><head><title>T</title></head><body><div class='menu'><p>Home</p></div>"
        "<div id='policy'><h1>Terms</h1><p>"
        + "These terms apply to every service. " * 30
        + "</p></div><div class='foot'><p>Contact</p></div></body></html>"
    ).encode()
    found = suggest("https://example.org/terms", [body, body])
    assert found.select == "#policy"
    assert "the text was the same in every capture" in found.toml()


def test_generated_class_names_are_never_suggested() -> None:
    body = (
        "<html><body><p>x</p><div class='x1n2onr6 css-1q2w3e'><h1>Terms</h1><p>"
        + "These terms apply to every service. " * 30
        + "</p></div></body></html>"
    ).encode()
    found = suggest("https://example.org/terms", [body])
    assert found.select is None


def test_an_unnamed_inner_container_climbs_to_the_nearest_named_one() -> None:
    body = (
        "<html><body><div class='menu'><p>Home</p></div><div id='content'><div><div><p>"
        + "These terms apply to every service. " * 30
        + "</p></div></div></div></body></html>"
    ).encode()
    assert suggest("https://example.org/terms", [body]).select == "#content"


def test_odd_attribute_values_never_make_a_broken_selector() -> None:
    body = (
        "<html><body><p>x</p><div role='main\"] , *' id='a b'><h1>Terms</h1><p>"
        + "These terms apply to every service. " * 30
        + "</p></div></body></html>"
    ).encode()
    found = suggest("https://example.org/terms", [body])
    assert found.select is None and "[[source]]" in found.toml()


def test_fresh_fetches_get_an_ignore_pattern_stored_captures_do_not() -> None:
    def body(story: str) -> bytes:
        return (
            "<html><body><main><h1>Terms</h1><p>These terms apply to every service.</p>"
            f"<p>Featured story: {story} on safety</p></main></body></html>"
        ).encode()

    bodies = [body("Ada"), body("Grace")]
    fresh = suggest("https://example.org/terms", bodies)
    assert fresh.spans[0].ignore == "^Featured story: .*$"
    assert "ignore = [" in fresh.toml()
    stored = suggest("https://example.org/terms", bodies, fresh=False)
    assert stored.spans[0].ignore is None and "ignore = [" not in stored.toml()
    assert "a change: alerts" in stored.toml()
