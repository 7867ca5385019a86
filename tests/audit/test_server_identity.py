"""Each capture records the server that answered: IP, TLS version and leaf certificate.

A local HTTPS aiohttp server presents a certificate issued by a test CA, which the
monitor trusts through ``[monitor] ca_file``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ipaddress
import json
import sqlite3
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitor.cli import main
from tests.audit.test_journals import page
from tests.audit.test_tamper import tampering


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


class HttpsServer:
    """aiohttp over TLS on 127.0.0.1 with a certificate from a fresh test CA."""

    def __init__(self, directory: Path) -> None:
        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (
            x509.CertificateBuilder()
            .subject_name(_name("Test Root CA"))
            .issuer_name(_name("Test Root CA"))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name("policy.example.test"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=10))
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("policy.example.test"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(pem))
        (directory / "server.pem").write_bytes(self.certificate.public_bytes(pem))
        (directory / "server.key").write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(directory / "server.pem", directory / "server.key")
        self.body = page("First.")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def url(self, path: str = "/p") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        return web.Response(text=self.body, content_type="text/html")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/p", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.context)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    def start(self) -> HttpsServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsServer]:
    server = HttpsServer(tmp_path_factory.mktemp("https")).start()
    try:
        yield server
    finally:
        server.stop()


def configure(workdir: Path, url: str, ca_file: Path | None) -> None:
    monitor = f'[monitor]\nca_file = "{ca_file}"\n' if ca_file else ""
    (workdir / "sources.toml").write_text(f'{monitor}[[source]]\nid = "p"\nurl = "{url}"\n')


def captures(db: Path) -> list[tuple[int, dict[str, object]]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT seq, data FROM events WHERE type IN ('BaselineCaptured', 'ChangeDetected') "
            "ORDER BY seq"
        ).fetchall()
    return [(seq, json.loads(data)["capture"]) for seq, data in rows]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_an_https_capture_records_the_server_and_its_certificate(
    workdir: Path, https: HttpsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(workdir, https.url(), https.ca_file)
    assert cli(capsys, "check")[0] == 0
    ((_, capture),) = captures(workdir / "monitor.db")
    fingerprint = hashlib.sha256(https.der).hexdigest()
    server = capture["server"]
    assert isinstance(server, dict)
    assert server["ip"] == "127.0.0.1" and server["port"] == https.port
    assert server["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert server["certificate"] == {
        "sha256": fingerprint,
        "subject": "CN=policy.example.test",
        "issuer": "CN=Test Root CA",
        "not_before": https.certificate.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": https.certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "serial": format(https.certificate.serial_number, "x"),
        "dns_names": ["policy.example.test"],
    }
    code, out, err = cli(capsys, "show", "p")
    assert code == 0 and "First." in out
    assert f"# server: 127.0.0.1 port {https.port}, {server['tls_version']}" in err
    assert f"# certificate sha256: {fingerprint}" in err
    assert "# certificate issuer: CN=Test Root CA" in err
    assert cli(capsys, "verify")[0] == 0  # the certificate blob is there and intact


def test_without_the_ca_file_the_certificate_is_not_trusted(
    workdir: Path, https: HttpsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(workdir, https.url(), None)
    cli(capsys, "check")
    with sqlite3.connect(workdir / "monitor.db") as conn:
        (data,) = conn.execute("SELECT data FROM events WHERE type = 'FetchFailed'").fetchone()
    assert json.loads(data)["error"] == "tls"


def test_evidence_holds_the_certificate_and_a_tampered_one_is_caught(
    workdir: Path, https: HttpsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(workdir, https.url(), https.ca_file)
    assert cli(capsys, "check")[0] == 0
    https.body = page("Second: the policy changed.")
    assert cli(capsys, "check")[0] == 0
    (_, first), (seq, _) = captures(workdir / "monitor.db")
    code, out, err = cli(capsys, "evidence", str(seq), str(workdir / "evidence"))
    assert code == 0, out + err
    for side in ("before", "after"):
        assert (workdir / "evidence" / side / "server-certificate.der").read_bytes() == https.der
    readme = (workdir / "evidence" / "README.md").read_text()
    fingerprint = hashlib.sha256(https.der).hexdigest()
    assert f"certificate sha256: {fingerprint}" in readme
    fetch = json.loads((workdir / "evidence" / "after" / "fetch.json").read_text())
    assert fetch["server"]["certificate"]["sha256"] == fingerprint

    with tampering(workdir / "monitor.db") as conn:
        (content,) = conn.execute(
            "SELECT content FROM blobs WHERE sha256 = ?", (fingerprint,)
        ).fetchone()
        flipped = content[:-5] + bytes([content[-5] ^ 0x01]) + content[-4:]
        conn.execute("UPDATE blobs SET content = ? WHERE sha256 = ?", (flipped, fingerprint))
    code, out, _ = cli(capsys, "verify")
    assert code == 1
    baseline_seq = min(s for s, c in captures(workdir / "monitor.db") if c == first)
    assert out.splitlines()[0].startswith(
        f"FAILED blob_corrupt: seq {baseline_seq}: seq {baseline_seq}: "
        "capture.server.certificate.sha256: "
    )


def test_a_plain_http_capture_records_the_address_and_no_tls(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.pageserver import PageServer

    server = PageServer().start()
    try:
        configure(workdir, server.set("/p", page("Plain.")), None)
        assert cli(capsys, "check")[0] == 0
    finally:
        server.stop()
    ((_, capture),) = captures(workdir / "monitor.db")
    assert capture["server"] == {"ip": "127.0.0.1", "port": server.port}
