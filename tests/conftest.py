from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.pageserver import PageServer

# Two cores shared with servers the tests start: wall-clock deadlines would make
# property tests flaky without testing anything a user notices.
settings.register_profile(
    "monitor", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("monitor")


@pytest.fixture(autouse=True)
def _own_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own directory: files the monitor creates next to the
    working directory (``monitor.db``, the signing key and its checkpoint journal)
    never land in the checkout or leak from one test into another."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def page_server() -> Iterator[PageServer]:
    server = PageServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory with no MONITOR_* variables leaking in."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    monkeypatch.delenv("MONITOR_DB", raising=False)
    monkeypatch.delenv("MONITOR_DATA_DIR", raising=False)
    return tmp_path
