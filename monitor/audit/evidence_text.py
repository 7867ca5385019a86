"""The words of an evidence directory: ``README.md`` and ``diff.html``.

Page text is untrusted: every piece of it that reaches ``diff.html`` is HTML-escaped
(the page also carries a Content-Security-Policy that forbids scripts and remote
loads), and every piece that reaches the README is shown literally, never as
Markdown (``textsafe.for_markdown``). Gathering the files is ``evidence``'s.
"""

from __future__ import annotations

import html
from typing import Any

from monitor.audit.checkpoint import SignedCheckpoint
from monitor.audit.identity import identity_lines
from monitor.diff.textdiff import TextDiff
from monitor.events import ARCHIVED_CAPTURES, Capture, ChangeDetected, StoredEvent
from monitor.text.safe import for_markdown


def archived_capture(stored: StoredEvent) -> Capture:
    """The capture of an evidence event (``ARCHIVED_CAPTURES``: checked on entry)."""
    event = stored.event
    if not isinstance(event, ARCHIVED_CAPTURES):
        raise ValueError(f"seq {stored.seq} is a {stored.type}, not a capture")
    return event.capture


def third_party_lines(stamps: list[dict[str, Any]], archived: list[str]) -> str:
    """README sections on RFC 3161 time stamps and outside copies, when there are any."""
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
    after = archived_capture(event)
    rows = [
        ("Source", event.stream),
        ("Event", f"seq {event.seq} · {event.type} · recorded {event.recorded_at}"),
        ("Event hash", event.hash),
        ("URL", after.final_url),
        ("New text first seen", after.fetched_at),
    ]
    if before is not None:
        rows.insert(
            3, ("Previous capture", f"seq {before.seq} · {archived_capture(before).fetched_at}")
        )
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
    after = archived_capture(event)
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
                f"- The old text was captured at {archived_capture(before).fetched_at or '?'} "
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
