"""The stored envelope, canonical encoding, the hash chain and the log's time format.

Pure: no I/O. The *stored* record (``StoredEvent``) is kept separate from the event
class: the store persists ``type``, ``schema`` and a JSON ``data`` object; readers take
``stored.event``, the typed event (``monitor.events.codec.decode``, which upgrades old
schemas on read) — stored bytes are never rewritten.

Hash chain (ARCHITECTURE §3)::

    body = canonical({seq, event_id, stream, version, type, schema, recorded_at, data})
    hash = sha256(bytes.fromhex(prev_hash) || body)      # prev_hash of seq 1 is 64 zeros

Canonical bytes follow RFC 8785 in the parts we use: object keys sorted, no
insignificant whitespace, UTF-8, and no floats at all (numbers are integers), so
the same event always hashes the same on every platform and backend.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from monitor.events.base import Event
from monitor.events.capture import JsonObject
from monitor.events.codec import decode

GENESIS_HASH = "0" * 64
EVENT_NAMESPACE = uuid.UUID("8f1d3c1e-6a8b-4f25-9a0e-2f8c7b6d5e41")
SYSTEM_STREAM = "$system"
REVIEWS_STREAM = "$reviews"
STORIES_STREAM = "$stories"


def _reject_floats(value: Any, path: str = "data") -> None:
    if isinstance(value, float):
        raise TypeError(f"{path} is a float; canonical event data allows integers only")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path} has a non-string key {key!r}")
            _reject_floats(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _reject_floats(item, f"{path}[{index}]")


def canonical_bytes(value: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no spaces, UTF-8, integers only."""
    _reject_floats(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def chain_hash(prev_hash: str, body: bytes) -> str:
    """The hash of one link of the chain."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()


def format_time(moment: datetime) -> str:
    """UTC, microsecond precision, ``Z`` suffix — the only time format stored in events."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
    utc = moment.astimezone(UTC)
    # strftime's %Y does not pad years before 1000, which would not be RFC 3339 (nor sort).
    return f"{utc.year:04d}-" + utc.strftime("%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Inverse of ``format_time``; also accepts any ISO 8601 string with an offset."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def deterministic_event_id(stream: str, version: int, type_: str, data: JsonObject) -> str:
    """A UUID that a retry of the same decision reproduces, so appends stay idempotent."""
    digest = hashlib.sha256(canonical_bytes(data)).hexdigest()
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{stream}\x1f{version}\x1f{type_}\x1f{digest}"))


# --------------------------------------------------------------------------- envelope


@dataclass(frozen=True, kw_only=True)
class NewEvent:
    """An event on its way into the store: the store assigns seq, version, time and hashes."""

    event_id: str
    stream: str
    type: str
    schema: int
    data: JsonObject

    @classmethod
    def of(cls, stream: str, event: Event, *, event_id: str | None = None) -> NewEvent:
        data = event.to_data()
        return cls(
            event_id=event_id or str(uuid.uuid4()),
            stream=stream,
            type=event.type,
            schema=event.schema,
            data=data,
        )

    @classmethod
    def at_version(cls, stream: str, version: int, event: Event) -> NewEvent:
        """``event`` as version ``version`` of ``stream``, with the id a retry of the same
        decision reproduces (so appending it twice appends it once)."""
        data = event.to_data()
        return cls(
            event_id=deterministic_event_id(stream, version, event.type, data),
            stream=stream,
            type=event.type,
            schema=event.schema,
            data=data,
        )

    @classmethod
    def after(cls, stream: str, expected: int, events: Sequence[Event]) -> list[NewEvent]:
        """``events`` as the versions after ``expected`` of ``stream`` (see ``at_version``)."""
        return [cls.at_version(stream, expected + n, e) for n, e in enumerate(events, start=1)]


@dataclass(frozen=True, kw_only=True)
class StoredEvent:
    """One committed line of the log, exactly as stored and hashed."""

    seq: int
    event_id: str
    stream: str
    version: int
    type: str
    schema: int
    recorded_at: str
    data: JsonObject
    prev_hash: str
    hash: str

    @cached_property
    def event(self) -> Event:
        """The typed event, upcast to its class's current schema (decoded once)."""
        return decode(self)

    def body(self) -> bytes:
        return envelope_body(
            seq=self.seq,
            event_id=self.event_id,
            stream=self.stream,
            version=self.version,
            type_=self.type,
            schema=self.schema,
            recorded_at=self.recorded_at,
            data=self.data,
        )

    def expected_hash(self) -> str:
        return chain_hash(self.prev_hash, self.body())

    def to_json(self) -> JsonObject:
        return {
            "seq": self.seq,
            "event_id": self.event_id,
            "stream": self.stream,
            "version": self.version,
            "type": self.type,
            "schema": self.schema,
            "recorded_at": self.recorded_at,
            "data": self.data,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> StoredEvent:
        return cls(
            seq=int(obj["seq"]),
            event_id=str(obj["event_id"]),
            stream=str(obj["stream"]),
            version=int(obj["version"]),
            type=str(obj["type"]),
            schema=int(obj["schema"]),
            recorded_at=str(obj["recorded_at"]),
            data=dict(obj["data"]),
            prev_hash=str(obj["prev_hash"]),
            hash=str(obj["hash"]),
        )

    def same_content(self, new: NewEvent) -> bool:
        return (self.stream, self.type, self.schema, self.data) == (
            new.stream,
            new.type,
            new.schema,
            new.data,
        )


def envelope_body(
    *,
    seq: int,
    event_id: str,
    stream: str,
    version: int,
    type_: str,
    schema: int,
    recorded_at: str,
    data: JsonObject,
) -> bytes:
    return canonical_bytes(
        {
            "seq": seq,
            "event_id": event_id,
            "stream": stream,
            "version": version,
            "type": type_,
            "schema": schema,
            "recorded_at": recorded_at,
            "data": data,
        }
    )


def seal(new: NewEvent, *, seq: int, version: int, recorded_at: str, prev_hash: str) -> StoredEvent:
    """Turn a pending event into the stored, hashed record at position ``seq``."""
    body = envelope_body(
        seq=seq,
        event_id=new.event_id,
        stream=new.stream,
        version=version,
        type_=new.type,
        schema=new.schema,
        recorded_at=recorded_at,
        data=new.data,
    )
    return StoredEvent(
        seq=seq,
        event_id=new.event_id,
        stream=new.stream,
        version=version,
        type=new.type,
        schema=new.schema,
        recorded_at=recorded_at,
        data=new.data,
        prev_hash=prev_hash,
        hash=chain_hash(prev_hash, body),
    )
