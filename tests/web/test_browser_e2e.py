"""End to end in Debian's headless Chromium: a real change, rendered, and a screenshot of it."""

from __future__ import annotations

import asyncio
import os
import struct
from pathlib import Path

import pytest

from monitor.store import open_store
from monitor.web.app import serve
from tests.web.htmlcheck import inner_texts, parse
from tests.web.site import SCRIPT, Site

CHROMIUM = Path("/usr/bin/chromium")
WIDTH, HEIGHT = 1280, 2000

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="install Debian's chromium (apt-get install chromium) or run .ci/run, "
        "which installs it",
    ),
    pytest.mark.timeout(180),
]


async def chromium(tmp_path: Path, *args: str) -> str:
    """Run headless Chromium without blocking the event loop that serves the page."""
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "TZ": "Asia/Hong_Kong",  # a viewer far from UTC
    }
    process = await asyncio.create_subprocess_exec(
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",  # the tests run as root in CI
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 120)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode("utf-8", errors="replace")


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk; fails if the file is not a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82")
    return width, height


async def test_change_page_in_chromium_shows_removed_and_added_words(
    site: Site, tmp_path: Path
) -> None:
    change = site.change("hk-requests")
    async with (
        open_store(site.db_url, create=False) as store,
        serve(store, site.settings, "127.0.0.1", 0) as base,
    ):
        url = f"{base}/changes/{change.seq}"
        dom = await chromium(tmp_path, "--dump-dom", url)
        screenshot = tmp_path / "change.png"
        await chromium(
            tmp_path, f"--screenshot={screenshot}", f"--window-size={WIDTH},{HEIGHT}", url
        )
        xss_dom = await chromium(
            tmp_path, "--dump-dom", f"{base}/changes/{site.change('xss-page').seq}"
        )

    assert "paused" in inner_texts(dom, "del")
    assert "resumed" in inner_texts(dom, "ins")
    assert "Hong Kong" in inner_texts(dom, "mark")
    page = parse(dom)
    assert "hk-data-requests" in page.text
    # the local-time script ran (the CSP allows our own script): times are in the viewer's
    # zone, while the title keeps the UTC time for hovering
    times = inner_texts(dom, "time")
    assert times and not any(t.endswith(" UTC") for t in times), times
    assert all((t["title"] or "").endswith("UTC") for t in page.elements("time"))
    assert png_size(screenshot) == (WIDTH, HEIGHT)
    assert screenshot.stat().st_size > 10_000  # a rendered page, not a blank image
    # in a real browser the page's markup stayed text: no element was created from it
    xss = parse(xss_dom)
    assert SCRIPT in xss.text
    assert xss.elements("img") == []
    assert [s.get("src") for s in xss.elements("script")] == ["/static/localtime.js"]
