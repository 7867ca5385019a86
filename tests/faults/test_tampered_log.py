"""``check`` and ``run`` refuse to extend a log that was altered at its head or lost events.

Appending would seal new events with valid hashes on top of the damage. Each case
tampers with the SQLite file the way an attacker would (the append-only triggers
dropped), then runs the real CLI: it must stop before writing anything, in one
line naming ``monitor verify``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.store import SqliteEventStore
from monitor.store.tail import tail_problem
from tests.pageserver import PageServer
from tests.test_verify import EVENTS, build_log, tampering


def count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


@pytest.fixture
def site(workdir: Path, page_server: PageServer) -> Path:
    """A log of eight events and a config with one healthy page."""
    asyncio.run(build_log(workdir / "monitor.db"))
    url = page_server.set("/p", "<html><body><h1>Report</h1><p>Requests: 12.</p></body></html>")
    (workdir / "sources.toml").write_text(f'[[source]]\nid = "page"\nurl = "{url}"\n')
    return workdir


def delete_middle(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM events WHERE seq = 4")


def edit_head(db: sqlite3.Connection) -> None:
    db.execute(f"UPDATE events SET data = replace(data, 'Report', 'R3port') WHERE seq = {EVENTS}")


def edit_before_head(db: sqlite3.Connection) -> None:
    db.execute(
        f"UPDATE events SET data = replace(data, 'Report', 'R3port') WHERE seq = {EVENTS - 1}"
    )


def replace_head_link(db: sqlite3.Connection) -> None:
    db.execute(f"UPDATE events SET prev_hash = '{'0' * 64}' WHERE seq = {EVENTS}")


def cut_the_end_after_alerting(db: sqlite3.Connection) -> None:
    db.execute(f"INSERT INTO cursors (name, seq) VALUES ('notifier', {EVENTS})")
    db.execute(f"DELETE FROM events WHERE seq = {EVENTS}")


def garble_head(db: sqlite3.Connection) -> None:
    db.execute(f"UPDATE events SET data = '{{not json' WHERE seq = {EVENTS}")


TAMPERING: dict[str, Callable[[sqlite3.Connection], None]] = {
    "the last event garbled": garble_head,
    "an event deleted from the middle": delete_middle,
    "the last event edited": edit_head,
    "the event before the last edited": edit_before_head,
    "the last event's link replaced": replace_head_link,
    "the end cut off after it was alerted": cut_the_end_after_alerting,
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_check_refuses_to_append_to_a_tampered_log(
    site: Path, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = site / "monitor.db"
    with tampering(db) as conn:
        TAMPERING[how](conn)
    before = count(db)
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert "monitor verify" in err and "refusing to append" in err
    assert count(db) == before  # nothing appended, not even the source's registration


@pytest.mark.parametrize(
    "argv",
    [["checkpoint"], ["export", "out"], ["evidence", "1", "out"], ["review", "8", "--note", "x"]],
    ids=" ".join,
)
def test_no_checkpoint_or_review_is_appended_to_a_tampered_log(
    site: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    db = site / "monitor.db"
    with tampering(db) as conn:
        delete_middle(conn)
    before = count(db)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert "monitor verify" in err and "refusing to append" in err
    assert count(db) == before  # nothing sealing the damage
    assert not (site / "out").exists()


def test_check_appends_to_an_intact_log(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    assert count(site / "monitor.db") > EVENTS
    assert main(["check"]) == 0  # and again: its own appends keep the tail intact


def test_run_refuses_to_start_on_a_tampered_log(site: Path) -> None:
    with tampering(site / "monitor.db") as conn:
        delete_middle(conn)
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "run"],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "missing" in done.stderr and "monitor verify" in done.stderr
    assert "Traceback" not in done.stderr


async def test_the_tail_check_holds_while_another_writer_appends(tmp_path: Path) -> None:
    """Appends racing the check (a daemon and a `check` on one file) are not damage."""
    await build_log(tmp_path / "monitor.db")
    store = await SqliteEventStore.open(tmp_path / "monitor.db")
    try:
        from monitor.events import NewEvent

        async def writer() -> None:
            for i in range(40):
                event = NewEvent(event_id=f"w{i}", stream="w", type="Captured", schema=1, data={})
                await store.append([event])

        async def checker() -> list[str | None]:
            return [await tail_problem(store) for _ in range(40)]

        _, problems = await asyncio.gather(writer(), checker())
    finally:
        await store.close()
    assert problems == [None] * 40


async def test_the_daemon_signs_no_checkpoint_over_a_log_altered_while_it_runs(
    tmp_path: Path, page_server: PageServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The daemon's checkpointer reads only the events after its last checkpoint, so an
    event deleted from the part it already signed would be sealed by the next signature;
    the tail check before each checkpoint finds the gap."""
    from monitor.check.pipeline import CheckReport
    from monitor.daemon.service import Daemon
    from tests.test_daemon import event_types, load, running, until, write_config

    def signed() -> int:
        return event_types(db).count(("$checkpoints", "CheckpointSigned"))

    url = page_server.set("/p", "<html><body><p>Requests received: 10.</p></body></html>")
    config = write_config(
        tmp_path / "sources.toml",
        {"p": url},
        monitor='checkpoint_every = "1h"\nkey_path = "monitor.key"',
        each='interval = "1s"',
    )
    db = tmp_path / "m.db"
    reports: list[CheckReport] = []
    daemon = Daemon(
        load(config),
        database=f"sqlite:///{db}",
        config_path=config,
        handle_signals=False,
        on_report=reports.append,
        poll_interval=0.1,
    )
    async with running(daemon):
        await until(lambda: any(r.outcome == "baseline" for r in reports), seconds=20)
        page_server.set("/p", "<html><body><p>Requests received: 12.</p></body></html>")
        await until(lambda: signed() >= 1, seconds=20)  # the change's checkpoint
        with tampering(db) as conn:
            conn.execute("DELETE FROM events WHERE seq = 2")
        before = signed()
        page_server.set("/p", "<html><body><p>Requests received: 14.</p></body></html>")
        await until(lambda: "could not sign a checkpoint" in caplog.text, seconds=20)
    assert "1 event is missing" in caplog.text and "monitor verify" in caplog.text
    assert signed() == before
