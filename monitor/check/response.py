"""Reading an HTTP answer: the body under a size cap, the headers kept, who answered.

The body is read in chunks and cut at the cap *after* decompression, so a gzip or
brotli bomb costs at most ``max_bytes`` of memory.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from monitor.audit.identity import ServerIdentity
from monitor.errors import FetchError

CHUNK = 64 * 1024
# The response headers a capture records (each cut at 1,000 characters).
KEPT_HEADERS = (
    "content-type",
    "content-length",
    "content-encoding",
    "content-language",
    "etag",
    "last-modified",
    "date",
    "server",
    "cache-control",
    "age",
    "retry-after",
    "x-robots-tag",
)


async def read_capped(response: aiohttp.ClientResponse, max_bytes: int, url: str) -> bytes:
    """The whole body of ``response``, or ``FetchError(too_large)`` past ``max_bytes``."""
    declared = response.content_length
    if declared is not None and declared > max_bytes and "content-encoding" not in response.headers:
        raise FetchError("too_large", f"{url} declares {declared} bytes; the cap is {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(
                "too_large",
                f"body from {url} exceeds the cap of {max_bytes} bytes (after decompression)",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def kept_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(headers[name])[:1000] for name in KEPT_HEADERS if name in headers}


def server_of(response: aiohttp.ClientResponse) -> ServerIdentity | None:
    """The peer of the connection ``response`` came over."""
    # A body that arrived with the headers releases the connection at once; its
    # protocol (kept by the response) still holds the transport.
    connection = response.connection
    protocol = (
        connection.protocol if connection is not None else getattr(response, "_protocol", None)
    )
    return ServerIdentity.of(getattr(protocol, "transport", None))


def retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
