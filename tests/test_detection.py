"""Detection end to end: a real local server, the real check pipeline, a real SQLite log.

What a user of ``monitor check`` notices: link-only and layout-only edits are not
changes (unless ``watch_links``), an error page between two versions is flagged and
never diffed against, ``confirm = 2`` waits for a second sighting across separate
``monitor check`` processes, and real captures from the corpus behave as they should.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckReport, CheckRunner
from monitor.cli import main
from monitor.config.settings import MonitorSettings, Settings, SourceSettings
from monitor.core.projections import fold, state_digest
from monitor.store import EventStore, open_store
from tests.pageserver import PageServer

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "extract"


def page(*blocks: str, title: str = "Government requests") -> str:
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        f"<nav><a href='/'>Home</a></nav><main>{''.join(blocks)}</main></body></html>"
    )


BODY = (
    "<h1>Government requests</h1>",
    "<h3>Hong Kong</h3>",
    "<p>We have paused processing Hong Kong government requests for user data while we "
    "assess the new law. See the <a href='/reports/2026?utm_source=mail'>full report</a>.</p>",
    "<p>We publish this report twice a year, with the number of requests we received from "
    "each government and the share of requests where we produced some data.</p>",
)


@dataclass
class Rig:
    """One source checked by a real CheckRunner against a real SQLite file."""

    store: EventStore
    fetcher: Fetcher
    source: SourceSettings
    now: list[datetime] = field(default_factory=lambda: [datetime(2026, 3, 1, tzinfo=UTC)])

    def clock(self) -> datetime:
        return self.now[0]

    def runner(self, source: SourceSettings | None = None) -> CheckRunner:
        settings = Settings(path="test", sources=(source or self.source,))
        return CheckRunner(
            store=self.store, fetcher=self.fetcher, settings=settings, clock=self.clock
        )

    async def check(self, source: SourceSettings | None = None) -> CheckReport:
        """A check by a fresh runner (its state folded from the log, as after a restart)."""
        self.now[0] += timedelta(hours=6)
        runner = self.runner(source)
        await runner.reconcile()
        return await runner.check(source or self.source)


@pytest.fixture
async def rig(tmp_path: Path, page_server: PageServer) -> AsyncIterator[Rig]:
    url = page_server.set("/gov", page(*BODY))
    source = SourceSettings(id="gov", url=url, company="Example", remove=("nav",))
    clock_holder = [datetime(2026, 3, 1, tzinfo=UTC)]
    async with (
        open_store(f"sqlite:///{tmp_path / 'monitor.db'}", clock=lambda: clock_holder[0]) as store,
        Fetcher(MonitorSettings(), NetworkPolicy()) as fetcher,
    ):
        yield Rig(store=store, fetcher=fetcher, source=source, now=clock_holder)


def outcome(report: CheckReport) -> tuple[str, list[str]]:
    return report.outcome, [e.type for e in report.events]


# ------------------------------------------------------------------- watch_links


async def test_a_link_target_change_is_no_change(rig: Rig, page_server: PageServer) -> None:
    assert (await rig.check()).outcome == "baseline"
    moved = BODY[2].replace("/reports/2026?utm_source=mail", "/transparency/2026-h1.pdf")
    page_server.set("/gov", page(BODY[0], BODY[1], moved, BODY[3]))
    assert outcome(await rig.check()) == ("unchanged", [])


async def test_with_watch_links_a_link_target_change_is_a_change(
    rig: Rig, page_server: PageServer
) -> None:
    watched = replace(rig.source, watch_links=True)
    assert (await rig.check(watched)).outcome == "baseline"
    moved = BODY[2].replace("/reports/2026?utm_source=mail", "/transparency/2026-h1.pdf")
    page_server.set("/gov", page(BODY[0], BODY[1], moved, BODY[3]))
    report = await rig.check(watched)
    assert report.outcome == "changed"
    [change] = [e for e in report.events if e.type == "ChangeDetected"]
    diff = change.data["diff"]
    assert any("/transparency/2026-h1.pdf" in run for run in diff["added"])
    [removed] = diff["removed"]
    assert removed.endswith("/reports/2026")  # the tracking tag was never part of the text


async def test_with_watch_links_a_tracking_parameter_is_still_no_change(
    rig: Rig, page_server: PageServer
) -> None:
    watched = replace(rig.source, watch_links=True)
    await rig.check(watched)
    tagged = BODY[2].replace("utm_source=mail", "utm_source=feed&fbclid=IwAR0x")
    page_server.set("/gov", page(BODY[0], BODY[1], tagged, BODY[3]))
    assert outcome(await rig.check(watched)) == ("unchanged", [])


async def test_turning_watch_links_on_is_a_new_baseline_not_a_change(rig: Rig) -> None:
    await rig.check()
    report = await rig.check(replace(rig.source, watch_links=True))
    assert outcome(report) == ("baseline", ["BaselineCaptured"])


# ---------------------------------------------------------------- layout, typography


async def test_a_heading_that_became_a_paragraph_is_no_change(
    rig: Rig, page_server: PageServer
) -> None:
    await rig.check()
    page_server.set("/gov", page(BODY[0], "<p>Hong Kong</p>", BODY[2], BODY[3]))
    assert outcome(await rig.check()) == ("unchanged", [])
    curly = BODY[3].replace("share of requests", "“share” of requests")
    page_server.set("/gov", page(BODY[0], BODY[1], BODY[2], curly))
    await rig.check()
    straight = BODY[3].replace("share of requests", '"share" of requests')
    page_server.set("/gov", page(BODY[0], BODY[1], BODY[2], straight))
    assert outcome(await rig.check()) == ("unchanged", [])


# ----------------------------------------------------------------- suspect pages


async def test_an_error_page_served_with_200_is_flagged_and_skipped(
    rig: Rig, page_server: PageServer
) -> None:
    first = await rig.check()
    first_text = first.events[-1].data["capture"]["text_sha256"]
    page_server.set(
        "/gov",
        "<html><head><title>Facebook</title></head><body><img src='x.svg'>"
        "<p>Sorry! Something went wrong :(</p></body></html>",
    )
    suspect = await rig.check()
    assert suspect.outcome == "suspect"
    assert suspect.detail == "error_page: the page says 'Something went wrong'"
    assert (await rig.check()).events == ()  # the same error page again: reported once
    resumed = BODY[2].replace("paused", "resumed")
    page_server.set("/gov", page(BODY[0], BODY[1], resumed, BODY[3]))
    report = await rig.check()
    assert report.outcome == "changed"
    [change] = [e for e in report.events if e.type == "ChangeDetected"]
    assert change.data["previous"] == first_text  # compared with the last good page
    assert change.data["diff"]["summary"] == (
        "1 paragraph changed under 'Hong Kong'; 'paused' → 'resumed'"
    )


async def test_a_select_that_stops_matching_is_flagged(rig: Rig, page_server: PageServer) -> None:
    selected = replace(rig.source, select="main")
    await rig.check(selected)
    page_server.set("/gov", "<html><body><div id='app'>" + BODY[2] + "</div></body></html>")
    report = await rig.check(selected)
    assert report.outcome == "suspect"
    assert report.detail.startswith("selector_matched_nothing")


# -------------------------------------------------------------------- confirm = 2


def run_check(workdir: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """``monitor check`` in a process of its own; returns its output and the log."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MONITOR_CONFIG", None)
    env.pop("MONITOR_DB", None)
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "check"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    capsys.readouterr()
    assert main(["log", "--json"]) == 0
    log = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return {"out": done.stdout, "log": log}


def test_confirm_two_survives_separate_check_processes(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = page_server.set("/gov", page(*BODY))
    (workdir / "sources.toml").write_text(
        f'[[source]]\nid = "gov"\nurl = "{url}"\nremove = ["nav"]\nconfirm = 2\n',
        encoding="utf-8",
    )
    assert "baseline" in run_check(workdir, capsys)["out"]
    resumed = page(BODY[0], BODY[1], BODY[2].replace("paused", "resumed"), BODY[3])

    # A flicker: the new text once, then the old one again — never reported.
    page_server.set("/gov", resumed)
    assert "pending" in run_check(workdir, capsys)["out"]
    page_server.set("/gov", page(*BODY))
    flicker = run_check(workdir, capsys)
    assert "unchanged" in flicker["out"]
    assert [e["type"] for e in flicker["log"]][-2:] == ["ChangePending", "ContentConfirmed"]

    # A real change: seen by two consecutive processes, then reported once, with the
    # time it was first seen.
    page_server.set("/gov", resumed)
    first = run_check(workdir, capsys)
    pending = first["log"][-1]
    assert (pending["type"], pending["data"]["seen"], pending["data"]["needed"]) == (
        "ChangePending",
        1,
        2,
    )
    second = run_check(workdir, capsys)
    assert "changed" in second["out"]
    change = second["log"][-1]
    assert change["type"] == "ChangeDetected"
    assert change["data"]["first_seen"] == pending["data"]["capture"]["fetched_at"]
    assert change["data"]["diff"]["summary"].endswith("'paused' → 'resumed'")
    types = [e["type"] for e in second["log"]]
    assert types.count("ChangeDetected") == 1


async def test_a_pending_change_is_part_of_the_replayed_state(
    rig: Rig, page_server: PageServer
) -> None:
    confirming = replace(rig.source, confirm=2)
    await rig.check(confirming)
    page_server.set("/gov", page(BODY[0], BODY[1], BODY[2].replace("paused", "resumed"), BODY[3]))
    runner = rig.runner(confirming)
    rig.now[0] += timedelta(hours=1)
    assert (await runner.check(confirming)).outcome == "pending"
    live = await runner.state("gov")
    replayed = fold("gov", await rig.store.read(stream="gov"))
    assert replayed == live
    assert live.pending is not None and live.pending.seen == 1
    assert state_digest({"gov": replayed}) == state_digest({"gov": live})


# ---------------------------------------------------------- real corpus captures


def corpus_page(name: str) -> bytes:
    return gzip.decompress((DATA / name).read_bytes())


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        # x.ai privacy policy, snapshots 2 → 3: build ids, script chunks, timestamps.
        ("xai-privacy-0002.html.gz", "xai-privacy-0003.html.gz", "unchanged"),
        # Google privacy policy, snapshots 2 → 3: nonces, tokens, inline styles (700 KB).
        ("google-privacy-0002.html.gz", "google-privacy-0003.html.gz", "unchanged"),
        # x.ai privacy policy, snapshots 8 → 9: a new contact for the Data Protection Officer.
        ("xai-privacy-0008.html.gz", "xai-privacy-0009.html.gz", "changed"),
    ],
)
async def test_real_snapshots_through_the_pipeline(
    rig: Rig, page_server: PageServer, before: str, after: str, expected: str
) -> None:
    page_server.set("/gov", corpus_page(before), content_type="text/html")
    assert (await rig.check()).outcome == "baseline"
    page_server.set("/gov", corpus_page(after), content_type="text/html")
    report = await rig.check()
    assert report.outcome == expected
    if expected == "changed":
        assert report.detail.startswith(
            "1 block changed under '12. How to contact us about privacy requests'"
        )
        raw = hashlib.sha256(corpus_page(after)).hexdigest()
        assert report.events[-1].data["capture"]["raw_sha256"] == raw
