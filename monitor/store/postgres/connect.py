"""Reaching PostgreSQL: what a URL names, session settings, lock keys, and errors.

URL: ``postgresql://user:password@host:port/dbname?schema=NAME`` — the ``schema``
parameter (optional; created if missing) lets several logs, or a test run, share one
database; advisory-lock keys are derived from it. Every other query parameter is
passed to asyncpg (``sslmode``, ``application_name``, …).

Every asyncpg / socket error is translated here (``translate_error``) into a
``StoreError`` whose message names the database (without its password).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import socket
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from monitor.errors import StoreError, StoreUnavailableError
from monitor.store import describe_url

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # seconds to reach the server before the database counts as down
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)

# SQLSTATE classes and codes meaning "the database cannot be used right now".
_UNAVAILABLE_CLASSES = ("08", "53", "57", "58", "28")
_UNAVAILABLE_CODES = dict(
    [
        ("3D000", "the database does not exist"),
        ("3F000", "the schema does not exist"),
        ("25006", "the server is read-only (a standby?)"),
        ("42501", "permission denied"),
        ("53100", "the disk is full"),
        ("53300", "too many connections"),
    ]
)


# --------------------------------------------------------------------------- URLs and keys


@dataclass(frozen=True)
class PostgresTarget:
    """What a ``postgresql://`` URL names: the DSN for asyncpg, the schema, and a safe label."""

    dsn: str
    schema: str | None
    label: str  # the URL without its password, for messages


def parse_url(url: str) -> PostgresTarget:
    """Split our ``schema`` parameter off a PostgreSQL URL; everything else goes to asyncpg."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in pairs if k == "schema"]
    rest = [(k, v) for k, v in pairs if k != "schema"]
    schema = schemas[-1] if schemas else None
    label = describe_url(url)
    if schema is not None and not SCHEMA_NAME.fullmatch(schema):
        raise StoreUnavailableError(
            f"{label}: schema {schema!r} is not a plain lowercase identifier "
            "(letters, digits, underscore; at most 63)"
        )
    scheme = "postgresql" if parts.scheme.lower() in ("postgres", "postgresql") else parts.scheme
    dsn = urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment))
    return PostgresTarget(dsn=dsn, schema=schema, label=label)


def advisory_key(schema: str, purpose: str) -> int:
    """A signed 64-bit advisory-lock key private to one schema's log and one purpose."""
    digest = hashlib.sha256(f"policy-monitor\x1f{schema}\x1f{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def server_settings(target: PostgresTarget) -> dict[str, str]:
    settings = {"application_name": f"policy-monitor[{os.getpid()}]"}
    if "application_name=" in target.dsn:
        settings.pop("application_name")
    if target.schema is not None:
        settings["search_path"] = f'"{target.schema}"'
    return settings


# --------------------------------------------------------------------------- errors


def translate_error(exc: BaseException, label: str) -> StoreError:
    """The StoreError a user should see for a driver or socket error on ``label``."""
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        reason = _UNAVAILABLE_CODES.get(state)
        if reason is not None:
            return StoreUnavailableError(f"{label}: {reason} ({exc}); nothing was recorded")
        if state[:2] in _UNAVAILABLE_CLASSES:
            return StoreUnavailableError(
                f"{label}: the database is unavailable ({exc}); nothing was recorded"
            )
        return StoreError(f"{label}: {exc}")
    if isinstance(exc, ConnectionRefusedError | socket.gaierror):
        return StoreUnavailableError(
            f"cannot reach PostgreSQL at {label} ({exc}); is the server running and the URL right?"
        )
    if isinstance(exc, asyncpg.exceptions.ConnectionDoesNotExistError | ConnectionError):
        return StoreUnavailableError(
            f"{label}: the connection to PostgreSQL was lost ({exc}); if an append was in "
            "flight it may or may not have committed — retrying it is safe"
        )
    if isinstance(exc, OSError | TimeoutError):
        return StoreUnavailableError(
            f"cannot reach PostgreSQL at {label} ({exc or type(exc).__name__}); "
            "is the server running and the URL right?"
        )
    if isinstance(exc, asyncpg.InterfaceError):
        return StoreError(f"{label}: {exc}")
    return StoreError(f"{label}: {type(exc).__name__}: {exc}")


async def close_pool(pool: asyncpg.Pool | None) -> None:
    if pool is None:
        return
    try:
        # Let an append in flight commit; a stuck connection is cut after the timeout.
        await asyncio.wait_for(pool.close(), 10)
    except (TimeoutError, *DRIVER_ERRORS):
        logger.warning("closing the PostgreSQL pool timed out; terminating it", exc_info=True)
        pool.terminate()
