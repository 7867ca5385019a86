"""``export`` and ``evidence`` into a directory that cannot be made: one line, exit 2.

A dangling symlink, a path under a regular file, a parent nobody may write and a
name longer than the file system allows each ended in a traceback, sometimes after
a checkpoint had been signed for the bundle that was never written.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.cli import main
from tests.faults.test_store_faults import as_nobody
from tests.test_verify import build_log

# case -> (directory argument, what the one line says)
TARGETS = {
    "a dangling symlink": ("dangling", "symbolic link to a missing path"),
    "under a regular file": ("file/out", "Not a directory"),
    "an uncreatable parent": ("locked/sub/out", "Permission denied"),
    "an over-long name": ("x" * 300, "File name too long"),
    "a NUL in the name": ("a\x00b", "NUL"),
}


@pytest.fixture
def a_log() -> Iterator[Path]:
    """A log in a directory everyone may enter (the checks run as nobody)."""
    home = Path(tempfile.mkdtemp(prefix="monitor-out-"))
    home.chmod(0o777)
    try:
        asyncio.run(build_log(home / "monitor.db"))
        (home / "monitor.db").chmod(0o666)
        (home / "dangling").symlink_to(home / "nowhere")
        (home / "file").write_text("a regular file")
        (home / "locked").mkdir(mode=0o555)
        yield home
    finally:
        shutil.rmtree(home)


def checkpoints(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        query = "SELECT COUNT(*) FROM events WHERE type = 'CheckpointSigned'"
        return int(conn.execute(query).fetchone()[0])


@pytest.mark.parametrize("command", ["export", "evidence"])
@pytest.mark.parametrize("case", list(TARGETS))
def test_an_impossible_output_directory_is_one_line_and_exit_2(
    a_log: Path,
    command: str,
    case: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(a_log)
    target, says = TARGETS[case]
    argv = ["export", target] if command == "export" else ["evidence", "1", target]
    with as_nobody():
        code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert says in err, err
    assert checkpoints(a_log / "monitor.db") == 0  # refused before anything was signed
    assert not (a_log / "nowhere").exists()
    assert not (a_log / "monitor.key").exists()
