"""Global options (--db, --config, -v) mean the same before and after the sub-command.

A top-level ``--db`` once lost to the sub-command's default, so ``monitor --db
sqlite:///x.db verify`` verified ``./monitor.db`` and passed a tampered ``x.db``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from monitor.cli import main
from tests.test_verify import build_log, tampering


def test_db_before_the_command_is_the_database_verified(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(build_log(workdir / "monitor.db"))  # an intact log where the default points
    asyncio.run(build_log(workdir / "x.db"))
    with tampering(workdir / "x.db") as db:
        db.execute("UPDATE events SET data = replace(data, 'Report', 'Rep0rt') WHERE seq = 3")
    for argv in (
        ["--db", "sqlite:///x.db", "verify"],
        ["verify", "--db", "sqlite:///x.db"],
        ["--db", "sqlite:///monitor.db", "verify", "--db", "sqlite:///x.db"],
    ):
        assert main(argv) == 1, argv
        assert "seq 3" in capsys.readouterr().out
    assert main(["--db", "sqlite:///monitor.db", "verify"]) == 0


def test_db_and_config_before_check_are_the_ones_used(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "other.toml").write_text('[monitor]\ndatabase = "sqlite:///from-config.db"\n')
    assert main(["--config", "other.toml", "--db", "sqlite:///fresh.db", "check"]) == 0
    assert (workdir / "fresh.db").exists()
    assert not (workdir / "monitor.db").exists()
    assert not (workdir / "from-config.db").exists()
    assert main(["--config", "other.toml", "check"]) == 0
    assert (workdir / "from-config.db").exists()
    assert main(["--config", "missing.toml", "validate"]) == 2
    assert "missing.toml" in capsys.readouterr().err


def test_verbose_before_the_command_raises_the_log_level(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "sources.toml").write_text("")
    seen: list[int] = []
    import monitor.logs

    real = monitor.logs.configure_logging

    def spy(verbose: int) -> logging.Handler:
        seen.append(verbose)
        return real(verbose)

    monkeypatch.setattr(monitor.logs, "configure_logging", spy)
    for argv in (
        ["-vv", "validate"],
        ["validate", "-vv"],
        ["-v", "validate"],
        ["-v", "validate", "-v"],
        ["validate"],
    ):
        assert main(argv) == 0
    assert seen == [2, 2, 1, 2, 0]
