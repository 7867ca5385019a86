"""`monitor notify-test` through the real CLI, against a real local webhook receiver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web

from monitor.cli import main
from tests.pageserver import PageServer

SECRET = "s3cr3t-token-XYZ"


@pytest.fixture
def received(page_server: PageServer) -> list[dict[str, str]]:
    """JSON bodies posted to /hook/<SECRET> on the page server."""
    bodies: list[dict[str, str]] = []

    async def hook(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.Response(text="ok")

    page_server.handlers[f"/hook/{SECRET}"] = hook
    return bodies


def write_config(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, page_server: PageServer, closed_port: int
) -> None:
    monkeypatch.setenv("HOOK_URL", f"json://127.0.0.1:{page_server.port}/hook/{SECRET}")
    monkeypatch.setenv("DEAD_URL", f"json://127.0.0.1:{closed_port}/hook/{SECRET}")
    (workdir / "sources.toml").write_text(
        '[monitor]\ndatabase = "sqlite:///monitor.db"\n\n'
        '[[channel]]\nname = "team-hook"\nurl = "${HOOK_URL}"\n\n'
        '[[channel]]\nname = "dead-hook"\nurl = "${DEAD_URL}"\n',
        encoding="utf-8",
    )


def test_all_channels_report_each_outcome_and_write_nothing(
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    page_server: PageServer,
    received: list[dict[str, str]],
    closed_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_config(workdir, monkeypatch, page_server, closed_port)
    assert main(["notify-test"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert "sent to team-hook" in lines
    [failed] = [line for line in lines if line.startswith("FAILED dead-hook: ")]
    assert "connection" in failed.lower()
    assert SECRET not in out + err and "json://" not in out + err
    [message] = received
    assert message["title"] == "policy-monitor test message"
    assert "team-hook" in message["message"]
    assert not (workdir / "monitor.db").exists()  # nothing recorded


def test_one_channel(
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    page_server: PageServer,
    received: list[dict[str, str]],
    closed_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_config(workdir, monkeypatch, page_server, closed_port)
    assert main(["notify-test", "team-hook"]) == 0
    assert capsys.readouterr().out == "sent to team-hook\n"
    assert len(received) == 1
    assert json.dumps(received[0]).count("team-hook") == 1


def test_unknown_channel_suggests_the_nearest_name(
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    page_server: PageServer,
    received: list[dict[str, str]],
    closed_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_config(workdir, monkeypatch, page_server, closed_port)
    assert main(["notify-test", "team-hok"]) == 2
    err = capsys.readouterr().err
    assert "unknown channel 'team-hok'" in err and "did you mean 'team-hook'?" in err
    assert received == []


def test_config_without_channels_is_bad_input(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "sources.toml").write_text("[monitor]\nper_host = 2\n", encoding="utf-8")
    assert main(["notify-test"]) == 2
    assert "no [[channel]]" in capsys.readouterr().err
