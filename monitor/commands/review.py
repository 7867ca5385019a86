"""``monitor review SEQ --status important|routine|noise --note "…" --by NAME``.

Records a ``ChangeReviewed`` (with ``--status``) or a ``ChangeAnnotated`` (a
``--note`` alone) about the change at SEQ in the ``$reviews`` stream. ``--by``
defaults to ``MONITOR_USER``. A change marked noise prints the ``ignore`` line
that would have suppressed it.
"""

from __future__ import annotations

import argparse
import os

from monitor.commands import common


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    from monitor.desk.triage import REVIEW_STATUSES

    parser = common.add_command(
        sub,
        options,
        "review",
        run,
        description="Record who judged the change at SEQ and why, in the hash-chained log.",
    )
    parser.add_argument("seq", metavar="SEQ", type=int, help="the seq of a ChangeDetected event")
    parser.add_argument("--status", choices=REVIEW_STATUSES, help="the verdict")
    parser.add_argument("--note", default="", help="why, in your words (alone: an annotation)")
    parser.add_argument(
        "--by",
        default=os.environ.get("MONITOR_USER", ""),
        help="who reviews (default: env MONITOR_USER)",
    )


async def run(args: argparse.Namespace) -> int:
    from monitor.desk.review import record_review, remove_line
    from monitor.desk.triage import ignore_line
    from monitor.events import REVIEW_EVENTS, ChangeDetected

    common.check_seq_argument("SEQ", args.seq, minimum=-common.MAX_SEQ)
    settings = common.settings_if_present(args)
    removal = None
    # A review is appended: never to a log altered at its head.
    async with common.open_log(args, settings, append=True) as store:
        stored = await record_review(
            store, args.seq, by=args.by, status=args.status, note=args.note
        )
        change = await store.get_event(args.seq)
        detected = change.event if change is not None else None
        if (
            args.status == "noise"
            and isinstance(detected, ChangeDetected)
            and ignore_line(detected.diff) is None
        ):
            removal = await remove_line(store, detected)
    what = f"marked {args.status}" if args.status else "annotated"
    review = stored.event
    by = review.by if isinstance(review, REVIEW_EVENTS) else ""
    print(f"#{args.seq} {what} by {by} (event #{stored.seq})")
    if args.status == "noise" and change is not None and isinstance(detected, ChangeDetected):
        line = ignore_line(detected.diff)
        stream = change.stream
        if line or removal:
            print(f"to ignore changes like this one, add to [[source]] id = {stream!r}:")
            print(f"  {line or removal}")
        else:
            print(
                f"no `ignore` pattern fits this change; a `remove` selector for the element "
                f"that holds it, in [[source]] id = {stream!r}, would suppress it"
            )
    return 0
