"""A real RFC 3161 time-stamping authority on 127.0.0.1, for tests only.

A test CA (root → TSA certificate with the critical ``timeStamping`` key usage) is made
with ``cryptography``; each request is answered by ``openssl ts -reply`` — a TSA
implementation nobody here wrote — through a small aiohttp handler. ``down`` makes it
answer 503 (an outage), ``garbage`` makes it answer bytes that are no reply.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import tempfile
import threading
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test TSA"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def make_tsa_files(
    directory: Path, common: str = "Test TSA", *, rsa_key: bool = False
) -> dict[str, Path]:
    """Root CA, TSA certificate and key, chain PEM and an openssl config in ``directory``;
    the TSA signs with ECDSA P-256, or RSA 2048 (as most public TSAs do)."""
    directory.mkdir(parents=True, exist_ok=True)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{common} Root"))
        .issuer_name(_name(f"{common} Root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(root_key, hashes.SHA256())
    )
    tsa_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if rsa_key
        else ec.generate_private_key(ec.SECP256R1())
    )
    tsa = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(root.subject)
        .public_key(tsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files = {
        "root": directory / "root.pem",
        "tsa_cert": directory / "tsa.pem",
        "tsa_key": directory / "tsa.key",
        "chain": directory / "chain.pem",
        "config": directory / "openssl.cnf",
        "serial": directory / "serial",
    }
    files["root"].write_bytes(root.public_bytes(pem))
    files["tsa_cert"].write_bytes(tsa.public_bytes(pem))
    files["tsa_key"].write_bytes(
        tsa_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    files["chain"].write_bytes(tsa.public_bytes(pem) + root.public_bytes(pem))
    files["serial"].write_text("01\n")
    files["config"].write_text(
        f"""[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {directory}
serial = $dir/serial
signer_cert = $dir/tsa.pem
certs = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""
    )
    return files


class TimestampAuthority:
    """``openssl ts -reply`` behind HTTP on 127.0.0.1; ``start()`` / ``stop()``."""

    def __init__(self, directory: Path, common: str = "Test TSA", *, rsa_key: bool = False) -> None:
        self.files = make_tsa_files(directory, common, rsa_key=rsa_key)
        self.down = False
        self.garbage = False
        self.requests = 0
        self.answered = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tsa"

    @property
    def chain(self) -> Path:
        return self.files["chain"]

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.down:
            return web.Response(status=503, text="maintenance")
        if self.garbage:
            return web.Response(body=b"not a reply", content_type="application/timestamp-reply")
        query = await request.read()
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "q.tsq").write_bytes(query)
            done = await asyncio.to_thread(
                subprocess.run,
                [
                    "openssl", "ts", "-reply", "-config", str(self.files["config"]),
                    "-queryfile", f"{tmp}/q.tsq", "-out", f"{tmp}/r.tsr",
                ],
                capture_output=True,
            )  # fmt: skip
            if done.returncode != 0:
                return web.Response(status=500, text=done.stderr.decode(errors="replace"))
            reply = (Path(tmp) / "r.tsr").read_bytes()
        self.answered += 1
        return web.Response(body=reply, content_type="application/timestamp-reply")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/tsa", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self) -> TimestampAuthority:
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
