"""``monitor replay [--until TIME | --seq N] [--json]``: rebuild every projection from the log.

Reads the log alone (no fetching, no diffing, no notifications) and prints each
source's state and the state digest, which equals the digest of the live states,
then the desk's reviews and stories with their digests (``monitor.desk.replay``).
"""

from __future__ import annotations

import argparse
import json
import sys

from monitor.commands import common


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    parser = common.add_command(
        sub,
        options,
        "replay",
        run,
        description="Fold the stored events (up to TIME or seq N) into each source's state, "
        "without fetching or notifying, and print the states and their digest.",
    )
    until = parser.add_mutually_exclusive_group()
    until.add_argument("--until", help="only events recorded at or before TIME (ISO, or 2h, 3d)")
    until.add_argument("--seq", type=int, metavar="N", help="only events up to seq N")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


async def run(args: argparse.Namespace) -> int:
    from monitor.audit.replay import replay_log, result_data, state_table
    from monitor.desk.replay import replay_desk

    if args.seq is not None and args.seq < 0:
        raise common.UsageError(f"--seq must not be negative, not {args.seq}")
    common.check_seq_argument("--seq", args.seq)
    until_time = common.parse_when(args.until) if args.until else None
    async with common.open_log(args) as store:
        result = await replay_log(store, until_seq=args.seq, until_time=until_time)
        # The same prefix: what the source states were folded from.
        desk = await replay_desk(store, until_seq=result.last_seq)
    if args.json:
        data = result_data(result)
        data["desk"] = desk.data()
        json.dump(data, sys.stdout, ensure_ascii=False, sort_keys=True)
        sys.stdout.write("\n")
    else:
        table = state_table(result)
        if desk.triage.history or desk.stories.stories:
            # Before the extent and digest lines: the source digest stays the last line.
            head, sep, tail = table.rpartition("\nreplayed ")
            table = f"{head}\n{desk.lines().rstrip()}{sep}{tail}"
        sys.stdout.write(table)
    return 0
