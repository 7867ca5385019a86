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
import contextvars
import email.utils
import logging
import os
import random
import socket
import ssl
import time
import urllib.robotparser
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.http_exceptions import ContentLengthError, TransferEncodingError
from aiohttp.resolver import DefaultResolver

from monitor.audit.identity import ServerIdentity
from monitor.check.netpolicy import NetworkPolicy
from monitor.clock import Clock, utc_now
from monitor.config.settings import MonitorSettings, SourceSettings
from monitor.errors import FetchError, HostPausedError, StoreError
from monitor.store.pauses import HostPause, HostPauses, host_key, later

log = logging.getLogger(__name__)

MAX_REDIRECTS = 10
CHUNK = 64 * 1024
MAX_ATTEMPTS = 3  # tries per check for a transient failure
TIMEOUT_ATTEMPTS = 2
RETRY_BASE = 0.5  # seconds; doubles per retry
RETRY_CAP = 30.0
RETRY_AFTER_INLINE = 10.0  # a longer Retry-After fails this check instead of holding slots
MAX_HOST_PAUSE = 3600.0  # a Retry-After longer than an hour is read as an hour
TRANSIENT_KINDS = frozenset({"connect", "reset", "timeout"})
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
ROBOTS_TTL = 12 * 3600.0  # RFC 9309 asks for at most 24 h of caching
ROBOTS_RETRY = 600.0  # an unreadable robots.txt is asked for again after ten minutes
ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309: parse at least 500 KiB
ROBOTS_REDIRECTS = 5
ALLOWED_URL_CACHE = 100_000
# A host the store knows no pause of is asked again after this long, not before every
# check: a daemon checking one site hundreds of times a second paid two queries a check.
PAUSE_RECHECK = 1.0  # seconds

# Hosts whose slot the current task already holds (see Fetcher.reserve_host).
_HELD_HOSTS: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "held_hosts", default=frozenset()
)
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
    server: ServerIdentity | None = None  # who answered the final request (audit)

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    def validators(self) -> Validators:
        return Validators(
            etag=self.headers.get("etag"), last_modified=self.headers.get("last-modified")
        )


class _StatusError(FetchError):
    """An HTTP error status; remembers the server's ``Retry-After`` for the retry loop."""

    def __init__(self, message: str, *, status: int, retry_after: float | None) -> None:
        super().__init__("http", message, status=status)
        self.retry_after = retry_after


@dataclass(frozen=True)
class _RobotsEntry:
    """One origin's robots.txt: rules (``None`` = allow all) or why it could not be read."""

    expires: float  # monotonic time
    parser: urllib.robotparser.RobotFileParser | None
    problem: str | None


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
    """Owns the HTTP session; one per process. Use as an async context manager.

    Politeness lives here, per host: at most ``per_host`` requests in flight, a
    ``Retry-After`` pause that every later request to the host waits out, and an
    optional robots.txt check (cached per origin).
    """

    settings: MonitorSettings
    policy: NetworkPolicy = field(default_factory=NetworkPolicy)
    retry_base: float = RETRY_BASE  # seconds before the first retry; doubles each time
    pauses: HostPauses | None = None  # shared Retry-After pauses (the store's), if any
    max_wait: float | None = None  # longest wait on a pause; None: wait out any pause
    wall_clock: Clock = utc_now  # pauses are shared in wall time; waits use monotonic time
    _pause_info: dict[str, HostPause] = field(default_factory=dict)  # host -> why, until when
    _announced: set[tuple[str, datetime]] = field(default_factory=set)
    _session: aiohttp.ClientSession | None = None
    _insecure: aiohttp.ClientSession | None = None
    _hosts: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    _paused_until: dict[str, float] = field(default_factory=dict)  # host -> monotonic time
    _robots: dict[str, _RobotsEntry] = field(default_factory=dict)  # origin -> rules
    _allowed_urls: set[str] = field(default_factory=set)  # passed _check_url already
    _unpaused_until: dict[str, float] = field(default_factory=dict)  # see PAUSE_RECHECK

    def host_slot(self, url: str) -> asyncio.Semaphore:
        """The semaphore that keeps at most ``per_host`` requests in flight to one host."""
        host = _host(url)
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = asyncio.Semaphore(self.settings.per_host)
        return slot

    def host_pause(self, url: str) -> float:
        """Seconds until the host of ``url`` may be asked again (its last ``Retry-After``)."""
        until = self._paused_until.get(_host(url))
        return 0.0 if until is None else max(0.0, until - time.monotonic())

    @contextlib.asynccontextmanager
    async def reserve_host(self, url: str) -> AsyncIterator[None]:
        """Hold one of the host's ``per_host`` slots, after any ``Retry-After`` pause ends.

        A caller that limits global concurrency enters this *before* taking its global
        slot, so checks queued behind a slow or paused host hold nothing the others
        need. ``fetch`` inside the block does not take a second slot for that host.
        """
        host = _host(url)
        if host in _HELD_HOSTS.get():
            yield
            return
        await self._learn_pause(host)
        await self._wait_for_host(host)
        slot = self.host_slot(url)
        queued = slot.locked()
        async with slot:
            if queued:  # another process may have been told to pause meanwhile
                await self._learn_pause(host)
            await self._wait_for_host(host)  # a pause may have begun while we queued
            token = _HELD_HOSTS.set(_HELD_HOSTS.get() | {host})
            try:
                yield
            finally:
                _HELD_HOSTS.reset(token)

    async def _wait_for_host(self, host: str) -> None:
        until = self._paused_until.get(host)
        while until is not None:
            delay = until - time.monotonic()
            if delay <= 0:
                self._paused_until.pop(host, None)
                self._pause_info.pop(host, None)
                return
            info = self._pause_info.get(host)
            if self.max_wait is not None and delay > self.max_wait:
                if info is None:
                    end = self.wall_clock() + timedelta(seconds=delay)
                    raise HostPausedError(host, end, "it sent Retry-After")
                raise HostPausedError(host, info.until, info.reason)
            log.info(
                "waiting %.1fs before asking %s again (it asked for quiet: %s)",
                delay,
                host,
                info.reason if info is not None else "Retry-After",
            )
            await asyncio.sleep(delay)
            until = self._paused_until.get(host)

    def _pause_host(self, host: str, seconds: float, reason: str = "Retry-After") -> None:
        seconds = min(seconds, MAX_HOST_PAUSE)
        until = time.monotonic() + seconds
        self._paused_until[host] = max(until, self._paused_until.get(host, 0.0))
        now = self.wall_clock()
        pause = HostPause(
            host=host, until=now + timedelta(seconds=seconds), reason=reason, recorded_at=now
        )
        self._pause_info[host] = later(self._pause_info.get(host), pause)

    async def _share_pause(self, host: str) -> None:
        """Record the host's pause in the store, for other processes and later runs."""
        pause = self._pause_info.get(host)
        if self.pauses is None or pause is None:
            return
        try:
            await self.pauses.pause_host(
                host, pause.until, reason=pause.reason, now=pause.recorded_at
            )
        except StoreError as exc:
            # This process still honours the pause; only the others will not know of it.
            log.warning("could not record the pause of %s in the store: %s", host, exc)

    async def _learn_pause(self, host: str) -> None:
        """Adopt a pause another process (or an earlier run) recorded for ``host``."""
        if self.pauses is None or self._unpaused_until.get(host, 0.0) > time.monotonic():
            return
        now = self.wall_clock()
        try:
            pause = await self.pauses.host_pause(host, now=now)
        except StoreError as exc:
            log.warning("could not read the pause of %s from the store: %s", host, exc)
            return
        if pause is None:
            self._unpaused_until[host] = time.monotonic() + PAUSE_RECHECK
            return
        seconds = (pause.until - now).total_seconds()
        until = time.monotonic() + seconds
        if until > self._paused_until.get(host, 0.0):
            self._paused_until[host] = until
        self._pause_info[host] = later(self._pause_info.get(host), pause)
        if (host, pause.until) not in self._announced:
            self._announced.add((host, pause.until))
            log.warning(
                "%s asked for quiet until %s (%s); no request goes there before then",
                host,
                pause.until.strftime("%Y-%m-%dT%H:%M:%SZ"),
                pause.reason,
            )

    def paused_hosts(self) -> list[HostPause]:
        """The pauses this fetcher knows of that are still running, by host."""
        now = time.monotonic()
        return [
            info
            for host, info in sorted(self._pause_info.items())
            if self._paused_until.get(host, 0.0) > now
        ]

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
        host = _host(source.url)
        attempt = 0
        quiet = 0.0  # seconds of Retry-After waited out inside this fetch
        async with self.reserve_host(source.url):
            if self._robots_apply(source):
                await self._check_robots(source, timeout_s)
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
                    retry_after = exc.retry_after if isinstance(exc, _StatusError) else None
                    if retry_after is not None and exc.status in (429, 503):
                        self._pause_host(
                            host,
                            retry_after,
                            f"HTTP {exc.status} with Retry-After {retry_after:.0f}s, "
                            f"answering {source.id}",
                        )
                        await self._share_pause(host)
                    else:
                        retry_after = None
                    if not _transient(exc) or attempt >= MAX_ATTEMPTS:
                        raise
                    if retry_after is not None and self._too_long(retry_after, quiet):
                        raise FetchError(
                            "http",
                            f"{exc}; it asks for {retry_after:.0f}s of quiet, so no request "
                            f"goes to {host} before {self._pause_end(host)}",
                            status=exc.status,
                        ) from exc
                    delay = self._backoff(attempt) if retry_after is None else retry_after
                    quiet += retry_after or 0.0
                    error = exc
                log.info(
                    "attempt %d for %s failed (%s); retrying in %.1fs",
                    attempt,
                    source.id,
                    error.kind,
                    delay,
                )
                await asyncio.sleep(delay)

    def _too_long(self, retry_after: float, waited: float) -> bool:
        """Whether a ``Retry-After`` is too long to wait out inside this fetch.

        Each pause may last ``RETRY_AFTER_INLINE``; a caller with ``max_wait`` also
        bounds their sum, so a few short pauses in a row cannot add up past it.
        """
        if self.max_wait is None:
            return retry_after > RETRY_AFTER_INLINE
        return retry_after > min(RETRY_AFTER_INLINE, self.max_wait - waited)

    def _pause_end(self, host: str) -> str:
        info = self._pause_info.get(host)
        return "then" if info is None else info.until.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _backoff(self, attempt: int) -> float:
        """Exponential with "equal jitter": half fixed, half random, capped."""
        ceiling = min(self.retry_base * 2.0 ** (attempt - 1), RETRY_CAP)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _robots_apply(self, source: SourceSettings) -> bool:
        return source.robots if source.robots is not None else self.settings.respect_robots

    async def _check_robots(self, source: SourceSettings, timeout_s: int) -> None:
        parts = urlsplit(source.url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        entry = self._robots.get(origin)
        if entry is None or entry.expires < time.monotonic():
            try:
                async with asyncio.timeout(timeout_s):
                    entry = await self._load_robots(source, origin)
            except TimeoutError:
                entry = _RobotsEntry(
                    expires=time.monotonic() + ROBOTS_RETRY,
                    parser=None,
                    problem=f"no answer within {timeout_s}s",
                )
            self._robots[origin] = entry
        if entry.problem is not None:
            # RFC 9309 §2.3.1.4: an unreachable robots.txt means "disallow everything".
            raise FetchError(
                "robots",
                f"{origin}/robots.txt could not be read ({entry.problem}); not fetching "
                f"{source.url} while robots.txt is respected",
            )
        if entry.parser is not None and not entry.parser.can_fetch(
            self.settings.user_agent, source.url
        ):
            raise FetchError(
                "robots", f"{origin}/robots.txt disallows {source.url} for our user agent"
            )

    async def _load_robots(self, source: SourceSettings, origin: str) -> _RobotsEntry:
        session = self._session_for(source)
        url = origin + "/robots.txt"
        problem: str | None = None
        try:
            for _ in range(ROBOTS_REDIRECTS + 1):
                self._check_url(url)
                async with session.get(url, allow_redirects=False) as response:
                    status = response.status
                    if status in (301, 302, 303, 307, 308) and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if 200 <= status < 300:
                        body = await _read_capped(response, ROBOTS_MAX_BYTES, url)
                        parser = urllib.robotparser.RobotFileParser(url)
                        parser.parse(body.decode("utf-8", errors="replace").splitlines())
                        return _RobotsEntry(
                            expires=time.monotonic() + ROBOTS_TTL, parser=parser, problem=None
                        )
                    if 400 <= status < 500:
                        # RFC 9309 §2.3.1.3: "unavailable" robots.txt allows everything.
                        return _RobotsEntry(
                            expires=time.monotonic() + ROBOTS_TTL, parser=None, problem=None
                        )
                    problem = f"HTTP {status}"
                    break
            else:
                problem = f"more than {ROBOTS_REDIRECTS} redirects"
        except FetchError as exc:
            problem = str(exc)
        except (aiohttp.ClientError, OSError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        return _RobotsEntry(expires=time.monotonic() + ROBOTS_RETRY, parser=None, problem=problem)

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
        home = _origin(source.url)
        # The source's own headers may hold credentials: a redirect elsewhere must not get them.
        foreign = {k: v for k, v in headers.items() if k not in dict(source.headers)}
        redirects: list[tuple[str, int]] = []
        seen = {url}
        while True:
            self._check_url(url)
            try:
                async with session.get(
                    url,
                    headers=headers if _origin(url) == home else foreign,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout_s),
                ) as response:
                    status = response.status
                    kept = _kept_headers(response.headers)
                    server = _server_of(response)
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
                            server=server,
                        )
                    if status >= 400:
                        raise _StatusError(
                            f"HTTP {status} {response.reason or ''} from {url}".strip(),
                            status=status,
                            retry_after=_retry_after(response.headers.get("retry-after")),
                        )
                    body = await _read_capped(response, max_bytes, url)
                    return self._result(
                        source, url, status, kept, redirects, body, now, started, server=server
                    )
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
            except aiohttp.ClientConnectorError as exc:
                # Before the DNS case: aiohttp reports any OSError of the resolver, our
                # policy refusal included, as a DNS error.
                if isinstance(exc.os_error, _ForbiddenAddress):
                    raise FetchError("forbidden_address", str(exc.os_error)) from exc
                if isinstance(exc, aiohttp.ClientConnectorDNSError):
                    raise FetchError(
                        "dns", f"cannot resolve {urlsplit(url).hostname}: {exc.os_error}"
                    ) from exc
                raise FetchError(
                    "connect", f"cannot connect to {url}: {exc.os_error.strerror or exc.os_error}"
                ) from exc
            except aiohttp.ContentTypeError as exc:
                raise FetchError("protocol", f"bad response from {url}: {exc}") from exc
            except aiohttp.ClientPayloadError as exc:
                cut = exc.__cause__
                if isinstance(cut, ContentLengthError | TransferEncodingError):
                    # The connection ended (closed or reset) mid-body: transient, retried.
                    raise FetchError(
                        "reset",
                        f"{url} closed the connection before the whole body arrived "
                        f"({cut.message})",
                    ) from exc
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


def _server_of(response: aiohttp.ClientResponse) -> ServerIdentity | None:
    """The peer of the connection ``response`` came over."""
    # A body that arrived with the headers releases the connection at once; its
    # protocol (kept by the response) still holds the transport.
    connection = response.connection
    protocol = (
        connection.protocol if connection is not None else getattr(response, "_protocol", None)
    )
    return ServerIdentity.of(getattr(protocol, "transport", None))


# The politeness key of a URL: ``host:port``. One definition (``store.pauses.host_key``,
# cached) so that a pause recorded by one process names the host the others look up.
_host = host_key


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of ``url``, the default port filled in: what "same origin" compares."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def _transient(exc: FetchError) -> bool:
    if exc.kind in TRANSIENT_KINDS:
        return True
    return exc.kind == "http" and exc.status in TRANSIENT_STATUS


def _retry_after(value: str | None) -> float | None:
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
