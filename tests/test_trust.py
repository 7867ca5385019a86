"""TLS contexts made under ``deferred_trust_store`` verify exactly as before, loading later.

A ``monitor`` process does not load the system's CA store when aiohttp is imported, only
when a TLS connection first needs it; what a connection trusts must not change.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator

import aiohttp
import pytest

from monitor.trust import deferred_trust_store
from tests.audit.test_server_identity import HttpsServer

PROBE = """
import json, ssl
from monitor.trust import deferred_trust_store
with deferred_trust_store():
    import aiohttp.connector as connector
contexts = [connector._SSL_CONTEXT_VERIFIED, connector._SSL_CONTEXT_UNVERIFIED]
print(json.dumps({
    "deferred": [type(c).__name__ for c in contexts],
    "loaded": [c.cert_store_stats() for c in contexts],
    "after": [type(c).__name__ for c in contexts],
    "default": ssl.create_default_context().cert_store_stats(),
}))
"""


@pytest.fixture
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsServer]:
    server = HttpsServer(tmp_path_factory.mktemp("https")).start()
    try:
        yield server
    finally:
        server.stop()


def test_aiohttp_imported_under_it_loads_the_system_cas_when_first_asked() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found = json.loads(done.stdout)
    assert found["deferred"] == ["_DeferredTrust", "_DeferredTrust"]  # nothing loaded at import
    assert found["after"] == ["SSLContext", "SSLContext"]
    # Both hold what a context made the usual way holds: the system's CAs.
    assert found["loaded"] == [found["default"], found["default"]]


async def _get(url: str, context: ssl.SSLContext) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, ssl=context) as response,
    ):
        return response.status


async def test_a_deferred_context_trusts_its_extra_ca_and_still_refuses_others(
    https: HttpsServer,
) -> None:
    with deferred_trust_store():
        private = ssl.create_default_context()
        private.load_verify_locations(cafile=str(https.ca_file))  # [monitor] ca_file
        system_only = ssl.create_default_context()
    assert type(private).__name__ == "_DeferredTrust"
    assert await _get(https.url(), private) == 200
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await _get(https.url(), system_only)  # the test CA is in no system store
    stats = private.cert_store_stats()
    assert stats["x509_ca"] == ssl.create_default_context().cert_store_stats()["x509_ca"] + 1


def test_outside_it_contexts_load_at_once() -> None:
    with deferred_trust_store():
        pass
    assert type(ssl.create_default_context()) is ssl.SSLContext
