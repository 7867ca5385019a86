"""Signed checkpoints: an Ed25519 signature over the Merkle root of the log's first N events.

A checkpoint says "the first ``tree_size`` events of this log have Merkle root
``root_hash`` and end with the event ``head_seq``/``head_hash``", at ``timestamp``,
signed by the key ``key_id``. The signed bytes are the canonical JSON (sorted keys,
no spaces, UTF-8) of exactly those six fields, so ``openssl pkeyutl -verify -rawin``
checks a signature with nothing from this package.

Where checkpoints live:

* in the log, as a ``CheckpointSigned`` event on stream ``$checkpoints`` (it covers the
  events *before* it and is itself a leaf of every later tree);
* in the log's checkpoint journal, a JSON-lines file outside the database (one per
  log, beside the key: see ``monitor.audit.home``). A copy outside the database is what exposes a
  truncated log: deleting the newest rows leaves a shorter chain that is valid on its
  own, but no longer reaches the size a journal line signed. Copy the journal (or the
  lines ``monitor checkpoint`` prints) somewhere the database's owner cannot rewrite.

The signing key's files are ``monitor.audit.key_files``'s. ``key_id`` is the sha256 hex
of the raw 32-byte public key.

Invariant: a checkpoint is only signed over a log whose chain checks out (seq without
gaps, links and recomputed hashes), so the key never vouches for a tampered log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from monitor.audit.merkle import CompactTree, MerkleTree, event_leaf
from monitor.errors import ConcurrencyError, SigningKeyError, StoreError
from monitor.events import (
    GENESIS_HASH,
    STAMP_EVENTS,
    CheckpointSigned,
    NewEvent,
    StoredEvent,
    canonical_bytes,
    format_time,
)
from monitor.store.base import EventStore

log = logging.getLogger(__name__)

CHECKPOINT_STREAM = "$checkpoints"
SIGNED_FIELDS = ("tree_size", "root_hash", "head_seq", "head_hash", "timestamp", "key_id")
_APPEND_ATTEMPTS = 5


# --------------------------------------------------------------------------- values (pure)


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """What a signature covers."""

    tree_size: int
    root_hash: str  # hex MTH of the first tree_size events
    head_seq: int
    head_hash: str  # chain hash of the event at head_seq (GENESIS_HASH for an empty log)
    timestamp: str
    key_id: str

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SIGNED_FIELDS}

    def signed_bytes(self) -> bytes:
        """The exact bytes the Ed25519 signature is over."""
        return canonical_bytes(self.fields())


@dataclass(frozen=True, kw_only=True)
class SignedCheckpoint:
    """A checkpoint with its signature and (once appended) the seq of its event."""

    checkpoint: Checkpoint
    signature: bytes
    seq: int | None = None
    # Journal lines name their log by the hash of its first event, so a journal shared
    # by two databases is noticed instead of read as tampering. Not signed, not compared.
    log_id: str | None = field(default=None, compare=False)

    @property
    def tree_size(self) -> int:
        return self.checkpoint.tree_size

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.checkpoint.root_hash)

    def event(self) -> CheckpointSigned:
        return CheckpointSigned(
            **self.checkpoint.fields(), signature=base64.b64encode(self.signature).decode()
        )

    def to_json(self) -> dict[str, Any]:
        """One journal line: the signed fields, the signature, the event's seq and the log."""
        line: dict[str, Any] = {**self.event().to_data(), "seq": self.seq}
        if self.log_id is not None:
            line["log_id"] = self.log_id
        return line

    @classmethod
    def from_data(cls, data: Mapping[str, Any], seq: int | None = None) -> SignedCheckpoint:
        """From ``CheckpointSigned`` data or a journal line; ValueError if malformed."""
        try:
            checkpoint = Checkpoint(
                tree_size=_int(data["tree_size"]),
                root_hash=_hex(data["root_hash"], 32),
                head_seq=_int(data["head_seq"]),
                head_hash=_hex(data["head_hash"], 32),
                timestamp=str(data["timestamp"]),
                key_id=_hex(data["key_id"], 32),
            )
            signature = base64.b64decode(str(data["signature"]), validate=True)
        except KeyError as exc:
            raise ValueError(f"checkpoint lacks the field {exc.args[0]!r}") from exc
        except binascii.Error as exc:
            raise ValueError("checkpoint signature is not base64") from exc
        if seq is None and data.get("seq") is not None:
            seq = _int(data["seq"])
        log_id = data.get("log_id")
        return cls(
            checkpoint=checkpoint,
            signature=signature,
            seq=seq,
            log_id=_hex(log_id, 32) if log_id is not None else None,
        )

    @classmethod
    def from_event(cls, event: StoredEvent) -> SignedCheckpoint:
        return cls.from_data(event.data, seq=event.seq)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{value!r} is not a non-negative integer")
    return value


def _hex(value: Any, size: int) -> str:
    if not isinstance(value, str) or len(value) != 2 * size:
        raise ValueError(f"{value!r} is not {size} bytes of hex")
    bytes.fromhex(value)  # ValueError if not hex
    return value.lower()


def key_id(public_key: Ed25519PublicKey) -> str:
    """sha256 hex of the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key_pem(data: bytes, *, where: str = "public key") -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise SigningKeyError(f"{where} is not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{where} is not an Ed25519 public key")
    return key


def signature_problem(signed: SignedCheckpoint, keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    """Why ``signed`` does not verify with the known ``keys`` (by key_id), or None."""
    key = keys.get(signed.checkpoint.key_id)
    if key is None:
        return f"signed by unknown key {signed.checkpoint.key_id[:16]}…"
    try:
        key.verify(signed.signature, signed.checkpoint.signed_bytes())
    except InvalidSignature:
        return "signature does not verify (forged or altered checkpoint)"
    return None


class Signer:
    """Signs checkpoints with one Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    def sign(self, checkpoint: Checkpoint) -> SignedCheckpoint:
        if checkpoint.key_id != self.key_id:
            raise ValueError("checkpoint names another key")
        return SignedCheckpoint(
            checkpoint=checkpoint, signature=self._key.sign(checkpoint.signed_bytes())
        )

    def sign_bytes(self, data: bytes) -> bytes:
        """A raw Ed25519 signature over ``data`` (e.g. an export's manifest)."""
        return self._key.sign(data)

    def sign_tree(
        self, *, tree_size: int, root: bytes, head_hash: str, now: datetime
    ) -> SignedCheckpoint:
        return self.sign(
            Checkpoint(
                tree_size=tree_size,
                root_hash=root.hex(),
                head_seq=tree_size,
                head_hash=head_hash,
                timestamp=format_time(now),
                key_id=self.key_id,
            )
        )

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return {self.key_id: self.public_key}


def append_journal(path: Path, signed: SignedCheckpoint) -> None:
    """Add one line to the checkpoint journal (append-only, flushed to disk)."""
    line = json.dumps(signed.to_json(), sort_keys=True, separators=(",", ":")) + "\n"
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o644)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(line)
        out.flush()
        os.fsync(out.fileno())


JournalEntry = SignedCheckpoint | tuple[int, str]  # a journal line, or (line number, problem)


def read_journal(path: Path) -> list[JournalEntry]:
    """The journal's checkpoints; an unreadable line comes back as (line number, reason)."""
    if not path.is_file():
        return []
    entries: list[JournalEntry] = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
                entries.append(SignedCheckpoint.from_data(data))
            except ValueError as exc:
                entries.append((number, str(exc)))
    return entries


# --------------------------------------------------------------------------- the log


def checkpoint_of(event: StoredEvent) -> SignedCheckpoint:
    """The checkpoint a ``CheckpointSigned`` event records; StoreError if malformed."""
    try:
        return SignedCheckpoint.from_event(event)
    except ValueError as exc:
        raise StoreError(
            f"seq {event.seq}: checkpoint data is malformed ({exc}); run `monitor verify`"
        ) from exc


async def checkpoints_in(store: EventStore) -> list[SignedCheckpoint]:
    """Every checkpoint recorded in the log, oldest first."""
    events = await store.read(stream=CHECKPOINT_STREAM, types=(CheckpointSigned.type,))
    return [checkpoint_of(ev) for ev in events]


async def latest_checkpoint(store: EventStore) -> SignedCheckpoint | None:
    found = await checkpoints_in(store)
    return found[-1] if found else None


class JournalSink(Protocol):
    """Where a signed checkpoint is copied outside the database (``monitor.audit.home``)."""

    def append(self, signed: SignedCheckpoint) -> None: ...


Journal = Path | JournalSink | None  # a file (one log), per-log journals, or none


class Checkpointer:
    """Signs checkpoints of one store, following the log incrementally between calls.

    The daemon keeps one and calls ``checkpoint`` periodically and after each change;
    only the events appended since the previous call are read and checked.
    """

    def __init__(
        self,
        store: EventStore,
        signer: Signer,
        *,
        journal: Journal,
        on_signed: list[Callable[[SignedCheckpoint], None]] | None = None,
    ) -> None:
        self.store = store
        self.signer = signer
        self.journal = journal
        # Told of each newly signed checkpoint (e.g. to ask timestamp authorities).
        self.on_signed = on_signed if on_signed is not None else []
        self._tree = CompactTree()
        self._last_hash = GENESIS_HASH

    async def checkpoint(
        self, now: datetime, *, force: bool = False, cover_stamps: bool = False
    ) -> SignedCheckpoint:
        """Sign the log as it stands; without ``force``, reuse a checkpoint that already
        covers everything (the newest event is a checkpoint of all events before it) —
        time stamps of it aside, unless ``cover_stamps`` (an export that must hold them)."""
        for _ in range(_APPEND_ATTEMPTS):
            head_seq, head_hash = await self.store.head()
            if not force and head_seq:
                latest = await self._covering_all(head_seq, skip_stamps=not cover_stamps)
                if latest is not None:
                    return latest  # nothing new since: it covers everything before it
            await self._catch_up(head_seq)
            signed = self.signer.sign_tree(
                tree_size=head_seq, root=self._tree.root(), head_hash=head_hash, now=now
            )
            version = await self.store.stream_version(CHECKPOINT_STREAM)
            new = NewEvent.at_version(CHECKPOINT_STREAM, version + 1, signed.event())
            try:
                (stored,) = await self.store.append([new], expected={CHECKPOINT_STREAM: version})
            except ConcurrencyError:
                continue  # another process signed meanwhile: sign the newer head instead
            signed = replace(signed, seq=stored.seq, log_id=await self._log_id())
            if isinstance(self.journal, Path):
                append_journal(self.journal, signed)
            elif self.journal is not None:
                self.journal.append(signed)
            for listener in self.on_signed:
                listener(signed)
            log.info(
                "signed checkpoint at seq %d: %d events, root %s",
                stored.seq,
                head_seq,
                signed.checkpoint.root_hash,
            )
            return signed
        raise StoreError("could not append a checkpoint: other writers kept signing first")

    async def _covering_all(self, head_seq: int, *, skip_stamps: bool) -> SignedCheckpoint | None:
        """The newest checkpoint when nothing (but time stamps of it) came after it."""
        seq = head_seq
        head = await self.store.get_event(seq)
        # Records about checkpoints (RFC 3161 stamps) are no reason to sign a new one.
        while skip_stamps and head is not None and isinstance(head.event, STAMP_EVENTS) and seq > 1:
            seq -= 1
            head = await self.store.get_event(seq)
        if head is None or not isinstance(head.event, CheckpointSigned):
            return None
        latest = checkpoint_of(head)
        return latest if latest.tree_size == seq - 1 else None

    async def _log_id(self) -> str | None:
        first = await self.store.get_event(1)
        return first.hash if first is not None else None

    async def _catch_up(self, until: int) -> None:
        """Feed the tree every event up to ``until``, refusing a log whose chain is broken."""
        if self._tree.size >= until:
            return
        async for ev in self.store.iterate(after=self._tree.size, until=until):
            expected_seq = self._tree.size + 1
            if ev.seq != expected_seq:
                raise StoreError(
                    f"refusing to sign a checkpoint: seq {expected_seq} is missing from the log; "
                    "run `monitor verify`"
                )
            if ev.prev_hash != self._last_hash or ev.expected_hash() != ev.hash:
                raise StoreError(
                    f"refusing to sign a checkpoint: the chain is broken at seq {ev.seq}; "
                    "run `monitor verify`"
                )
            self._tree.append(event_leaf(ev.hash))
            self._last_hash = ev.hash
        if self._tree.size != until:
            raise StoreError(
                f"refusing to sign a checkpoint: the log ends at seq {self._tree.size}, "
                f"its head says {until}; run `monitor verify`"
            )


async def ensure_checkpoint(
    store: EventStore, signer: Signer, *, covering: int, now: datetime, journal: Journal
) -> SignedCheckpoint:
    """The latest checkpoint if it covers seq ``covering``, else a newly signed one."""
    latest = await latest_checkpoint(store)
    if latest is not None and latest.tree_size >= covering:
        return latest
    return await Checkpointer(store, signer, journal=journal).checkpoint(now, force=True)


async def merkle_tree(store: EventStore, size: int) -> MerkleTree:
    """The full tree of the first ``size`` events (for proofs); StoreError on a gap."""
    tree = MerkleTree()
    async for ev in store.iterate(until=size):
        if ev.seq != tree.size + 1:
            raise StoreError(f"seq {tree.size + 1} is missing from the log; run `monitor verify`")
        tree.append(event_leaf(ev.hash))
    if tree.size != size:
        raise StoreError(f"the log has {tree.size} events, fewer than {size}")
    return tree
