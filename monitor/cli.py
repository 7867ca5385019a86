"""The ``monitor`` command line: argument parsing, logging set-up and exit codes.

Thin by design: each sub-command lives in ``monitor/commands/<name>.py`` with an
``add_parser`` and an async ``run(args) -> int``; only the chosen command's module is
imported (the registry ``monitor.commands.COMMANDS`` names them all for ``monitor
--help``). Exit codes (ARCHITECTURE §5): 0 ok, 1 a finding (verification failed), 2
bad input (the message says what to fix). ``--config`` / ``--db`` and
``MONITOR_CONFIG`` / ``MONITOR_DB`` apply to every command.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.commands import COMMANDS, command_module
from monitor.errors import ConfigError, MonitorError, StoreUnavailableError

log = logging.getLogger(__name__)


def _global_options(*, suppress: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after the command name.

    The copy given to the sub-commands has ``SUPPRESS`` defaults: an option the
    sub-command's part of the line does not name must leave the top-level value
    alone, or ``monitor --db x.db verify`` would silently verify the default database.
    """

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default=default(os.environ.get("MONITOR_CONFIG", "sources.toml")),
        help="path of sources.toml (env MONITOR_CONFIG; default ./sources.toml)",
    )
    common.add_argument(
        "--db",
        default=default(os.environ.get("MONITOR_DB")),
        help="database URL, e.g. sqlite:///monitor.db (env MONITOR_DB; default: from the config)",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        # Counted apart after the command, then added (main): "-v check -v" is -vv.
        dest="verbose_after" if suppress else "verbose",
        default=default(0),
        help="more log output (-vv for debug)",
    )
    return common


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: with every command by name, or ``command``'s in full.

    Without ``command`` each sub-command is a bare parser with its name and help line
    from the registry: enough for ``monitor --help``, usage errors and telling which
    command the line names, without importing any command's module. With it, the
    options of that command are added by its module, which is imported now.
    """
    parser = argparse.ArgumentParser(
        prog="monitor",
        description="Watch corporate transparency-report and policy pages for real text changes.",
        parents=[_global_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    if command is None:
        for name, _, help_line in COMMANDS:
            sub.add_parser(name, help=help_line, add_help=False)
    else:
        command_module(command).add_parser(sub, _global_options(suppress=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Before the chosen command's modules define their dataclasses: their generated
    # methods come compiled from the cache (codecache), in this process only, so a
    # program that imports the package as a library keeps the stdlib's own ``exec``.
    from monitor.codecache import install as install_code_cache

    install_code_cache()
    # Twice: which command (help, --version and errors about the command end here),
    # then the whole line with that command's own options.
    chosen, _ = build_parser().parse_known_args(argv)
    args = build_parser(chosen.command).parse_args(argv)
    args.verbose += vars(args).pop("verbose_after", 0)
    import asyncio  # after parsing: `monitor --help` and usage errors need no event loop

    from monitor.logs import configure_logging
    from monitor.trust import deferred_trust_store

    handler = configure_logging(args.verbose)
    try:
        # aiohttp's TLS contexts load the CA store at the first TLS connection, if any.
        with deferred_trust_store():
            return int(asyncio.run(args.handler(args)))
    except ConfigError as exc:
        print(f"configuration error{'s' if len(exc.problems) > 1 else ''}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except StoreUnavailableError as exc:
        print(f"database error: {exc}", file=sys.stderr)
        return 2
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # The system refused a file, a directory or the disk where no command expected
        # it: still one line naming what, not a traceback.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        # Leave logging as we found it: main() also runs in-process (tests, embedding).
        logging.getLogger().removeHandler(handler)
