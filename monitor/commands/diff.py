"""``monitor diff ID [--from TIME|SEQ] [--to TIME|SEQ] [--patch]``: compare two captures.

Both texts are reconstructed from the stored blobs: the good capture (baseline or
change) current at ``--to`` (default now) and the one current at ``--from`` (default:
the capture just before the ``--to`` one). A whole number names a capture by its
seq instead (``monitor log --source ID`` lists them), so any two captures compare.
The output is a word diff per changed block — ``[-removed-]{+added+}`` — or, with
``--patch``, the exact diff-match-patch patch that turns the old text into the new one.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from monitor.commands import common
from monitor.commands.show import capture_text_sha256
from monitor.text.safe import for_terminal

if TYPE_CHECKING:
    from monitor.diff.textdiff import BlockChange, TextDiff
    from monitor.events import StoredEvent
    from monitor.store import EventStore


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    parser = common.add_command(
        sub,
        options,
        "diff",
        run,
        description="Diff the normalized text of source ID current at --from against the text "
        "current at --to, both rebuilt from the stored blobs.",
    )
    parser.add_argument("id", metavar="ID", help="source id")
    parser.add_argument(
        "--from",
        dest="from_",
        metavar="TIME|SEQ",
        help="a time, or the seq of a capture (default: the capture before the --to one)",
    )
    parser.add_argument(
        "--to", metavar="TIME|SEQ", help="a time, or a capture's seq (default: now)"
    )
    parser.add_argument(
        "--patch", action="store_true", help="print the diff-match-patch patch instead"
    )


def capture_at(captures: list[StoredEvent], at: str | None) -> int | None:
    """Index of the capture current at ``at`` (recorded at or before it), or None."""
    found = None
    for index, event in enumerate(captures):
        if at is not None and event.recorded_at > at:
            break
        found = index
    return found


async def _text(store: EventStore, event: StoredEvent) -> str:
    return (await store.get_blob(capture_text_sha256(event))).decode("utf-8")


def _segments(change: BlockChange) -> str:
    out = []
    for op, text in change.inline:
        if op < 0:
            out.append(f"[-{text}-]")
        elif op > 0:
            out.append(f"{{+{text}+}}")
        else:
            out.append(text)
    return "".join(out)


def word_diff(diff: TextDiff) -> str:
    """Each changed block with its heading path, as a git-style word diff."""
    lines: list[str] = []
    for change in diff.changes:
        where = " > ".join(change.path)
        lines.append(f"@@ {change.op}" + (f" under {where}" if where else "") + " @@")
        if change.op == "changed" and change.inline:
            lines.append("~ " + _segments(change))
        else:
            if change.old is not None:
                lines.append("- " + change.old)
            if change.new is not None:
                lines.append("+ " + change.new)
    return "\n".join(lines) + ("\n" if lines else "")


def _seq(value: str | None) -> int | None:
    """A capture named by its seq (a whole number), else None (a time or nothing)."""
    text = (value or "").strip()
    return int(text) if text.isdigit() else None


def capture_by_seq(captures: list[StoredEvent], source_id: str, seq: int, flag: str) -> int:
    for index, event in enumerate(captures):
        if event.seq == seq:
            return index
    raise common.UsageError(
        f"{flag} {seq} is not a capture of {source_id!r}; `monitor log --source {source_id} "
        "--type BaselineCaptured,ChangeDetected` lists its captures"
    )


async def run(args: argparse.Namespace) -> int:
    from monitor.diff.textdiff import diff_texts
    from monitor.events import GOOD_CAPTURES, format_time, names

    to_seq, from_seq = _seq(args.to), _seq(args.from_)
    to = format_time(common.parse_when(args.to)) if args.to and to_seq is None else None
    frm = format_time(common.parse_when(args.from_)) if args.from_ and from_seq is None else None
    if to is not None and frm is not None and frm > to:
        raise common.UsageError(f"--from ({frm}) is after --to ({to})")
    async with common.open_log(args) as store:
        await common.require_source(store, args.id)
        captures = await store.read(stream=args.id, types=names(GOOD_CAPTURES))
        if to_seq is not None:
            new_index: int | None = capture_by_seq(captures, args.id, to_seq, "--to")
        else:
            new_index = capture_at(captures, to)
        if new_index is None:
            raise common.UsageError(
                f"source {args.id!r} has no good capture at or before {to or 'now'}"
            )
        if from_seq is not None:
            old_index: int | None = capture_by_seq(captures, args.id, from_seq, "--from")
        elif frm is not None:
            old_index = capture_at(captures, frm)
            if old_index is None:
                raise common.UsageError(
                    f"source {args.id!r} has no good capture at or before {frm}"
                )
        elif new_index == 0:
            print(f"{args.id}: only one capture so far ({captures[0].recorded_at}); no change")
            return 0
        else:
            old_index = new_index - 1
        assert old_index is not None
        old, new = captures[old_index], captures[new_index]
        old_text, new_text = await _text(store, old), await _text(store, new)
    # A --patch is for machines (apply_patch): keep the header lines out of it.
    header = sys.stderr if args.patch else sys.stdout
    print(f"--- {args.id} seq {old.seq} captured {old.recorded_at}", file=header)
    print(f"+++ {args.id} seq {new.seq} captured {new.recorded_at}", file=header)
    diff = diff_texts(old_text, new_text)
    if not diff.changes and old_text == new_text:
        print("no change between these captures")
        return 0
    if args.patch:
        sys.stdout.write(diff.patch)
    else:
        print(for_terminal(diff.summary, one_line=True))
        sys.stdout.write(for_terminal(word_diff(diff)))
    return 0
