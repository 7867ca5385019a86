"""A real log for the audit tests: CheckRunner + Fetcher against a local PageServer.

Eight sources are checked over many rounds on a frozen, stepped clock while their
pages change: edits, an A→B→A flicker (identical bodies again), a redirect, a
server failure and recovery, an error page served with status 200 (suspect), and
ETag answers (304). Checkpoints are signed every few rounds. The builder records
what it served, so tests know the text that was current at any time without asking
the code under test.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from monitor.audit.checkpoint import Checkpointer
from monitor.audit.home import JOURNALS, audit_home
from monitor.check.fetch import Fetcher
from monitor.check.netpolicy import NetworkPolicy
from monitor.check.pipeline import CheckRunner
from monitor.config.settings import MonitorSettings, Settings, SourceSettings
from monitor.core.projections import SourceState, state_digest
from monitor.extract.document import extract
from monitor.store import open_store
from tests.pageserver import PageServer

START = datetime(2026, 3, 1, tzinfo=UTC)
STEP = timedelta(hours=2)
FILES = ("monitor.db", "monitor.key", "monitor.pub.pem")


class SteppedClock:
    """A frozen clock the builder moves forward by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def page(title: str, *paragraphs: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body><nav>Home | About"
        f"</nav><main><h1>{title}</h1>{body}</main></body></html>"
    )


ERROR_PAGE = "<html><body><h1>404 Not Found</h1><p>Sorry, page not found.</p></body></html>"


def body_for(index: int, round_: int) -> tuple[str, str]:
    """(kind, body) served by source ``index`` in ``round_``; kind: good | fail | suspect."""
    if index == 0 and round_ in (10, 11):
        return "fail", "internal error"
    if index == 1 and round_ == 15:
        return "suspect", ERROR_PAGE
    if index == 3:
        # Flicker: A for four rounds, then B, then exactly A again (identical bytes).
        variant = "paused" if (round_ // 4) % 2 == 0 else "resumed"
        return "good", page(
            "Government requests",
            f"We have {variant} processing Hong Kong requests.",
            "Requests must follow valid legal process.",
        )
    version = (round_ + index) // 6
    return "good", page(
        f"Policy {index}",
        f"Version {version}: we received {100 + 7 * version} government requests.",
        f"Section {index} stays the same in every version of this page.",
    )


@dataclass
class History:
    """A finished run: the files it left and what the pages said when."""

    directory: Path
    source_ids: list[str]
    live_digest: str
    live_states: dict[str, SourceState]
    served: dict[str, list[tuple[datetime, str, str]]] = field(default_factory=dict)
    round_times: list[datetime] = field(default_factory=list)
    settings: Settings | None = None

    def copy_to(self, target: Path) -> Path:
        """Copy the database, key, public key and checkpoint journals into ``target``."""
        for name in FILES:
            shutil.copy2(self.directory / name, target / name)
        shutil.copytree(self.directory / JOURNALS, target / JOURNALS)
        return target / "monitor.db"

    def expected_text(self, source_id: str, at: datetime) -> str | None:
        """The normalized text current at ``at``: that of the last good page served by then."""
        assert self.settings is not None
        source = self.settings.source(source_id)
        assert source is not None
        last = None
        for when, kind, body in self.served[source_id]:
            if when <= at and kind == "good":
                last = body
        if last is None:
            return None
        return extract(last.encode(), content_type="text/html; charset=utf-8", source=source).text


def _settings(directory: Path, server: PageServer, sources: int) -> Settings:
    configured = []
    for index in range(sources):
        path = f"/p{index}"
        url = server.url(path)
        if index == 5:
            url = server.url("/moved5")  # answers 302 → /p5 (temporary: a 301 would be a move)
        configured.append(
            SourceSettings(
                id=f"src-{index}",
                url=url,
                company="Example",
                title=f"Policy {index}",
                remove=("nav",),
            )
        )
    monitor = MonitorSettings(
        database=f"sqlite:///{directory / 'monitor.db'}",
        confirm_every=3600,
        key_path=str(directory / "monitor.key"),
    )
    return Settings(
        path=str(directory / "sources.toml"), monitor=monitor, sources=tuple(configured)
    )


async def _redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(location="/p5")


async def build_history(
    directory: Path, server: PageServer, *, sources: int = 8, rounds: int = 40
) -> History:
    settings = _settings(directory, server, sources)
    clock = SteppedClock(START)
    server.handlers["/moved5"] = _redirect
    history = History(
        directory=directory,
        source_ids=[s.id for s in settings.sources],
        live_digest="",
        live_states={},
        served={s.id: [] for s in settings.sources},
        settings=settings,
    )
    home = audit_home(settings, settings.monitor.database)
    signer = home.signer()
    async with (
        open_store(settings.monitor.database, clock=clock) as store,
        Fetcher(settings.monitor, NetworkPolicy()) as fetcher,
    ):
        runner = CheckRunner(store=store, fetcher=fetcher, settings=settings, clock=clock)
        checkpointer = Checkpointer(store, signer, journal=home)
        await runner.reconcile()
        for round_ in range(rounds):
            clock.now = START + round_ * STEP
            history.round_times.append(clock.now)
            for index, source in enumerate(settings.sources):
                kind, body = body_for(index, round_)
                etag = hashlib.sha256(body.encode()).hexdigest()[:12]
                headers = {"ETag": f'"{etag}"'} if index == 2 else {}
                server.set(
                    f"/p{index}", body, status=500 if kind == "fail" else 200, headers=headers
                )
                history.served[source.id].append((clock.now, kind, body))
            await asyncio.gather(*(runner.check(s) for s in settings.sources))
            if round_ % 10 == 9:
                await checkpointer.checkpoint(clock.now)
        live = {sid: await runner.state(sid) for sid in history.source_ids}
    history.live_states = live
    history.live_digest = state_digest(live)
    return history
