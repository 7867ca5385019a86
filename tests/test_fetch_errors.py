"""monitor.check.fetch_errors: every aiohttp failure is recorded with the kind that names it."""

from __future__ import annotations

import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from monitor.check.fetch_errors import ForbiddenAddress, fetch_error

URL = "https://example.org/policy"
KEY = ConnectionKey("example.org", 443, True, True, None, None, None)


@pytest.mark.parametrize(
    ("exc", "kind", "says"),
    [
        # Subclasses of ClientConnectorError: each keeps its own kind, not "connect".
        (
            aiohttp.ClientConnectorCertificateError(KEY, ssl.SSLCertVerificationError("expired")),
            "tls",
            "TLS certificate not trusted for https://example.org/policy",
        ),
        (
            aiohttp.ClientConnectorDNSError(KEY, OSError(-2, "Name or service not known")),
            "dns",
            "cannot resolve example.org",
        ),
        (
            aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "Connection refused")),
            "connect",
            "cannot connect to https://example.org/policy: Connection refused",
        ),
        # The resolver's policy refusal arrives wrapped as a connector error.
        (
            aiohttp.ClientConnectorError(KEY, ForbiddenAddress("example.org is 10.0.0.1")),
            "forbidden_address",
            "example.org is 10.0.0.1",
        ),
        (
            aiohttp.ServerDisconnectedError(),
            "reset",
            "closed the connection before answering",
        ),
        (aiohttp.InvalidURL("http://["), "redirect_scheme", "invalid URL"),
        (aiohttp.ClientPayloadError("bad gzip"), "decode", "could not be read or decompressed"),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), "reset", "connection to"),
        (aiohttp.ClientError("odd"), "protocol", "request to https://example.org/policy failed"),
    ],
)
def test_an_aiohttp_failure_is_named_by_its_kind(
    exc: aiohttp.ClientError, kind: str, says: str
) -> None:
    error = fetch_error(exc, URL)
    assert error.kind == kind
    assert says in str(error)
