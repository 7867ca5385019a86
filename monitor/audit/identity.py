"""Which server answered a capture: its IP address, the TLS version and its certificate.

Recorded with each capture (``capture["server"]``) so a reader can tell that the page
came from the company's own server — the address, and the certificate that a public
CA issued for the company's name — and not from a proxy or a forgery. The leaf
certificate is stored as a blob (its DER bytes, content-addressed: the blob name is the
certificate's SHA-256 fingerprint), so ``monitor verify`` notices an altered one.

``ServerIdentity.of`` reads an aiohttp connection (the I/O edge); the rest is pure.
Captures recorded before this existed carry no ``server``: nothing is inferred for them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import ssl
from dataclasses import dataclass
from typing import Any

JsonObject = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class ServerIdentity:
    """The far end of the connection a response came over."""

    ip: str | None = None
    port: int | None = None
    tls_version: str | None = None  # "TLSv1.3"; None for plain HTTP
    cipher: str | None = None
    certificate: bytes | None = None  # the leaf certificate, DER

    @classmethod
    def of(cls, transport: Any) -> ServerIdentity | None:
        """What an asyncio transport knows of its peer; None without a transport."""
        if transport is None:
            return None
        peer = transport.get_extra_info("peername")
        ip, port = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else (None, None)
        tls = transport.get_extra_info("ssl_object")
        if not isinstance(tls, ssl.SSLObject | ssl.SSLSocket):
            return cls(ip=ip, port=port)
        cipher = tls.cipher()
        return cls(
            ip=ip,
            port=port,
            tls_version=tls.version(),
            cipher=cipher[0] if cipher else None,
            certificate=tls.getpeercert(binary_form=True),
        )

    def to_data(self) -> JsonObject:
        """``capture["server"]``: JSON with the certificate described, its DER a blob."""
        data: JsonObject = {"ip": self.ip, "port": self.port}
        if self.tls_version is not None:
            data["tls_version"] = self.tls_version
            data["cipher"] = self.cipher
        if self.certificate:
            data["certificate"] = describe_certificate(self.certificate)
        return data


def describe_certificate(der: bytes) -> JsonObject:
    """sha256 (the blob name and fingerprint), subject, issuer, validity, serial, names."""
    # Every check of a TLS source describes the same certificate again: parsing it costs
    # ~60 µs, a tenth of an unchanged (304) check's CPU, so the description is cached.
    return dict(json.loads(_described(der)))


@functools.lru_cache(maxsize=1024)
def _described(der: bytes) -> str:
    return json.dumps(_describe(der))


def _describe(der: bytes) -> JsonObject:
    # Imported here: only TLS captures need it, and it costs every `monitor` start ~25 ms.
    from cryptography import x509

    described: JsonObject = {"sha256": hashlib.sha256(der).hexdigest()}
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        described["error"] = f"unreadable certificate: {exc}"[:300]
        return described
    described.update(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        not_after=cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        serial=format(cert.serial_number, "x"),
    )
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        described["dns_names"] = names.get_values_for_type(x509.DNSName)[:50]
    except x509.ExtensionNotFound:
        pass
    return described


def identity_lines(server: JsonObject) -> list[str]:
    """Human lines for ``monitor show`` and evidence READMEs."""
    where = server.get("ip") or "?"
    if server.get("port"):
        where = f"{where} port {server['port']}"
    lines = [
        f"server: {where}"
        + (f", {server['tls_version']}" if server.get("tls_version") else ", no TLS")
    ]
    cert = server.get("certificate")
    if isinstance(cert, dict):
        lines.append(f"certificate sha256: {cert.get('sha256')}")
        if cert.get("subject"):
            lines.append(f"certificate subject: {cert['subject']}")
            lines.append(f"certificate issuer: {cert.get('issuer')}")
            lines.append(f"certificate valid: {cert.get('not_before')} to {cert.get('not_after')}")
    return lines


def certificate_blob(server: object) -> str | None:
    """The blob name of the certificate in ``capture["server"]``, if any."""
    if isinstance(server, dict):
        cert = server.get("certificate")
        if isinstance(cert, dict) and isinstance(cert.get("sha256"), str):
            return str(cert["sha256"])
    return None
