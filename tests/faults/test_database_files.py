"""Files that are not a monitor log, and logs that may not be written, opened by the CLI.

An empty file once became a new, healthy-looking empty log (``log``, ``replay`` and
``serve`` wrote a schema into it; ``check`` started at seq 1); a read-only copy could
not be verified in place; and ``checkpoint`` / ``export`` created a signing key in
the working directory before finding that ``--db`` named no log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from monitor.cli import main
from monitor.errors import StoreUnavailableError
from monitor.store import open_store
from tests.faults.test_store_faults import as_nobody
from tests.pageserver import PageServer
from tests.test_verify import EVENTS, build_log
from tests.web.test_live import clean_env

READERS = [
    ["figures", "meta"],
    ["log"],
    ["replay"],
    ["verify"],
    ["show", "meta"],
    ["diff", "meta"],
]
WRITERS = [["check"], ["checkpoint"], ["export", "out"], ["evidence", "1", "out"]]
SERVE = [["serve", "--web", "127.0.0.1:9"]]  # refused before it would bind


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("argv", READERS + WRITERS + SERVE, ids=" ".join)
def test_an_empty_file_is_refused_and_left_empty(
    workdir: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "monitor.db").write_bytes(b"")
    (workdir / "sources.toml").write_text("")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "is an empty file (0 bytes), not a monitor database" in err, err
    assert len(err.splitlines()) == 1
    assert (workdir / "monitor.db").stat().st_size == 0
    assert not (workdir / "monitor.key").exists()
    assert not (workdir / "out").exists()


@pytest.mark.parametrize("argv", READERS + SERVE, ids=" ".join)
def test_an_empty_sqlite_database_of_no_one_is_not_taken_for_a_log(
    workdir: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    sqlite3.connect(workdir / "monitor.db").execute("PRAGMA user_version = 0").close()
    with sqlite3.connect(workdir / "monitor.db") as conn:
        conn.execute("CREATE TABLE notes (x)")
    before = digest(workdir / "monitor.db")
    assert main(argv) == 2
    assert "is not a valid monitor database" in capsys.readouterr().err
    assert digest(workdir / "monitor.db") == before


@pytest.mark.parametrize("argv", READERS, ids=" ".join)
def test_read_only_commands_write_nothing_to_the_log(
    workdir: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(build_log(workdir / "monitor.db"))
    with sqlite3.connect(workdir / "monitor.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = digest(workdir / "monitor.db")
    # This log holds no page captures or figures: show, diff and figures answer 2.
    assert main(argv) == (2 if argv[0] in ("show", "diff", "figures") else 0)
    assert digest(workdir / "monitor.db") == before
    wal = workdir / "monitor.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


@pytest.mark.parametrize("argv", [["checkpoint"], ["export", "out"]], ids=" ".join)
def test_no_key_is_created_before_the_database_is_known_good(
    workdir: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", "sqlite:///typo.db", *argv]) == 2
    assert "no database at" in capsys.readouterr().err
    assert not (workdir / "monitor.key").exists()
    assert not (workdir / "monitor.pub.pem").exists()


@pytest.fixture
def read_only_copy() -> Iterator[Path]:
    """A log copied into a directory nobody may write, the file itself read-only."""
    home = Path(tempfile.mkdtemp(prefix="monitor-ro-"))
    try:
        db = home / "copy.db"
        asyncio.run(build_log(db))
        db.chmod(0o444)
        home.chmod(0o555)
        yield db
    finally:
        home.chmod(0o755)
        shutil.rmtree(home)


def test_a_read_only_copy_is_verified_in_place(
    read_only_copy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(read_only_copy.parent)  # the test's own directory is root's alone
    before = digest(read_only_copy)
    with as_nobody():
        code = main(["--db", f"sqlite:///{read_only_copy}", "verify"])
        out = capsys.readouterr()
        assert code == 0, out.err
        assert f"ok: {EVENTS} events" in out.out
        assert main(["--db", f"sqlite:///{read_only_copy}", "log"]) == 0
        assert len(capsys.readouterr().out.splitlines()) == EVENTS
    assert digest(read_only_copy) == before
    assert sorted(os.listdir(read_only_copy.parent)) == ["copy.db"]


async def test_appending_through_a_read_only_store_is_refused(tmp_path: Path) -> None:
    await build_log(tmp_path / "monitor.db")
    async with open_store(f"sqlite:///{tmp_path / 'monitor.db'}", read_only=True) as store:
        assert await store.event_count() == EVENTS
        with pytest.raises(StoreUnavailableError, match="read-only"):
            await store.put_blob(b"new")
    async with contextlib.AsyncExitStack():
        with pytest.raises(StoreUnavailableError, match="no database at"):
            async with open_store(f"sqlite:///{tmp_path / 'none.db'}", read_only=True):
                pass
    assert not (tmp_path / "none.db").exists()


def test_a_working_directory_the_user_may_not_read_is_one_line(
    read_only_copy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is looked for in the working directory; not being allowed to look is an
    error of the environment, said in one line."""
    if os.geteuid() != 0:
        pytest.skip("needs root to make a directory another user may not read")
    private = Path(tempfile.mkdtemp(prefix="monitor-private-"))  # 0700, root's
    try:
        monkeypatch.chdir(private)
        with as_nobody():
            code = main(["--db", f"sqlite:///{read_only_copy}", "verify"])
        err = capsys.readouterr().err
        assert code == 2, err
        assert len(err.splitlines()) == 1 and "Permission denied" in err, err
    finally:
        shutil.rmtree(private)


def test_a_log_of_an_older_schema_is_read_without_upgrading_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A copy made by an older version (schema 1: no host_pauses table) is verified and
    listed as it is; only a command that writes upgrades a database."""
    asyncio.run(build_log(workdir / "monitor.db"))
    conn = sqlite3.connect(workdir / "monitor.db", isolation_level=None)
    try:
        conn.execute("DROP TABLE host_pauses")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    before = digest(workdir / "monitor.db")
    assert main(["verify"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["log"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == EVENTS
    assert digest(workdir / "monitor.db") == before


async def test_serve_reads_only_unless_analysts_may_review(
    workdir: Path, page_server: PageServer
) -> None:
    """The read-only opening must not take away what the desk writes (reviews)."""
    from tests.web.test_live import run_cli, write_config  # the web suite's real CLI runs

    url = page_server.set("/p", "<html><body><p>We keep data for 30 days.</p></body></html>")
    write_config(workdir, url)
    assert (await run_cli(workdir, "check"))[0] == 0
    page_server.set("/p", "<html><body><p>We keep data for 90 days.</p></body></html>")
    assert (await run_cli(workdir, "check"))[0] == 0
    with (workdir / "sources.toml").open("a", encoding="utf-8") as config:
        config.write('\n[[user]]\nname = "Ana"\ntoken_env = "TOKEN_ANA"\nrole = "analyst"\n')
    with sqlite3.connect(workdir / "monitor.db") as conn:
        (seq,) = conn.execute("SELECT seq FROM events WHERE type = 'ChangeDetected'").fetchone()
    token = "a" * 32
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.web.cli", "serve", "--web", "127.0.0.1:0",
        cwd=workdir, env={**clean_env(), "TOKEN_ANA": token}, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
        found = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
        assert found, line + (await process.stderr.read()).decode()
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{found.group(1)}/api/changes/{seq}/reviews",
                json={"status": "important"},
                headers={"Authorization": f"Bearer {token}"},
            ) as response,
        ):
            assert response.status == 201, await response.text()
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
    with sqlite3.connect(workdir / "monitor.db") as conn:
        query = "SELECT COUNT(*) FROM events WHERE type = 'ChangeReviewed'"
        assert conn.execute(query).fetchone() == (1,)
