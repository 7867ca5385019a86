"""WACZ 1.1.1 packages of captures, readable by webrecorder's tools (ReplayWeb.page, py-wacz).

A WACZ is a ZIP (every member stored, not deflated, for random access) holding:

    archive/data.warc.gz     per capture: a request record (reconstructed: GET of the
                             final URL; the exact request headers are not kept), the
                             response (status line, kept headers, the exact body,
                             WARC-IP-Address of the server that answered) or a revisit
                             of an identical body, and a metadata record naming the
                             log event (seq, hash) it came from
    indexes/index.cdx        the CDXJ index of those records (SURT, timestamp, JSON)
    pages/pages.jsonl        one page per capture
    datapackage.json         every member with its sha256 and size
    datapackage-digest.json  the sha256 of datapackage.json, signed with the log's
                             Ed25519 key (``signedData``: the signature is over the UTF-8
                             bytes of the ``hash`` string; ``publicKey`` is the DER
                             SubjectPublicKeyInfo, base64)

``monitor.audit.wacz_verify`` checks all of it without a database.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders

from monitor import __version__
from monitor.audit.checkpoint import Signer
from monitor.audit.warc import CaptureTarget, CaptureWarc
from monitor.check.netpolicy import is_ip_literal
from monitor.errors import StoreError, StoreUnavailableError
from monitor.events import ARCHIVED_CAPTURES, Capture, StoredEvent, format_time, parse_time
from monitor.store.base import EventStore

WACZ_VERSION = "1.1.1"
WARC_MEMBER = "archive/data.warc.gz"
INDEX_MEMBER = "indexes/index.cdx"
PAGES_MEMBER = "pages/pages.jsonl"
PACKAGE = "datapackage.json"
DIGEST = "datapackage-digest.json"
_NAMESPACE = uuid.UUID("2f4b8c3e-95d1-4a7b-8e0c-61d2a9f7b3c5")


@dataclass(frozen=True, kw_only=True)
class WaczReport:
    path: Path
    responses: int
    revisits: int
    pages: int
    missing_blobs: list[str]


def _stamp14(moment: str) -> str:
    return parse_time(moment).strftime("%Y%m%d%H%M%S")


def surt(url: str) -> str:
    """Sort-friendly URI Reordering Transform, as CDXJ indexes use (``com,example)/path``)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    # Addresses are not reversed; names are, label by label.
    key = host if is_ip_literal(host) else ",".join(reversed(host.split(".")))
    port = parts.port
    if port and port not in (80, 443):
        key += f":{port}"
    path = parts.path or "/"
    return f"{key}){path.lower()}" + (f"?{parts.query}" if parts.query else "")


async def write_wacz(
    store: EventStore,
    captures: list[StoredEvent],
    path: Path,
    *,
    signer: Signer,
    now: datetime,
    title: str,
) -> WaczReport:
    """Write ``captures`` (capture events, in seq order) as a signed WACZ at ``path``."""
    buffer = io.BytesIO()
    warc = CaptureWarc(
        buffer,
        namespace=_NAMESPACE,
        filename="data.warc.gz",
        description="Pages captured by policy-monitor. Request records are rebuilt "
        "from the capture (GET of the final URL): the exact request headers were not "
        "kept. Bodies are stored decoded (Content-Encoding kept as X-Archive-Orig-*).",
        created=now,
        sha256_blocks=False,
    )
    pages: list[dict[str, Any]] = []
    missing: list[str] = []
    for event in captures:
        target = warc.target(event)
        if target is None:
            continue
        warc.writer.write_record(_request(warc, target))
        body = None
        if warc.needs_body(target):
            try:
                body = await store.get_blob(target.raw)
            except StoreUnavailableError:
                raise
            except StoreError:
                missing.append(target.raw)
                continue
        warc.write(target, body, _ip_header(target.capture))
        pages.append(
            {
                "id": str(uuid.uuid5(_NAMESPACE, event.event_id)),
                "url": target.uri,
                "ts": format_time(parse_time(target.date)),
                "title": target.capture.title or f"{event.stream} (seq {event.seq})",
            }
        )
    data = buffer.getvalue()
    members = {
        WARC_MEMBER: data,
        INDEX_MEMBER: _cdxj(data),
        PAGES_MEMBER: _pages(pages),
    }
    created = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    package: dict[str, Any] = {
        "profile": "data-package",
        "resources": [
            {
                "name": Path(name).name,
                "path": name,
                "hash": "sha256:" + hashlib.sha256(content).hexdigest(),
                "bytes": len(content),
            }
            for name, content in members.items()
        ],
        "title": title,
        "created": created,
        "wacz_version": WACZ_VERSION,
        "software": f"policy-monitor {__version__}",
    }
    if len({page["url"] for page in pages}) == 1:
        package["mainPageURL"] = pages[0]["url"]
        package["mainPageDate"] = pages[-1]["ts"]
    package_bytes = (json.dumps(package, indent=2) + "\n").encode("utf-8")
    digest = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
    public = signer.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signed = {
        "path": PACKAGE,
        "hash": digest,
        "signedData": {
            "hash": digest,
            "created": created,
            "software": f"policy-monitor {__version__}",
            "signature": base64.b64encode(signer.sign_bytes(digest.encode())).decode(),
            "publicKey": base64.b64encode(public).decode(),
            "keyId": signer.key_id,
            "algorithm": "Ed25519",
        },
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as out:
        for name, content in members.items():
            out.writestr(_entry(name, now), content)
        out.writestr(_entry(PACKAGE, now), package_bytes)
        out.writestr(_entry(DIGEST, now), (json.dumps(signed, indent=2) + "\n").encode())
    return WaczReport(
        path=path,
        responses=warc.responses,
        revisits=warc.revisits,
        pages=len(pages),
        missing_blobs=missing,
    )


async def export_wacz(
    store: EventStore,
    path: Path,
    *,
    signer: Signer,
    now: datetime,
    source: str | None = None,
    since: datetime | None = None,
) -> WaczReport:
    """Every capture of the log (or of ``source``, recorded at or after ``since``) as a WACZ;
    written to a temporary name first, so a failed export leaves no partial file."""
    since_text = format_time(since) if since is not None else None
    captures = [
        event
        async for event in store.iterate(stream=source)
        if isinstance(event.event, ARCHIVED_CAPTURES)
        and (since_text is None or event.recorded_at >= since_text)
    ]
    partial = path.with_name(path.name + ".part")
    title = f"policy-monitor captures{f' of {source}' if source else ''}"
    try:
        report = await write_wacz(store, captures, partial, signer=signer, now=now, title=title)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return WaczReport(
        path=path,
        responses=report.responses,
        revisits=report.revisits,
        pages=report.pages,
        missing_blobs=report.missing_blobs,
    )


def _entry(name: str, now: datetime) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(name, date_time=now.timetuple()[:6])
    entry.compress_type = zipfile.ZIP_STORED
    return entry


def _request(warc: CaptureWarc, target: CaptureTarget) -> Any:
    """A request record rebuilt from the capture: GET of the final URL, its Host header."""
    parts = urlsplit(target.uri)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = StatusAndHeaders(
        f"GET {path} HTTP/1.1", [("Host", parts.netloc)], protocol="", is_http_request=True
    )
    return warc.writer.create_warc_record(
        target.uri,
        "request",
        payload=io.BytesIO(b""),
        length=0,
        http_headers=headers,
        warc_headers_dict={
            "WARC-Date": target.date,
            "WARC-Record-ID": warc.record_id(target.event, "request"),
            "WARC-Concurrent-To": target.record_id,
        },
    )


def _ip_header(capture: Capture) -> dict[str, str]:
    server = capture.server
    if server is not None and server.get("ip"):
        return {"WARC-IP-Address": str(server["ip"])}
    return {}


def _cdxj(warc: bytes) -> bytes:
    """One CDXJ line per response/revisit record, sorted as replay tools expect."""
    lines = []
    stream = io.BytesIO(warc)
    records = ArchiveIterator(stream)
    for record in records:
        kind = record.rec_type
        uri = record.rec_headers.get_header("WARC-Target-URI")
        date = record.rec_headers.get_header("WARC-Date")
        status = record.http_headers.get_statuscode() if record.http_headers else None
        mime = record.http_headers.get_header("Content-Type") if record.http_headers else None
        digest = record.rec_headers.get_header("WARC-Payload-Digest")
        record.content_stream().read()
        offset, length = records.get_record_offset(), records.get_record_length()
        if kind not in ("response", "revisit") or not uri:
            continue
        fields: dict[str, Any] = {
            "url": uri,
            "mime": (mime or "").split(";")[0].strip() or "unk",
            "status": str(status or ""),
            "digest": digest or "",
            "length": str(length),
            "offset": str(offset),
            "filename": "data.warc.gz",
        }
        if kind == "revisit":
            fields["mime"] = "warc/revisit"
        stamp = _stamp14(date)
        lines.append(f"{surt(uri)} {stamp} {json.dumps(fields, separators=(',', ':'))}")
    return ("\n".join(sorted(lines)) + "\n").encode("utf-8") if lines else b""


def _pages(pages: list[dict[str, Any]]) -> bytes:
    header = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}
    rows = [header, *pages]
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
