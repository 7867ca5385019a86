from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import monitor.cli
from monitor.commands import checkpoint, diff, evidence, export, replay
from tests.audit.history import History, build_history
from tests.pageserver import PageServer

AUDIT_COMMANDS = (replay, diff, checkpoint, export, evidence)


@pytest.fixture(autouse=True)
def audit_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit sub-commands in the CLI, whether or not COMMANDS lists them yet."""
    registered = vars(monitor.cli)["COMMANDS"]
    missing = tuple(m for m in AUDIT_COMMANDS if m not in registered)
    if missing:
        monkeypatch.setattr(monitor.cli, "COMMANDS", (*registered, *missing))


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """One real run (hundreds of events), built once; tests copy its files."""
    directory = tmp_path_factory.mktemp("history")
    server = PageServer().start()
    try:
        yield asyncio.run(build_history(directory, server))
    finally:
        server.stop()


@pytest.fixture
def logdir(history: History, workdir: Path) -> Path:
    """A private copy of the history in the working directory (monitor.db, monitor.key …)."""
    history.copy_to(workdir)
    return workdir
