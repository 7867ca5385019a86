"""A loopback forward proxy that applies the network policy to every connection Chromium makes.

The browser is launched with this proxy and no bypass (not even loopback), so
each plain request, each ``CONNECT`` tunnel (https, wss), each redirect hop and
each subresource is a connection opened *here*: the name is resolved here, the
answers are filtered by ``NetworkPolicy`` exactly as ``monitor.check.fetch`` filters
them, and the connection goes to an address that was checked — Chromium never
resolves or connects on its own, so there is no DNS-rebinding window between
the check and the connection (QUIC and WebRTC's UDP are disabled by the
browser's flags for the same reason).

Invariants:

* it listens on 127.0.0.1 only; it reaches nothing a local user could not reach
  directly, so it needs no credentials;
* a refused or failed upstream gets an answer that names the problem (a 403/502
  with an ``X-Policy-Monitor-Proxy`` header naming the ``FetchError`` kind) and is
  remembered by host for a short while, so the pool can report why the main
  document failed (``forbidden_address``, ``dns``, ``connect``, ``timeout``);
* plain requests are forwarded with ``Connection: close``: one request per
  client connection, so a kept-alive connection can never carry a second
  request to a host that was not checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from monitor.check.netpolicy import NetworkPolicy

log = logging.getLogger(__name__)

HEAD_LIMIT = 64 * 1024  # bytes of request line + headers
CHUNK = 64 * 1024
PROBLEM_TTL = 120.0  # seconds a failure stays on record for the pool to explain
PROBLEMS_MAX = 1024
PROXY_HEADER = "X-Policy-Monitor-Proxy"
_HOP_BY_HOP = frozenset({"connection", "proxy-connection", "keep-alive", "proxy-authorization"})


@dataclass(frozen=True)
class ProxyProblem:
    """Why the proxy could not reach a host: a ``FetchError`` kind and a message."""

    kind: str  # forbidden_address | dns | connect | timeout | protocol
    message: str
    at: float  # monotonic time


class _Refused(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class PolicyProxy:
    """The proxy server; ``await start()`` returns its ``http://127.0.0.1:PORT`` address."""

    def __init__(self, policy: NetworkPolicy, *, connect_timeout: float = 30.0) -> None:
        self.policy = policy
        self.connect_timeout = connect_timeout
        self.problems: dict[str, ProxyProblem] = {}  # host -> the latest failure
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=HEAD_LIMIT)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    def problem(self, host: str, since: float) -> ProxyProblem | None:
        """The failure recorded for ``host`` at or after ``since`` (monotonic), if any."""
        found = self.problems.get(host.lower().strip("[]"))
        return found if found is not None and found.at >= since else None

    # ----------------------------------------------------------------- serving

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line, *lines = head[:-4].decode("latin-1").split("\r\n")
            method, target, _version = line.split(" ", 2)
            if method.upper() == "CONNECT":
                host, port = _host_port(target, default=443)
                up_reader, upstream = await self._open(host, port)
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                await writer.drain()
                await _relay(reader, writer, up_reader, upstream)
                return
            parts = urlsplit(target)
            if parts.scheme != "http" or not parts.hostname:
                raise _Refused(
                    "redirect_scheme", f"the proxy forwards only http URLs, not {target}"
                )
            up_reader, upstream = await self._open(parts.hostname, parts.port or 80)
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            headers = [h for h in lines if h.split(":", 1)[0].strip().lower() not in _HOP_BY_HOP]
            request = "\r\n".join([f"{method} {path} HTTP/1.1", *headers, "Connection: close"])
            upstream.write(request.encode("latin-1") + b"\r\n\r\n")
            await upstream.drain()
            await _forward_head(up_reader, writer)
            await _relay(reader, writer, up_reader, upstream)
        except _Refused as refused:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await _answer(writer, refused.kind, str(refused))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await _answer(writer, "protocol", "the proxy could not parse the request")
        except OSError as exc:  # the browser or the site hung up
            log.debug("proxy connection ended: %s", exc)
        finally:
            for stream in (upstream, writer):
                if stream is not None:
                    stream.close()
            self._writers.discard(writer)
            self._tasks.discard(task)

    async def _open(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect to the first address of ``host`` the policy allows; raises ``_Refused``."""
        host = host.lower().strip("[]")
        try:
            addresses = await self._allowed_addresses(host, port)
            last: OSError | None = None
            for address in addresses:
                try:
                    async with asyncio.timeout(self.connect_timeout):
                        return await asyncio.open_connection(address, port, limit=CHUNK)
                except OSError as exc:
                    last = exc
            reason = last.strerror if last is not None and last.strerror else str(last)
            raise _Refused("connect", f"cannot connect to {host}:{port}: {reason}")
        except TimeoutError:
            refused = _Refused(
                "timeout", f"no connection to {host}:{port} within {self.connect_timeout:.0f}s"
            )
            self._remember(host, refused)
            raise refused from None
        except _Refused as refused:
            self._remember(host, refused)
            raise

    async def _allowed_addresses(self, host: str, port: int) -> list[str]:
        try:
            answers = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise _Refused("dns", f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in answers))
        allowed = [a for a in addresses if self.policy.refusal(a) is None]
        if not allowed:
            reason = (self.policy.refusal(addresses[0]) if addresses else None) or "no address"
            log.info("browser connection to %s refused: %s", host, reason)
            if addresses != [host]:  # a name, not an address literal
                reason = f"{host} resolves to a forbidden address: {reason}"
            raise _Refused("forbidden_address", reason)
        return allowed

    def _remember(self, host: str, refused: _Refused) -> None:
        if len(self.problems) >= PROBLEMS_MAX:
            cutoff = time.monotonic() - PROBLEM_TTL
            self.problems = {h: p for h, p in self.problems.items() if p.at >= cutoff}
        self.problems[host] = ProxyProblem(refused.kind, str(refused), time.monotonic())


def _host_port(target: str, *, default: int) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return target, default
    return host, int(port)


async def _answer(writer: asyncio.StreamWriter, kind: str, message: str) -> None:
    status = (
        "403 Forbidden" if kind in ("forbidden_address", "redirect_scheme") else "502 Bad Gateway"
    )
    body = message.encode("utf-8")
    writer.write(
        (
            f"HTTP/1.1 {status}\r\n{PROXY_HEADER}: {kind}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode("latin-1")
        + body
    )
    await writer.drain()


async def _forward_head(up_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Pass the response head on with ``Connection: close``, so the browser never reuses
    this connection for a request to another host."""
    while True:
        head = await up_reader.readuntil(b"\r\n\r\n")
        line, *lines = head[:-4].decode("latin-1").split("\r\n")
        status = line.split(" ", 2)
        if len(status) > 1 and status[1].startswith("1"):
            writer.write(head)  # 100 Continue and the like: the real head follows
            continue
        kept = [h for h in lines if h.split(":", 1)[0].strip().lower() not in _HOP_BY_HOP]
        writer.write("\r\n".join([line, *kept, "Connection: close"]).encode("latin-1"))
        writer.write(b"\r\n\r\n")
        await writer.drain()
        return


async def _relay(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    """Copy bytes both ways until either side closes."""
    directions = [
        asyncio.ensure_future(_copy(client_reader, up_writer)),
        asyncio.ensure_future(_copy(up_reader, client_writer)),
    ]
    try:
        await asyncio.wait(directions, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for direction in directions:
            direction.cancel()
        await asyncio.gather(*directions, return_exceptions=True)


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
