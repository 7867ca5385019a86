"""``monitor log``: list events, filtered; ``--json`` prints one envelope per line."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from monitor.commands.common import (
    Subparsers,
    database_url,
    parse_when,
    settings_if_present,
)
from monitor.text.safe import for_terminal

from .common import UsageError

if TYPE_CHECKING:
    from monitor.events import StoredEvent
    from monitor.store.pauses import HostPause


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "log",
        parents=[common],
        help="list events (filters: --source, --type, --since; --json for machines)",
        description="List the events of the log in seq order.",
    )
    parser.add_argument("--source", action="append", default=[], help="only this source id")
    parser.add_argument(
        "--type", action="append", default=[], help="only this event type (repeat or comma-list)"
    )
    parser.add_argument("--since", help="only events recorded at or after TIME (ISO, or 2h, 3d)")
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    parser.add_argument(
        "--unfold",
        action="store_true",
        help="list each quiet change (volatile, dated, chrome; not alerted) on its own line",
    )
    parser.set_defaults(handler=run)


def brief(event: StoredEvent) -> str:
    """A short human description of one event."""
    d = event.data
    match event.type:
        case "ChangeDetected":
            from monitor.desk.summaries import change_summary

            rules = ", ".join(dict.fromkeys(r["rule_id"] for r in d.get("rules", [])))
            if d.get("silent"):
                # Folded: a quiet change (volatile, dated, chrome) nobody was alerted about.
                return f"({d['classification']}, not alerted) {change_summary(d)}"
            text = f"{d['classification']}: {change_summary(d)}"
            return text + (f" [{rules}; {d.get('severity')}]" if rules else "")
        case "BaselineCaptured":
            c = d["capture"]
            return f"{c.get('text_chars', 0)} chars from {c.get('final_url')}"
        case "ContentSuspect":
            return f"{d['reason']}: {d.get('detail', '')}"
        case "FetchFailed" if d.get("error") == "deferred":
            return f"deferred: {d['message']}"  # the message names the host and the end
        case "FetchFailed":
            return f"{d['error']} (#{d.get('consecutive_failures', 1)}): {d['message']}"
        case "SourceRecovered":
            return f"after {d['failures']} failures since {d.get('failing_since', '?')}"
        case "SourceRegistered":
            s = d["settings"]
            return f"{s.get('company', '')} — {s.get('title', '')} <{s.get('url')}>"
        case "SourceUpdated":
            return "changed: " + ", ".join(d.get("changed", []))
        case "CheckpointSigned":
            return f"tree size {d['tree_size']}, root {d['root_hash'][:16]}…"
        case "VolatilityLearned":
            return f"learned volatile block after {d['changes']} changes: {d['example']!r}"
        case "VolatilityUnlearned":
            return f"unlearned volatile block {d['region']} after {d['quiet_checks']} quiet checks"
        case "ChangePending":
            return f"new text seen {d.get('seen', 1)} of {d.get('needed', '?')} times"
        case "SourceMoved":
            how = f"HTTP {d.get('status')}" if d.get("how") == "redirect" else "canonical link"
            return f"{d['from_url']} → {d['to_url']} ({how})"
        case "DiscoveryBaselined":
            return f"{len(d.get('urls', []))} matching URLs listed"
        case "SourceDiscovered":
            title = f" “{d['title']}”" if d.get("title") else ""
            return f"{d['url']}{title} [{d.get('state', 'listed')}; {d.get('severity', 'low')}]"
        case "SourceUnlisted":
            return str(d["url"])
        case "DiscoveryReviewed":
            return f"{d['decision']}: {d['url']}" + (
                f" → {d['source_id']}" if d.get("source_id") else ""
            )
        case "CheckpointTimestamped":
            return f"checkpoint seq {d['checkpoint_seq']} stamped {d['gen_time']} by {d['tsa']}"
        case "TimestampFailed":
            return (
                f"checkpoint seq {d['checkpoint_seq']}: {d['tsa']} failed (attempt "
                f"{d['attempt']}): {d['error']}; retry from {d['retry_at']}"
            )
        case "ThirdPartyCaptured":
            return f"seq {d['for_seq']} archived by {d['archive']}: {d['archive_url']}"
        case "ThirdPartyCaptureFailed":
            last = "; gave up" if d.get("final") else ""
            return (
                f"seq {d['for_seq']}: {d['archive']} failed (attempt {d['attempt']}): "
                f"{d['error']}{last}"
            )
        case "FiguresPublished" | "FiguresRestated" | "FiguresWithdrawn":
            from monitor.figures.history import describe_fact

            headline, detail = describe_fact(event.type, d)
            return f"{headline}: {detail} (capture #{d['change_seq']})"
        case "ChangeReviewed":
            note = f": {d['note']}" if d.get("note") else ""
            return f"#{d['change_seq']} {d['status']} by {d['by']}{note}"
        case "ChangeAnnotated":
            return f"#{d['change_seq']} note by {d['by']}: {d['note']}"
        case "StoryDetected":
            return f"{d['story_id']}: {d['headline']}"
        case "SourceGone":
            since = d.get("since") or "?"
            return f"{d['reason']} on {d['checks']} checks since {since}: {d['url']}"
        case "NotificationSent" | "NotificationFailed":
            return f"seq {d['for_seq']} → {d['channel']} (attempt {d.get('attempt', 1)})"
        case _:
            return ""


async def run(args: argparse.Namespace) -> int:
    from monitor.events import EVENT_TYPES, format_time
    from monitor.store import open_store
    from monitor.store.pauses import running_pauses

    types: set[str] = {t for item in args.type for t in item.split(",") if t}
    unknown = sorted(types - set(EVENT_TYPES))
    if unknown:
        raise UsageError(
            f"unknown event type {', '.join(unknown)}; known: {', '.join(sorted(EVENT_TYPES))}"
        )
    since = format_time(parse_when(args.since)) if args.since else None
    sources = set(args.source)
    settings = settings_if_present(args)
    fold = _Fold()
    async with open_store(database_url(args, settings), read_only=True) as store:
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
        self.run: list[StoredEvent] = []

    def take(self, event: StoredEvent) -> bool:
        """Hold ``event`` if it is a quiet change (printing a run it does not continue)."""
        if event.type != "ChangeDetected" or not event.data.get("silent"):
            return False
        first = self.run[0] if self.run else None
        if first is not None and (
            first.stream != event.stream
            or first.data.get("classification") != event.data.get("classification")
        ):
            self.flush()
        self.run.append(event)
        return True

    def flush(self) -> None:
        if len(self.run) == 1:
            print(line(self.run[0]))
        elif self.run:
            first, last = self.run[0], self.run[-1]
            kind = first.data.get("classification")
            print(
                f"{last.seq:>7}  {last.recorded_at[:19]}Z  {last.stream:<28} "
                f"{'ChangeDetected':<18} ({len(self.run)} {kind} changes, not alerted, "
                f"#{first.seq}–#{last.seq}; --unfold lists them) "
                + for_terminal(str(last.data["diff"].get("summary", "")), one_line=True)
            )
        self.run = []


def pause_line(pause: HostPause) -> str:
    """One line saying a host is in quiet, for `monitor log` and `monitor show`."""
    from monitor.events import format_time

    return (
        f"{pause.host} asked for quiet until {format_time(pause.until)[:19]}Z "
        f"({pause.reason}); no request goes there before then"
    )
