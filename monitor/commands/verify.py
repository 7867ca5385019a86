"""``monitor verify``: check the hash chain and every blob; exit 1 naming the first break."""

from __future__ import annotations

import argparse

from monitor.commands.common import Subparsers, database_url, settings_if_present
from monitor.store import open_store
from monitor.verify import verify_store


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "verify",
        parents=[common],
        help="check the hash chain and blobs (exit 1 and name the seq on a break)",
        description="Recompute every event hash, check the chain links, seq continuity and "
        "every blob the events name.",
    )
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    settings = settings_if_present(args)
    async with open_store(database_url(args, settings), create=False) as store:
        report = await verify_store(store)
    if report.ok:
        print(
            f"ok: {report.events} events, {report.blobs} blobs, chain intact; "
            f"head {report.head_hash}"
        )
        return 0
    for finding in report.findings:
        where = f"seq {finding.seq}: " if finding.seq is not None else ""
        print(f"FAILED {finding.kind}: {where}{finding.message}")
    return 1
