"""WARC 1.1 records of captures: the one writer behind the export bundle and the WACZ.

Per capture event, ``CaptureWarc.write`` adds a ``response`` record (the original
status line, the kept headers, the exact body) or, when the same body was already
written to this file, a ``revisit`` of the identical-payload-digest profile that
points at the first; then a ``metadata`` record naming the log event (seq, hash) it
came from. Record ids are UUIDv5 of the event id and the record's role, so the same
log always gives the same records.

Rules:

* bodies are stored decoded, so ``Content-Encoding``, ``Content-Length`` and
  ``Transfer-Encoding`` keep their values as ``X-Archive-Orig-*`` (what pywb and
  other replay tools recognise) and ``Content-Length`` is that of the stored body;
* ``sha256_blocks``: the bundle writes sha256 ``WARC-Block-Digest`` headers of its
  own (checkable with ``sha256sum``-era tools); the WACZ leaves them to warcio;
* a capture without a raw body blob or without a URL has no records.
"""

from __future__ import annotations

import hashlib
import http
import io
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from monitor import __version__
from monitor.events import Capture, StoredEvent, capture_of, format_time
from monitor.store.blobs import is_blob_id

# The stored body is decoded; these headers described the encoded transfer, so the WARC
# keeps their values under the prefix pywb and other replay tools recognise.
RENAMED_HEADERS = ("content-encoding", "content-length", "transfer-encoding")
ORIGINAL_PREFIX = "X-Archive-Orig-"


def http_headers(capture: Capture, body_length: int) -> StatusAndHeaders:
    """The response's status line and kept headers, with the stored body's length."""
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
    status_line = f"{status} {reason}".strip()
    parsed = StatusAndHeaders(status_line, headers, protocol="HTTP/1.1")
    parsed.compute_headers_buffer()  # the block digests below hash these bytes
    return parsed


def capture_metadata(event: StoredEvent, capture: Capture) -> bytes:
    """The ``application/warc-fields`` body that ties a capture's records to the log."""
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


@dataclass(frozen=True, kw_only=True)
class CaptureTarget:
    """One capture event that has records: its body's sha256, URL, date and record id."""

    event: StoredEvent
    capture: Capture
    raw: str
    uri: str
    date: str
    record_id: str  # of the response or revisit record


class CaptureWarc:
    """Writes a warcinfo record, then the records of each capture given to ``write``."""

    def __init__(
        self,
        out: IO[bytes],
        *,
        namespace: uuid.UUID,
        filename: str,
        description: str,
        created: datetime,
        sha256_blocks: bool,
    ) -> None:
        self.writer = WARCWriter(out, gzip=True, warc_version="1.1")
        self.namespace = namespace
        self.sha256_blocks = sha256_blocks
        self.responses = self.revisits = 0
        self._first_seen: dict[str, tuple[str, str, str]] = {}  # sha256 -> uri, date, id
        info = self.writer.create_warcinfo_record(
            filename,
            {
                "software": f"policy-monitor {__version__}",
                "format": "WARC File Format 1.1",
                "description": description,
            },
        )
        info.rec_headers.replace_header("WARC-Date", format_time(created))
        self.writer.write_record(info)

    def record_id(self, event: StoredEvent, role: str) -> str:
        return f"<urn:uuid:{uuid.uuid5(self.namespace, f'{event.event_id}/{role}')}>"

    def target(self, event: StoredEvent) -> CaptureTarget | None:
        """What ``event``'s records would say, or None when it has none."""
        capture = capture_of(event.event)
        if capture is None:
            return None
        uri = capture.final_url or capture.requested_url
        if not is_blob_id(capture.raw_sha256) or not uri:
            return None
        return CaptureTarget(
            event=event,
            capture=capture,
            raw=capture.raw_sha256,
            uri=uri,
            date=capture.fetched_at or event.recorded_at,
            record_id=self.record_id(event, "response"),
        )

    def needs_body(self, target: CaptureTarget) -> bool:
        """False when the body is in this file already (a revisit refers to it)."""
        return target.raw not in self._first_seen

    def write(
        self, target: CaptureTarget, body: bytes | None, extra: Mapping[str, str] | None = None
    ) -> None:
        """The response (``body``) or revisit record of ``target``, then its metadata record."""
        earlier = self._first_seen.get(target.raw)
        if earlier is not None:
            self.writer.write_record(self._revisit(target, earlier, extra or {}))
            self.revisits += 1
        else:
            assert body is not None, "needs_body said the body is needed"
            self.writer.write_record(self._response(target, body, extra or {}))
            self._first_seen[target.raw] = (target.uri, target.date, target.record_id)
            self.responses += 1
        meta = capture_metadata(target.event, target.capture)
        headers = {
            "WARC-Date": target.date,
            "WARC-Record-ID": self.record_id(target.event, "metadata"),
            "WARC-Concurrent-To": target.record_id,
        }
        if self.sha256_blocks:
            headers["WARC-Block-Digest"] = "sha256:" + hashlib.sha256(meta).hexdigest()
        self.writer.write_record(
            self.writer.create_warc_record(
                target.uri,
                "metadata",
                payload=io.BytesIO(meta),
                length=len(meta),
                warc_content_type="application/warc-fields",
                warc_headers_dict=headers,
            )
        )

    def _revisit(
        self, target: CaptureTarget, earlier: tuple[str, str, str], extra: Mapping[str, str]
    ) -> Any:
        refers_uri, refers_date, refers_id = earlier
        parsed = http_headers(target.capture, target.capture.size)
        headers = {
            "WARC-Date": target.date,
            "WARC-Record-ID": target.record_id,
            "WARC-Refers-To": refers_id,
        }
        if self.sha256_blocks:
            headers["WARC-Block-Digest"] = "sha256:" + _sha256(parsed.headers_buff)
        return self.writer.create_revisit_record(
            target.uri,
            f"sha256:{target.raw}",
            refers_uri,
            refers_date,
            http_headers=parsed,
            warc_headers_dict={**headers, **extra},
        )

    def _response(self, target: CaptureTarget, body: bytes, extra: Mapping[str, str]) -> Any:
        parsed = http_headers(target.capture, len(body))
        headers = {
            "WARC-Date": target.date,
            "WARC-Record-ID": target.record_id,
            "WARC-Payload-Digest": f"sha256:{target.raw}",
        }
        if self.sha256_blocks:
            headers["WARC-Block-Digest"] = "sha256:" + _sha256(parsed.headers_buff + body)
        return self.writer.create_warc_record(
            target.uri,
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=parsed,
            warc_headers_dict={**headers, **extra},
        )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
