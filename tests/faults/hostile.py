"""Misbehaving web servers on 127.0.0.1 for the fault suite.

``HostileServer`` is a raw asyncio socket server in its own thread (so a monitor
that blocks its event loop cannot hide what the server does, and the other way
round). Each path maps to a ``RawHandler`` that writes whatever bytes it likes —
half a response, a byte a second, a reset — with none of an HTTP framework's
safety nets in the way. The handlers below are the hostile behaviours the suite
uses; tests compose them per case.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import brotli
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter
# (path, reader, writer): the request head has been read; write anything.
RawHandler = Callable[[str, Reader, Writer], Awaitable[None]]

MIB = 1024 * 1024


class HostileServer:
    """A raw HTTP/1.1 server on 127.0.0.1 (optionally TLS) serving one handler per path."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, RawHandler] = {}
        self.hits: Counter[str] = Counter()
        self.first_hit: dict[str, float] = {}
        self.port = 0
        self._tls = tls
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def url(self, path: str) -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def route(self, path: str, handler: RawHandler) -> str:
        self.routes[path] = handler
        return self.url(path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode("latin-1")
            self.hits[path] += 1
            self.first_hit.setdefault(path, time.monotonic())
            handler = self.routes.get(path) or self._prefixed(path)
            await handler(path, reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError, ssl.SSLError):
            pass  # the client gave up or the test ended: exactly what a hostile server sees
        finally:
            self._tasks.discard(task)
            if not writer.is_closing():
                writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _prefixed(self, path: str) -> RawHandler:
        """The handler of the longest ``/prefix/*`` route that matches, else a 404."""
        for route in sorted(self.routes, key=len, reverse=True):
            if route.endswith("*") and path.startswith(route[:-1]):
                return self.routes[route]
        return respond(404, b"not found")

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def start(self) -> HostileServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def head(status: int = 200, headers: dict[str, str] | None = None, reason: str = "OK") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond(
    status: int = 200,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    reason: str = "OK",
) -> RawHandler:
    """A complete, well-framed response (whatever its headers claim about the body)."""
    all_headers = {"Content-Length": str(len(body)), "Connection": "close", **(headers or {})}

    async def handler(path: str, reader: Reader, writer: Writer) -> None:
        writer.write(head(status, all_headers, reason) + body)
        await writer.drain()

    return handler


def html(body: bytes | str, content_type: str | None = "text/html; charset=utf-8") -> RawHandler:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return respond(200, data, {"Content-Type": content_type} if content_type else {})


def redirect(location: str, status: int = 302) -> RawHandler:
    return respond(status, b"", {"Location": location}, reason="Found")


def trickle(total: int, every: float) -> RawHandler:
    """Slowloris: declares ``total`` bytes, then sends one byte every ``every`` seconds."""

    async def handler(path: str, reader: Reader, writer: Writer) -> None:
        writer.write(head(200, {"Content-Type": "text/html", "Content-Length": str(total)}))
        await writer.drain()
        for _ in range(total):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(every)

    return handler


def endless(piece: bytes = b"<p>more and more text</p>\n" * 2000) -> RawHandler:
    """A chunked body that never ends, sent as fast as the client reads it."""
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"

    async def handler(path: str, reader: Reader, writer: Writer) -> None:
        writer.write(head(200, {"Content-Type": "text/html", "Transfer-Encoding": "chunked"}))
        while True:
            writer.write(chunk)
            await writer.drain()

    return handler


def cut_mid_body(declared: int, sent: bytes, *, rst: bool) -> RawHandler:
    """Headers promise ``declared`` bytes; ``sent`` go out, then a close (FIN) or a reset (RST)."""

    async def handler(path: str, reader: Reader, writer: Writer) -> None:
        writer.write(head(200, {"Content-Type": "text/html", "Content-Length": str(declared)}))
        writer.write(sent)
        await writer.drain()
        await asyncio.sleep(0.05)  # let the client start reading the body
        if rst:
            sock = writer.get_extra_info("socket")
            # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            writer.close()

    return handler


def gzip_bomb(mib: int) -> bytes:
    """A valid gzip member that inflates to ``mib`` MiB of zeros (~1 KB per MiB)."""
    zeros = bytes(MIB)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    # A full flush resets the compressor, so every MiB compresses to the same bytes.
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    trailer = struct.pack("<II", crc, (mib * MIB) & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + block * mib + b"\x03\x00" + trailer


def brotli_bomb(mib: int) -> bytes:
    """A brotli stream that decompresses to ``mib`` MiB of zeros (~200 bytes per MiB)."""
    compressor = brotli.Compressor(quality=1)
    zeros = bytes(MIB)
    parts: list[bytes] = [compressor.process(zeros) for _ in range(mib)]
    tail: bytes = compressor.finish()
    return b"".join(parts) + tail


def status_storm(status: int, headers: dict[str, str] | None = None) -> RawHandler:
    return respond(status, b"busy", {"Content-Type": "text/plain", **(headers or {})}, "Busy")


class StubResolver(AbstractResolver):
    """Answers from a table; every other name is NXDOMAIN. No query leaves the process.

    Installed in place of aiohttp's resolver (``monitor.check.fetch.DefaultResolver``), so the
    monitor's ``PolicyResolver`` still filters what it answers.
    """

    table: ClassVar[dict[str, str]] = {}
    queries: ClassVar[list[str]] = []  # every name asked for, in order

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.queries.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        address = self.table[host]
        return [
            ResolveResult(
                hostname=host, host=address, port=port, family=socket.AF_INET, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        return None


def self_signed_context(tmp_path: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context
