"""`monitor check ID…`: checking some sources records what a whole pass would record.

Such a pass reads only the configuration's events of the other sources (their
captures are not folded); these tests hold it to the same log as a whole pass.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from monitor.check.fetch import Fetcher
from monitor.check.pipeline import CheckRunner
from monitor.cli import main
from monitor.config.parse import load_config
from monitor.events import StoredEvent
from monitor.store import open_store
from tests.pageserver import PageServer
from tests.test_cli_check import page, three_pages, write_config


def log_events(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["log", "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def checked(capsys: pytest.CaptureFixture[str], *ids: str) -> list[str]:
    """The ``ID OUTCOME`` of every line a ``monitor check`` printed."""
    capsys.readouterr()
    assert main(["check", *ids]) == 0
    return [" ".join(line.split()[:2]) for line in capsys.readouterr().out.splitlines()]


def test_one_source_checked_by_id_continues_its_history(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(workdir / "sources.toml", three_pages(page_server))
    assert sorted(checked(capsys)) == [
        "hk-requests baseline",
        "le-guide baseline",
        "privacy baseline",
    ]
    page_server.set(
        "/hk", page("Government requests", "We have resumed processing Hong Kong requests.")
    )
    assert checked(capsys, "hk-requests") == ["hk-requests changed"]
    # Its state came from its whole stream: the same page again is no second change,
    # and the sources left out were neither checked nor touched.
    assert checked(capsys, "hk-requests") == ["hk-requests unchanged"]
    assert sorted(checked(capsys)) == [
        "hk-requests unchanged",
        "le-guide unchanged",
        "privacy unchanged",
    ]
    events = log_events(capsys)
    changes = [e for e in events if e["type"] == "ChangeDetected"]
    assert [e["stream"] for e in changes] == ["hk-requests"]


def test_a_changed_configuration_is_recorded_when_one_other_source_is_checked(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    pages = three_pages(page_server)
    config = write_config(workdir / "sources.toml", pages)
    checked(capsys)
    # Edit the file: one source's settings change, one leaves, one arrives.
    text = config.read_text(encoding="utf-8").replace('title = "privacy"', 'title = "Privacy"')
    text = text.replace(f'id = "le-guide"\nurl = "{pages["le-guide"]}"', 'id = "terms"\nurl = "{}"')
    config.write_text(
        text.replace('"{}"', f'"{page_server.set("/terms", page("Terms", "Be kind."))}"'),
        encoding="utf-8",
    )
    assert checked(capsys, "hk-requests") == ["hk-requests unchanged"]
    recorded = [(e["type"], e["stream"]) for e in log_events(capsys)][6:]
    assert ("SourceUpdated", "privacy") in recorded
    assert ("SourceRemoved", "le-guide") in recorded
    assert ("SourceRegistered", "terms") in recorded
    # The new source has no capture yet; the next whole pass takes its baseline.
    assert sorted(checked(capsys)) == [
        "hk-requests unchanged",
        "privacy unchanged",
        "terms baseline",
    ]


async def test_checking_one_source_reads_the_others_configuration_only(
    workdir: Path, page_server: PageServer
) -> None:
    config = write_config(workdir / "sources.toml", three_pages(page_server))
    settings = load_config(config, environ={})
    async with open_store("sqlite:///monitor.db") as store, Fetcher(settings.monitor) as fetcher:
        whole = CheckRunner(store=store, fetcher=fetcher, settings=settings)
        await whole.reconcile()
        for source in settings.sources:
            await whole.check(source)
        read: list[str] = []
        iterate = store.iterate

        def counted(**filters: Any) -> AsyncIterator[StoredEvent]:
            async def events() -> AsyncIterator[StoredEvent]:
                async for event in iterate(**filters):
                    read.append(event.type)
                    yield event

            return events()

        store.iterate = counted  # type: ignore[method-assign]
        some = CheckRunner(store=store, fetcher=fetcher, settings=settings)
        assert await some.reconcile(checking=["privacy"]) == []
        # Three registrations, none of the three captures.
        assert sorted(read) == ["SourceRegistered"] * 3
        assert some.known_streams() == {"hk-requests", "le-guide", "privacy"}
        assert [s.id for s in some.effective_settings().sources] == [s.id for s in settings.sources]
        # The checked source's state is its whole stream's, as the whole pass has it.
        assert await some.state("privacy") == await whole.state("privacy")
        report = await some.check(next(s for s in settings.sources if s.id == "privacy"))
        assert report.outcome == "unchanged"
