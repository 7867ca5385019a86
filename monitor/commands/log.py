"""``monitor log``: list events, filtered; ``--json`` prints one envelope per line."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from monitor.commands import common
from monitor.text.safe import for_terminal

if TYPE_CHECKING:
    from monitor.events import ChangeDetected, StoredEvent
    from monitor.store.pauses import HostPause


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    parser = common.add_command(
        sub,
        options,
        "log",
        run,
        description="List the events of the log in seq order.",
    )
    parser.add_argument("--source", action="append", default=[], help="only this source id")
    parser.add_argument(
        "--type", action="append", default=[], help="only this event type (repeat or comma-list)"
    )
    common.add_since(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    parser.add_argument(
        "--unfold",
        action="store_true",
        help="list each quiet change (volatile, dated, chrome; not alerted) on its own line",
    )


def brief(stored: StoredEvent) -> str:
    """A short human description of one event."""
    from monitor import events as ev  # one name: the cases below spell out the classes

    match stored.event:
        case ev.ChangeDetected() as e:
            from monitor.desk.summaries import change_summary

            rules = ", ".join(dict.fromkeys(r["rule_id"] for r in e.rules))
            if e.silent:
                # Folded: a quiet change (volatile, dated, chrome) nobody was alerted about.
                return f"({e.classification}, not alerted) {change_summary(e)}"
            text = f"{e.classification}: {change_summary(e)}"
            return text + (f" [{rules}; {e.severity}]" if rules else "")
        case ev.BaselineCaptured(capture=c):
            return f"{c.text_chars} chars from {c.final_url}"
        case ev.ContentSuspect() as e:
            return f"{e.reason}: {e.detail}"
        case ev.FetchFailed() as e if e.error == ev.FETCH_DEFERRED:
            return f"deferred: {e.message}"  # the message names the host and the end
        case ev.FetchFailed() as e:
            return f"{e.error} (#{e.consecutive_failures}): {e.message}"
        case ev.SourceRecovered() as e:
            return f"after {e.failures} failures since {e.failing_since}"
        case ev.SourceRegistered(settings=s):
            return f"{s.get('company', '')} — {s.get('title', '')} <{s.get('url')}>"
        case ev.SourceUpdated() as e:
            return "changed: " + ", ".join(e.changed)
        case ev.CheckpointSigned() as e:
            return f"tree size {e.tree_size}, root {e.root_hash[:16]}…"
        case ev.VolatilityLearned() as e:
            return f"learned volatile block after {e.changes} changes: {e.example!r}"
        case ev.VolatilityUnlearned() as e:
            return f"unlearned volatile block {e.region} after {e.quiet_checks} quiet checks"
        case ev.ChangePending() as e:
            return f"new text seen {e.seen} of {e.needed} times"
        case ev.SourceMoved() as e:
            how = f"HTTP {e.status}" if e.how == "redirect" else "canonical link"
            return f"{e.from_url} → {e.to_url} ({how})"
        case ev.DiscoveryBaselined() as e:
            return f"{len(e.urls)} matching URLs listed"
        case ev.SourceDiscovered() as e:
            title = f" “{e.title}”" if e.title else ""
            return f"{e.url}{title} [{e.state}; {e.severity}]"
        case ev.SourceUnlisted() as e:
            return e.url
        case ev.DiscoveryReviewed() as e:
            return f"{e.decision}: {e.url}" + (f" → {e.source_id}" if e.source_id else "")
        case ev.CheckpointTimestamped() as e:
            return f"checkpoint seq {e.checkpoint_seq} stamped {e.gen_time} by {e.tsa}"
        case ev.TimestampFailed() as e:
            return (
                f"checkpoint seq {e.checkpoint_seq}: {e.tsa} failed (attempt "
                f"{e.attempt}): {e.error}; retry from {e.retry_at}"
            )
        case ev.ThirdPartyCaptured() as e:
            return f"seq {e.for_seq} archived by {e.archive}: {e.archive_url}"
        case ev.ThirdPartyCaptureFailed() as e:
            last = "; gave up" if e.final else ""
            return f"seq {e.for_seq}: {e.archive} failed (attempt {e.attempt}): {e.error}{last}"
        case ev.FiguresPublished() | ev.FiguresRestated() | ev.FiguresWithdrawn() as e:
            from monitor.figures.history import describe_fact

            headline, detail = describe_fact(e)
            return f"{headline}: {detail} (capture #{e.change_seq})"
        case ev.ChangeReviewed() as e:
            note = f": {e.note}" if e.note else ""
            return f"#{e.change_seq} {e.status} by {e.by}{note}"
        case ev.ChangeAnnotated() as e:
            return f"#{e.change_seq} note by {e.by}: {e.note}"
        case ev.StoryDetected() as e:
            return f"{e.story_id}: {e.headline}"
        case ev.SourceGone() as e:
            return f"{e.reason} on {e.checks} checks since {e.since or '?'}: {e.url}"
        case ev.NotificationSent() | ev.NotificationFailed() as e:
            return f"seq {e.for_seq} → {e.channel} (attempt {e.attempt})"
        case _:
            return ""


async def run(args: argparse.Namespace) -> int:
    from monitor.events import EVENT_TYPES, format_time
    from monitor.store.pauses import running_pauses

    types: set[str] = {t for item in args.type for t in item.split(",") if t}
    unknown = sorted(types - set(EVENT_TYPES))
    if unknown:
        raise common.UsageError(
            f"unknown event type {', '.join(unknown)}; known: {', '.join(sorted(EVENT_TYPES))}"
        )
    since = format_time(common.parse_when(args.since)) if args.since else None
    sources = set(args.source)
    fold = _Fold()
    async with common.open_log(args) as store:
        async for event in store.iterate(types=types or None):
            if sources and event.stream not in sources:
                continue
            if since and event.recorded_at < since:
                continue
            if args.json:
                print(json.dumps(event.to_json(), ensure_ascii=False, sort_keys=True))
            elif getattr(args, "unfold", False) or not fold.take(event):
                fold.flush()
                print(line(event))
        fold.flush()
        if not args.json:
            # Not events: the pauses running now, beside the log (stderr keeps stdout a log).
            for pause in await running_pauses(store, datetime.now(UTC)):
                print(f"# {pause_line(pause)}", file=sys.stderr)
    return 0


def line(event: StoredEvent) -> str:
    return (
        f"{event.seq:>7}  {event.recorded_at[:19]}Z  {event.stream:<28} "
        f"{event.type:<18} {for_terminal(brief(event), one_line=True)}"
    )


class _Fold:
    """Consecutive quiet changes of one source and class, printed as one line."""

    def __init__(self) -> None:
        self.run: list[tuple[StoredEvent, ChangeDetected]] = []

    def take(self, stored: StoredEvent) -> bool:
        """Hold ``stored`` if it is a quiet change (printing a run it does not continue)."""
        from monitor.events import ChangeDetected

        change = stored.event
        if not isinstance(change, ChangeDetected) or not change.silent:
            return False
        if self.run and (
            self.run[0][0].stream != stored.stream
            or self.run[0][1].classification != change.classification
        ):
            self.flush()
        self.run.append((stored, change))
        return True

    def flush(self) -> None:
        if len(self.run) == 1:
            print(line(self.run[0][0]))
        elif self.run:
            (first, change), (last, last_change) = self.run[0], self.run[-1]
            print(
                f"{last.seq:>7}  {last.recorded_at[:19]}Z  {last.stream:<28} "
                f"{change.type:<18} ({len(self.run)} {change.classification} changes, not "
                f"alerted, #{first.seq}–#{last.seq}; --unfold lists them) "
                + for_terminal(str(last_change.diff.get("summary", "")), one_line=True)
            )
        self.run = []


def pause_line(pause: HostPause) -> str:
    """One line saying a host is in quiet, for `monitor log` and `monitor show`."""
    from monitor.events import format_time

    return (
        f"{pause.host} asked for quiet until {format_time(pause.until)[:19]}Z "
        f"({pause.reason}); no request goes there before then"
    )
