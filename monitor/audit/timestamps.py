"""RFC 3161 time-stamp tokens over signed checkpoints: requests, replies and checks. Pure.

A time-stamping authority (TSA) signs "this hash existed at ``genTime``". The hash
(the *message imprint*) is the SHA-256 of the checkpoint's signed bytes — exactly
the ``checkpoints/<seq>.json`` file of an export — so anyone can check a token with

    openssl ts -verify -data checkpoint.json -in token.tsr -CAfile tsa-chain.pem

(``token.tsr`` a full reply; ``-token_in`` for a bare token as stored here).

A token is accepted when: it is CMS SignedData over a ``TSTInfo``; its imprint is
SHA-256 of the checkpoint; the signed attributes hold the digest of the TSTInfo and
carry a valid signature by the signer certificate; that certificate is allowed to
sign time stamps (extended key usage ``timeStamping``), was valid at ``genTime``, and
chains to a certificate in the TSA's configured chain file. No clock, no network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from monitor.errors import MonitorError

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class TimestampError(MonitorError):
    """A time-stamp reply or token is refused; the message says why."""


@dataclass(frozen=True, kw_only=True)
class TokenInfo:
    """What a checked token says."""

    gen_time: datetime
    serial: int
    policy: str
    signer: str  # the signer certificate's subject, RFC 4514
    imprint: bytes


def request_der(imprint: bytes, nonce: int) -> bytes:
    """A DER ``TimeStampReq`` for a SHA-256 imprint, asking for the signer certificate."""
    der: bytes = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": imprint,
            },
            "nonce": nonce,
            "cert_req": True,
        }
    ).dump()
    return der


def token_from_reply(reply: bytes, *, imprint: bytes, nonce: int) -> bytes:
    """The DER token (a CMS ``ContentInfo``) in a TSA's reply; TimestampError if refused."""
    try:
        response = tsp.TimeStampResp.load(reply)
        status = response["status"]["status"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampError(f"the reply is not an RFC 3161 TimeStampResp ({exc})") from exc
    if status not in ("granted", "granted_with_mods"):
        text = response["status"]["status_string"].native
        raise TimestampError(f"the TSA refused: {status}{f' ({text})' if text else ''}")
    token = response["time_stamp_token"]
    if token.native is None:
        raise TimestampError("the reply grants a time stamp but holds no token")
    der: bytes = token.dump()
    info = _tst_info(cms.ContentInfo.load(der))
    if info["nonce"].native != nonce:
        raise TimestampError("the reply's nonce is not the request's (a replayed reply?)")
    if info["message_imprint"]["hashed_message"].native != imprint:
        raise TimestampError("the token stamps another hash than the one sent")
    return der


def check_token(
    token: bytes, imprint: bytes, trusted: Sequence[x509.Certificate] | None
) -> TokenInfo:
    """Check ``token`` over ``imprint``; with ``trusted`` (the configured chain), that the
    signer chains to it. Raises TimestampError naming the first problem."""
    try:
        content = cms.ContentInfo.load(token)
        signed = content["content"]
        info = _tst_info(content)
        algorithm = info["message_imprint"]["hash_algorithm"]["algorithm"].native
        stamped = info["message_imprint"]["hashed_message"].native
        gen_time = info["gen_time"].native
        serial = int(info["serial_number"].native)
        policy = str(info["policy"].native)
        signer_info = signed["signer_infos"][0]
        embedded = [
            x509.load_der_x509_certificate(choice.chosen.dump())
            for choice in signed["certificates"] or []
            if choice.name == "certificate"
        ]
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise TimestampError(f"the token cannot be read ({exc})") from exc
    if algorithm != "sha256" or stamped != imprint:
        raise TimestampError("the token stamps another hash than this checkpoint's")
    pool = embedded + list(trusted or [])
    cert = _signer_certificate(signer_info, pool)
    _check_signature(signer_info, signed, cert)
    _check_usage(cert, gen_time)
    if trusted is not None:
        _check_chain(cert, list(trusted), pool)
    return TokenInfo(
        gen_time=gen_time,
        serial=serial,
        policy=policy,
        signer=cert.subject.rfc4514_string(),
        imprint=imprint,
    )


def load_chain(pem: bytes, *, where: str) -> list[x509.Certificate]:
    """The certificates of a PEM chain file; TimestampError if there are none."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise TimestampError(f"{where} holds no PEM certificates ({exc})") from exc
    return certs


def imprint_of(signed_bytes: bytes) -> bytes:
    return hashlib.sha256(signed_bytes).digest()


def _tst_info(content: cms.ContentInfo) -> tsp.TSTInfo:
    if content["content_type"].native != "signed_data":
        raise TimestampError("the token is not CMS SignedData")
    encap = content["content"]["encap_content_info"]
    if encap["content_type"].native != "tst_info":
        raise TimestampError("the token does not hold a TSTInfo")
    parsed = encap["content"].parsed
    assert isinstance(parsed, tsp.TSTInfo)
    return parsed


def _signer_certificate(
    signer_info: cms.SignerInfo, pool: list[x509.Certificate]
) -> x509.Certificate:
    sid = signer_info["sid"]
    for cert in pool:
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (
                cert.serial_number == wanted["serial_number"].native
                and cert.issuer.public_bytes() == wanted["issuer"].dump()
            ):
                return cert
        else:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except x509.ExtensionNotFound:
                continue
            if ski.value.digest == sid.chosen.native:
                return cert
    raise TimestampError("the token's signer certificate is neither in it nor in the chain")


def _check_signature(
    signer_info: cms.SignerInfo, signed: cms.SignedData, cert: x509.Certificate
) -> None:
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    hash_cls = _HASHES.get(digest_name)
    if hash_cls is None:
        raise TimestampError(f"the token uses the digest {digest_name}, which is not accepted")
    attrs = signer_info["signed_attrs"]
    if not attrs:
        raise TimestampError("the token has no signed attributes")
    found: dict[str, object] = {a["type"].native: a["values"][0].native for a in attrs}
    if found.get("content_type") != "tst_info":
        raise TimestampError("the token's signed content type is not TSTInfo")
    content = bytes(signed["encap_content_info"]["content"].contents)
    if found.get("message_digest") != hashlib.new(digest_name, content).digest():
        raise TimestampError("the token's TSTInfo was altered (its digest does not match)")
    # The signature covers the attributes DER-encoded as a SET (RFC 5652 §5.4).
    data = b"\x31" + attrs.dump()[1:]
    signature = signer_info["signature"].native
    key = cert.public_key()
    sig_name = signer_info["signature_algorithm"]["algorithm"].native
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pad: padding.AsymmetricPadding = (
                padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=padding.PSS.AUTO)
                if sig_name == "rsassa_pss"
                else padding.PKCS1v15()
            )
            key.verify(signature, data, pad, hash_cls())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hash_cls()))
        else:
            raise TimestampError(f"the signer's key type {type(key).__name__} is not accepted")
    except InvalidSignature as exc:
        raise TimestampError("the token's signature does not verify (altered token)") from exc


def _check_usage(cert: x509.Certificate, gen_time: datetime) -> None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is None or ExtendedKeyUsageOID.TIME_STAMPING not in usage:
        raise TimestampError("the signer certificate is not for time stamping")
    if not cert.not_valid_before_utc <= gen_time <= cert.not_valid_after_utc:
        raise TimestampError("the signer certificate was not valid at the token's time")


def _check_chain(
    cert: x509.Certificate, trusted: list[x509.Certificate], pool: list[x509.Certificate]
) -> None:
    """Every certificate in the configured file is trusted: the signer must be one of them,
    or be issued (signature checked) by one of them."""
    anchors = {c.fingerprint(hashes.SHA256()) for c in trusted}
    if cert.fingerprint(hashes.SHA256()) in anchors:
        return
    for issuer in trusted:
        if issuer.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return
    raise TimestampError("the signer certificate does not chain to the configured certificates")
