"""Events of the log's own audit trail: signed checkpoints and their RFC 3161 time-stamps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from monitor.events.base import Event


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
