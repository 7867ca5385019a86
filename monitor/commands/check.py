"""``monitor check [ID…]``: reconcile the config into the log, check each source once, exit.

Without ids it also runs one pass of every ``[[discover]]`` entry first (one line
each, ``discover:<id>``), and checks the sources discovery registered too.

Exit 0 when the pass ran, even if some fetches failed (those are recorded as
``FetchFailed``); 2 for a bad config or an unknown source id; 3 when the pass was
partial: some sources were *deferred* because their host asked for quiet
(``Retry-After``, remembered in the store) for longer than ``--max-wait``. A deferred
source is printed with the time its host named, recorded as ``FetchFailed`` of kind
``deferred`` (not a failure in a row, never alerted), and no request is sent to it.
"""

from __future__ import annotations

import argparse
import difflib
import logging
from typing import TYPE_CHECKING

from monitor.commands import common
from monitor.errors import HostPausedError, MonitorError
from monitor.text.safe import for_terminal

if TYPE_CHECKING:
    from monitor.check.netpolicy import NetworkPolicy
    from monitor.check.pipeline import CheckReport
    from monitor.config.settings import Settings, SourceSettings
    from monitor.gcpause import Paused

log = logging.getLogger(__name__)

DEFAULT_MAX_WAIT = 10.0  # seconds a pass waits on a host's Retry-After before deferring
EXIT_PARTIAL = 3  # some sources deferred: their host asked for quiet beyond --max-wait


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    parser = common.add_command(
        sub,
        options,
        "check",
        run,
        description="Record config changes, then check the given sources (all by default) once, "
        "concurrently, printing one line per source.",
    )
    parser.add_argument("ids", nargs="*", metavar="ID", help="source ids to check")
    parser.add_argument(
        "--max-wait",
        type=_seconds,
        default=DEFAULT_MAX_WAIT,
        metavar="SECONDS",
        help="wait at most this long for a host that asked for quiet (Retry-After); its "
        f"sources are deferred beyond that and the exit status is {EXIT_PARTIAL} "
        f"(default {DEFAULT_MAX_WAIT:g})",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= 24 * 3600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds, not {text}")
    return value


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
        raise common.UsageError(f"unknown source id {', '.join(hints)} in {settings.path}")
    return [known[i] for i in ids]


def network_policy(settings: Settings) -> NetworkPolicy:
    from monitor.check.netpolicy import NetworkPolicy

    m = settings.monitor
    return NetworkPolicy.from_strings(
        allow_private=m.allow_private, allow=m.allow_networks, deny=m.deny_networks
    )


async def run(args: argparse.Namespace) -> int:
    from monitor.gcpause import Paused

    # Start-up (imports, the configuration, the log folded) makes objects that live as
    # long as the pass and no garbage: no collections until it is over (monitor.gcpause).
    with Paused() as startup:
        return await _pass(args, startup)


async def _pass(args: argparse.Namespace, startup: Paused) -> int:
    import asyncio
    import contextlib

    from monitor.check.fetch import Fetcher
    from monitor.check.pipeline import CheckReport, CheckRunner, render_mode
    from monitor.gcpause import settled
    from monitor.store import describe_url, open_store
    from monitor.store.pauses import pauses_of
    from monitor.store.tail import require_intact_tail

    settings = common.load_settings(args)
    ids = list(args.ids)
    if not settings.discover:
        select_sources(settings, ids)  # an unknown id is an error before anything is written
    policy = network_policy(settings)
    templates = [d.source for d in settings.discover if d.source is not None]
    url = common.database_url(args, settings)
    async with (
        open_store(url) as store,
        Fetcher(
            settings.monitor, policy, pauses=pauses_of(store), max_wait=args.max_wait
        ) as fetcher,
        contextlib.AsyncExitStack() as stack,
    ):
        await require_intact_tail(store, describe_url(url))
        browser = None
        if any(render_mode(s) != "http" for s in (*settings.sources, *templates)):
            from monitor.check.browser import BrowserPool  # only when a source renders in it

            # Chromium itself starts only when a page first needs it.
            browser = await stack.enter_async_context(BrowserPool(settings.monitor, policy))
        runner = CheckRunner(
            store=store,
            fetcher=fetcher,
            settings=settings,
            browser=browser,
            compact_states=False,  # one pass: the process ends before memory would matter
        )
        # Checking some sources only: the others' states need not be folded.
        await runner.reconcile(checking=ids or None)
        startup.end()
        settled()
        if not ids and settings.discover:
            # One discovery pass of every entry, as every source is checked once; sources
            # it registers are checked (their baseline captured) in this same run.
            from monitor.discover.runner import DiscoveryRunner

            discovery = DiscoveryRunner(runner)
            passes = [discovery.run_pass(entry) for entry in settings.discover]
            for done in asyncio.as_completed(passes):
                print(for_terminal((await done).line(), one_line=True), flush=True)
        sources = select_sources(runner.effective_settings(), ids)
        limit = asyncio.Semaphore(settings.monitor.concurrency)

        async def one(source: SourceSettings) -> CheckReport:
            # The host's slot first: checks queued behind one slow site hold no global slot.
            try:
                try:
                    async with fetcher.reserve_host(source.url), limit:
                        return await runner.check(source)
                except HostPausedError as paused:
                    # Its host wants quiet beyond --max-wait: record it, ask nothing.
                    return await runner.defer(source, paused)
            except MonitorError as exc:
                # A store problem for one source must not hide the others' results.
                log.error("check of %s could not be recorded: %s", source.id, exc)
                return CheckReport(source_id=source.id, outcome="error", detail=str(exc))

        deferred = 0
        for finished in asyncio.as_completed([one(s) for s in sources]):
            report = await finished
            deferred += report.outcome == "deferred"
            print(for_terminal(report.line(), one_line=True), flush=True)
    if deferred:
        log.warning(
            "partial pass: %d of %d sources deferred (their host asked for quiet); "
            "run `monitor check` again after the time shown",
            deferred,
            len(sources),
        )
        return EXIT_PARTIAL
    return 0
