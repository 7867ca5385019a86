"""Event types, the stored envelope, canonical encoding and the hash chain.

Pure: no I/O. Every fact the monitor learns is one of the frozen, past-tense
event classes below. The *stored* record (``StoredEvent``) is kept separate from
the event class: the store persists ``type``, ``schema`` and a JSON ``data``
object, and ``decode`` upgrades old schemas on read (upcasters) — stored bytes
are never rewritten.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar

JsonObject = dict[str, Any]

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


def _without_none(data: JsonObject, *names: str) -> JsonObject:
    """``data`` without the optional fields that are None (kept out of the stored bytes)."""
    for name in names:
        if data.get(name) is None:
            data.pop(name, None)
    return data


def deterministic_event_id(stream: str, version: int, type_: str, data: JsonObject) -> str:
    """A UUID that a retry of the same decision reproduces, so appends stay idempotent."""
    digest = hashlib.sha256(canonical_bytes(data)).hexdigest()
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{stream}\x1f{version}\x1f{type_}\x1f{digest}"))


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event; subclasses are frozen, keyword-only and named in the past tense."""

    type: ClassVar[str] = ""
    schema: ClassVar[int] = 1

    def to_data(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Event:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True, kw_only=True)
class SourceRegistered(Event):
    """A source appeared in the configuration for the first time (or again after removal)."""

    type: ClassVar[str] = "SourceRegistered"
    settings: JsonObject
    # The ``[[discover]]`` entry that found the source (absent for configured sources,
    # so their events keep the shape and hashes they always had).
    discovered_by: str | None = None

    def to_data(self) -> JsonObject:
        data = asdict(self)
        if data["discovered_by"] is None:
            del data["discovered_by"]
        return data


@dataclass(frozen=True, kw_only=True)
class SourceMoved(Event):
    """The source's document now lives at ``to_url``: checks fetch it there from now on.

    ``how``: ``redirect`` (``from_url`` answered a permanent redirect, 301 or 308, whose
    ``status`` is kept) or ``canonical`` (the page's ``<link rel="canonical">`` changed to
    ``to_url``). The source keeps its id and its history; a temporary redirect is no move,
    and a "move" to another site or to a login or home page is a ``ContentSuspect``.
    """

    type: ClassVar[str] = "SourceMoved"
    from_url: str
    to_url: str
    how: str
    status: int | None = None


@dataclass(frozen=True, kw_only=True)
class DiscoveryBaselined(Event):
    """The first pass of a ``[[discover]]`` entry: the matching URLs already listed.

    Stream ``$discover:<id>``. No alert: these documents existed before we looked.
    """

    type: ClassVar[str] = "DiscoveryBaselined"
    urls: list[str]
    listed_at: str  # when the sitemap or index page was read
    # ETag / Last-Modified of the listings read (plain sitemaps and index pages), on the
    # last event of a pass, for the conditional GET of the next one. Absent when None.
    validators: dict[str, list[str]] | None = None

    def to_data(self) -> JsonObject:
        return _without_none(asdict(self), "validators")


@dataclass(frozen=True, kw_only=True)
class SourceDiscovered(Event):
    """A matching URL appeared in a ``[[discover]]`` entry's sitemap or index page.

    ``title`` is the link text (index page) or the sitemap's title, ``lastmod`` the
    sitemap's date when it gives one; ``severity`` and ``rules`` come from the rules the
    title and link text match. ``state``: ``watching`` (registered as source
    ``source_id``), ``waiting`` (past ``max_new`` in one pass: ``monitor discover
    --accept`` registers it) or ``listed`` (the entry does not watch what it finds).
    """

    type: ClassVar[str] = "SourceDiscovered"
    url: str
    title: str = ""
    lastmod: str = ""
    company: str = ""
    tags: list[str] = field(default_factory=list)
    rules: list[JsonObject] = field(default_factory=list)
    severity: str = "low"
    state: str = "listed"
    source_id: str = ""
    relisted: bool = False  # it had left the list before (then ``severity`` is ``info``)
    validators: dict[str, list[str]] | None = None  # as in DiscoveryBaselined

    def to_data(self) -> JsonObject:
        return _without_none(asdict(self), "validators")


@dataclass(frozen=True, kw_only=True)
class SourceUnlisted(Event):
    """A URL that a ``[[discover]]`` entry had found is no longer in its list.

    The page itself may still answer; a watched source keeps being checked.
    """

    type: ClassVar[str] = "SourceUnlisted"
    url: str
    validators: dict[str, list[str]] | None = None  # as in DiscoveryBaselined

    def to_data(self) -> JsonObject:
        return _without_none(asdict(self), "validators")


@dataclass(frozen=True, kw_only=True)
class DiscoveryReviewed(Event):
    """Someone decided about a discovered URL with ``monitor discover``.

    ``decision``: ``accepted`` (registered as source ``source_id``) or ``ignored``
    (never registered, never alerted again).
    """

    type: ClassVar[str] = "DiscoveryReviewed"
    url: str
    decision: str
    source_id: str = ""


@dataclass(frozen=True, kw_only=True)
class SourceUpdated(Event):
    """A source's settings changed in the configuration; ``changed`` names the keys."""

    type: ClassVar[str] = "SourceUpdated"
    settings: JsonObject
    changed: list[str]


@dataclass(frozen=True, kw_only=True)
class SourceRemoved(Event):
    """A source left the configuration; its history stays in the log."""

    type: ClassVar[str] = "SourceRemoved"
    reason: str = "removed from configuration"


@dataclass(frozen=True, kw_only=True)
class BaselineCaptured(Event):
    """The first good capture of a source: the text every later change is compared with."""

    type: ClassVar[str] = "BaselineCaptured"
    capture: JsonObject
    blocks: int = 0


@dataclass(frozen=True, kw_only=True)
class ChangeDetected(Event):
    """The normalized text differs from the last good capture."""

    type: ClassVar[str] = "ChangeDetected"
    capture: JsonObject
    previous: str  # text_sha256 of the last good capture
    previous_seen_until: str  # last time the old text was seen
    diff: JsonObject  # patch, stats, added, removed, summary
    # "substantive" | "reverted", or a quiet class (monitor.noise): "volatile" (only
    # volatile tokens, or a learned volatile block, changed), "dated" (only absolute
    # dates), "chrome" (only the page's navigation, header, footer, asides)
    classification: str
    rules: list[JsonObject] = field(default_factory=list)
    severity: str = "info"
    # When the new text was first seen, for a source with ``confirm`` > 1 (the change is
    # recorded only once confirmed). Absent from the data when None, so changes recorded
    # without confirmation keep the shape (and hashes) they always had.
    first_seen: str | None = None
    # True: recorded, not alerted (a quiet class no rule matched and the source did not
    # ask for). Absent from the data when False, like ``first_seen``.
    silent: bool = False
    # The small region the change was confined to (``monitor.noise.learned``) and the
    # number of consecutive checks that changed only it; absent when there is none.
    region: str | None = None
    region_streak: int | None = None

    def to_data(self) -> JsonObject:
        data = asdict(self)
        for optional in ("first_seen", "region", "region_streak"):
            if data[optional] is None:
                del data[optional]
        if not data["silent"]:
            del data["silent"]
        return data


@dataclass(frozen=True, kw_only=True)
class ChangePending(Event):
    """A new text was seen, but the source wants it seen on ``needed`` consecutive checks.

    ``seen`` counts the consecutive checks that found this text so far (1 … needed - 1).
    It is no alert: a ``ChangeDetected`` follows once ``seen`` reaches ``needed``; a check
    that finds the old text again cancels it (the fold clears the pending text).
    """

    type: ClassVar[str] = "ChangePending"
    capture: JsonObject
    text_sha256: str
    seen: int
    needed: int


@dataclass(frozen=True, kw_only=True)
class VolatilityLearned(Event):
    """A block of the source changed on ``changes`` consecutive checks and nothing else did.

    Later changes confined to the same region (the lines between ``before`` and
    ``after``) are classified ``volatile``. ``example`` is its latest text.
    """

    type: ClassVar[str] = "VolatilityLearned"
    region: str
    before: str
    after: str
    example: str
    changes: int


@dataclass(frozen=True, kw_only=True)
class VolatilityUnlearned(Event):
    """A learned volatile region was unchanged on ``quiet_checks`` checks: noise no more."""

    type: ClassVar[str] = "VolatilityUnlearned"
    region: str
    quiet_checks: int


@dataclass(frozen=True, kw_only=True)
class ContentConfirmed(Event):
    """The text was unchanged; recorded at most once per ``confirm_every``."""

    type: ClassVar[str] = "ContentConfirmed"
    text_sha256: str
    fetched_at: str
    checks_since_last_event: int


@dataclass(frozen=True, kw_only=True)
class ContentSuspect(Event):
    """The capture looks wrong (error page, login wall, empty selection, collapse)."""

    type: ClassVar[str] = "ContentSuspect"
    capture: JsonObject
    reason: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class FetchFailed(Event):
    """A check could not fetch the page.

    ``error = "deferred"`` (``FETCH_DEFERRED``): not a failure of the page — its host
    had asked for quiet (``Retry-After``) until ``paused_until``, so no request was
    sent. It does not count towards ``consecutive_failures`` and is never alerted.
    """

    type: ClassVar[str] = "FetchFailed"
    url: str
    error: str  # short stable kind: connect, timeout, http, too_large, tls, redirect, ...
    message: str
    status: int | None = None
    attempt: int = 1
    consecutive_failures: int = 1
    fetched_at: str = ""
    # Only on deferred checks; absent from the data when None, so every other failure
    # keeps the shape (and hashes) it always had.
    paused_until: str | None = None

    def to_data(self) -> JsonObject:
        data = asdict(self)
        if data["paused_until"] is None:
            del data["paused_until"]
        return data


FETCH_DEFERRED = "deferred"  # FetchFailed.error of a check its host's pause deferred


@dataclass(frozen=True, kw_only=True)
class SourceRecovered(Event):
    """The first successful fetch after one or more failures."""

    type: ClassVar[str] = "SourceRecovered"
    failures: int
    failing_since: str
    # Set when the page had been recorded as gone (``SourceGone``): since when. Absent
    # from the data when None, so recoveries from plain failures keep their shape.
    gone_since: str | None = None

    def to_data(self) -> JsonObject:
        data = asdict(self)
        if data["gone_since"] is None:
            del data["gone_since"]
        return data


@dataclass(frozen=True, kw_only=True)
class NotificationSent(Event):
    """An alert about event ``for_seq`` reached channel ``channel`` (its name, never its URL)."""

    type: ClassVar[str] = "NotificationSent"
    for_seq: int
    channel: str
    attempt: int = 1
    digest: str | None = None  # the digest id when the alert went out in a digest


@dataclass(frozen=True, kw_only=True)
class NotificationFailed(Event):
    """Sending an alert about ``for_seq`` to ``channel`` failed on ``attempt``."""

    type: ClassVar[str] = "NotificationFailed"
    for_seq: int
    channel: str
    attempt: int
    error: str
    final: bool = False


@dataclass(frozen=True, kw_only=True)
class CheckpointSigned(Event):
    """The log's first ``tree_size`` events were signed: their Merkle root and last event.

    Stream ``$checkpoints``. ``signature`` is base64 Ed25519 over the canonical JSON of
    the other fields (see ``monitor.audit.checkpoint``); the event itself is a leaf of later trees.
    """

    type: ClassVar[str] = "CheckpointSigned"
    tree_size: int
    root_hash: str
    head_seq: int
    head_hash: str
    timestamp: str
    key_id: str
    signature: str


@dataclass(frozen=True, kw_only=True)
class CheckpointTimestamped(Event):
    """A time-stamping authority (RFC 3161) signed that checkpoint ``checkpoint_seq`` existed
    at ``gen_time``: its token stamps ``imprint``, the sha256 of the checkpoint's signed
    bytes. The DER token is the blob ``token_sha256``. Stream ``$timestamps``.
    """

    type: ClassVar[str] = "CheckpointTimestamped"
    checkpoint_seq: int
    tsa: str  # the TSA's URL, as configured
    token_sha256: str
    imprint: str
    gen_time: str
    serial: str  # the TSA's serial number of the token (may exceed 64 bits)


@dataclass(frozen=True, kw_only=True)
class TimestampFailed(Event):
    """Asking ``tsa`` to stamp checkpoint ``checkpoint_seq`` failed; it is asked again
    from ``retry_at`` on (backing off while the TSA stays down). Stream ``$timestamps``."""

    type: ClassVar[str] = "TimestampFailed"
    checkpoint_seq: int
    tsa: str
    attempt: int
    error: str
    retry_at: str


@dataclass(frozen=True, kw_only=True)
class ThirdPartyCaptured(Event):
    """An outside archive (the Internet Archive's Save Page Now) captured the page after
    the change at ``for_seq``; ``archive_url`` is where anyone can see its copy."""

    type: ClassVar[str] = "ThirdPartyCaptured"
    for_seq: int
    url: str
    archive: str  # "wayback"
    archive_url: str
    attempt: int = 1


@dataclass(frozen=True, kw_only=True)
class ThirdPartyCaptureFailed(Event):
    """Asking an outside archive to capture the page after the change at ``for_seq``
    failed on ``attempt``; ``final`` when no further attempt will be made."""

    type: ClassVar[str] = "ThirdPartyCaptureFailed"
    for_seq: int
    url: str
    archive: str
    attempt: int
    error: str
    final: bool = False


@dataclass(frozen=True, kw_only=True)
class FiguresPublished(Event):
    """A report's table holds rows for a period it did not hold before (``rows`` of them).

    ``change_seq`` is the seq of the capture (its ``ChangeDetected``) that showed them.
    The first capture of a source is its baseline: its periods are not "published".
    """

    type: ClassVar[str] = "FiguresPublished"
    change_seq: int
    period: str
    rows: int


@dataclass(frozen=True, kw_only=True)
class FiguresRestated(Event):
    """A figure of an already published row (``key``, ``period``) changed from ``old`` to ``new``.

    A row added to a period that was already published is recorded the same way, with
    ``old`` empty (not reported before). ``change_seq``: the capture that showed it.
    """

    type: ClassVar[str] = "FiguresRestated"
    change_seq: int
    key: list[str]
    period: str
    column: str
    old: str
    new: str


@dataclass(frozen=True, kw_only=True)
class FiguresWithdrawn(Event):
    """A published row (``key``, ``period``) is no longer in the report; ``values`` it had."""

    type: ClassVar[str] = "FiguresWithdrawn"
    change_seq: int
    key: list[str]
    period: str
    values: dict[str, str]


FIGURES_EVENTS: tuple[str, ...] = ("FiguresPublished", "FiguresRestated", "FiguresWithdrawn")


@dataclass(frozen=True, kw_only=True)
class ChangeReviewed(Event):
    """A named person judged the change at ``change_seq``: important, routine or noise.

    Stream ``$reviews``. The latest review of a change is its status; earlier ones
    stay in the log as its history. ``note`` says why, in the reviewer's words.
    """

    type: ClassVar[str] = "ChangeReviewed"
    change_seq: int
    status: str  # "important" | "routine" | "noise"
    by: str
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class ChangeAnnotated(Event):
    """A named person attached a note to the change at ``change_seq`` (stream ``$reviews``)."""

    type: ClassVar[str] = "ChangeAnnotated"
    change_seq: int
    note: str
    by: str


@dataclass(frozen=True, kw_only=True)
class StoryDetected(Event):
    """The same rule matched the same side of changes at several companies within a window.

    Stream ``$stories``. ``members`` lists the changes in the order they happened
    (``{seq, source_id, company, at, sentence}``, one per company). A story that
    grows is recorded again under the same ``story_id`` with the longer list; the
    latest record of a story is the story.
    """

    type: ClassVar[str] = "StoryDetected"
    story_id: str
    rule_id: str
    side: str  # "added" | "removed"
    members: list[JsonObject]
    headline: str
    severity: str = "medium"
    tags: list[str] = field(default_factory=list)  # union of the members' source tags
    trigger_seq: int | None = None  # the change that made this record
    # Recorded while catching up on old changes (a first run on an existing log, a long
    # stop): a fact of the log, not news, so it is not alerted. Absent when False.
    catch_up: bool = False

    def to_data(self) -> JsonObject:
        data = asdict(self)
        if not data["catch_up"]:
            del data["catch_up"]
        return data


@dataclass(frozen=True, kw_only=True)
class SourceGone(Event):
    """The page is gone: ``checks`` consecutive checks answered 404/410 or redirected
    to a generic page (the site's home, an error or not-found page).

    Distinct from a transient ``FetchFailed``; a ``SourceRecovered`` with
    ``gone_since`` follows when the page is back.
    """

    type: ClassVar[str] = "SourceGone"
    url: str
    reason: str  # "http_404" | "http_410" | "redirected"
    checks: int
    status: int | None = None
    final_url: str = ""
    since: str = ""  # when the first of those checks happened


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        SourceRegistered,
        SourceUpdated,
        SourceRemoved,
        BaselineCaptured,
        ChangeDetected,
        ContentConfirmed,
        ContentSuspect,
        FetchFailed,
        SourceRecovered,
        NotificationSent,
        NotificationFailed,
        CheckpointSigned,
        ChangePending,
        SourceMoved,
        DiscoveryBaselined,
        SourceDiscovered,
        SourceUnlisted,
        DiscoveryReviewed,
        CheckpointTimestamped,
        TimestampFailed,
        ThirdPartyCaptured,
        ThirdPartyCaptureFailed,
        FiguresPublished,
        FiguresRestated,
        FiguresWithdrawn,
        ChangeReviewed,
        ChangeAnnotated,
        StoryDetected,
        SourceGone,
        VolatilityLearned,
        VolatilityUnlearned,
    )
}

# (type, stored schema) -> function upgrading data to schema + 1. Applied on read only.
Upcaster = Callable[[JsonObject], JsonObject]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


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


def upcast(type_: str, schema: int, data: JsonObject) -> tuple[int, JsonObject]:
    """Upgrade stored ``data`` to the current schema of its type."""
    current = EVENT_TYPES[type_].schema if type_ in EVENT_TYPES else schema
    while schema < current:
        data = UPCASTERS[(type_, schema)](dict(data))
        schema += 1
    return schema, data


def decode(stored: StoredEvent) -> Event:
    """The typed event for a stored record, upcast to the current schema."""
    cls = EVENT_TYPES[stored.type]
    _, data = upcast(stored.type, stored.schema, stored.data)
    return cls.from_data(data)
