"""A replay of a log with reviews, stories and removals equals the live projections."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner
from monitor.config.parse import parse_config
from monitor.core.projections import state_digest
from monitor.desk.review import record_review
from monitor.store import open_store
from monitor.web.app import create_app
from monitor.web.context import CONTEXT
from tests.desk.conftest import EMPTY_CONFIG
from tests.desk.test_stories import config, replay_july_2020
from tests.pageserver import PageServer
from tests.web.cli import main


async def test_replay_equals_the_live_desk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = await replay_july_2020(tmp_path / "monitor.db")
    server = PageServer().start()  # serves nothing: every page is a 404 now
    try:
        moved = parse_config(config(server), path="s.toml", environ={})
        policy = NetworkPolicy.from_strings(allow_private=False)
        async with open_store(url, create=False) as store, Fetcher(moved.monitor, policy) as f:
            runner = CheckRunner(
                store=store,
                fetcher=f,
                settings=moved,
                clock=lambda: datetime(2020, 8, 1, tzinfo=UTC),
            )
            await runner.reconcile()
            for _ in range(3):
                await runner.check(moved.sources[0])
            changes = await store.read(types=["ChangeDetected"])
            await record_review(store, changes[0].seq, by="Ana", status="important", note="n")
            await record_review(store, changes[1].seq, by="Bo", note="why")
            live_states = {s.id: await runner.state(s.id) for s in moved.sources}
            app = create_app(store, moved)
            async with TestClient(TestServer(app, host="127.0.0.1")):
                model = await app[CONTEXT].follower.current()
    finally:
        server.stop()
    assert live_states["telegram-hk"].status == "gone"
    argv = ["replay", "--json", "--db", url, "--config", EMPTY_CONFIG]
    assert await asyncio.to_thread(main, argv) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert replayed["sources"]["telegram-hk"]["status"] == "gone"
    assert replayed["digest"] == state_digest(live_states)
    desk = replayed["desk"]
    assert desk["reviews"] == 2 and desk["reviewed_changes"] == 1 and desk["stories"] == 1
    assert desk["reviews_digest"] == model.triage.digest()
    assert desk["stories_digest"] == model.stories.digest()
