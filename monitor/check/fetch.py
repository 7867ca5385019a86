"""Fetch one page over HTTP(S): the I/O edge of a check.

Invariants a check relies on:

* every failure is a ``FetchError`` with a short stable ``kind`` (``dns``,
  ``connect``, ``timeout``, ``tls``, ``http``, ``too_large``, ``redirect_loop``,
  ``redirect_scheme``, ``forbidden_address``, ``decode``, ``reset``,
  ``protocol``, ``robots``) — never a raw aiohttp exception;
* redirects are followed by hand so each hop is recorded and checked against
  the scheme and address policy (a page cannot redirect us to ``file://`` or
  to a metadata endpoint, and DNS answers are filtered the same way);
* the body is read in chunks and cut at the size cap *after* decompression,
  so a gzip or brotli bomb costs at most ``max_bytes`` of memory;
* TLS is verified unless a source opts out (``verify_tls = false``);
* a conditional GET that answers 304 returns ``not_modified`` with no body;
* politeness is per host: at most ``per_host`` requests in flight (the slot is
  taken *outside* the timeout, so waiting in line is not a timeout), transient
  failures retried with capped exponential backoff, a 429/503 ``Retry-After``
  honoured by every later request to that host, and robots.txt obeyed (kind
  ``robots``) when ``respect_robots`` or the source's ``robots`` says so;
* a ``Retry-After`` pause is shared through the store's ``HostPauses`` (when the
  fetcher is given one): recorded when the answer arrives, and looked up before the
  first request of every check, so other processes, later runs and other workers
  honour it too; a caller with ``max_wait`` is never held longer than that by a
  pause — it gets ``HostPausedError`` (kind ``deferred``) and no request is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from monitor.audit.identity import ServerIdentity
from monitor.check.fetch_errors import ForbiddenAddress, StatusError, fetch_error
from monitor.check.hosts import RETRY_AFTER_INLINE, HostGate
from monitor.check.netpolicy import NetworkPolicy, is_ip_literal
from monitor.check.response import kept_headers, read_capped, retry_after, server_of
from monitor.check.robots import REDIRECT_STATUS, RobotsRules
from monitor.clock import Clock, utc_now
from monitor.config.settings import MonitorSettings, SourceSettings
from monitor.core.moves import origin
from monitor.errors import FetchError
from monitor.store.pauses import HostPause, HostPauses, host_key

__all__ = [
    "MAX_ATTEMPTS",
    "MAX_REDIRECTS",
    "RETRY_AFTER_INLINE",
    "TIMEOUT_ATTEMPTS",
    "FetchResult",
    "Fetcher",
    "PolicyResolver",
    "Validators",
]

log = logging.getLogger(__name__)

MAX_REDIRECTS = 10
MAX_ATTEMPTS = 3  # tries per check for a transient failure
TIMEOUT_ATTEMPTS = 2
RETRY_BASE = 0.5  # seconds; doubles per retry
RETRY_CAP = 30.0
TRANSIENT_KINDS = frozenset({"connect", "reset", "timeout"})
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
ALLOWED_URL_CACHE = 100_000
# A host the store knows no pause of is asked again after this long, not before every
# check: a daemon checking one site hundreds of times a second paid two queries a check.
PAUSE_RECHECK = 1.0  # seconds


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
    server: ServerIdentity | None = None  # who answered the final request (audit)

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    def validators(self) -> Validators:
        return Validators(
            etag=self.headers.get("etag"), last_modified=self.headers.get("last-modified")
        )


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
            raise ForbiddenAddress(f"{host} resolves to a forbidden address: {reason}")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


@dataclass
class Fetcher:
    """Owns the HTTP session; one per process. Use as an async context manager.

    Politeness per host (``monitor.check.hosts``): at most ``per_host`` requests in
    flight, a ``Retry-After`` pause that every later request to the host waits out;
    and an optional robots.txt check (``monitor.check.robots``, cached per origin).
    """

    settings: MonitorSettings
    policy: NetworkPolicy = field(default_factory=NetworkPolicy)
    retry_base: float = RETRY_BASE  # seconds before the first retry; doubles each time
    pauses: HostPauses | None = None  # shared Retry-After pauses (the store's), if any
    max_wait: float | None = None  # longest wait on a pause; None: wait out any pause
    wall_clock: Clock = utc_now  # pauses are shared in wall time; waits use monotonic time
    _session: aiohttp.ClientSession | None = None
    _insecure: aiohttp.ClientSession | None = None
    _allowed_urls: set[str] = field(default_factory=set)  # passed _check_url already
    _hosts: HostGate = field(init=False)
    _robots: RobotsRules = field(init=False)

    def __post_init__(self) -> None:
        self._hosts = HostGate(
            self.settings.per_host,
            pauses=self.pauses,
            max_wait=self.max_wait,
            wall_clock=self.wall_clock,
        )
        self._robots = RobotsRules(self.settings.user_agent)

    def host_slot(self, url: str) -> asyncio.Semaphore:
        """The semaphore that keeps at most ``per_host`` requests in flight to one host."""
        return self._hosts.slot(url)

    def host_pause(self, url: str) -> float:
        """Seconds until the host of ``url`` may be asked again (its last ``Retry-After``)."""
        return self._hosts.pause_left(url)

    @contextlib.asynccontextmanager
    async def reserve_host(self, url: str) -> AsyncIterator[None]:
        """Hold one of the host's ``per_host`` slots, after any ``Retry-After`` pause ends.

        A caller that limits global concurrency enters this *before* taking its global
        slot, so checks queued behind a slow or paused host hold nothing the others
        need. ``fetch`` inside the block does not take a second slot for that host.
        """
        async with self._hosts.reserve(url):
            yield

    def paused_hosts(self) -> list[HostPause]:
        """The pauses this fetcher knows of that are still running, by host."""
        return self._hosts.paused()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _make_session(self, *, verify_tls: bool) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=PolicyResolver(self.policy),
            ssl=self._tls_context() if verify_tls else False,
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

    def _tls_context(self) -> ssl.SSLContext | bool:
        """The system's CAs, plus ``[monitor] ca_file`` (a private PKI) when set.

        Without a ``ca_file``: True, aiohttp's own verifying context (the system's CAs,
        no compression, ALPN http/1.1), built once when aiohttp is imported; a context
        of our own would load the CA store again (~50 ms of every ``monitor check``).
        """
        if not self.settings.ca_file:
            return True
        context = ssl.create_default_context()
        if self.settings.ca_file:
            try:
                context.load_verify_locations(cafile=os.path.expanduser(self.settings.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise FetchError(
                    "tls", f"cannot load [monitor] ca_file {self.settings.ca_file}: {exc}"
                ) from exc
        return context

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
        """GET ``source.url`` following redirects by hand; raises ``FetchError``.

        Transient failures (refused or reset connections, timeouts, 5xx, 429) are
        retried inside this call with exponential backoff: ``MAX_ATTEMPTS`` tries in
        all (``TIMEOUT_ATTEMPTS`` for timeouts: a site that hung twice is down, and a
        third wait would hold a slot for another full timeout). A ``Retry-After`` of
        429/503 pauses the whole host; a short one is waited out and retried here, a
        long one fails this check and later requests to the host wait.
        """
        timeout_s = source.timeout or self.settings.timeout
        max_bytes = source.max_bytes or self.settings.max_bytes
        host = host_key(source.url)
        attempt = 0
        quiet = 0.0  # seconds of Retry-After waited out inside this fetch
        async with self.reserve_host(source.url):
            if self._robots_apply(source):
                await self._robots.check(
                    source.url, self._session_for(source), self._check_url, timeout_s
                )
            while True:
                attempt += 1
                started = time.monotonic()
                try:
                    async with asyncio.timeout(timeout_s):
                        return await self._fetch(
                            source, now, validators, max_bytes, timeout_s, started
                        )
                except TimeoutError:
                    error = FetchError(
                        "timeout", f"no complete answer within {timeout_s}s from {source.url}"
                    )
                    if attempt >= TIMEOUT_ATTEMPTS:
                        raise error from None
                    delay = self._backoff(attempt)
                except FetchError as exc:
                    wait = exc.retry_after if isinstance(exc, StatusError) else None
                    if wait is not None and exc.status in (429, 503):
                        self._hosts.pause(
                            host,
                            wait,
                            f"HTTP {exc.status} with Retry-After {wait:.0f}s, "
                            f"answering {source.id}",
                        )
                        await self._hosts.share(host)
                    else:
                        wait = None
                    if not _transient(exc) or attempt >= MAX_ATTEMPTS:
                        raise
                    if wait is not None and self._hosts.too_long(wait, quiet):
                        raise FetchError(
                            "http",
                            f"{exc}; it asks for {wait:.0f}s of quiet, so no request "
                            f"goes to {host} before {self._hosts.pause_end(host)}",
                            status=exc.status,
                        ) from exc
                    delay = self._backoff(attempt) if wait is None else wait
                    quiet += wait or 0.0
                    error = exc
                log.info(
                    "attempt %d for %s failed (%s); retrying in %.1fs",
                    attempt,
                    source.id,
                    error.kind,
                    delay,
                )
                await asyncio.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        """Exponential with "equal jitter": half fixed, half random, capped."""
        ceiling = min(self.retry_base * 2.0 ** (attempt - 1), RETRY_CAP)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _robots_apply(self, source: SourceSettings) -> bool:
        return source.robots if source.robots is not None else self.settings.respect_robots

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
        home = origin(source.url)
        # The source's own headers may hold credentials: a redirect elsewhere must not get them.
        foreign = {k: v for k, v in headers.items() if k not in dict(source.headers)}
        redirects: list[tuple[str, int]] = []
        seen = {url}
        while True:
            self._check_url(url)
            try:
                async with session.get(
                    url,
                    headers=headers if origin(url) == home else foreign,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout_s),
                ) as response:
                    status = response.status
                    kept = kept_headers(response.headers)
                    server = server_of(response)
                    if status in REDIRECT_STATUS and "location" in response.headers:
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
                            server=server,
                        )
                    if status >= 400:
                        raise StatusError(
                            f"HTTP {status} {response.reason or ''} from {url}".strip(),
                            status=status,
                            retry_after=retry_after(response.headers.get("retry-after")),
                        )
                    body = await read_capped(response, max_bytes, url)
                    return self._result(
                        source, url, status, kept, redirects, body, now, started, server=server
                    )
            except FetchError:
                raise
            except (ForbiddenAddress, aiohttp.ClientError) as exc:
                raise fetch_error(exc, url) from exc

    def _check_url(self, url: str) -> None:
        if url in self._allowed_urls:
            return  # the policy is fixed for this fetcher; a URL it allowed stays allowed
        self._check_url_uncached(url)
        if len(self._allowed_urls) >= ALLOWED_URL_CACHE:
            self._allowed_urls.clear()
        self._allowed_urls.add(url)

    def _check_url_uncached(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchError(
                "redirect_scheme", f"refusing to follow {parts.scheme or 'a relative'} URL {url}"
            )
        host = parts.hostname or ""
        if not host:
            raise FetchError("redirect_scheme", f"URL without a host: {url}")
        if is_ip_literal(host):
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
        server: ServerIdentity | None = None,
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
            server=server,
        )


def _transient(exc: FetchError) -> bool:
    if exc.kind in TRANSIENT_KINDS:
        return True
    return exc.kind == "http" and exc.status in TRANSIENT_STATUS
