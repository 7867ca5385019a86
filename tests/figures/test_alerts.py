"""A figure rule reaches a channel like any rule: through real Apprise to a local webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner
from monitor.config.parse import parse_config
from monitor.notify.notifier import Notifier
from monitor.store import EventStore, open_store
from tests.figures.reports import FIGURES_TOML, VERSIONS, as_csv
from tests.pageserver import PageServer
from tests.test_notify import Clock, Webhook, clock, db_url, store, webhook

__all__ = ["clock", "db_url", "store", "webhook"]  # fixtures used below

CONFIG = (
    """
[[channel]]
name = "desk"
url = "{hook}"
tags = ["urgent"]

[[rule]]
id = "hk-resumed"
when = "from_zero"
where = {{ Country = "Hong Kong" }}
column = "User Data Requests"
severity = "high"
notify = ["urgent"]

[[source]]
id = "google-requests"
url = "{url}"
company = "Google"
title = "User data requests"
"""
    + FIGURES_TOML
)


async def test_from_zero_on_hong_kong_alerts_once_and_names_only_hong_kong(
    store: EventStore, clock: Clock, webhook: Webhook, page_server: PageServer
) -> None:
    url = page_server.set("/report", as_csv(VERSIONS[0]), content_type="text/csv")
    settings = parse_config(
        CONFIG.format(hook=webhook.url(), url=url), path="sources.toml", environ={}
    )
    [source] = settings.sources
    async with Fetcher(settings.monitor, NetworkPolicy()) as fetcher:
        runner = CheckRunner(store=store, fetcher=fetcher, settings=settings, clock=clock)
        await runner.reconcile()
        outcomes = []
        for version in VERSIONS:
            page_server.set("/report", as_csv(version), content_type="text/csv")
            clock.advance(3600)
            outcomes.append((await runner.check(source)).outcome)
    assert outcomes == ["baseline", "changed", "changed"]
    await Notifier(store, replace(settings), clock=clock).drain()

    [message] = webhook.messages()  # v2 only: v3's restatement publishes no period
    sentence = "Google · Hong Kong · Subpoena · User Data Requests 2011-06-30: 45 (2010-12-31: 0)"
    assert message["title"].startswith("[high] Google — User data requests changed (hk-resumed): ")
    assert sentence in message["title"]
    assert message["message"].splitlines()[0].startswith(sentence)
    after = message["message"].split("Matched rules:\n")[1].splitlines()
    rule_lines = "\n".join(
        line
        for line in after[: next(i for i, line in enumerate(after) if not line.startswith("  "))]
    )
    assert rule_lines == f"  - hk-resumed (high, figures)\n      “{sentence}”"
    # India went from 0 to 10 in the same half-year, Germany rose: not this rule's rows.
    assert "India" not in rule_lines and "Germany" not in rule_lines


async def test_facts_lost_to_a_stop_between_the_appends_are_recorded_by_the_next_process(
    store: EventStore, clock: Clock, page_server: PageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.figures.runner import FiguresCache

    url = page_server.set("/report", as_csv(VERSIONS[0]), content_type="text/csv")
    settings = parse_config(
        CONFIG.format(hook="json://127.0.0.1:9/x", url=url), path="sources.toml", environ={}
    )
    [source] = settings.sources
    record = FiguresCache.record

    async def stopped(*args: object) -> list[object]:
        return []  # the process stopped right after the change was appended

    async with Fetcher(settings.monitor, NetworkPolicy()) as fetcher:
        runner = CheckRunner(store=store, fetcher=fetcher, settings=settings, clock=clock)
        await runner.reconcile()
        await runner.check(source)
        page_server.set("/report", as_csv(VERSIONS[1]), content_type="text/csv")
        monkeypatch.setattr(FiguresCache, "record", stopped)
        assert (await runner.check(source)).outcome == "changed"
        monkeypatch.setattr(FiguresCache, "record", record)
        assert await store.read(types=("FiguresPublished",)) == []
        change = (await store.read(types=("ChangeDetected",)))[-1]

        restarted = CheckRunner(store=store, fetcher=fetcher, settings=settings, clock=clock)
        report = await restarted.check(source)
        assert report.outcome == "unchanged"
        await restarted.check(source)  # and only once
        await CheckRunner(store=store, fetcher=fetcher, settings=settings, clock=clock).check(
            source
        )
    [published] = await store.read(types=("FiguresPublished",))
    assert published.data == {"change_seq": change.seq, "period": "2011-06-30", "rows": 3}


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def any_store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: Clock
) -> AsyncIterator[EventStore]:
    from tests.store.conftest import STORE_URLS

    async with open_store(STORE_URLS[request.param](tmp_path), clock=clock) as opened:
        yield opened


async def test_every_backend_records_the_same_facts_and_shows_the_same_figures(
    any_store: EventStore, clock: Clock, page_server: PageServer
) -> None:
    from monitor.figures.series import figure_rows
    from monitor.figures.view import load_figures

    url = page_server.set("/report", as_csv(VERSIONS[0]), content_type="text/csv")
    settings = parse_config(
        CONFIG.format(hook="json://127.0.0.1:9/x", url=url), path="sources.toml", environ={}
    )
    [source] = settings.sources
    async with Fetcher(settings.monitor, NetworkPolicy()) as fetcher:
        runner = CheckRunner(store=any_store, fetcher=fetcher, settings=settings, clock=clock)
        await runner.reconcile()
        for version in VERSIONS:
            page_server.set("/report", as_csv(version), content_type="text/csv")
            clock.advance(3600)
            await runner.check(source)
    facts = await any_store.read(types=("FiguresPublished", "FiguresRestated", "FiguresWithdrawn"))
    assert [e.type for e in facts] == ["FiguresPublished", "FiguresRestated", "FiguresWithdrawn"]
    view = await load_figures(any_store, source.id)
    rows = figure_rows(view.history, view.table, where=[("Country", "Hong Kong")])
    assert [(r.period, r.values[0][1].text) for r in rows] == [
        ("2010-06-30", "12"),
        ("2010-12-31", "0"),
        ("2011-06-30", "48"),
    ]
    assert [[(x.old, x.new) for x in r.restatements] for r in rows] == [[], [], [("45", "48")]]
