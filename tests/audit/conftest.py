from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.audit.history import History, build_history
from tests.pageserver import PageServer


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
