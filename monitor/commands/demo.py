"""``monitor demo``: a self-contained run against a local page that changes.

See ``monitor.daemon.demo``.

Needs no network and no configuration; ``--config`` and ``--db`` are ignored.
Exit 0 when the alert arrived, 1 when it did not.
"""

from __future__ import annotations

import argparse

from monitor.commands import common


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    common.add_command(
        sub,
        options,
        "demo",
        run,
        description="Serve a local page, run the daemon against it with a temporary database "
        "and a local webhook channel, change the page, and print the alert and the event log. "
        "Takes a few seconds; leaves nothing behind.",
    )


async def run(args: argparse.Namespace) -> int:
    from monitor.daemon.demo import run_demo  # the demo's server, pipeline and web view

    return await run_demo()
