"""Content-addressed blob encoding shared by every store backend.

Pure apart from CPU work: a blob's name is the sha256 hex of its *uncompressed*
bytes, and its stored form is a zstd frame (level 3: ~2 ms per 300 KB page, never
level 19 inline). Decoding always re-hashes, so a blob that rotted on disk is
reported by name instead of being handed back as if it were the captured page.

Large blobs are compressed and verified in a worker thread so a multi-megabyte PDF
does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass

import zstandard

from monitor.errors import StoreError

CODEC_ZSTD = "zstd"
ZSTD_LEVEL = 3
# Below this size the thread hop costs more than the work it moves off the loop.
THREAD_THRESHOLD = 64 * 1024
BLOB_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class EncodedBlob:
    """A blob as it is stored: its name, original size, codec and stored bytes."""

    sha256: str
    size: int
    codec: str
    content: bytes


def is_blob_id(value: object) -> bool:
    """True for a lowercase 64-hex sha256 name."""
    return isinstance(value, str) and BLOB_ID.fullmatch(value) is not None


def blob_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_blob(data: bytes) -> EncodedBlob:
    """Name and compress ``data`` (zstd level 3, content size kept in the frame)."""
    compressed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data)
    return EncodedBlob(blob_id(data), len(data), CODEC_ZSTD, compressed)


def decode_blob(sha256: str, codec: str, size: int | None, content: bytes) -> bytes:
    """The original bytes of a stored blob, or StoreError naming it if it does not check out."""
    if codec != CODEC_ZSTD:
        raise StoreError(f"blob {sha256} uses unknown codec {codec!r}; cannot read it")
    try:
        # A tampered frame header could claim gigabytes; the stored size bounds it.
        declared = zstandard.frame_content_size(content)
        if size is not None and declared != size:
            raise StoreError(
                f"blob {sha256} is corrupted: its frame declares {declared} bytes, "
                f"the store recorded {size}"
            )
        data = zstandard.ZstdDecompressor().decompress(content)
    except zstandard.ZstdError as exc:
        raise StoreError(f"blob {sha256} is corrupted: cannot decompress it ({exc})") from exc
    actual = blob_id(data)
    if actual != sha256:
        raise StoreError(
            f"blob {sha256} is corrupted: its content hashes to {actual} (changed on disk?)"
        )
    return data


async def encode_blob_async(data: bytes) -> EncodedBlob:
    if len(data) < THREAD_THRESHOLD:
        return encode_blob(data)
    return await asyncio.to_thread(encode_blob, data)


async def decode_blob_async(sha256: str, codec: str, size: int | None, content: bytes) -> bytes:
    if len(content) < THREAD_THRESHOLD:
        return decode_blob(sha256, codec, size, content)
    return await asyncio.to_thread(decode_blob, sha256, codec, size, content)
