"""A SQLite log migrated to PostgreSQL keeps its checkpoint journal and key: verify passes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.store.postgres import PostgresEventStore
from tests.audit.test_journals import config, make_log, run
from tests.pageserver import PageServer


def test_a_sqlite_log_migrated_to_postgresql_verifies_there_from_anywhere(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str], pg_url: str
) -> None:
    conf = config(workdir / "sources.toml", page_server.url("/p"))
    (workdir / "db").mkdir()
    sqlite_url = f"sqlite:///{workdir / 'db' / 'm.db'}"
    make_log(capsys, page_server, conf, sqlite_url, "Alpha.")
    code, out, err = run(
        capsys, "migrate", "--config", str(conf), "--from", sqlite_url, "--to", pg_url
    )
    assert code == 0, [*out, err]
    # PostgreSQL's key and journals live beside the config; the SQLite file's beside it.
    assert f"copied 2 journal lines to {workdir / 'journals'}" in "\n".join(out)
    assert f"copied the signing key to {workdir / 'monitor.key'}" in out
    os.chdir(workdir / "db")
    code, out, err = run(capsys, "verify", "--config", str(conf), "--db", pg_url)
    assert code == 0, [*out, err]
    assert out[1] == "ok: 2 signed checkpoints match the log"
    # The daemon's and the command's later checkpoints go on in the same journal.
    make_log(capsys, page_server, conf, pg_url, "Beta.")
    code, out, err = run(capsys, "verify", "--config", str(conf), "--db", pg_url)
    assert code == 0, [*out, err]
    assert out[1] == "ok: 4 signed checkpoints match the log"


async def test_an_audit_pass_runs_in_one_worker_and_the_others_skip_at_once(
    pg_store: PostgresEventStore,
) -> None:
    from monitor.daemon.workers import exclusive_or_skip

    async with exclusive_or_skip(pg_store, "wayback") as first:
        assert first is True
        async with exclusive_or_skip(pg_store, "wayback") as second:
            assert second is False  # held elsewhere: skipped, not queued
        async with exclusive_or_skip(pg_store, "timestamps") as other:
            assert other is True  # another purpose is another lock
    async with exclusive_or_skip(pg_store, "wayback") as again:
        assert again is True  # released
