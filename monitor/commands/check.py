"""``monitor check [ID…]``: reconcile the config into the log, check each source once, exit.

Exit 0 when the pass ran, even if some fetches failed (those are recorded as
``FetchFailed``); 2 for a bad config or an unknown source id.
"""

from __future__ import annotations

import argparse
import difflib
import logging
from typing import TYPE_CHECKING

from monitor.commands.common import Subparsers, UsageError, database_url, load_settings
from monitor.errors import MonitorError

if TYPE_CHECKING:
    from monitor.check.netpolicy import NetworkPolicy
    from monitor.check.pipeline import CheckReport
    from monitor.config.settings import Settings, SourceSettings

log = logging.getLogger(__name__)


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "check",
        parents=[common],
        help="check each source once now (all by default), then exit",
        description="Record config changes, then check the given sources (all by default) once, "
        "concurrently, printing one line per source.",
    )
    parser.add_argument("ids", nargs="*", metavar="ID", help="source ids to check")
    parser.set_defaults(handler=run)


def select_sources(settings: Settings, ids: list[str]) -> list[SourceSettings]:
    if not ids:
        return list(settings.sources)
    known = {s.id: s for s in settings.sources}
    unknown = [i for i in ids if i not in known]
    if unknown:
        hints = []
        for item in unknown:
            close = difflib.get_close_matches(item, known, n=1)
            hints.append(f"{item!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise UsageError(f"unknown source id {', '.join(hints)} in {settings.path}")
    return [known[i] for i in ids]


def network_policy(settings: Settings) -> NetworkPolicy:
    from monitor.check.netpolicy import NetworkPolicy

    m = settings.monitor
    return NetworkPolicy.from_strings(
        allow_private=m.allow_private, allow=m.allow_networks, deny=m.deny_networks
    )


async def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `monitor --help` and the read-only commands must
    # not pay for the HTTP client, the browser pool and the pipeline.
    import asyncio
    import contextlib

    from monitor.check.browser import BrowserPool
    from monitor.check.fetch import Fetcher
    from monitor.check.pipeline import CheckReport, CheckRunner, render_mode
    from monitor.store import open_store

    settings = load_settings(args)
    sources = select_sources(settings, list(args.ids))
    policy = network_policy(settings)
    async with (
        open_store(database_url(args, settings)) as store,
        Fetcher(settings.monitor, policy) as fetcher,
        contextlib.AsyncExitStack() as stack,
    ):
        browser = None
        if any(render_mode(s) != "http" for s in sources):
            # Chromium itself starts only when a page first needs it.
            browser = await stack.enter_async_context(BrowserPool(settings.monitor, policy))
        runner = CheckRunner(store=store, fetcher=fetcher, settings=settings, browser=browser)
        await runner.reconcile()
        limit = asyncio.Semaphore(settings.monitor.concurrency)

        async def one(source: SourceSettings) -> CheckReport:
            # The host's slot first: checks queued behind one slow site hold no global slot.
            async with fetcher.reserve_host(source.url), limit:
                try:
                    return await runner.check(source)
                except MonitorError as exc:
                    # A store problem for one source must not hide the others' results.
                    log.error("check of %s could not be recorded: %s", source.id, exc)
                    return CheckReport(source_id=source.id, outcome="error", detail=str(exc))

        for finished in asyncio.as_completed([one(s) for s in sources]):
            report = await finished
            print(report.line(), flush=True)
    return 0
