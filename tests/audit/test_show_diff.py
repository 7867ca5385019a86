"""Point-in-time views: ``show --at`` and ``diff --from/--to`` rebuild exact texts from blobs.

The expected text at a time comes from what the page server served (extracted
independently here), not from the log under test.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.commands.show import text_at
from monitor.diff.textdiff import apply_patch
from monitor.events import format_time
from monitor.store import SqliteEventStore
from tests.audit.history import START, History

SOURCES = ("src-0", "src-1", "src-3", "src-5")  # failures, a suspect page, flicker, redirect


def moments(history: History) -> list[tuple[str, object]]:
    """Times before, at, between and after the captures of the run."""
    times = history.round_times
    picked = [START - timedelta(hours=1)]
    for index in (0, 1, 5, 6, 10, 11, 12, 15, 16, 23, 24, 39):
        picked += [times[index], times[index] + timedelta(minutes=59)]
    picked.append(times[-1] + timedelta(days=30))
    return [(format_time(t), t) for t in picked]


async def texts_at(db: Path, source: str, times: list[str]) -> list[str | None]:
    store = await SqliteEventStore.open(db, create=False)
    try:
        found = [await text_at(store, source, t) for t in times]
    finally:
        await store.close()
    return [f[0] if f else None for f in found]


@pytest.mark.parametrize("source", SOURCES)
def test_show_at_prints_the_text_current_at_each_time(
    source: str, logdir: Path, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    points = moments(history)
    rebuilt = asyncio.run(texts_at(logdir / "monitor.db", source, [text for text, _ in points]))
    for (when, moment), exact in zip(points, rebuilt, strict=True):
        expected = history.expected_text(source, moment)  # type: ignore[arg-type]
        assert exact == expected, (source, when)  # byte for byte, from the blobs
        capsys.readouterr()
        code = main(["show", source, "--at", when])
        out, err = capsys.readouterr()
        if expected is None:
            assert code == 2 and "has no good capture at or before" in err
            continue
        assert code == 0
        # The command adds a final newline for the terminal when the text has none.
        assert out == expected, (source, when)  # stdout is byte for byte too


def test_the_suspect_page_and_failures_never_become_the_current_text(
    logdir: Path, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    during = format_time(history.round_times[15] + timedelta(minutes=5))
    assert main(["show", "src-1", "--at", during]) == 0
    out = capsys.readouterr().out
    assert "Not Found" not in out and "Version 2" in out  # the last good text, not the 404
    assert main(["show", "src-0", "--at", format_time(history.round_times[11])]) == 0
    assert "Version 1: we received 107" in capsys.readouterr().out


def test_diff_between_two_times_turns_one_exact_text_into_the_other(
    logdir: Path, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    for source, (a, b) in [("src-4", (3, 30)), ("src-3", (2, 6)), ("src-0", (0, 39))]:
        old_at, new_at = history.round_times[a], history.round_times[b]
        capsys.readouterr()
        code = main(["diff", source, "--from", format_time(old_at), "--to", format_time(new_at)])
        assert code == 0
        words = capsys.readouterr().out
        assert (
            main(
                [
                    "diff",
                    source,
                    "--from",
                    format_time(old_at),
                    "--to",
                    format_time(new_at),
                    "--patch",
                ]
            )
            == 0
        )
        patch = capsys.readouterr().out
        old, new = history.expected_text(source, old_at), history.expected_text(source, new_at)
        assert old is not None and new is not None and old != new
        assert apply_patch(old, patch) == new
        assert words.startswith(f"--- {source} seq ")
        assert "[-" in words and "{+" in words


def test_diff_defaults_to_the_last_change(
    logdir: Path, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diff", "src-3"]) == 0
    out = capsys.readouterr().out.splitlines()
    # The flicker page ends on "resumed" after "paused" (rounds 36-39).
    assert out[2] == "1 paragraph changed under 'Government requests'; 'paused' → 'resumed'"
    assert out[4] == "~ We have [-paused-]{+resumed+} processing Hong Kong requests."


def test_diff_with_equal_texts_or_unknown_sources(
    logdir: Path, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    same = format_time(history.round_times[1])
    assert main(["diff", "src-3", "--from", same, "--to", same]) == 0
    assert capsys.readouterr().out.endswith("no change between these captures\n")
    assert main(["diff", "nope"]) == 2
    assert "no source 'nope'" in capsys.readouterr().err
    assert main(["diff", "src-3", "--from", "2026-03-02", "--to", "2026-03-01"]) == 2
    assert "is after --to" in capsys.readouterr().err
