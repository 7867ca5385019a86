"""``monitor migrate``: a SQLite log moved to PostgreSQL (and back) is the same log.

Built the way a user builds one: ``monitor check`` against a local site whose pages
change, then migrated through the real CLI.
"""

from __future__ import annotations

import sqlite3
from asyncio import run
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from monitor import cli
from monitor.audit.findings import VerifyReport
from monitor.audit.verify import verify_store
from monitor.core.projections import replay, state_digest
from monitor.events import NewEvent
from monitor.store import open_store
from tests.pageserver import PageServer
from tests.pg.support import schema_of, server_url


def page(title: str, body: str) -> str:
    return (
        f"<html><head><title>{title}</title></head><body><main><p>{body}</p></main></body></html>"
    )


class Site:
    def __init__(self, server: PageServer, workdir: Path) -> None:
        self.server = server
        self.config = workdir / "sources.toml"
        names = ("meta-gov-requests", "google-transparency", "x-law-enforcement")
        lines = ["[monitor]\nallow_private = true\n"]
        for n, name in enumerate(names):
            url = server.set(f"/{n}", page(name, "Requests from Hong Kong: 12."))
            lines.append(f'[[source]]\nid = "{name}"\nurl = "{url}"\ntitle = "{name}"\n')
        self.config.write_text("\n".join(lines), encoding="utf-8")

    def edit(self, n: int, body: str) -> None:
        self.server.set(f"/{n}", page(str(n), body))


@pytest.fixture
def sqlite_log(workdir: Path, page_server: PageServer) -> Iterator[tuple[str, Site]]:
    """A SQLite log with baselines, changes, a revert and a failure — and a cursor."""
    site = Site(page_server, workdir)
    url = f"sqlite:///{workdir / 'monitor.db'}"
    check = ["check", "--config", str(site.config), "--db", url]
    assert cli.main(check) == 0
    site.edit(0, "Requests from Hong Kong: 40. We paused processing.")
    site.edit(1, "<b>Everything</b> changed.")
    assert cli.main(check) == 0
    site.edit(0, "Requests from Hong Kong: 12.")  # back to the first version: "reverted"
    page_server.set("/2", "gone", status=500)
    assert cli.main(check) == 0
    yield url, site


async def set_cursor(url: str, name: str, seq: int) -> None:
    async with open_store(url) as store:
        await store.set_cursor(name, seq)


async def append_one(url: str, *, dry: bool = False) -> tuple[int, str]:
    """Append an unrelated event (unless ``dry``); returns the head."""
    async with open_store(url) as store:
        if not dry:
            await store.append(
                [NewEvent(event_id="x", stream="s", type="Noted", schema=1, data={})]
            )
        return await store.head()


async def pg_query(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(server_url(), server_settings={"search_path": schema_of(url)})
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def cli_out(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


async def snapshot(url: str) -> tuple[VerifyReport, str, list[object], list[object], int]:
    async with open_store(url, create=False) as store:
        report = await verify_store(store)
        events = await store.read()
        blobs = [(b, await store.get_blob(b)) async for b in store.iterate_blob_ids()]
        cursor = await store.get_cursor("notifier")
    return report, state_digest(replay(events)), list(events), blobs, cursor


def test_sqlite_to_postgres_keeps_every_byte_hash_blob_and_cursor(
    sqlite_log: tuple[str, Site], pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source, _ = sqlite_log
    run(set_cursor(source, "notifier", 5))
    code, out = cli_out(capsys, "migrate", "--from", source, "--to", pg_url)
    assert code == 0, out
    assert "heads equal: the target holds the same log" in out
    heads = [line for line in out.splitlines() if line.startswith(("source:", "target:"))]
    assert len(heads) == 2 and heads[0].split(": ", 1)[1] == heads[1].split(": ", 1)[1]

    before, after = run(snapshot(source)), run(snapshot(pg_url))
    report, digest, events, blobs, cursor = before
    assert report.ok and after[0].ok
    assert (after[0].events, after[0].blobs, after[0].head_hash) == (
        report.events,
        report.blobs,
        report.head_hash,
    )
    assert after[1] == digest  # replay gives the same state on both
    assert after[2] == events and after[3] == blobs and after[4] == cursor == 5
    types = {e.type for e in events}  # type: ignore[attr-defined]
    assert {"ChangeDetected", "BaselineCaptured", "FetchFailed"} <= types

    # The stored bytes are the SQLite bytes, not a re-encoding.
    db = sqlite3.connect(source.removeprefix("sqlite:///"))
    sqlite_rows = db.execute(
        "SELECT seq, CAST(data AS BLOB), hash FROM events ORDER BY seq"
    ).fetchall()
    db.close()
    pg_rows = run(pg_query(pg_url, "SELECT seq, data, hash FROM events ORDER BY seq"))
    assert [tuple(r) for r in pg_rows] == sqlite_rows

    code, verified = cli_out(capsys, "verify", "--db", pg_url)
    code_sqlite, verified_sqlite = cli_out(capsys, "verify", "--db", source)
    assert (code, verified) == (code_sqlite, verified_sqlite)


def test_a_second_run_resumes_and_copies_only_what_is_new(
    sqlite_log: tuple[str, Site], pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source, site = sqlite_log
    assert cli_out(capsys, "migrate", "--from", source, "--to", pg_url)[0] == 0
    code, out = cli_out(capsys, "migrate", "--from", source, "--to", pg_url)
    assert code == 0 and "resuming" in out and "copied 0 events" in out
    had = run(append_one(pg_url, dry=True))[0]
    site.edit(1, "A new policy on government requests.")
    assert cli.main(["check", "--config", str(site.config), "--db", source]) == 0
    now = run(append_one(source, dry=True))[0]
    assert now > had
    code, out = cli_out(capsys, "migrate", "--from", source, "--to", pg_url)
    assert code == 0, out
    assert f"already holds seq 1 to {had} of" in out and f"copied {now - had} events" in out
    assert (run(snapshot(source)))[1:] == (run(snapshot(pg_url)))[1:]


def test_a_target_holding_another_log_is_refused_untouched(
    sqlite_log: tuple[str, Site], pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source, _ = sqlite_log
    before = run(append_one(pg_url))
    code, out = cli_out(capsys, "migrate", "--from", source, "--to", pg_url)
    assert code == 2
    assert "not a prefix" in out and "refusing to touch it" in out
    assert run(append_one(pg_url, dry=True)) == before


def test_a_resumed_target_edited_in_between_fails_the_proof(
    sqlite_log: tuple[str, Site], pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source, site = sqlite_log
    assert cli_out(capsys, "migrate", "--from", source, "--to", pg_url)[0] == 0
    run(pg_query(pg_url, "ALTER TABLE events DISABLE TRIGGER events_append_only"))
    run(pg_query(pg_url, "UPDATE events SET data = convert_to('{\"n\":1}', 'UTF8') WHERE seq = 2"))
    site.edit(1, "Another edit.")
    assert cli.main(["check", "--config", str(site.config), "--db", source]) == 0
    code, out = cli_out(capsys, "migrate", "--from", source, "--to", pg_url)
    assert code == 1
    assert "CHAINS DIFFER" in out and "seq 2" in out


def test_a_broken_chain_is_copied_as_it_is_and_verifies_the_same(
    sqlite_log: tuple[str, Site], pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, _ = sqlite_log
    db = sqlite3.connect(source.removeprefix("sqlite:///"))
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f'DROP TRIGGER "{name}"')
    (edited,) = db.execute("SELECT min(seq) FROM events WHERE type = 'ChangeDetected'").fetchone()
    db.execute(
        'UPDATE events SET data = replace(data, \'"classification":"\', \'"classification":"x\')'
        " WHERE seq = ?",
        (edited,),
    )
    db.commit()
    db.close()
    code, out = cli_out(capsys, "migrate", "--from", source, "--to", pg_url)
    assert code == 0, out
    assert "the source's own chain has problems" in out
    src, dst = run(snapshot(source)), run(snapshot(pg_url))
    assert [(f.seq, f.kind) for f in src[0].findings] == [(f.seq, f.kind) for f in dst[0].findings]
    assert src[0].findings and src[0].findings[0].seq == edited

    # And back again, PostgreSQL to a new SQLite file: still the same log.
    back = f"sqlite:///{tmp_path / 'back.db'}"
    code, out = cli_out(capsys, "migrate", "--from", pg_url, "--to", back)
    assert code == 0, out
    assert (run(snapshot(back)))[1:] == dst[1:]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "memory://", "--to", "sqlite:///x.db"], "memory://"),
        (["--from", "sqlite:///a.db", "--to", "sqlite:///./a.db"], "same database"),
        (["--from", "mysql://h/db", "--to", "sqlite:///x.db"], "--from: unsupported"),
    ],
)
def test_bad_urls_are_refused_before_anything_is_opened(
    workdir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out = cli_out(capsys, "migrate", *args)
    assert code == 2 and message in out
    assert not list(workdir.iterdir())


def test_a_missing_source_is_an_error_not_a_new_empty_log(
    workdir: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli_out(capsys, "migrate", "--from", "sqlite:///missing.db", "--to", pg_url)
    assert code == 2 and "no database" in out
    assert not (workdir / "missing.db").exists()
