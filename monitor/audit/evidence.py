"""Everything about one change in one directory: captures, texts, diff, hashes, proof.

``write_evidence`` takes a capture event (normally a ``ChangeDetected``) and writes::

    README.md               what changed, when (bracketed), and how to check every file
    event.json              the event exactly as stored
    before/ after/          raw.<ext> (the exact body), text.txt (the normalized text),
                            fetch.json (URLs, redirects, status, headers, times, hashes),
                            event.json (the capture's event), server-certificate.der
                            (the leaf certificate of the server that answered, if TLS)
    capture.wacz            both captures as a WACZ web archive, signed with the key
    before.png after.png    the full-page screenshots, when the captures name one
                            (``screenshot_sha256``; sources with ``screenshot = true``)
    diff.html               a standalone, escaped HTML view of the change
    diff.patch              the patch recorded in the event (turns before into after)
    proof.json              RFC 9162 inclusion proofs of both events against ...
    checkpoint.json/.sig    ... the signed checkpoint (exact signed bytes, raw signature)
    public_key.pem          the checkpoint key
    SHA256SUMS              ``sha256sum -c SHA256SUMS`` checks every other file

"before" is the last good capture of the same source before the event. Page text
is untrusted: every piece of it that reaches diff.html is HTML-escaped, and the page
carries a Content-Security-Policy that forbids scripts and remote loads (the words of
README.md and diff.html are ``evidence_text``'s).
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.audit.checkpoint import (
    Journal,
    SignedCheckpoint,
    Signer,
    ensure_checkpoint,
    merkle_tree,
    public_key_pem,
)
from monitor.audit.evidence_text import archived_capture, diff_html, readme, third_party_lines
from monitor.audit.identity import certificate_blob
from monitor.audit.merkle import MerkleTree, event_leaf
from monitor.audit.stamper import TIMESTAMP_STREAM
from monitor.audit.wacz import write_wacz
from monitor.audit.wayback import ARCHIVE_STREAM
from monitor.diff.textdiff import apply_patch, diff_texts
from monitor.events import (
    GOOD_CAPTURES,
    Capture,
    ChangeDetected,
    CheckpointTimestamped,
    StoredEvent,
    ThirdPartyCaptured,
    names,
)
from monitor.store.base import EventStore

WACZ_FILE = "capture.wacz"
_EXTENSIONS = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/json": "json",
    "text/csv": "csv",
    "text/plain": "txt",
    "text/markdown": "md",
    "application/xml": "xml",
    "text/xml": "xml",
}


@dataclass(frozen=True, kw_only=True)
class EvidenceReport:
    directory: Path
    event: StoredEvent
    before: StoredEvent | None
    checkpoint: SignedCheckpoint
    files: list[str]
    patch_reproduces: bool | None  # the stored patch turns before into after exactly
    stamps: int = 0  # RFC 3161 tokens of the checkpoint included


def raw_extension(capture: Capture) -> str:
    media = capture.media_type or capture.headers.get("content-type", "")
    return _EXTENSIONS.get(media.split(";")[0].strip().lower(), "bin")


async def previous_capture(store: EventStore, event: StoredEvent) -> StoredEvent | None:
    """The last good capture of the event's source recorded before it."""
    found = None
    for candidate in await store.read(
        stream=event.stream, types=names(GOOD_CAPTURES), until=event.seq - 1
    ):
        found = candidate
    return found


async def write_evidence(
    store: EventStore,
    event: StoredEvent,
    directory: Path,
    *,
    signer: Signer,
    journal: Journal,
    now: datetime,
) -> EvidenceReport:
    """Write the evidence directory for capture ``event`` (signing a checkpoint if needed)."""
    after_capture = archived_capture(event)  # raises unless ``event`` is a capture
    before = await previous_capture(store, event)
    checkpoint = await ensure_checkpoint(
        store, signer, covering=event.seq, now=now, journal=journal
    )
    tree = await merkle_tree(store, checkpoint.tree_size)
    after_raw = await store.get_blob(after_capture.raw_sha256)
    after_text = (await store.get_blob(after_capture.text_sha256)).decode("utf-8")
    before_text: str | None = None
    files: dict[str, bytes] = {"event.json": _pretty(event.to_json())}
    files.update(_capture_files("after", event, after_raw, after_text))
    if before is not None:
        capture = archived_capture(before)
        before_raw = await store.get_blob(capture.raw_sha256)
        before_text = (await store.get_blob(capture.text_sha256)).decode("utf-8")
        files.update(_capture_files("before", before, before_raw, before_text))
    screenshots: dict[str, str] = {}  # file name -> sha256, as the capture names it
    servers: dict[str, dict[str, Any]] = {}  # side -> capture["server"], when recorded
    for side, capture_event in (("before", before), ("after", event)):
        picture = await _screenshot(store, capture_event)
        if picture is not None:
            files[f"{side}.png"] = picture[1]
            screenshots[f"{side}.png"] = picture[0]
        server = archived_capture(capture_event).server if capture_event else None
        if server is not None:
            servers[side] = server
            certificate = certificate_blob(server)
            if certificate is not None:
                files[f"{side}/server-certificate.der"] = await store.get_blob(certificate)

    diff = diff_texts(before_text, after_text) if before_text is not None else None
    change = event.event
    recorded_patch = change.diff.get("patch") if isinstance(change, ChangeDetected) else None
    reproduces: bool | None = None
    if isinstance(recorded_patch, str) and before_text is not None:
        try:
            reproduces = apply_patch(before_text, recorded_patch) == after_text
        except ValueError:
            reproduces = False
        files["diff.patch"] = recorded_patch.encode("utf-8")
    files["diff.html"] = diff_html(event, before, diff).encode("utf-8")
    proven = [e for e in (before, event) if e is not None]
    files["proof.json"] = _pretty(_proofs(tree, checkpoint, proven))
    files["checkpoint.json"] = checkpoint.checkpoint.signed_bytes()
    files["checkpoint.sig"] = checkpoint.signature
    files["public_key.pem"] = public_key_pem(signer.public_key)
    files[WACZ_FILE] = await _wacz(store, proven, signer, now)
    stamps = await _stamps(store, checkpoint)
    for index, (_, token) in enumerate(stamps, start=1):
        files[f"timestamps/{index}.tsr"] = token
    archived = await _archived(store, event.seq)
    files["README.md"] = (
        readme(event, before, checkpoint, reproduces, screenshots=screenshots, servers=servers)
        + third_party_lines([data for data, _ in stamps], archived)
    ).encode("utf-8")
    _write_all(directory, files)
    return EvidenceReport(
        directory=directory,
        event=event,
        before=before,
        checkpoint=checkpoint,
        files=sorted([*files, "SHA256SUMS"]),
        patch_reproduces=reproduces,
        stamps=len(stamps),
    )


async def _stamps(
    store: EventStore, checkpoint: SignedCheckpoint
) -> list[tuple[dict[str, Any], bytes]]:
    """The RFC 3161 tokens recorded for ``checkpoint``: (event data, DER token)."""
    found = []
    for ev in await store.read(stream=TIMESTAMP_STREAM, types=(CheckpointTimestamped.type,)):
        stamp = ev.event
        if isinstance(stamp, CheckpointTimestamped) and stamp.checkpoint_seq == checkpoint.seq:
            found.append((dict(ev.data), await store.get_blob(stamp.token_sha256)))
    return found


async def _archived(store: EventStore, seq: int) -> list[str]:
    """Archive URLs of outside copies (Save Page Now) made after the change at ``seq``."""
    events = await store.read(stream=ARCHIVE_STREAM, types=(ThirdPartyCaptured.type,))
    copies = [ev.event for ev in events]
    return [c.archive_url for c in copies if isinstance(c, ThirdPartyCaptured) and c.for_seq == seq]


async def _wacz(
    store: EventStore, captures: list[StoredEvent], signer: Signer, now: datetime
) -> bytes:
    """Both captures as a signed WACZ, for web-archive viewers (ReplayWeb.page)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / WACZ_FILE
        title = f"{captures[-1].stream}: captures of seq {', '.join(str(c.seq) for c in captures)}"
        await write_wacz(store, captures, path, signer=signer, now=now, title=title)
        return path.read_bytes()


def _write_all(directory: Path, files: dict[str, bytes]) -> None:
    sums = []
    for name in sorted(files):
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])
        sums.append(f"{hashlib.sha256(files[name]).hexdigest()}  {name}\n")
    (directory / "SHA256SUMS").write_text("".join(sums), encoding="utf-8", newline="\n")


async def _screenshot(store: EventStore, event: StoredEvent | None) -> tuple[str, bytes] | None:
    """(sha256, PNG bytes) of the screenshot the event's capture names, if it names one."""
    if event is None:
        return None
    sha256 = archived_capture(event).screenshot_sha256
    if not sha256:
        return None
    return sha256, await store.get_blob(sha256)  # the store checks the bytes against the name


def _pretty(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _capture_files(side: str, event: StoredEvent, raw: bytes, text: str) -> dict[str, bytes]:
    capture = archived_capture(event)
    fetch = {
        "source": event.stream,
        "event_seq": event.seq,
        "event_type": event.type,
        "event_hash": event.hash,
        "recorded_at": event.recorded_at,
        **capture.data,
    }
    return {
        f"{side}/raw.{raw_extension(capture)}": raw,
        f"{side}/text.txt": text.encode("utf-8"),
        f"{side}/fetch.json": _pretty(fetch),
        f"{side}/event.json": _pretty(event.to_json()),
    }


def _proofs(
    tree: MerkleTree, checkpoint: SignedCheckpoint, events: list[StoredEvent]
) -> dict[str, Any]:
    proofs = []
    for event in events:
        leaf = event_leaf(event.hash)
        if tree.leaf(event.seq - 1) != leaf:
            raise ValueError(f"seq {event.seq} is not the event the log's tree holds")
        proofs.append(
            {
                "seq": event.seq,
                "event_hash": event.hash,
                "leaf_hash": leaf.hex(),
                "leaf_index": event.seq - 1,
                "tree_size": checkpoint.tree_size,
                "audit_path": [h.hex() for h in tree.inclusion_proof(event.seq - 1)],
            }
        )
    return {
        "checkpoint": {
            **checkpoint.checkpoint.fields(),
            "seq": checkpoint.seq,
            "signature": base64.b64encode(checkpoint.signature).decode("ascii"),
        },
        "proofs": proofs,
    }
