"""Fetch one page over HTTP(S): the I/O edge of a check.

Invariants a check relies on:

* every failure is a ``FetchError`` with a short stable ``kind`` (``dns``,
  ``connect``, ``timeout``, ``tls``, ``http``, ``too_large``, ``redirect_loop``,
  ``redirect_scheme``, ``forbidden_address``, ``decode``, ``reset``,
  ``protocol``) — never a raw aiohttp exception;
* redirects are followed by hand so each hop is recorded and checked against
  the scheme and address policy (a page cannot redirect us to ``file://`` or
  to a metadata endpoint, and DNS answers are filtered the same way);
* the body is read in chunks and cut at the size cap *after* decompression,
  so a gzip or brotli bomb costs at most ``max_bytes`` of memory;
* TLS is verified unless a source opts out (``verify_tls = false``);
* a conditional GET that answers 304 returns ``not_modified`` with no body.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from monitor.errors import FetchError
from monitor.netpolicy import NetworkPolicy
from monitor.settings import MonitorSettings, SourceSettings

log = logging.getLogger(__name__)

MAX_REDIRECTS = 10
CHUNK = 64 * 1024
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


@dataclass(frozen=True, kw_only=True)
class Validators:
    """What a conditional GET sends back to the server."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, kw_only=True)
class FetchResult:
    requested_url: str
    final_url: str
    status: int
    headers: dict[str, str]
    redirects: tuple[tuple[str, int], ...]
    body: bytes
    fetched_at: datetime
    elapsed_ms: int
    not_modified: bool = False

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    def validators(self) -> Validators:
        return Validators(
            etag=self.headers.get("etag"), last_modified=self.headers.get("last-modified")
        )


class _ForbiddenAddress(OSError):
    """Raised inside the resolver; turned into FetchError(forbidden_address)."""


class PolicyResolver(AbstractResolver):
    """Resolves like aiohttp's default, then drops addresses the policy refuses.

    Filtering the DNS answer (not the URL text) is what stops DNS rebinding:
    the address we connect to is the address we checked.
    """

    def __init__(self, policy: NetworkPolicy) -> None:
        self._policy = policy
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        allowed = [a for a in answers if self._policy.refusal(a["host"]) is None]
        if not allowed:
            reason = self._policy.refusal(answers[0]["host"]) if answers else "no address"
            raise _ForbiddenAddress(f"{host} resolves to a forbidden address: {reason}")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


@dataclass
class Fetcher:
    """Owns the HTTP session; one per process. Use as an async context manager."""

    settings: MonitorSettings
    policy: NetworkPolicy = field(default_factory=NetworkPolicy)
    _session: aiohttp.ClientSession | None = None
    _insecure: aiohttp.ClientSession | None = None
    _hosts: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    def host_slot(self, url: str) -> asyncio.Semaphore:
        """The semaphore that keeps at most ``per_host`` requests in flight to one host."""
        host = (urlsplit(url).hostname or "").lower()
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = asyncio.Semaphore(self.settings.per_host)
        return slot

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _make_session(self, *, verify_tls: bool) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=PolicyResolver(self.policy),
            ssl=ssl.create_default_context() if verify_tls else False,
            limit=max(self.settings.concurrency * 2, 10),
            ttl_dns_cache=300,
        )
        return aiohttp.ClientSession(
            connector=connector,
            headers={
                "User-Agent": self.settings.user_agent,
                "Accept-Encoding": "gzip, deflate, br",
            },
            auto_decompress=True,
            trust_env=False,
        )

    def _session_for(self, source: SourceSettings) -> aiohttp.ClientSession:
        if source.verify_tls:
            if self._session is None:
                self._session = self._make_session(verify_tls=True)
            return self._session
        if self._insecure is None:
            self._insecure = self._make_session(verify_tls=False)
        return self._insecure

    async def close(self) -> None:
        for session in (self._session, self._insecure):
            if session is not None:
                await session.close()
        self._session = self._insecure = None

    async def fetch(
        self,
        source: SourceSettings,
        *,
        now: datetime,
        validators: Validators | None = None,
    ) -> FetchResult:
        """GET ``source.url`` following redirects by hand; raises ``FetchError``."""
        timeout_s = source.timeout or self.settings.timeout
        max_bytes = source.max_bytes or self.settings.max_bytes
        started = time.monotonic()
        try:
            async with self.host_slot(source.url), asyncio.timeout(timeout_s):
                return await self._fetch(source, now, validators, max_bytes, timeout_s, started)
        except TimeoutError as exc:
            raise FetchError(
                "timeout", f"no complete answer within {timeout_s}s from {source.url}"
            ) from exc

    async def _fetch(
        self,
        source: SourceSettings,
        now: datetime,
        validators: Validators | None,
        max_bytes: int,
        timeout_s: int,
        started: float,
    ) -> FetchResult:
        session = self._session_for(source)
        headers: dict[str, str] = dict(source.headers)
        if validators and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        url = source.url
        redirects: list[tuple[str, int]] = []
        seen = {url}
        while True:
            self._check_url(url)
            try:
                async with session.get(
                    url,
                    headers=headers,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout_s),
                ) as response:
                    status = response.status
                    kept = _kept_headers(response.headers)
                    if status in (301, 302, 303, 307, 308) and "location" in response.headers:
                        target = urljoin(url, response.headers["location"])
                        redirects.append((url, status))
                        if len(redirects) > MAX_REDIRECTS or target in seen:
                            raise FetchError(
                                "redirect_loop",
                                f"more than {MAX_REDIRECTS} redirects or a loop at {target}",
                                status=status,
                            )
                        seen.add(target)
                        url = target
                        continue
                    if status == 304:
                        return self._result(
                            source,
                            url,
                            status,
                            kept,
                            redirects,
                            b"",
                            now,
                            started,
                            not_modified=True,
                        )
                    if status >= 400:
                        raise FetchError(
                            "http",
                            f"HTTP {status} {response.reason or ''} from {url}".strip(),
                            status=status,
                        )
                    body = await _read_capped(response, max_bytes, url)
                    return self._result(source, url, status, kept, redirects, body, now, started)
            except FetchError:
                raise
            except _ForbiddenAddress as exc:
                raise FetchError("forbidden_address", str(exc)) from exc
            except aiohttp.ClientConnectorCertificateError as exc:
                raise FetchError(
                    "tls", f"TLS certificate not trusted for {url}: {exc.certificate_error}"
                ) from exc
            except aiohttp.ClientSSLError as exc:
                raise FetchError("tls", f"TLS handshake with {url} failed: {exc}") from exc
            except aiohttp.ClientConnectorDNSError as exc:
                raise FetchError(
                    "dns", f"cannot resolve {urlsplit(url).hostname}: {exc.os_error}"
                ) from exc
            except aiohttp.ClientConnectorError as exc:
                if isinstance(exc.os_error, _ForbiddenAddress):
                    raise FetchError("forbidden_address", str(exc.os_error)) from exc
                raise FetchError(
                    "connect", f"cannot connect to {url}: {exc.os_error.strerror or exc.os_error}"
                ) from exc
            except aiohttp.ContentTypeError as exc:
                raise FetchError("protocol", f"bad response from {url}: {exc}") from exc
            except aiohttp.ClientPayloadError as exc:
                raise FetchError(
                    "decode", f"body from {url} could not be read or decompressed: {exc}"
                ) from exc
            except aiohttp.ServerDisconnectedError as exc:
                raise FetchError("reset", f"{url} closed the connection before answering") from exc
            except aiohttp.ClientResponseError as exc:
                raise FetchError(
                    "protocol", f"invalid HTTP response from {url}: {exc.message}"
                ) from exc
            except aiohttp.InvalidURL as exc:
                raise FetchError("redirect_scheme", f"invalid URL {url}: {exc}") from exc
            except aiohttp.ClientOSError as exc:
                raise FetchError("reset", f"connection to {url} failed: {exc}") from exc
            except aiohttp.ClientError as exc:
                raise FetchError("protocol", f"request to {url} failed: {exc}") from exc

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchError(
                "redirect_scheme", f"refusing to follow {parts.scheme or 'a relative'} URL {url}"
            )
        host = parts.hostname or ""
        if not host:
            raise FetchError("redirect_scheme", f"URL without a host: {url}")
        if _looks_like_ip(host):
            reason = self.policy.refusal(host)
            if reason:
                raise FetchError("forbidden_address", f"refusing {url}: {reason}")

    def _result(
        self,
        source: SourceSettings,
        url: str,
        status: int,
        headers: dict[str, str],
        redirects: list[tuple[str, int]],
        body: bytes,
        now: datetime,
        started: float,
        *,
        not_modified: bool = False,
    ) -> FetchResult:
        return FetchResult(
            requested_url=source.url,
            final_url=url,
            status=status,
            headers=headers,
            redirects=tuple(redirects),
            body=body,
            fetched_at=now,
            elapsed_ms=int((time.monotonic() - started) * 1000),
            not_modified=not_modified,
        )


def _looks_like_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _kept_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(headers[name])[:1000] for name in KEPT_HEADERS if name in headers}


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int, url: str) -> bytes:
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
