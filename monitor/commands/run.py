"""``monitor run [--web HOST:PORT]``: the daemon — scheduler, checks, notifier (and web view).

Runs until SIGTERM or SIGINT, then stops cleanly and exits 0. SIGHUP, or saving
the config file, reloads the configuration (an invalid one is reported in the
log and ignored). Logs at INFO by default (``-v`` adds nothing; ``-vv`` debug),
since a daemon's log is how its operator sees what it does.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import TYPE_CHECKING

from monitor.commands import common
from monitor.logs import RedactingFilter, update_secrets

if TYPE_CHECKING:
    from monitor.config.settings import Settings

# Libraries that log every job run or request at INFO.
CHATTY_LOGGERS = ("apscheduler", "aiohttp.access")


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    parser = common.add_command(
        sub,
        options,
        "run",
        run,
        description="Check every source on its schedule, record what changed, send alerts, "
        "and keep going until SIGTERM/SIGINT (clean stop, exit 0). SIGHUP or an edit of the "
        "config file reloads it.",
    )
    parser.add_argument(
        "--web",
        metavar="HOST:PORT",
        help="also serve the read-only web view, e.g. 127.0.0.1:8080",
    )


def _redactors() -> list[RedactingFilter]:
    """The CLI's redaction filters (``monitor.logs.configure_logging`` installed them)."""
    return [
        f
        for handler in logging.getLogger().handlers
        for f in handler.filters
        if isinstance(f, RedactingFilter)
    ]


def _configure_levels(verbose: int) -> None:
    root = logging.getLogger()
    if verbose < 2:
        root.setLevel(logging.INFO)
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


async def run(args: argparse.Namespace) -> int:
    # The scheduler, fetcher and notifier: only for the daemon.
    from monitor.daemon.service import Daemon

    settings = common.load_settings(args)
    web = None
    if args.web:
        from monitor.web.app import parse_listen  # the web view's dependencies only when asked

        web = parse_listen(args.web)
    _configure_levels(args.verbose)
    redactors = _redactors()

    def on_settings(loaded: Settings) -> None:
        for redactor in redactors:
            update_secrets(redactor, loaded.secrets())

    daemon = Daemon(
        settings,
        database=common.database_url(args, settings),
        config_path=args.config,
        environ=os.environ,
        web=web,
        on_settings=on_settings,
    )
    await daemon.run()
    return 0
