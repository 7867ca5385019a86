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
"""

from __future__ import annotations

import base64
import hashlib
import http
import io
import json
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from monitor import __version__
from monitor.audit.checkpoint import (
    Checkpointer,
    Journal,
    SignedCheckpoint,
    Signer,
    checkpoint_of,
    key_id,
    load_public_key_pem,
    merkle_tree,
    public_key_pem,
    signature_problem,
)
from monitor.audit.merkle import CompactTree, event_leaf, verify_inclusion
from monitor.audit.verify import ChainVerifier, Finding, VerifyReport, blob_refs
from monitor.errors import BlobMissingError, SigningKeyError, StoreError, StoreUnavailableError
from monitor.events import (
    ARCHIVED_CAPTURES,
    GENESIS_HASH,
    Capture,
    ChangeDetected,
    CheckpointSigned,
    CheckpointTimestamped,
    StoredEvent,
    capture_of,
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
# The stored body is decoded; these headers described the encoded transfer, so the WARC
# keeps their values under the prefix pywb and other replay tools recognise.
RENAMED_HEADERS = ("content-encoding", "content-length", "transfer-encoding")
ORIGINAL_PREFIX = "X-Archive-Orig-"
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


# --------------------------------------------------------------------------- WARC


def _record_id(event: StoredEvent, role: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(_WARC_NAMESPACE, f'{event.event_id}/{role}')}>"


def warc_target(event: StoredEvent) -> tuple[Capture, str, str, str] | None:
    """(capture, raw body's blob, URI, date) of a capture event's WARC records; None
    when it has no body or no URL to archive under."""
    capture = capture_of(event.event)
    if capture is None:
        return None
    uri = capture.final_url or capture.requested_url
    if not is_blob_id(capture.raw_sha256) or not uri:
        return None
    return capture, capture.raw_sha256, uri, capture.fetched_at or event.recorded_at


def _http_headers(capture: Capture, body_length: int) -> StatusAndHeaders:
    status = capture.status if capture.status is not None else 200
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    headers: list[tuple[str, str]] = []
    for name, value in sorted(capture.headers.items()):
        if name.lower() in RENAMED_HEADERS:
            headers.append((ORIGINAL_PREFIX + name, str(value)))
        else:
            headers.append((name, str(value)))
    headers.append(("Content-Length", str(body_length)))
    return StatusAndHeaders(f"{status} {reason}".strip(), headers, protocol="HTTP/1.1")


def _metadata(event: StoredEvent, capture: Capture) -> bytes:
    lines = [
        f"event-seq: {event.seq}",
        f"event-hash: {event.hash}",
        f"event-type: {event.type}",
        f"source: {event.stream}",
        f"recorded-at: {event.recorded_at}",
        f"requested-url: {capture.requested_url}",
    ]
    lines += [f"redirect: {hop['status']} {hop['url']}" for hop in capture.redirects]
    lines.append(f"text-sha256: {capture.text_sha256}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def write_warc(
    out: IO[bytes], captures: list[StoredEvent], blob_dir: Path, *, created: datetime
) -> tuple[int, int]:
    """Write each capture as a response (or revisit) plus a metadata record; returns counts.

    A body already written earlier in this file becomes a ``revisit`` record of the
    identical-payload-digest profile pointing at the first one.
    """
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    info = writer.create_warcinfo_record(
        WARC_FILE,
        {
            "software": f"policy-monitor {__version__}",
            "format": "WARC File Format 1.1",
            "description": "HTTP responses captured by policy-monitor; bodies are stored "
            "decoded, so Content-Encoding/Content-Length are kept as X-Archive-Orig-*",
        },
    )
    info.rec_headers.replace_header("WARC-Date", format_time(created))
    writer.write_record(info)
    first_seen: dict[str, tuple[str, str, str]] = {}  # raw sha256 -> (uri, date, record id)
    responses = revisits = 0
    for event in captures:
        target = warc_target(event)
        if target is None:
            continue
        capture, raw, uri, date = target
        record_id = _record_id(event, "response")
        digest = f"sha256:{raw}"
        earlier = first_seen.get(str(raw))
        if earlier is not None:
            refers_uri, refers_date, refers_id = earlier
            http_headers = _http_headers(capture, capture.size)
            http_headers.compute_headers_buffer()
            record = writer.create_revisit_record(
                uri,
                digest,
                refers_uri,
                refers_date,
                http_headers=http_headers,
                warc_headers_dict={
                    "WARC-Date": date,
                    "WARC-Record-ID": record_id,
                    "WARC-Refers-To": refers_id,
                    "WARC-Block-Digest": "sha256:"
                    + hashlib.sha256(http_headers.headers_buff).hexdigest(),
                },
            )
            revisits += 1
        else:
            path = blob_dir / str(raw)
            if not path.is_file():
                continue  # listed under missing_blobs in the manifest
            body = path.read_bytes()
            http_headers = _http_headers(capture, len(body))
            http_headers.compute_headers_buffer()
            record = writer.create_warc_record(
                uri,
                "response",
                payload=io.BytesIO(body),
                length=len(body),
                http_headers=http_headers,
                warc_headers_dict={
                    "WARC-Date": date,
                    "WARC-Record-ID": record_id,
                    "WARC-Payload-Digest": digest,
                    "WARC-Block-Digest": "sha256:"
                    + hashlib.sha256(http_headers.headers_buff + body).hexdigest(),
                },
            )
            first_seen[str(raw)] = (uri, date, record_id)
            responses += 1
        writer.write_record(record)
        meta = _metadata(event, capture)
        writer.write_record(
            writer.create_warc_record(
                uri,
                "metadata",
                payload=io.BytesIO(meta),
                length=len(meta),
                warc_content_type="application/warc-fields",
                warc_headers_dict={
                    "WARC-Date": date,
                    "WARC-Record-ID": _record_id(event, "metadata"),
                    "WARC-Concurrent-To": record_id,
                    "WARC-Block-Digest": "sha256:" + hashlib.sha256(meta).hexdigest(),
                },
            )
        )
    return responses, revisits


# --------------------------------------------------------------------------- verifying


class _Findings:
    def __init__(self) -> None:
        self.items: list[Finding] = []

    def add(self, kind: str, message: str, seq: int | None = None) -> None:
        self.items.append(Finding(seq, kind, message))


def verify_bundle(directory: Path) -> VerifyReport:
    """Check a bundle with nothing but its own files; every problem names a file or seq."""
    found = _Findings()
    manifest = _load_manifest(directory, found)
    if manifest is None:
        return VerifyReport(events=0, blobs=0, head_hash=GENESIS_HASH, findings=found.items)
    public = _check_manifest(directory, manifest, found)
    events = _load_events(directory, found)
    if manifest.get("kind") == "full":
        _check_full(directory, events, public, found)
    else:
        _check_partial(directory, manifest, events, public, found)
    blobs = _check_blobs(directory, manifest, events, found)
    _check_stamps(directory, events, found)
    found.items.sort(key=lambda f: (f.seq is None, f.seq or 0))
    return VerifyReport(
        events=len(events),
        blobs=blobs,
        head_hash=events[-1].hash if events else GENESIS_HASH,
        findings=found.items,
    )


def _check_stamps(directory: Path, events: list[StoredEvent], found: _Findings) -> None:
    """Each RFC 3161 token must stamp its checkpoint's signed bytes, with a valid TSA
    signature (the TSA's chain is not in the bundle: VERIFY.md says how to check it)."""
    from monitor.audit.timestamps import TimestampError, check_token, imprint_of

    for event in events:
        stamp = event.event
        if not isinstance(stamp, CheckpointTimestamped):
            continue
        checkpoint = directory / CHECKPOINT_DIR / f"{stamp.checkpoint_seq}.json"
        token = directory / BLOB_DIR / stamp.token_sha256
        if not checkpoint.is_file() or not token.is_file():
            continue  # a partial export holds only its newest checkpoint; blobs are checked
        try:
            check_token(token.read_bytes(), imprint_of(checkpoint.read_bytes()), None)
        except TimestampError as exc:
            found.add("timestamp", f"seq {event.seq}: time stamp: {exc}", event.seq)


def _load_manifest(directory: Path, found: _Findings) -> dict[str, Any] | None:
    path = directory / MANIFEST_FILE
    if not path.is_file():
        found.add("manifest", f"{path}: missing (not a policy-monitor export?)")
        return None
    try:
        manifest = json.loads(path.read_bytes())
    except ValueError as exc:
        found.add("manifest", f"{MANIFEST_FILE}: not valid JSON ({exc}); the file was changed")
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        found.add("manifest", f"{MANIFEST_FILE}: not a {BUNDLE_FORMAT} manifest")
        return None
    if not isinstance(manifest.get("files"), dict):
        found.add("manifest", f"{MANIFEST_FILE}: has no file list")
        return None
    return manifest


def _check_manifest(
    directory: Path, manifest: dict[str, Any], found: _Findings
) -> Ed25519PublicKey | None:
    public = None
    try:
        public = load_public_key_pem(
            (directory / PUBLIC_KEY_FILE).read_bytes(), where=PUBLIC_KEY_FILE
        )
    except FileNotFoundError:
        found.add("key", f"{PUBLIC_KEY_FILE}: missing; signatures cannot be checked")
    except SigningKeyError as exc:
        found.add("key", f"{exc} (the file was changed)")
    if public is not None:
        if manifest.get("key_id") != key_id(public):
            found.add("key", f"{PUBLIC_KEY_FILE}: is not the key {MANIFEST_FILE} names")
        try:
            public.verify(
                (directory / MANIFEST_SIG_FILE).read_bytes(),
                (directory / MANIFEST_FILE).read_bytes(),
            )
        except FileNotFoundError:
            found.add("signature", f"{MANIFEST_SIG_FILE}: missing")
        except InvalidSignature:
            found.add(
                "signature",
                f"{MANIFEST_SIG_FILE}: does not verify {MANIFEST_FILE} "
                "(manifest or signature changed)",
            )
    listed: dict[str, Any] = manifest["files"]
    present = set(bundle_files(directory))
    for name in sorted(present - set(listed)):
        found.add("file", f"{name}: not listed in {MANIFEST_FILE} (added after export)")
    for name in sorted(listed):
        if name not in present:
            found.add("file", f"{name}: listed in {MANIFEST_FILE} but missing")
        elif sha256_file(directory / name) != listed[name]:
            found.add("file", f"{name}: sha256 differs from {MANIFEST_FILE} (file changed)")
    return public


def _load_events(directory: Path, found: _Findings) -> list[StoredEvent]:
    path = directory / EVENTS_FILE
    events: list[StoredEvent] = []
    if not path.is_file():
        found.add("file", f"{EVENTS_FILE}: missing")
        return events
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                events.append(StoredEvent.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                found.add("malformed", f"{EVENTS_FILE} line {number}: not an event ({exc})")
    return events


def _checkpoint_files(
    directory: Path, public: Ed25519PublicKey | None, found: _Findings
) -> list[SignedCheckpoint]:
    """Every checkpoints/<seq>.json with a signature that verifies."""
    folder = directory / CHECKPOINT_DIR
    good: list[SignedCheckpoint] = []
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    for path in paths:
        where = f"{CHECKPOINT_DIR}/{path.name}"
        raw = path.read_bytes()
        try:
            seq = int(path.stem)
            data = json.loads(raw)
            signature = (folder / f"{path.stem}.sig").read_bytes()
            signed = SignedCheckpoint.from_data(
                {**data, "signature": base64.b64encode(signature).decode("ascii")}, seq=seq
            )
        except FileNotFoundError:
            found.add("checkpoint", f"{where}: its signature file {path.stem}.sig is missing")
            continue
        except (ValueError, TypeError) as exc:
            found.add("checkpoint", f"{where}: not a checkpoint ({exc})")
            continue
        if signed.checkpoint.signed_bytes() != raw:
            found.add("checkpoint", f"{where}: not in canonical form (the file was changed)")
            continue
        if public is not None:
            problem = signature_problem(signed, {key_id(public): public})
            if problem is not None:
                found.add("checkpoint", f"{where}: {problem}", seq)
                continue
        good.append(signed)
    return good


def _check_full(
    directory: Path,
    events: list[StoredEvent],
    public: Ed25519PublicKey | None,
    found: _Findings,
) -> None:
    verifier = ChainVerifier()
    for event in events:
        for finding in verifier.feed(event):
            found.items.append(
                Finding(finding.seq, finding.kind, f"{EVENTS_FILE}: {finding.message}")
            )
    found.items.extend(verifier.finish())
    by_seq = {event.seq: event for event in events}
    checkpoints = sorted(_checkpoint_files(directory, public, found), key=lambda c: c.tree_size)
    if not checkpoints:
        found.add("checkpoint", f"{CHECKPOINT_DIR}/: no signed checkpoint in a full export")
    tree = CompactTree()
    leaves = iter(events)
    for signed in checkpoints:
        where = f"{CHECKPOINT_DIR}/{signed.seq}.json"
        logged = by_seq.get(signed.seq or 0)
        if logged is None or not isinstance(logged.event, CheckpointSigned):
            found.add("checkpoint", f"{where}: no CheckpointSigned event at seq {signed.seq}")
        elif not _same_checkpoint(logged, signed):
            found.add("checkpoint", f"{where}: differs from the event at seq {signed.seq}")
        if signed.tree_size > len(events):
            found.add(
                "truncated",
                f"{where}: signs {signed.tree_size} events but {EVENTS_FILE} has {len(events)}",
            )
            continue
        while tree.size < signed.tree_size:
            tree.append(event_leaf(next(leaves).hash))
        if tree.root() != signed.root:
            found.add(
                "checkpoint",
                f"{where}: the first {signed.tree_size} events of {EVENTS_FILE} do not have "
                "the signed Merkle root",
                signed.seq,
            )


def _same_checkpoint(event: StoredEvent, signed: SignedCheckpoint) -> bool:
    try:
        return SignedCheckpoint.from_event(event) == signed
    except ValueError:
        return False


def _check_partial(
    directory: Path,
    manifest: dict[str, Any],
    events: list[StoredEvent],
    public: Ed25519PublicKey | None,
    found: _Findings,
) -> None:
    checkpoints = {c.seq: c for c in _checkpoint_files(directory, public, found)}
    wanted = (manifest.get("checkpoint") or {}).get("seq")
    signed = checkpoints.get(wanted)
    if signed is None:
        found.add("checkpoint", f"{CHECKPOINT_DIR}/{wanted}.json: no valid signed checkpoint")
    proofs: dict[int, dict[str, Any]] = {}
    path = directory / PROOFS_FILE
    if path.is_file():
        for number, line in enumerate(path.read_text("utf-8", errors="replace").splitlines(), 1):
            try:
                proof = json.loads(line)
                proofs[int(proof["seq"])] = proof
            except (ValueError, KeyError, TypeError):
                found.add("proof", f"{PROOFS_FILE} line {number}: not a proof")
    else:
        found.add("file", f"{PROOFS_FILE}: missing")
    previous: StoredEvent | None = None
    for event in events:
        try:
            intact = event.expected_hash() == event.hash
        except (TypeError, ValueError):
            intact = False
        if not intact:
            found.add(
                "content",
                f"{EVENTS_FILE}: seq {event.seq}: stored hash does not match its content "
                "(event edited)",
                event.seq,
            )
        if previous is not None:
            if event.seq <= previous.seq:
                found.add(
                    "order", f"{EVENTS_FILE}: seq {event.seq} after {previous.seq}", event.seq
                )
            elif event.seq == previous.seq + 1 and event.prev_hash != previous.hash:
                found.add(
                    "link",
                    f"{EVENTS_FILE}: seq {event.seq}: prev_hash does not match seq {previous.seq}",
                    event.seq,
                )
        previous = event
        if signed is None:
            continue
        proof = proofs.get(event.seq)
        if proof is None:
            found.add("proof", f"{PROOFS_FILE}: no inclusion proof for seq {event.seq}", event.seq)
            continue
        try:
            path_hashes = [bytes.fromhex(h) for h in proof["audit_path"]]
            ok = (
                int(proof["leaf_index"]) == event.seq - 1
                and int(proof["tree_size"]) == signed.tree_size
                and verify_inclusion(
                    event_leaf(event.hash),
                    event.seq - 1,
                    signed.tree_size,
                    path_hashes,
                    signed.root,
                )
            )
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            found.add(
                "proof",
                f"{PROOFS_FILE}: seq {event.seq} is not proven in the tree of "
                f"{signed.tree_size} events signed at seq {signed.seq}",
                event.seq,
            )


def _check_blobs(
    directory: Path, manifest: dict[str, Any], events: list[StoredEvent], found: _Findings
) -> int:
    folder = directory / BLOB_DIR
    present = {p.name for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()
    for name in sorted(present):
        if sha256_file(folder / name) != name:
            found.add("blob_corrupt", f"{BLOB_DIR}/{name}: content does not hash to its name")
    reported: set[str] = set()
    for event in events:
        for name in referenced_blobs(event):
            if name not in present and name not in reported:
                reported.add(name)
                found.add(
                    "blob_missing",
                    f"{BLOB_DIR}/{name}: named by seq {event.seq} but not in the bundle",
                    event.seq,
                )
    return len(present)


# --------------------------------------------------------------------------- VERIFY.md


def verify_readme(manifest: dict[str, Any]) -> str:
    """The plain-words verification guide written into every bundle."""
    if manifest["kind"] == "full":
        scope = (
            f"This is a **full export**: every event of the log from seq 1 to seq "
            f"{manifest['last_seq']}, so the hash chain can be checked link by link from "
            "the start, and every checkpoint's Merkle root recomputed."
        )
    else:
        parts = []
        if manifest.get("source"):
            parts.append(f"only the events of source `{manifest['source']}`")
        if manifest.get("since"):
            parts.append(f"only events recorded at or after {manifest['since']}")
        scope = (
            f"This is a **partial export** ({'; '.join(parts)}). The other events of the "
            "log are not included. Instead, `proofs.jsonl` holds, for every exported event, "
            "an inclusion proof showing that the event is part of the log signed in the "
            "checkpoint."
        )
    cp = manifest["checkpoint"]
    return _README.format(
        generator=manifest["generator"],
        created_at=manifest["created_at"],
        scope=scope,
        events=manifest["events"],
        key_id=manifest["key_id"],
        cp_seq=cp["seq"],
        tree_size=cp["tree_size"],
        root=cp["root_hash"],
    )


_README = """\
# How to verify this bundle

Exported by {generator} at {created_at}. {scope}

It holds {events} events. The newest checkpoint (a signed statement about the log) is
`checkpoints/{cp_seq}.json`: it says the first {tree_size} events of the log have the
Merkle root `{root}`.

You need only standard tools: `sha256sum`, `openssl` (3.0 or later), `python3` (no
extra packages), and for the web archive `warcio` (`pip install warcio`). With
policy-monitor installed, `monitor verify --export DIR` does every step below.

## 1. Decide whether you trust the key

`public_key.pem` is an Ed25519 public key. Its key id is the sha256 of its 32 raw bytes:

    openssl pkey -pubin -in public_key.pem -outform DER | tail -c 32 | sha256sum

It must print `{key_id}`. Compare this id with one the publisher of the
bundle announced somewhere you trust (their website, a report, a signed message). Every
check below only proves that *the holder of this key* made these statements.

## 2. Check that no file changed after the export

`manifest.json` lists the sha256 of every other file; `manifest.sig` is the key's
signature over `manifest.json`:

    openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin \\
        -in manifest.json -sigfile manifest.sig
    python3 -c 'import json; [print(h + "  " + f) for f, h in \\
        json.load(open("manifest.json"))["files"].items()]' | sha256sum -c -

Every line must say `OK`, and no file may be present that the manifest does not list.

## 3. Check the captured content (blobs)

Each file in `blobs/` is named by the sha256 of its content: the exact bytes a server
sent (`raw_sha256` in an event) or the normalized text the monitor compared
(`text_sha256`).

    cd blobs && for f in *; do echo "$f  $f"; done | sha256sum -c -

## 4. Check the events (the hash chain)

Each line of `events.jsonl` is one event. Its `hash` is

    sha256( prev_hash as 32 raw bytes  ||  canonical JSON of
            {{seq, event_id, stream, version, type, schema, recorded_at, data}} )

where canonical JSON means: keys sorted at every level, no spaces, UTF-8 (characters
not escaped), and integers only. In a full export the first `prev_hash` is 64 zeros
and every other `prev_hash` equals the `hash` of the line before; `seq` runs 1, 2, 3 ….
An edited, deleted, inserted or reordered event breaks this.

## 5. Check the checkpoints

`checkpoints/N.json` is exactly the bytes that were signed, `checkpoints/N.sig` the raw
signature (N is the seq of the checkpoint's own event in the log):

    openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin \\
        -in checkpoints/{cp_seq}.json -sigfile checkpoints/{cp_seq}.sig

The Merkle root follows RFC 9162 (Certificate Transparency), section 2.1. The leaves
are the events in seq order; a leaf's hash is sha256(0x00 || the event's hash as 32
raw bytes); an inner node is sha256(0x01 || left || right); a list of n > 1 leaves is
split after the largest power of two smaller than n. In a full export, recompute the
root of the first `tree_size` events and compare it with `root_hash`. In a partial
export, each line of `proofs.jsonl` gives the `audit_path` of one event; fold it from
the event's leaf hash as RFC 9162 section 2.1.3.2 says and compare with `root_hash`.

This program does steps 3 to 5 with nothing but Python's standard library (run it in
the bundle directory; it prints `ok` or the first problem):

```python
import hashlib, json, os

def H(b): return hashlib.sha256(b).digest()
def leaf(event_hash): return H(b"\\x00" + bytes.fromhex(event_hash))
def node(l, r): return H(b"\\x01" + l + r)
def mth(leaves):
    if not leaves: return H(b"")
    if len(leaves) == 1: return leaves[0]
    k = 1
    while k * 2 < len(leaves): k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))
def root_from_path(h, index, size, path):
    fn, sn, r = index, size - 1, h
    for p in path:
        if sn == 0: return None
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0: fn >>= 1; sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1; sn >>= 1
    return r if sn == 0 else None

for name in os.listdir("blobs"):
    assert hashlib.sha256(open("blobs/" + name, "rb").read()).hexdigest() == name, name
events = [json.loads(line) for line in open("events.jsonl", encoding="utf-8")]
for e in events:
    body = {{k: e[k] for k in ("seq", "event_id", "stream", "version", "type", "schema",
                              "recorded_at", "data")}}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(bytes.fromhex(e["prev_hash"]) + canon.encode()).hexdigest() \\
        == e["hash"], ("event edited", e["seq"])
manifest = json.load(open("manifest.json"))
cp = json.load(open("checkpoints/%d.json" % manifest["checkpoint"]["seq"]))
if manifest["kind"] == "full":
    prev = "0" * 64
    for n, e in enumerate(events, 1):
        assert e["seq"] == n and e["prev_hash"] == prev, ("chain broken", n)
        prev = e["hash"]
    root = mth([leaf(e["hash"]) for e in events[:cp["tree_size"]]])
    assert root.hex() == cp["root_hash"], "log differs from the checkpoint"
else:
    proofs = {{p["seq"]: p for p in map(json.loads, open("proofs.jsonl"))}}
    for e in events:
        p = proofs[e["seq"]]
        path = [bytes.fromhex(x) for x in p["audit_path"]]
        r = root_from_path(leaf(e["hash"]), e["seq"] - 1, cp["tree_size"], path)
        assert r is not None and r.hex() == cp["root_hash"], ("not in the log", e["seq"])
print("ok")
```

## 6. Check the web archive

`captures.warc.gz` holds every captured HTTP response as a WARC 1.1 `response` record:
the original status line, the response headers the monitor kept, and the exact body
(the same bytes as `blobs/<sha256>`, named in `WARC-Payload-Digest: sha256:<hex>`).
Bodies were stored decoded, so `Content-Encoding` and the original `Content-Length`
appear as `X-Archive-Orig-Content-Encoding` / `X-Archive-Orig-Content-Length`. A body
identical to an earlier one is a `revisit` record (identical-payload-digest profile)
that points at the first. Each capture has a `metadata` record with the event's seq
and hash, which ties the archive to `events.jsonl`.

    warcio check -v captures.warc.gz
    warcio index -f warc-type,warc-target-uri,warc-date,warc-payload-digest captures.warc.gz

Any WARC replay tool (pywb, ReplayWeb.page) can display the pages.

## 7. Trusted time stamps and outside copies (when present)

A `CheckpointTimestamped` line in `events.jsonl` records an RFC 3161 time stamp: an
independent time-stamping authority (`tsa`) signed that checkpoint `checkpoint_seq`
existed at `gen_time`. The token is `blobs/<token_sha256>`; check it with the TSA's
published certificates:

    openssl ts -verify -data checkpoints/<checkpoint_seq>.json \\
        -in blobs/<token_sha256> -token_in -CAfile tsa-root.pem -untrusted tsa-chain.pem

A `ThirdPartyCaptured` line gives the Internet Archive's own copy of a changed page
(`archive_url`), made by its crawler, which anyone can open. A capture's
`capture.server.certificate.sha256` names the server's TLS certificate in `blobs/`:
`openssl x509 -inform DER -in blobs/<sha256> -noout -text` shows it.
"""
