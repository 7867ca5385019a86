"""Page text shown outside the HTML views is escaped: Markdown, the terminal, dashboard links.

A heading ``<img src=x onerror=…>`` once reached the evidence README raw (Markdown
viewers render inline HTML), and a right-to-left override (U+202E) in page text
reversed what followed it in ``monitor log``, ``diff`` and the dashboard's links.
The page here is served by a real local server and checked by the real CLI.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.cli import main
from monitor.config.parse import load_config
from monitor.store import open_store
from monitor.text.safe import for_markdown, for_terminal, show_bidi
from monitor.web.app import create_app
from tests.pageserver import PageServer

RLO = "\u202e"
HOSTILE_HEADING = f"&lt;img src=x onerror=alert(1)&gt; {RLO}Requests"


def page(count: int) -> str:
    return (
        f"<html><body><h1>{HOSTILE_HEADING}</h1>"
        f"<p>We received {count} requests. {RLO}gnp.exe\x1b[2J</p></body></html>"
    )


@pytest.fixture
def changed(workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]) -> int:
    """A source whose hostile page changed once; the seq of the ChangeDetected."""
    url = page_server.set("/p", page(10))
    (workdir / "sources.toml").write_text(f'[[source]]\nid = "p"\nurl = "{url}"\n')
    assert main(["check"]) == 0
    page_server.set("/p", page(12))
    assert main(["check"]) == 0
    capsys.readouterr()
    assert main(["log", "--type", "ChangeDetected", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    return int(json.loads(line)["seq"])


def test_the_evidence_readme_shows_page_text_literally(
    workdir: Path, changed: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evidence", str(changed), "out"]) == 0
    readme = (workdir / "out" / "README.md").read_text(encoding="utf-8")
    assert "<img" not in readme.replace("\\<img", "")  # only ever escaped
    assert RLO not in readme and "\x1b" not in readme
    summary = next(line for line in readme.splitlines() if line.startswith("Classification:"))
    assert r"\<img src=x onerror=alert(1)\> \[U+202E\]Requests" in summary, summary


@pytest.mark.parametrize("argv", [["log"], ["diff", "p"], ["show", "p"]])
def test_terminal_output_shows_controls_visibly(
    changed: int,
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert RLO not in out and "\x1b" not in out
    assert "[U+202E]" in out


def test_show_to_a_pipe_is_byte_for_byte(changed: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "p"]) == 0
    assert RLO in capsys.readouterr().out  # a pipe gets exactly what was captured


def test_dashboard_links_and_change_pages_show_bidi_controls(workdir: Path, changed: int) -> None:
    async def dashboard(path: str) -> str:
        settings = load_config(workdir / "sources.toml")
        async with open_store("sqlite:///monitor.db", read_only=True) as store:
            client = TestClient(TestServer(create_app(store, settings), host="127.0.0.1"))
            await client.start_server()
            try:
                response = await client.get(path)
                return await response.text()
            finally:
                await client.close()

    html = asyncio.run(dashboard("/"))
    link = next(line for line in html.splitlines() if 'class="what"' in line)
    assert RLO not in link
    assert "[U+202E]" in link
    for page_path in (f"/changes/{changed}", "/sources/p"):
        html = asyncio.run(dashboard(page_path))
        assert RLO not in html, page_path  # headings, diff, sentences, title: all marked
        assert "[U+202E]Requests" in html and "[U+202E]gnp.exe" in html


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<img src=x onerror=alert(1)>", r"\<img src=x onerror=alert(1)\>"),
        ("[click](javascript:x)", r"\[click\](javascript:x)"),
        ("a\nb & c", r"a\[U+000A\]b &amp; c"),
        (f"x{RLO}y\u2066z", r"x\[U+202E\]y\[U+2066\]z"),
    ],
)
def test_markdown_escaping(text: str, shown: str) -> None:
    assert for_markdown(text) == shown


def test_terminal_and_bidi_helpers() -> None:
    assert for_terminal("a\x1b[2Jb\tc\nd\u200f") == "a[U+001B][2Jb\tc\nd[U+200F]"
    assert show_bidi("\u202a\u202b\u202c\u202d\u202e\u2067\u2068\u2069\u200e\u061c") == (
        "[U+202A][U+202B][U+202C][U+202D][U+202E][U+2067][U+2068][U+2069][U+200E][U+061C]"
    )
