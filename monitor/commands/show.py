"""``monitor show ID [--at TIME]``: the normalized text of a source as it was at TIME.

Reconstructed from the log and the content-addressed blobs only: the last good
capture (baseline or change) recorded at or before TIME. The text goes to stdout,
byte for byte; stderr says when it was captured and lists the blocks learned as
volatile for the source by then (``VolatilityLearned``, ``monitor.noise.learned``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from monitor.commands import common
from monitor.commands.log import pause_line
from monitor.text.safe import for_terminal

if TYPE_CHECKING:
    from monitor.core.projections import LearnedRegion
    from monitor.events import StoredEvent
    from monitor.store import EventStore


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    parser = common.add_command(
        sub,
        options,
        "show",
        run,
        description="Print the normalized text of source ID as captured at or before TIME.",
    )
    parser.add_argument("id", metavar="ID", help="source id")
    parser.add_argument("--at", help="a time (ISO 8601, or 2h / 3d ago); default now")


async def capture_at(store: EventStore, source_id: str, at: str | None) -> StoredEvent | None:
    """The good capture current at ``at`` (a formatted time), or None."""
    from monitor.events import GOOD_CAPTURES, names

    found = None
    for event in await store.read(stream=source_id, types=names(GOOD_CAPTURES)):
        if at is not None and event.recorded_at > at:
            break
        found = event
    return found


async def text_at(store: EventStore, source_id: str, at: str | None) -> tuple[str, str] | None:
    """(text, recorded_at of its capture) current at ``at`` (a formatted time), or None."""
    found = await capture_at(store, source_id, at)
    if found is None:
        return None
    blob = await store.get_blob(capture_text_sha256(found))
    return blob.decode("utf-8"), found.recorded_at


def capture_text_sha256(stored: StoredEvent) -> str:
    """The text blob of a capture event."""
    from monitor.events import capture_of

    capture = capture_of(stored.event)
    if capture is None:
        raise ValueError(f"seq {stored.seq} ({stored.type}) is no capture")
    return capture.text_sha256


async def learned_at(
    store: EventStore, source_id: str, at: str | None
) -> tuple[LearnedRegion, ...]:
    """The regions learned as volatile for the source at ``at`` (a replay of its stream)."""
    from monitor.core.projections import fold

    events = [e for e in await store.read(stream=source_id) if at is None or e.recorded_at <= at]
    return fold(source_id, events).learned


def describe_learned(region: LearnedRegion) -> str:
    where = " and ".join(
        part
        for part in (
            f"after {region.before!r}" if region.before else "",
            f"before {region.after!r}" if region.after else "",
        )
        if part
    )
    return (
        f"# learned volatile block {region.region} ({where or 'the whole text'}), since "
        f"{region.since[:19]}Z, quiet for {region.quiet} checks; e.g. {region.example!r}"
    )


async def _url_of(store: EventStore, source_id: str) -> str:
    """The source's URL as last recorded in its stream ("" if none)."""
    from monitor.events import SETTINGS_EVENTS, names

    url = ""
    for stored in await store.read(stream=source_id, types=names(SETTINGS_EVENTS)):
        if isinstance(event := stored.event, SETTINGS_EVENTS):
            url = str(event.settings.get("url") or url)
    return url


async def run(args: argparse.Namespace) -> int:
    from monitor.audit.identity import identity_lines
    from monitor.events import capture_of, format_time
    from monitor.store.pauses import pause_of_url, running_pauses

    at = format_time(common.parse_when(args.at)) if args.at else None
    async with common.open_log(args) as store:
        await common.require_source(store, args.id)
        result = await text_at(store, args.id, at)
        learned = await learned_at(store, args.id, at)
        capture = await capture_at(store, args.id, at)
        pause = None
        if at is None:
            url = await _url_of(store, args.id)
            pause = pause_of_url(await running_pauses(store, datetime.now(UTC)), url)
    if result is None or capture is None:
        raise common.UsageError(
            f"source {args.id!r} has no good capture at or before {at or 'now'}"
        )
    text, when = result
    print(f"# {args.id} as captured at {when}", file=sys.stderr)
    for region in learned:
        print(describe_learned(region), file=sys.stderr)
    recorded = capture_of(capture.event)
    server = recorded.server if recorded is not None else None
    if server is not None:  # captures recorded before server identity carry none
        for line in identity_lines(server):  # names in a certificate are the server's
            print(f"# {for_terminal(line, one_line=True)}", file=sys.stderr)
    if pause is not None:
        print(f"# paused: {pause_line(pause)}", file=sys.stderr)
    # Byte for byte what was captured into a pipe; to a terminal, its control and bidi
    # characters made visible (they could rewrite the screen) and a final newline.
    if sys.stdout.isatty():
        text = for_terminal(text)
    sys.stdout.write(text)
    if text and not text.endswith("\n") and sys.stdout.isatty():
        sys.stdout.write("\n")
    return 0
