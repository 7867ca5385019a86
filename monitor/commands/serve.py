"""``monitor serve --web HOST:PORT``: the read-only web view alone, until SIGINT or SIGTERM.

It only reads — the store is opened ``read_only`` (SQLite ``mode=ro``; a missing or
empty database is an error, not a new empty log) — unless ``[[user]]`` analysts may
record reviews through it; then it opens the existing log for writing. A daemon may
keep writing to the same SQLite file from another process — new events show on the
next request.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from monitor.commands import common


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    parser = common.add_command(
        sub,
        options,
        "serve",
        run,
        description="Serve the web view over the log until interrupted. Binds to the [web] "
        "listen address (default 127.0.0.1:8080); a non-loopback address needs [web] token.",
    )
    parser.add_argument(
        "--web",
        metavar="HOST:PORT",
        help="address to listen on (default: [web] listen in the config, else 127.0.0.1:8080)",
    )


async def run(args: argparse.Namespace) -> int:
    from monitor.config.settings import Settings
    from monitor.store import describe_url, open_store
    from monitor.web.app import parse_listen, serve
    from monitor.web.desk import writes_enabled

    settings = common.settings_if_present(args) or Settings(path=str(args.config))
    host, port = parse_listen(args.web or settings.web.listen)
    url = common.database_url(args, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
        except (NotImplementedError, RuntimeError):  # no signal handlers off the main thread
            pass
    try:
        async with (
            # Read-only (SQLite mode=ro) unless analysts may record reviews through it.
            open_store(url, create=False, read_only=not writes_enabled(settings)) as store,
            serve(store, settings, host, port) as base,
        ):
            print(
                f"serving {describe_url(url)} at {base}/ (Ctrl-C to stop)",
                file=sys.stderr,
                flush=True,
            )
            await stop.wait()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
    print("web view stopped", file=sys.stderr)
    return 0
