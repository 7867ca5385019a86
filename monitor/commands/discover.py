"""``monitor discover``: what the ``[[discover]]`` entries found, and the review of it.

Without options it lists, per entry, every URL found since its baseline with
its state (``listed``, ``waiting``, ``watching``, ``accepted``, ``ignored``;
``unlisted`` when it left the list since) — read only. ``--accept URL`` registers
a found URL as a source (checked from the next ``monitor check`` or by the
daemon); ``--ignore URL`` means it is never reported again (and a watched one
stops being checked; its history stays).
"""

from __future__ import annotations

import argparse
import json

from monitor.commands import common
from monitor.commands.check import network_policy
from monitor.config.settings import DiscoverSettings, Settings
from monitor.discover import stream_of
from monitor.discover.state import DiscoveryState, fold, found_json, found_state
from monitor.store import open_store
from monitor.text.safe import for_terminal


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    parser = common.add_command(
        sub,
        options,
        "discover",
        run,
        description="List what each [[discover]] entry found since its first pass, or review "
        "one found URL: --accept registers it as a source, --ignore never reports it again.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--accept", metavar="URL", help="watch this found URL as a source")
    action.add_argument("--ignore", metavar="URL", help="never report this found URL again")
    parser.add_argument("--entry", metavar="ID", help="only this [[discover]] entry")
    parser.add_argument("--json", action="store_true", help="one JSON object a line")


def _entries(settings: Settings, only: str | None) -> list[DiscoverSettings]:
    if not settings.discover:
        raise common.UsageError(f"{settings.path} has no [[discover]] entries")
    if only is None:
        return list(settings.discover)
    chosen = [d for d in settings.discover if d.id == only]
    if not chosen:
        known = ", ".join(d.id for d in settings.discover)
        raise common.UsageError(
            f"no [[discover]] entry {only!r} in {settings.path} (known: {known})"
        )
    return chosen


async def run(args: argparse.Namespace) -> int:
    settings = common.load_settings(args)
    entries = _entries(settings, args.entry)
    url = common.database_url(args, settings)
    if args.accept or args.ignore:
        return await _review(args, settings, entries, url)
    async with open_store(url, create=False) as store:
        for entry in entries:
            state = fold(entry.id, await store.read(stream=stream_of(entry.id)))
            _print(entry, state, as_json=args.json)
    return 0


def _print(entry: DiscoverSettings, state: DiscoveryState, *, as_json: bool) -> None:
    if as_json:
        for found in state.found.values():
            record = {"entry": entry.id, **found_json(found)}
            print(json.dumps(record, ensure_ascii=False, sort_keys=True))
        return
    if state.baselined_at is None:
        status = "no pass recorded yet (run `monitor check`)"
    else:
        status = f"baseline {state.baselined_at[:19]}Z, {len(state.listed)} listed now"
    if state.consecutive_failures:
        status += f", failing ({state.consecutive_failures} passes)"
    print(f"discover:{entry.id}  {entry.company or '-'}  {status}")
    for found in state.found.values():
        title = f"  “{found.title}”" if found.title else ""
        source = f"  → {found.source_id}" if found.source_id else ""
        line = (
            f"  {found_state(found):<9} {found.recorded_at[:19]}Z  {found.severity:<8} "
            f"{found.url}{title}{source}"
        )
        # Titles and URLs come from the site: control and bidi characters are shown, not
        # obeyed, like every page-derived text on a terminal (monitor.text.safe).
        print(for_terminal(line, one_line=True))


async def _review(
    args: argparse.Namespace, settings: Settings, entries: list[DiscoverSettings], url: str
) -> int:
    # Imported here: listing found URLs must not load the fetch stack (CLI start-up).
    from monitor.check.fetch import Fetcher
    from monitor.check.pipeline import CheckRunner
    from monitor.discover.runner import DiscoveryRunner

    target = str(args.accept or args.ignore)
    async with (
        open_store(url, create=False) as store,
        Fetcher(settings.monitor, network_policy(settings)) as fetcher,
    ):
        runner = CheckRunner(store=store, fetcher=fetcher, settings=settings)
        await runner.reconcile()
        discovery = DiscoveryRunner(runner)
        owners = []
        for entry in entries:
            state = await discovery.state(entry.id)
            if target in state.found or target in state.listed:
                owners.append(entry)
        if not owners:
            raise common.UsageError(
                f"no [[discover]] entry has found {target}; `monitor discover` lists what was found"
            )
        for entry in owners:
            source_id, stored = await discovery.review(entry, target, accept=bool(args.accept))
            if args.accept:
                done = "registered" if stored else "already watched"
                line = f"discover:{entry.id}  accepted  {target} → source {source_id} ({done})"
                print(for_terminal(line, one_line=True))
            else:
                done = "recorded" if stored else "already ignored"
                print(
                    for_terminal(f"discover:{entry.id}  ignored   {target} ({done})", one_line=True)
                )
    return 0
