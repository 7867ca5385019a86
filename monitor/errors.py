"""The one exception tree of the project.

::

    MonitorError
    ├── ConfigError            the configuration is invalid (carries every problem found)
    ├── StoreError             the event store refused or failed an operation
    │   ├── ConcurrencyError   an expected stream version did not match (optimistic concurrency)
    │   ├── DuplicateEventError an event_id was appended again with different content
    │   ├── BlobMissingError   a blob named by an event is not in the blob store
    │   └── StoreUnavailableError the database cannot be opened, is locked, full or corrupt
    │       └── ChainBrokenError  the head of the log does not verify; nothing may be appended
    ├── SigningKeyError        the checkpoint signing key cannot be created, read or used
    ├── ReviewError            a review or note cannot be recorded (no such change, bad status)
    ├── FetchError             a page could not be fetched (``kind`` says why)
    │   └── HostPausedError    not asked at all: its host wants quiet for longer than we wait
    └── FiguresError           a report's table cannot be read as ``[source.figures]`` says
        └── ArchiveError       a ZIP/XLSX body is broken, lacks the member, or unpacks too large

Driver errors (sqlite3, aiohttp, asyncpg) are translated into these at the module
boundary, so callers only ever catch ``MonitorError`` subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


class MonitorError(Exception):
    """Base of every error this package raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration file, located as precisely as we can."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}"


class ConfigError(MonitorError):
    """The configuration is invalid; ``problems`` lists every error found, not just the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class StoreError(MonitorError):
    """The event store refused or failed an operation."""


class ConcurrencyError(StoreError):
    """A stream's version was not the one the writer expected."""

    def __init__(self, stream: str, expected: int, actual: int) -> None:
        self.stream, self.expected, self.actual = stream, expected, actual
        super().__init__(
            f"stream {stream!r} is at version {actual}, but the writer expected {expected}; "
            "another writer appended first — reload the stream and decide again"
        )


class DuplicateEventError(StoreError):
    """An event_id that is already in the log was appended with different content."""

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        super().__init__(f"event {event_id} is already in the log with different content")


class BlobMissingError(StoreError):
    """A content-addressed blob is not in the blob store."""

    def __init__(self, sha256: str) -> None:
        self.sha256 = sha256
        super().__init__(f"blob {sha256} is missing from the blob store")


class StoreUnavailableError(StoreError):
    """The database cannot be used: missing, locked, read-only, full or corrupt."""


class ChainBrokenError(StoreUnavailableError):
    """The log to be extended fails the tail check (``monitor.store.tail``): it was altered."""


class SigningKeyError(MonitorError):
    """The signing key file cannot be created, read or used (exit 2)."""


class ReviewError(MonitorError):
    """A review or annotation cannot be recorded: the message says what to fix (exit 2)."""


class FetchError(MonitorError):
    """A page could not be fetched. ``kind`` is a short stable word used in ``FetchFailed``."""

    def __init__(self, kind: str, message: str, *, status: int | None = None) -> None:
        self.kind, self.status = kind, status
        super().__init__(message)


class HostPausedError(FetchError):
    """The host asked for quiet (``Retry-After``) until ``until``, beyond what the caller
    waits: no request was sent. Kind ``deferred``; recorded but never counted as a failure."""

    def __init__(self, host: str, until: datetime, reason: str) -> None:
        self.host, self.until, self.reason = host, until, reason
        stamp = until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        super().__init__(
            "deferred",
            f"{host} asked for quiet until {stamp} ({reason}); not asked before then",
        )


class FiguresError(MonitorError):
    """A report's table cannot be read as configured (a column missing, no table found)."""


class ArchiveError(FiguresError):
    """A ZIP or XLSX body is broken, lacks the member, or would unpack beyond the size bound."""
