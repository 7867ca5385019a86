"""`monitor check` with sources that need a browser, through the real CLI, then `monitor verify`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main
from tests.browser.conftest import requires_browser
from tests.browser.test_browser_checks import STATIC, serve_dashboard
from tests.pageserver import PageServer


@requires_browser
def test_check_renders_browser_sources_takes_screenshots_and_the_log_verifies(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    dashboard = serve_dashboard(page_server, 41)
    guide = page_server.set("/guide", STATIC)
    (workdir / "sources.toml").write_text(
        '[monitor]\ndatabase = "sqlite:///monitor.db"\n\n'
        f'[[source]]\nid = "dashboard"\nurl = "{dashboard}"\nrender = "auto"\n'
        'select = "#app"\n\n'
        f'[[source]]\nid = "guide"\nurl = "{guide}"\nscreenshot = true\n',
        encoding="utf-8",
    )

    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "dashboard" in out and "guide" in out
    assert out.count("baseline") == 2

    assert main(["log", "--json", "--type", "BaselineCaptured"]) == 0
    captures = {
        event["stream"]: event["data"]["capture"]
        for event in map(json.loads, capsys.readouterr().out.splitlines())
    }
    assert captures["dashboard"]["renderer"] == "browser"
    assert "screenshot_sha256" not in captures["dashboard"]
    assert captures["guide"]["renderer"] == "browser"  # a screenshot needs the browser
    assert len(captures["guide"]["screenshot_sha256"]) == 64

    assert main(["verify"]) == 0
