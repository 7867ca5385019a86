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
carries a Content-Security-Policy that forbids scripts and remote loads.
"""

from __future__ import annotations

import base64
import hashlib
import html
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
from monitor.audit.identity import certificate_blob, identity_lines
from monitor.audit.merkle import MerkleTree, event_leaf
from monitor.audit.stamper import TIMESTAMP_STREAM
from monitor.audit.wacz import write_wacz
from monitor.audit.wayback import ARCHIVE_STREAM
from monitor.diff.textdiff import TextDiff, apply_patch, diff_texts
from monitor.events import (
    ARCHIVED_CAPTURES,
    GOOD_CAPTURES,
    Capture,
    ChangeDetected,
    CheckpointTimestamped,
    StoredEvent,
    ThirdPartyCaptured,
    names,
)
from monitor.store.base import EventStore
from monitor.text.safe import for_markdown

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


def _capture(stored: StoredEvent) -> Capture:
    """The capture of an evidence event (``ARCHIVED_CAPTURES``: checked on entry)."""
    event = stored.event
    if not isinstance(event, ARCHIVED_CAPTURES):
        raise ValueError(f"seq {stored.seq} is a {stored.type}, not a capture")
    return event.capture


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
    after_capture = _capture(event)  # raises unless ``event`` is a capture
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
        capture = _capture(before)
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
        server = _capture(capture_event).server if capture_event else None
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
        + _third_party_lines([data for data, _ in stamps], archived)
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


def _third_party_lines(stamps: list[dict[str, Any]], archived: list[str]) -> str:
    lines: list[str] = []
    if stamps:
        lines += [
            "## Trusted time stamps",
            "",
            "Independent time-stamping authorities (RFC 3161) signed that the checkpoint",
            "above existed — and with it every event it covers, these captures included:",
            "",
        ]
        for index, data in enumerate(stamps, start=1):
            lines.append(
                f"- `timestamps/{index}.tsr`: {for_markdown(str(data['tsa']))}, "
                f"{for_markdown(str(data['gen_time']))}"
            )
        lines += [
            "",
            "Check each with the TSA's published certificates (OpenSSL):",
            "",
            "    openssl ts -verify -data checkpoint.json -in timestamps/1.tsr -token_in \\",
            "        -CAfile tsa-root.pem -untrusted tsa-chain.pem",
            "",
        ]
    if archived:
        lines += [
            "## Copies made by others",
            "",
            "The Internet Archive's Save Page Now captured the page after this change;",
            "its copy was made by its own crawler and is open to anyone:",
            "",
            *[f"- {for_markdown(url)}" for url in archived],
            "",
        ]
    return "\n" + "\n".join(lines) if lines else ""


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
    sha256 = _capture(event).screenshot_sha256
    if not sha256:
        return None
    return sha256, await store.get_blob(sha256)  # the store checks the bytes against the name


def _pretty(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _capture_files(side: str, event: StoredEvent, raw: bytes, text: str) -> dict[str, bytes]:
    capture = _capture(event)
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


# --------------------------------------------------------------------------- HTML


_CSS = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #1a1a1a; }
table.meta td { padding: 0.1rem 0.8rem 0.1rem 0; vertical-align: top; }
.change { border-left: 4px solid #888; padding: 0.3rem 0.8rem; margin: 0.8rem 0;
          white-space: pre-wrap; overflow-wrap: anywhere; }
.added { border-color: #1a7f37; } .removed { border-color: #cf222e; }
.changed { border-color: #9a6700; } .moved { border-color: #0969da; }
.path { color: #555; font-size: 0.85em; }
del { background: #ffd7d5; text-decoration: line-through; }
ins { background: #ccffd8; text-decoration: none; }
code { font-size: 0.9em; overflow-wrap: anywhere; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _change_html(diff: TextDiff) -> str:
    parts = []
    for change in diff.changes:
        path = " › ".join(change.path)
        head = f'<div class="path">{_e(change.op)}{" — " + _e(path) if path else ""}</div>'
        if change.inline:
            body = "".join(
                f"<del>{_e(text)}</del>"
                if op < 0
                else f"<ins>{_e(text)}</ins>"
                if op > 0
                else _e(text)
                for op, text in change.inline
            )
        else:
            body = ""
            if change.old is not None:
                body += f"<del>{_e(change.old)}</del>"
            if change.new is not None:
                body += ("\n" if body else "") + f"<ins>{_e(change.new)}</ins>"
        parts.append(f'<div class="change {_e(change.op)}">{head}{body}</div>')
    return "\n".join(parts) or "<p>The normalized texts are identical.</p>"


def diff_html(event: StoredEvent, before: StoredEvent | None, diff: TextDiff | None) -> str:
    """A standalone page showing the change; every page-derived string is escaped."""
    after = _capture(event)
    rows = [
        ("Source", event.stream),
        ("Event", f"seq {event.seq} · {event.type} · recorded {event.recorded_at}"),
        ("Event hash", event.hash),
        ("URL", after.final_url),
        ("New text first seen", after.fetched_at),
    ]
    if before is not None:
        rows.insert(3, ("Previous capture", f"seq {before.seq} · {_capture(before).fetched_at}"))
    if isinstance(change := event.event, ChangeDetected):
        rows.append(("Old text last seen", change.previous_seen_until))
        rows.append(("Classification", change.classification))
        rows.append(("Severity", change.severity))
        rules = ", ".join(str(r.get("rule_id", "")) for r in change.rules)
        if rules:
            rows.append(("Rules", rules))
    meta = "\n".join(f"<tr><td>{_e(k)}</td><td><code>{_e(v)}</code></td></tr>" for k, v in rows)
    if diff is None:
        body = "<p>There is no earlier good capture of this source to compare with.</p>"
        summary = "first capture"
    else:
        body = _change_html(diff)
        summary = diff.summary
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="referrer" content="no-referrer">
<title>Change in {_e(event.stream)} at seq {event.seq}</title>
<style>{_CSS}</style></head>
<body>
<h1>Change in {_e(event.stream)}</h1>
<table class="meta">
{meta}
</table>
<h2>{_e(summary)}</h2>
<p>Removed words are <del>struck through</del>; added words are <ins>highlighted</ins>.</p>
{body}
</body></html>
"""


# --------------------------------------------------------------------------- README


def readme(
    event: StoredEvent,
    before: StoredEvent | None,
    checkpoint: SignedCheckpoint,
    reproduces: bool | None,
    *,
    screenshots: dict[str, str] | None = None,
    servers: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The bundle's README; ``screenshots`` maps ``before.png``/``after.png`` to sha256."""
    after = _capture(event)
    lines = [
        f"# Evidence: {event.type} in `{event.stream}` (seq {event.seq})",
        "",
        f"Page: {for_markdown(after.final_url)}",
        "",
    ]
    if isinstance(change := event.event, ChangeDetected):
        lines += [
            "## When",
            "",
            (
                f"- The old text was captured at {_capture(before).fetched_at or '?'} "
                f"(seq {before.seq}) and "
                if before is not None
                else "- The old text was "
            )
            + f"last seen at **{change.previous_seen_until}**.",
            f"- The new text was first seen at **{after.fetched_at or '?'}** "
            f"(recorded in the log at {event.recorded_at}).",
            "- So the page changed between those two times.",
            "",
            # Page text, shown literally: a heading can hold <img onerror=…> or U+202E.
            f"Classification: {for_markdown(change.classification)}; "
            f"severity: {for_markdown(change.severity)}. Summary: "
            f"{for_markdown(str(change.diff.get('summary', '')))}",
            "",
        ]
    if reproduces is not None:
        verdict = "does" if reproduces else "does NOT"
        lines += [
            f"The patch recorded in the event (`diff.patch`) {verdict} turn `before/text.txt` "
            "into `after/text.txt` exactly.",
            "",
        ]
    cp = checkpoint.checkpoint
    lines += [
        "## Files",
        "",
        "- `after/` and `before/`: `raw.*` is the exact response body as the server sent",
        "  it (decoded from gzip/brotli), `text.txt` the normalized text the monitor",
        "  compared, `fetch.json` the request and response facts (requested and final URL,",
        "  redirects, HTTP status, kept headers, fetch time) and the content hashes,",
        "  `event.json` the log entry of that capture.",
        *_screenshot_lines(screenshots or {}),
        *_server_lines(servers or {}),
        "- `capture.wacz`: both captures as a WACZ web archive: open it in ReplayWeb.page",
        "  (https://replayweb.page) to see the pages as served; its `datapackage-digest.json`",
        "  is signed with the key of `public_key.pem` (`monitor verify --wacz capture.wacz`).",
        "- `diff.html`: the change, readable in any browser (no scripts, nothing loaded).",
        "  Do not open `raw.html` in a browser unless you mean to: it is the live page's",
        "  markup and may run scripts or fetch resources; read it as text instead.",
        "- `proof.json`, `checkpoint.json`, `checkpoint.sig`, `public_key.pem`: proof that",
        "  these events are part of the signed, append-only log.",
        "- `SHA256SUMS`: the sha256 of every other file.",
        "",
        "## How to verify",
        "",
        "1. Files intact: `sha256sum -c SHA256SUMS` (every line must say OK).",
        "2. Contents match the log: `raw_sha256` / `text_sha256` in `fetch.json` are the",
        "   sha256 of `raw.*` / `text.txt` (`sha256sum after/raw.* after/text.txt`);",
        "   `screenshot_sha256`, when present, is the sha256 of `before.png` / `after.png`.",
        "3. The event's hash: sha256 of its `prev_hash` (32 raw bytes) followed by the",
        "   canonical JSON (sorted keys, no spaces, UTF-8) of its seq, event_id, stream,",
        "   version, type, schema, recorded_at and data; it must equal `hash`.",
        "4. The checkpoint is signed by the key (OpenSSL 3.0 or later):",
        "",
        "       openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin \\",
        "           -in checkpoint.json -sigfile checkpoint.sig",
        "",
        f"   The key id is `{cp.key_id}`:",
        "   `openssl pkey -pubin -in public_key.pem -outform DER | tail -c 32 | sha256sum`",
        "   must print it; compare it with the id the publisher announced.",
        "5. Inclusion: for each entry of `proof.json`, the leaf hash is",
        "   sha256(0x00 || event hash as 32 raw bytes); folding its `audit_path` as",
        "   RFC 9162 section 2.1.3.2 describes (inner node = sha256(0x01 || left || right))",
        f"   must give the signed root `{cp.root_hash}` of the first {cp.tree_size} events.",
        "",
        f"Checkpoint: seq {checkpoint.seq}, signed {cp.timestamp}.",
        "",
    ]
    return "\n" + "\n".join(lines) if lines else ""


def _server_lines(servers: dict[str, dict[str, Any]]) -> list[str]:
    """Who answered each capture: address, TLS version and certificate (when recorded)."""
    if not servers:
        return []
    lines = [
        "- The server that answered each capture (its address, the TLS version, and its",
        "  certificate as `server-certificate.der`, whose sha256 is the fingerprint below;",
        "  `openssl x509 -inform DER -in after/server-certificate.der -noout -text` shows",
        "  it, and `sha256sum` of the file gives the fingerprint):",
    ]
    for side in ("before", "after"):
        if side in servers:
            lines.append(f"  - {side}:")
            # Subject and issuer come from the server: shown literally, never as Markdown.
            lines += [f"    - {for_markdown(line)}" for line in identity_lines(servers[side])]
    return lines


def _screenshot_lines(screenshots: dict[str, str]) -> list[str]:
    if not screenshots:
        return []
    lines = [
        "- `before.png`, `after.png`: full-page screenshots the browser took in the same",
        "  load as the text; each capture's `fetch.json` names its own as",
        "  `screenshot_sha256`:",
    ]
    for name in sorted(screenshots, reverse=True):  # before.png, then after.png
        lines.append(f"  - `{name}`: sha256 `{screenshots[name]}`")
    return lines
