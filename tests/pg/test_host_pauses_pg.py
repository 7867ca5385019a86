"""Workers sharing one PostgreSQL log share a host's Retry-After pause too."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from monitor.cli import main
from tests.pageserver import PageServer


@pytest.mark.timeout(45)
def test_a_pause_one_worker_was_sent_keeps_the_next_from_asking(
    pg_url: str, workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.Response(status=429, text="slow down", headers={"Retry-After": "3600"})

    page_server.handlers["/a"] = refuse
    page_server.set("/b", "<main><p>Government requests: 12 received, 3 answered.</p></main>")
    lines = ["[monitor]", "per_host = 1"]
    for name in "ab":
        lines += ["[[source]]", f'id = "{name}"', f'url = "{page_server.url("/" + name)}"', ""]
    (workdir / "sources.toml").write_text("\n".join(lines), encoding="utf-8")

    assert main(["check", "--db", pg_url, "a"]) == 0  # refused: a failure, nothing deferred
    assert len(page_server.requests) == 1
    capsys.readouterr()
    # Another worker (its own connections) checks the other page on that host.
    assert main(["check", "--db", pg_url, "b"]) == 3
    assert len(page_server.requests) == 1
    line = capsys.readouterr().out.split()
    assert line[:2] == ["b", "deferred"] and "asked for quiet until" in " ".join(line)
