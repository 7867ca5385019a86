"""What went wrong with a request, as a ``FetchError`` with a short stable ``kind``.

A check never sees a raw aiohttp exception: each is named here (``tls``, ``dns``,
``connect``, ``reset``, ``decode``, ``protocol``, ``redirect_scheme``,
``forbidden_address``), with a message that says which URL and why. The first row of
``_KINDS`` whose class matches wins, so a subclass stands before its base.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp
from aiohttp.http_exceptions import ContentLengthError, TransferEncodingError

from monitor.errors import FetchError

__all__ = ["ForbiddenAddress", "StatusError", "fetch_error"]


class ForbiddenAddress(OSError):
    """Raised inside the resolver; turned into FetchError(forbidden_address)."""


class StatusError(FetchError):
    """An HTTP error status; remembers the server's ``Retry-After`` for the retry loop."""

    def __init__(self, message: str, *, status: int, retry_after: float | None) -> None:
        super().__init__("http", message, status=status)
        self.retry_after = retry_after


# (class, kind, message): ``{url}`` is the URL asked for, ``{exc}`` the exception.
_KINDS: tuple[tuple[type[BaseException], str, str], ...] = (
    (
        aiohttp.ClientConnectorCertificateError,
        "tls",
        "TLS certificate not trusted for {url}: {exc.certificate_error}",
    ),
    (aiohttp.ClientSSLError, "tls", "TLS handshake with {url} failed: {exc}"),
    (aiohttp.ContentTypeError, "protocol", "bad response from {url}: {exc}"),
    (aiohttp.ServerDisconnectedError, "reset", "{url} closed the connection before answering"),
    (aiohttp.ClientResponseError, "protocol", "invalid HTTP response from {url}: {exc.message}"),
    (aiohttp.InvalidURL, "redirect_scheme", "invalid URL {url}: {exc}"),
    (aiohttp.ClientOSError, "reset", "connection to {url} failed: {exc}"),
    (aiohttp.ClientError, "protocol", "request to {url} failed: {exc}"),
)


def fetch_error(exc: ForbiddenAddress | aiohttp.ClientError, url: str) -> FetchError:
    """The ``FetchError`` that names what ``exc``, raised asking for ``url``, means."""
    if isinstance(exc, ForbiddenAddress):
        return FetchError("forbidden_address", str(exc))
    if isinstance(exc, aiohttp.ClientConnectorError) and not isinstance(
        exc, aiohttp.ClientSSLError
    ):
        return _unreachable(exc, url)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return _body_unread(exc, url)
    kind, message = next((k, m) for cls, k, m in _KINDS if isinstance(exc, cls))
    return FetchError(kind, message.format(url=url, exc=exc))


def _unreachable(exc: aiohttp.ClientConnectorError, url: str) -> FetchError:
    # Before the DNS case: aiohttp reports any OSError of the resolver, our policy
    # refusal included, as a DNS error.
    if isinstance(exc.os_error, ForbiddenAddress):
        return FetchError("forbidden_address", str(exc.os_error))
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return FetchError("dns", f"cannot resolve {urlsplit(url).hostname}: {exc.os_error}")
    return FetchError(
        "connect", f"cannot connect to {url}: {exc.os_error.strerror or exc.os_error}"
    )


def _body_unread(exc: aiohttp.ClientPayloadError, url: str) -> FetchError:
    cut = exc.__cause__
    if isinstance(cut, ContentLengthError | TransferEncodingError):
        # The connection ended (closed or reset) mid-body: transient, retried.
        return FetchError(
            "reset",
            f"{url} closed the connection before the whole body arrived ({cut.message})",
        )
    return FetchError("decode", f"body from {url} could not be read or decompressed: {exc}")
