"""``monitor verify --export DIR``: check an export bundle with nothing but its own files.

Every problem is a ``Finding`` that names a file or a seq. The manifest must be a
bundle manifest signed by the bundle's key, and list exactly the files present with
their sha256; a full export's events must chain from the genesis hash and reproduce
every checkpoint's Merkle root; a partial export's events must each carry an
inclusion proof against its signed checkpoint; blobs must hash to their names and be
present for every event that names them; time stamps must stamp their checkpoint.
The bundle's layout is ``monitor.audit.export``'s.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from monitor.audit.checkpoint import (
    SignedCheckpoint,
    key_id,
    load_public_key_pem,
    signature_problem,
)
from monitor.audit.export import (
    BLOB_DIR,
    BUNDLE_FORMAT,
    CHECKPOINT_DIR,
    EVENTS_FILE,
    MANIFEST_FILE,
    MANIFEST_SIG_FILE,
    PROOFS_FILE,
    PUBLIC_KEY_FILE,
    bundle_files,
    referenced_blobs,
    sha256_file,
)
from monitor.audit.findings import Finding, VerifyReport
from monitor.audit.merkle import CompactTree, event_leaf, verify_inclusion
from monitor.audit.verify import ChainVerifier
from monitor.errors import SigningKeyError
from monitor.events import GENESIS_HASH, CheckpointSigned, CheckpointTimestamped, StoredEvent


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
