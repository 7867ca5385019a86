"""``monitor figures SOURCE``: a report's figures as series, with restatements, at any time.

One row per (key, period): the figures as last published (or as the report said
at ``--as-of``), when the row was first recorded, and each restatement with its
old and new figure. Read from the log and its blobs only (``monitor.figures.view``).
"""

from __future__ import annotations

import argparse
import json
import sys

from monitor.commands import common
from monitor.text.safe import for_terminal


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    parser = common.add_command(
        sub,
        options,
        "figures",
        run,
        description=(
            "List the figures of a source with [source.figures]: one row per key and "
            "period, with the values as last published, when each row was first seen, "
            "and every restatement (old and new value)."
        ),
    )
    parser.add_argument("id", metavar="SOURCE", help="source id")
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="COL=VALUE",
        help="only rows whose key or period column has this value (repeatable), e.g. "
        '--where Country="Hong Kong"',
    )
    parser.add_argument(
        "--column", action="append", default=[], metavar="C", help="only this value column"
    )
    parser.add_argument(
        "--as-of", dest="as_of", metavar="TIME", help="what the report said at TIME (ISO, 3d)"
    )
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="one JSON document")
    shape.add_argument("--csv", action="store_true", help="long-format CSV")


def parse_where(items: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        column, sep, value = item.partition("=")
        if not sep or not column.strip():
            raise common.UsageError(
                f'--where expects COLUMN=VALUE, like Country="Hong Kong"; got {item!r}'
            )
        pairs.append((column.strip(), value.strip().strip('"')))
    return pairs


async def run(args: argparse.Namespace) -> int:
    from monitor.events import format_time
    from monitor.figures.series import figure_rows, figures_document, rows_csv, rows_text
    from monitor.figures.view import load_figures

    where = parse_where(args.where)
    until = format_time(common.parse_when(args.as_of)) if args.as_of else None
    async with common.open_log(args) as store:
        await common.require_source(store, args.id)
        view = await load_figures(store, args.id, until=until)
    try:
        rows = figure_rows(view.history, view.table, where=where, columns=args.column)
    except ValueError as exc:
        raise common.UsageError(str(exc)) from None
    if args.json:
        document = figures_document(args.id, until, view.capture, view.table, view.history, rows)
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    elif args.csv:
        sys.stdout.write(rows_csv(rows, view.table))
    else:
        print(f"# {args.id} as captured at {view.capture.fetched_at}", file=sys.stderr)
        # The table for people: a report's own cells may hold terminal or bidi controls.
        sys.stdout.write(for_terminal(rows_text(rows)))
        if not rows:
            print("# no rows match", file=sys.stderr)
    return 0
