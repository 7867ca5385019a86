"""``monitor search QUERY [--removed|--added] [--company X] [--source ID] [--since DATE] [--json]``.

Searches the added and removed text of every change and the text of every
capture, newest first, through the search projection (``monitor.desk.search_index``),
which is brought up to the log's head first. Each hit shows when, where, which
side, the sentence and the change's seq (``--json``: one object a line).
"""

from __future__ import annotations

import argparse
import json

from monitor.commands import common


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    parser = common.add_command(
        sub,
        options,
        "search",
        run,
        description="Find words in the whole history, newest first: the text changes added "
        "or removed, and the text of every capture. CJK queries work too (two or more "
        "characters).",
    )
    parser.add_argument("query", metavar="QUERY", help='words to find together, e.g. "Hong Kong"')
    side = parser.add_mutually_exclusive_group()
    side.add_argument("--removed", action="store_true", help="only text that changes removed")
    side.add_argument("--added", action="store_true", help="only text that changes added")
    side.add_argument("--captures", action="store_true", help="only the text of captures")
    parser.add_argument("--company", default="", help="only sources of this company")
    parser.add_argument("--source", default="", help="only this source id")
    common.add_since(parser, "30d")
    parser.add_argument("--limit", type=int, default=50, help="at most this many hits (50)")
    parser.add_argument("--json", action="store_true", help="one JSON object a line")


async def run(args: argparse.Namespace) -> int:
    from monitor.desk.search import match_expression
    from monitor.desk.search_index import opened_index
    from monitor.events import format_time

    if match_expression(args.query) is None:
        raise common.UsageError(f"the query {args.query!r} has no words to search for")
    if args.limit < 1:
        raise common.UsageError("--limit must be 1 or more")
    side = "removed" if args.removed else "added" if args.added else None
    side = "capture" if args.captures else side
    since = format_time(common.parse_when(args.since)) if args.since else None
    async with (
        common.open_log(args) as store,
        opened_index(store) as index,
    ):
        hits = await index.search(
            args.query,
            side=side,
            company=args.company,
            source=args.source,
            since=since,
            limit=args.limit,
        )
    for hit in hits:
        if args.json:
            print(json.dumps(hit.to_json(), ensure_ascii=False, sort_keys=True))
        else:
            where = f"{hit.company} · {hit.source_id}" if hit.company else hit.source_id
            print(f"{hit.at[:19]}Z  #{hit.seq:<6} {hit.side:<8} {where}")
            print(f"    {hit.sentence}")
    if not hits and not args.json:
        print(f"no matches for {args.query!r}")
    return 0
