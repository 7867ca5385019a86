"""An auditor's bundle: the log (or one source's part of it) checkable offline with standard tools.

Layout of a bundle directory::

    events.jsonl            one StoredEvent.to_json() per line, in seq order
    blobs/<sha256>          every blob the events name, uncompressed (sha256sum checks them)
    checkpoints/<seq>.json  the exact bytes a checkpoint signature covers ...
    checkpoints/<seq>.sig   ... and the raw 64-byte Ed25519 signature
    proofs.jsonl            partial exports: an RFC 9162 inclusion proof per event
    captures.warc.gz        the captured HTTP responses as WARC 1.1 records (warcio)
    public_key.pem          the checkpoint key
    VERIFY.md               how to check all of this by hand
    manifest.json           sha256 of every file above, the kind of export, the checkpoint
    manifest.sig            Ed25519 signature over manifest.json's bytes

Two kinds. A *full* export (no filter) holds every event from seq 1 to a checkpoint
event, so the chain is checked link by link from the genesis hash and every
checkpoint's root is recomputed. A *partial* export (``--source`` and/or
``--since``) holds only matching events, each with an inclusion proof against the
latest signed checkpoint: nothing about other sources is revealed beyond opaque hashes
— the proofs' sibling hashes, each event's ``prev_hash`` (which its own hash commits
to) and the checkpoint's ``head_hash`` — and the log's size.

Invariants: the bundle's checkpoint covers every exported event (one is signed first
if needed); blob files are the uncompressed bytes named by their sha256; changing
any byte of any file makes ``verify_bundle`` report a finding (file hashes in the
manifest, the manifest signed).

This module selects and writes; ``export_verify`` checks a bundle, ``export_readme``
words its VERIFY.md and ``warc`` writes the WARC records.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from monitor import __version__
from monitor.audit.checkpoint import (
    Checkpointer,
    Journal,
    SignedCheckpoint,
    Signer,
    checkpoint_of,
    merkle_tree,
    public_key_pem,
)
from monitor.audit.export_readme import verify_readme
from monitor.audit.merkle import event_leaf
from monitor.audit.verify import blob_refs
from monitor.audit.warc import CaptureWarc
from monitor.errors import BlobMissingError, StoreError, StoreUnavailableError
from monitor.events import (
    ARCHIVED_CAPTURES,
    ChangeDetected,
    CheckpointSigned,
    StoredEvent,
    format_time,
)
from monitor.store.base import EventStore
from monitor.store.blobs import is_blob_id

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "policy-monitor-export/1"
EVENTS_FILE = "events.jsonl"
PROOFS_FILE = "proofs.jsonl"
WARC_FILE = "captures.warc.gz"
PUBLIC_KEY_FILE = "public_key.pem"
README_FILE = "VERIFY.md"
MANIFEST_FILE = "manifest.json"
MANIFEST_SIG_FILE = "manifest.sig"
BLOB_DIR = "blobs"
CHECKPOINT_DIR = "checkpoints"
_WARC_NAMESPACE = uuid.UUID("5d0c7a8e-3b1f-4c52-9e57-6a0f2d9b8c14")


@dataclass(frozen=True, kw_only=True)
class ExportReport:
    """What an export wrote."""

    directory: Path
    kind: str  # "full" | "partial"
    events: int
    blobs: int
    responses: int
    revisits: int
    checkpoint: SignedCheckpoint
    missing_blobs: list[str] = field(default_factory=list)


def event_line(event: StoredEvent) -> str:
    return json.dumps(event.to_json(), ensure_ascii=False, sort_keys=True) + "\n"


def referenced_blobs(event: StoredEvent) -> Iterator[str]:
    """Blob names an event needs: every ``…sha256`` field, and a change's previous text."""
    for _, name in blob_refs(event.data):
        yield name
    if isinstance(change := event.event, ChangeDetected) and is_blob_id(change.previous):
        yield change.previous


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- writing


async def export_bundle(
    store: EventStore,
    directory: Path,
    *,
    signer: Signer,
    journal: Journal,
    now: datetime,
    source: str | None = None,
    since: datetime | None = None,
) -> ExportReport:
    """Write a bundle into ``directory`` (created; it should be empty)."""
    partial = source is not None or since is not None
    # Sign first, so the checkpoint covers every event the bundle will hold.
    checkpoint = await Checkpointer(store, signer, journal=journal).checkpoint(
        now, cover_stamps=True
    )
    assert checkpoint.seq is not None  # a checkpoint from the log always has its seq
    upper = checkpoint.tree_size if partial else checkpoint.seq
    since_text = format_time(since) if since is not None else None
    _make_dirs(directory, directory / BLOB_DIR)

    exported: list[tuple[int, str]] = []
    blob_names: dict[str, int] = {}
    captures: list[StoredEvent] = []
    checkpoints: list[SignedCheckpoint] = []
    with (directory / EVENTS_FILE).open("w", encoding="utf-8", newline="\n") as out:
        async for event in store.iterate(until=upper, stream=source):
            if since_text is not None and event.recorded_at < since_text:
                continue
            out.write(event_line(event))
            exported.append((event.seq, event.hash))
            for name in referenced_blobs(event):
                blob_names.setdefault(name, event.seq)
            if isinstance(event.event, ARCHIVED_CAPTURES):
                captures.append(event)
            elif isinstance(event.event, CheckpointSigned) and not partial:
                checkpoints.append(checkpoint_of(event))

    missing = await _write_blobs(store, directory / BLOB_DIR, blob_names)
    for signed in checkpoints if not partial else [checkpoint]:
        _write_checkpoint(directory / CHECKPOINT_DIR, signed)
    if partial:
        tree = await merkle_tree(store, checkpoint.tree_size)
        with (directory / PROOFS_FILE).open("w", encoding="utf-8", newline="\n") as out:
            for seq, event_hash in exported:
                if tree.leaf(seq - 1) != event_leaf(event_hash):
                    raise StoreError(f"seq {seq} changed during the export; export again")
                proof = {
                    "seq": seq,
                    "leaf_index": seq - 1,
                    "tree_size": checkpoint.tree_size,
                    "checkpoint_seq": checkpoint.seq,
                    "audit_path": [h.hex() for h in tree.inclusion_proof(seq - 1)],
                }
                out.write(json.dumps(proof, sort_keys=True) + "\n")
    (directory / PUBLIC_KEY_FILE).write_bytes(public_key_pem(signer.public_key))
    with (directory / WARC_FILE).open("wb") as warc:
        responses, revisits = write_warc(warc, captures, directory / BLOB_DIR, created=now)

    kind = "partial" if partial else "full"
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "generator": f"policy-monitor {__version__}",
        "created_at": format_time(now),
        "kind": kind,
        "source": source,
        "since": since_text,
        "events": len(exported),
        "first_seq": exported[0][0] if exported else None,
        "last_seq": exported[-1][0] if exported else None,
        "checkpoint": {
            "seq": checkpoint.seq,
            "tree_size": checkpoint.tree_size,
            "root_hash": checkpoint.checkpoint.root_hash,
        },
        "key_id": signer.key_id,
        "missing_blobs": sorted(missing),
    }
    (directory / README_FILE).write_text(verify_readme(manifest), encoding="utf-8", newline="\n")
    manifest["files"] = {name: sha256_file(directory / name) for name in bundle_files(directory)}
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    (directory / MANIFEST_FILE).write_bytes(manifest_bytes)
    (directory / MANIFEST_SIG_FILE).write_bytes(signer.sign_bytes(manifest_bytes))
    log.info("exported %d events to %s (%s)", len(exported), directory, kind)
    return ExportReport(
        directory=directory,
        kind=kind,
        events=len(exported),
        blobs=len(blob_names) - len(missing),
        responses=responses,
        revisits=revisits,
        checkpoint=checkpoint,
        missing_blobs=sorted(missing),
    )


def bundle_files(directory: Path) -> list[str]:
    """Every file of a bundle except the manifest and its signature, as sorted posix paths."""
    names = []
    for root, _, files in os.walk(directory):
        for name in files:
            relative = (Path(root) / name).relative_to(directory).as_posix()
            if relative not in (MANIFEST_FILE, MANIFEST_SIG_FILE):
                names.append(relative)
    return sorted(names)


def _make_dirs(*paths: Path) -> None:
    for path in paths:
        path.mkdir(parents=True, exist_ok=True)


async def _write_blobs(store: EventStore, target: Path, names: dict[str, int]) -> list[str]:
    missing = []
    for name in sorted(names):
        try:
            data = await store.get_blob(name)
        except StoreUnavailableError:
            raise
        except (BlobMissingError, StoreError) as exc:
            log.warning("blob %s named by seq %d cannot be exported: %s", name, names[name], exc)
            missing.append(name)
            continue
        (target / name).write_bytes(data)
    return missing


def _write_checkpoint(target: Path, signed: SignedCheckpoint) -> None:
    target.mkdir(exist_ok=True)
    (target / f"{signed.seq}.json").write_bytes(signed.checkpoint.signed_bytes())
    (target / f"{signed.seq}.sig").write_bytes(signed.signature)


def write_warc(
    out: IO[bytes], captures: list[StoredEvent], blob_dir: Path, *, created: datetime
) -> tuple[int, int]:
    """Write each capture as a response (or revisit) plus a metadata record; returns counts.

    Bodies come from the bundle's own ``blobs/``; a capture whose body could not be
    exported has no records (it is listed under ``missing_blobs`` in the manifest).
    """
    warc = CaptureWarc(
        out,
        namespace=_WARC_NAMESPACE,
        filename=WARC_FILE,
        description="HTTP responses captured by policy-monitor; bodies are stored "
        "decoded, so Content-Encoding/Content-Length are kept as X-Archive-Orig-*",
        created=created,
        sha256_blocks=True,
    )
    for event in captures:
        target = warc.target(event)
        if target is None:
            continue
        body = None
        if warc.needs_body(target):
            path = blob_dir / target.raw
            if not path.is_file():
                continue
            body = path.read_bytes()
        warc.write(target, body)
    return warc.responses, warc.revisits
