"""Event store backends, chosen by URL.

=============================  ====================================================
``memory://``                  ``MemoryEventStore`` (nothing persists; tests, demos)
``sqlite:///relative/path.db`` ``SqliteEventStore``, relative to the working directory
``sqlite:////abs/path.db``     ``SqliteEventStore``, absolute path
``path/to/file.db``            ``SqliteEventStore`` (a bare path ending .db/.sqlite/.sqlite3)
``postgresql://…``             PostgreSQL (the ``postgres`` extra)
=============================  ====================================================

A backend is one entry in ``OPENERS``: scheme -> coroutine returning an open store.
URLs are shown to users only through ``describe_url``, which drops passwords.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from monitor.clock import Clock
from monitor.errors import StoreUnavailableError
from monitor.store.base import EventStore
from monitor.store.memory import MemoryEventStore
from monitor.store.sqlite import SqliteEventStore

__all__ = [
    "OPENERS",
    "EventStore",
    "MemoryEventStore",
    "SqliteEventStore",
    "describe_url",
    "open_store",
    "sqlite_path",
]

Opener = Callable[[str, Clock | None, bool], Awaitable[EventStore]]
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def sqlite_path(url: str) -> str:
    """The file path named by a ``sqlite:///…`` URL or a bare path."""
    if "\0" in url:
        raise StoreUnavailableError("the database path contains a NUL character")
    if "://" not in url:
        return url
    prefix = "sqlite:///"
    if not url.lower().startswith(prefix) or len(url) == len(prefix):
        raise StoreUnavailableError(
            f"cannot read the SQLite URL {describe_url(url)!r}: use sqlite:///relative/path.db "
            "or sqlite:////absolute/path.db"
        )
    path = url[len(prefix) :]
    if path == ":memory:":
        raise StoreUnavailableError("an in-memory SQLite database is lost on exit; use memory://")
    return path


async def _open_memory(url: str, clock: Clock | None, create: bool) -> EventStore:
    return MemoryEventStore(clock=clock)


async def _open_sqlite(url: str, clock: Clock | None, create: bool) -> EventStore:
    return await SqliteEventStore.open(sqlite_path(url), clock=clock, create=create)


async def _open_sqlite_read_only(url: str, clock: Clock | None, create: bool) -> EventStore:
    return await SqliteEventStore.open(sqlite_path(url), clock=clock, read_only=True)


async def _open_postgres(url: str, clock: Clock | None, create: bool) -> EventStore:
    # Imported here so that SQLite users need not install asyncpg.
    try:
        from monitor.store.postgres import PostgresEventStore
    except ImportError as exc:
        raise StoreUnavailableError("PostgreSQL support: install policy-monitor[postgres]") from exc
    return await PostgresEventStore.open(url, clock=clock, create=create)


OPENERS: dict[str, Opener] = {
    "memory": _open_memory,
    "sqlite": _open_sqlite,
    "postgresql": _open_postgres,
    "postgres": _open_postgres,
}


# Backends with a distinct read-only opening; the others open as with create=False.
READ_ONLY_OPENERS: dict[str, Opener] = {"sqlite": _open_sqlite_read_only}


def url_scheme(url: str) -> str:
    """The backend key of ``url``; a bare path to a .db/.sqlite file counts as sqlite."""
    if "://" in url:
        scheme = url.split("://", 1)[0].lower()
        if scheme in OPENERS:
            return scheme
    elif url.lower().endswith(SQLITE_SUFFIXES):
        return "sqlite"
    raise StoreUnavailableError(
        f"unsupported database URL {describe_url(url)!r}; use sqlite:///path.db, "
        "postgresql://user@host/dbname or memory://"
    )


def open_store(
    url: str, *, clock: Clock | None = None, create: bool = True, read_only: bool = False
) -> AbstractAsyncContextManager[EventStore]:
    """An async context manager yielding the store at ``url``, closed on exit.

    Unknown schemes are refused here, before anything is opened. With ``create=False``
    a missing SQLite file is an error instead of a new, empty log. ``read_only``
    (which implies ``create=False``) is for commands that only read: SQLite opens the
    file ``mode=ro`` (``immutable=1`` for a read-only copy) and nothing is written to
    it, not even a schema; other backends open as with ``create=False``.
    """
    scheme = url_scheme(url)
    if scheme == "sqlite":
        sqlite_path(url)  # a malformed sqlite URL fails here, like an unknown scheme
    opener = OPENERS[scheme]
    if read_only:
        opener = READ_ONLY_OPENERS.get(scheme, opener)
        create = False
    return _opened(opener, url, clock, create)


@contextlib.asynccontextmanager
async def _opened(
    opener: Opener, url: str, clock: Clock | None, create: bool
) -> AsyncIterator[EventStore]:
    store = await opener(url, clock, create)
    try:
        yield store
    finally:
        await store.close()


def describe_url(url: str) -> str:
    """``url`` without any password (in the user part or a ``password=`` query), for messages."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in an IPv6 host: show no part of it
        return url.split("://", 1)[0] + "://…"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{hostport}" if user else hostport
    query = parts.query
    if "password" in query.lower():
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, v) for k, v in pairs if "password" not in k.lower()])
    # Rebuilt by hand: urlunsplit turns "sqlite:////abs" into "sqlite://abs".
    text = f"{parts.scheme}://{netloc}{parts.path}"
    if query:
        text += f"?{query}"
    if parts.fragment:
        text += f"#{parts.fragment}"
    return text


def local_file(store: EventStore) -> str | None:
    """The file a store keeps its log in, when it is a local SQLite file (else None).

    For projections kept beside the log (the search index), so they survive restarts.
    """
    return store.path if isinstance(store, SqliteEventStore) else None


def postgres_connection(
    store: EventStore,
) -> Callable[[], AbstractAsyncContextManager[Any]] | None:
    """The store's pooled-connection factory when it is PostgreSQL (else None).

    For projections kept in the log's own database (the search index).
    """
    if isinstance(store, SqliteEventStore | MemoryEventStore):
        return None
    # Imported only for a store that is neither: SQLite users need not load asyncpg.
    from monitor.store.postgres import PostgresEventStore

    return store.connection if isinstance(store, PostgresEventStore) else None
