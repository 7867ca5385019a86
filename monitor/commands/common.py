"""What every sub-command shares: loading the config, choosing the database, parsing times."""

from __future__ import annotations

import argparse
import logging
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.config.parse import load_config, parse_duration
from monitor.config.settings import Settings
from monitor.errors import MonitorError
from monitor.logs import RedactingFilter, update_secrets

DEFAULT_DB = "sqlite:///monitor.db"

Subparsers = Any  # argparse's _SubParsersAction is private


class UsageError(MonitorError):
    """A command-line argument is wrong (exit 2)."""


def load_settings(args: argparse.Namespace) -> Settings:
    """The validated config; raises ConfigError (exit 2) before anything is written."""
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


def settings_if_present(args: argparse.Namespace) -> Settings | None:
    """For read-only commands: the config when it exists (to find the database), else None."""
    if not Path(args.config).exists():
        return None
    return load_settings(args)


_RELATIVE = re.compile(r"^\d+[smhdw]", re.IGNORECASE)


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time or date (UTC unless an offset is given), or a duration ago ("2h")."""
    now = now or datetime.now(UTC)
    text = text.strip()
    if _RELATIVE.match(text):
        try:
            return now - timedelta(seconds=parse_duration(text))
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(
            f"cannot read the time {text!r}: use ISO 8601 like 2026-03-12 or "
            "2026-03-12T08:00:00Z, or a duration ago like 2h or 3d"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
