"""What every sub-command shares: its parser, loading the config, opening the log, parsing times.

A command module is argparse and a call: ``add_command`` makes its parser (with the
global ``--db``/``--config``/``-v`` options and its handler), ``open_log`` opens the
chosen log read-only (or, with ``append=True``, for appending after the tail check),
and ``require_source`` refuses an id the log does not know. Imports of the store and
the audit code happen when a command runs, never when ``monitor --help`` parses.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.errors import MonitorError
from monitor.logs import RedactingFilter, update_secrets

if TYPE_CHECKING:
    from monitor.audit.home import AuditHome
    from monitor.config.settings import Settings
    from monitor.store.base import EventStore

DEFAULT_DB = "sqlite:///monitor.db"
DEFAULT_CONFIG = "sources.toml"

Subparsers = Any  # argparse's _SubParsersAction is private
Handler = Callable[[argparse.Namespace], Awaitable[int]]


class UsageError(MonitorError):
    """A command-line argument is wrong (exit 2)."""


def add_command(
    sub: Subparsers,
    common: argparse.ArgumentParser,
    name: str,
    handler: Handler,
    *,
    help: str,
    description: str,
) -> argparse.ArgumentParser:
    """The parser of sub-command ``name``: the global options, its help, and ``handler``."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, parents=[common], help=help, description=description
    )
    parser.set_defaults(handler=handler)
    return parser


def add_since(parser: argparse.ArgumentParser, example: str = "2h, 3d") -> None:
    """``--since TIME``: only events recorded at or after it."""
    parser.add_argument(
        "--since", help=f"only events recorded at or after TIME (ISO, or {example})"
    )


@contextlib.asynccontextmanager
async def open_log(
    args: argparse.Namespace, settings: Settings | None = None, *, append: bool = False
) -> AsyncIterator[EventStore]:
    """The log ``--db`` (or the config) names: read-only, or the existing one for appending.

    ``settings`` defaults to the config when it exists. With ``append`` the log must
    exist and its head must pass the tail check: nothing is appended (or signed) over
    a log altered at its head.
    """
    from monitor.store import describe_url, open_store

    if settings is None:
        settings = settings_if_present(args)
    url = database_url(args, settings)
    async with open_store(url, create=False, read_only=not append) as store:
        if append:
            from monitor.store.tail import require_intact_tail

            await require_intact_tail(store, describe_url(url))
        yield store


async def require_source(store: EventStore, source_id: str) -> None:
    """Refuse (exit 2) a source id the log has never registered."""
    if await store.stream_version(source_id) == 0:
        raise UsageError(f"no source {source_id!r} in the log; `monitor log` lists them")


def load_settings(args: argparse.Namespace) -> Settings:
    """The validated config; raises ConfigError (exit 2) before anything is written."""
    from monitor.config.parse import load_config

    settings = load_config(args.config, environ=os.environ)
    redact_everywhere(settings.secrets())
    return settings


def redact_everywhere(secrets: tuple[str, ...]) -> None:
    """Teach every redacting log handler the secrets of a freshly loaded config."""
    for handler in logging.getLogger().handlers:
        for log_filter in handler.filters:
            if isinstance(log_filter, RedactingFilter):
                update_secrets(log_filter, secrets)


def database_url(args: argparse.Namespace, settings: Settings | None) -> str:
    if args.db:
        return str(args.db)
    if settings is not None:
        return settings.monitor.database
    return DEFAULT_DB


def audit_home_for(args: argparse.Namespace, settings: Settings | None) -> AuditHome:
    """Where the key and checkpoint journals of the chosen database live."""
    from monitor.audit.home import audit_home

    return audit_home(settings, database_url(args, settings), config_path=args.config)


def settings_if_present(args: argparse.Namespace) -> Settings | None:
    """For read-only commands: the config when it exists (to find the database), else None.

    Only the default ``./sources.toml`` may be absent: a config named with ``--config``
    or ``MONITOR_CONFIG`` that is missing is an error, not a silent fall back to the
    default database.
    """
    # os.path.exists, not Path.exists: False (not an exception) for an over-long name.
    if args.config == DEFAULT_CONFIG and not os.path.exists(args.config):
        return None
    return load_settings(args)


_RELATIVE = re.compile(r"^\d+[smhdw]", re.IGNORECASE)


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time or date (UTC unless an offset is given), or a duration ago ("2h")."""
    from monitor.config.parse import parse_duration

    now = now or datetime.now(UTC)
    text = text.strip()
    if _RELATIVE.match(text):
        try:
            return now - timedelta(seconds=parse_duration(text))
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # In range on both sides: an offset must not push year 1 or 9999 off the calendar.
        return (moment.astimezone(UTC) + timedelta(days=1)) - timedelta(days=1)
    except OverflowError as exc:
        raise UsageError(f"the time {text[:40]!r} is at the edge of the calendar") from exc
    except ValueError as exc:
        raise UsageError(
            f"cannot read the time {text[:40]!r}: use ISO 8601 like 2026-03-12 or "
            "2026-03-12T08:00:00Z, or a duration ago like 2h or 3d"
        ) from exc


# SQLite and PostgreSQL store seq as a signed 64-bit integer.
MAX_SEQ = 2**63 - 1


def check_seq_argument(name: str, value: int | None, *, minimum: int = 0) -> None:
    """Refuse a seq-like number no log can hold, before it reaches the database driver."""
    if value is not None and not minimum <= value <= MAX_SEQ:
        shown = str(value) if len(str(value)) <= 20 else f"{str(value)[:20]}…"
        raise UsageError(f"{name} must be a whole number from {minimum} to {MAX_SEQ}, not {shown}")
