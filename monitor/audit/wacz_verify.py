"""Check a WACZ without a database: member hashes and sizes, the digest and its
signature (``monitor.audit.wacz`` says what is signed), and each response's payload."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from warcio.archiveiterator import ArchiveIterator

from monitor.audit.checkpoint import key_id
from monitor.audit.findings import Finding
from monitor.audit.wacz import DIGEST, PACKAGE


def verify_wacz(path: Path, keys: Mapping[str, Ed25519PublicKey]) -> tuple[list[Finding], str]:
    """Findings about the WACZ at ``path``, and the key id that signed it ("" if none)."""
    found: list[Finding] = []

    def add(kind: str, message: str) -> None:
        found.append(Finding(None, kind, message))

    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        add("wacz", f"{path} is not a readable ZIP ({exc})")
        return found, ""
    with archive:
        names = set(archive.namelist())
        try:
            package_bytes = archive.read(PACKAGE)
            package = json.loads(package_bytes)
            digest = json.loads(archive.read(DIGEST))
        except (KeyError, ValueError) as exc:
            add("wacz", f"{path}: datapackage.json or its digest is missing or unreadable ({exc})")
            return found, ""
        listed = set()
        for resource in package.get("resources", []):
            name = str(resource.get("path", ""))
            listed.add(name)
            if name not in names:
                add("wacz_member", f"{name} is listed in datapackage.json but missing")
                continue
            content = archive.read(name)
            actual = "sha256:" + hashlib.sha256(content).hexdigest()
            if actual != resource.get("hash") or len(content) != resource.get("bytes"):
                add("wacz_member", f"{name} does not match its hash in datapackage.json")
            elif name.endswith((".warc", ".warc.gz")):
                found += _check_payloads(name, content)
        for name in sorted(names - listed - {PACKAGE, DIGEST}):
            add("wacz_member", f"{name} is in the WACZ but not listed in datapackage.json")
        signer = _check_digest(package_bytes, digest, keys, add)
    return found, signer


def _check_digest(
    package_bytes: bytes,
    digest: Mapping[str, Any],
    keys: Mapping[str, Ed25519PublicKey],
    add: Callable[[str, str], None],
) -> str:
    expected = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
    if digest.get("hash") != expected:
        add("wacz_digest", "datapackage.json does not match datapackage-digest.json")
        return ""
    signed = digest.get("signedData")
    if not isinstance(signed, Mapping):
        add("wacz_signature", "datapackage-digest.json is not signed")
        return ""
    try:
        public = serialization.load_der_public_key(base64.b64decode(str(signed["publicKey"])))
        signature = base64.b64decode(str(signed["signature"]))
    except (KeyError, ValueError) as exc:
        add("wacz_signature", f"the signature cannot be read ({exc})")
        return ""
    if not isinstance(public, Ed25519PublicKey):
        add("wacz_signature", "the signing key is not Ed25519")
        return ""
    kid = key_id(public)
    if signed.get("hash") != expected:
        add("wacz_signature", "the signature covers another datapackage.json")
    try:
        public.verify(signature, str(signed.get("hash", "")).encode())
    except InvalidSignature:
        add("wacz_signature", "the signature of datapackage-digest.json does not verify")
    if keys and kid not in keys:
        add("wacz_signature", f"signed by key {kid[:16]}…, which is not the log's key")
    return kid


def _check_payloads(name: str, content: bytes) -> list[Finding]:
    """Each response's body must hash to its WARC-Payload-Digest (the capture's blob name)."""
    found = []
    try:
        for record in ArchiveIterator(io.BytesIO(content)):
            if record.rec_type != "response":
                record.content_stream().read()
                continue
            declared = record.rec_headers.get_header("WARC-Payload-Digest") or ""
            body = record.content_stream().read()
            if declared.startswith("sha256:") and declared != (
                "sha256:" + hashlib.sha256(body).hexdigest()
            ):
                uri = record.rec_headers.get_header("WARC-Target-URI")
                found.append(
                    Finding(None, "wacz_payload", f"{name}: the body of {uri} was altered")
                )
    except Exception as exc:  # warcio raises many kinds on a damaged archive
        found.append(Finding(None, "wacz_member", f"{name} cannot be read as WARC ({exc})"))
    return found
