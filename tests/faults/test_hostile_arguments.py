"""Every command, given hostile arguments, answers with a short error and exit 2.

Huge numbers, durations past the calendar, times at its edges, NUL bytes and
over-long names once ended in tracebacks (``OverflowError`` from SQLite or
``timedelta``, ``ValueError: embedded null byte``). Each case here runs the real
CLI entry point against a real log and checks what the user sees.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from tests.test_verify import build_log

HUGE = "9" * 25
LONG = "x" * 5000

HOSTILE: list[list[str]] = [
    ["evidence", HUGE, "out"],
    ["evidence", f"-{HUGE}", "out"],
    ["replay", "--seq", HUGE],
    ["replay", "--until", "99999999999d"],
    ["replay", "--until", "0001-01-01T00:00:00+01:00"],
    ["log", "--since", "99999999999d"],
    ["log", "--since", f"{HUGE}s"],
    ["log", "--since", "9999-12-31T23:59:59-01:00"],
    ["log", "--since", "\x00"],
    ["show", "meta", "--at", "99999999999999w"],
    ["show", "meta", "--at", "0001-01-01T00:00:00+14:00"],
    ["diff", "meta", "--from", "99999999999d"],
    ["diff", "meta", "--to", "99999999999d"],
    ["diff", "meta", "--to", f"{HUGE}h"],
    ["export", "out", "--since", "99999999999d"],
    ["checkpoint", "--consistency-from", HUGE],
    ["checkpoint", "--consistency-from", f"-{HUGE}"],
    ["serve", "--web", f"127.0.0.1:{HUGE}"],
    ["run", "--web", f"127.0.0.1:{HUGE}"],
    ["--db", "sqlite:///a\x00b.db", "log"],
    ["--db", "a\x00b.db", "verify"],
    ["--db", f"sqlite:///{LONG}.db", "log"],
    ["--db", f"sqlite:///{LONG}.db", "check"],
    ["--config", "a\x00b.toml", "validate"],
    ["--config", LONG, "validate"],
    ["--config", LONG, "log"],
    ["verify", "--export", "a\x00b"],
    ["verify", "--export", LONG],
    ["verify", "--public-key", "a\x00b"],
    ["verify", "--public-key", LONG],
    ["check", "--max-wait", "1e999"],
    ["check", "--max-wait", "nan"],
    ["migrate", "--from", "sqlite:///a\x00b.db", "--to", "sqlite:///new.db"],
    ["migrate", "--from", f"sqlite:///{LONG}.db", "--to", "sqlite:///new.db"],
    ["migrate", "--from", "sqlite:///monitor.db", "--to", f"sqlite:///{LONG}.db"],
    ["diff", "meta", "--from", HUGE],
    ["diff", "meta", "--from", "1", "--to", HUGE],
    ["search", "report", "--limit", f"-{HUGE}"],
    ["search", "report", "--since", "99999999999d"],
    ["search", "\x00"],
    ["verify", "--wacz", LONG],
    ["export", "out", "--wacz", "--since", "99999999999d"],
    ["review", HUGE, "--status", "noise", "--by", "ana"],
    ["review", f"-{HUGE}", "--note", "x", "--by", "ana"],
    ["figures", "meta", "--as-of", "99999999999d"],
    ["figures", "meta", "--as-of", "0001-01-01T00:00:00+01:00"],
    ["notify-test", "\x00"],
    ["notify-test", LONG],
]


@pytest.fixture
def a_log(workdir: Path) -> Path:
    asyncio.run(build_log(workdir / "monitor.db"))
    (workdir / "sources.toml").write_text('[monitor]\ndatabase = "sqlite:///monitor.db"\n')
    return workdir


@pytest.mark.parametrize("argv", HOSTILE, ids=lambda argv: " ".join(argv)[:60])
def test_a_hostile_argument_is_one_clear_error_and_exit_2(
    a_log: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusal: its usage, then one error line
        assert exc.code == 2
        err = capsys.readouterr().err
        assert err.splitlines()[-1].startswith(f"monitor {argv[0]}: error: "), err
        return
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip(), "the user is told what is wrong"
    assert "Traceback" not in err
    assert len(err.splitlines()) <= 3, err  # one line (a config error: a heading and its line)


@pytest.mark.parametrize(
    "argv",
    [
        ["evidence", HUGE, "out"],
        ["log", "--since", "99999999999d"],
        ["replay", "--seq", HUGE],
        ["--db", "sqlite:///fresh.db", "show", "meta", "--at", "99999999999999w"],
    ],
)
def test_as_a_process_there_is_no_traceback(a_log: Path, argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "monitor", *argv],
        cwd=a_log,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
