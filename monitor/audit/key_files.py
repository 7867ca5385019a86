"""The signing key on disk, and the file names derived from its path.

The key is created on first use at ``[monitor].key_path`` (resolved against the log's
data directory by ``monitor.audit.home``) with mode 0600 and ``O_EXCL``, so two
processes starting at once cannot each write a different key; its public half is
written beside it as ``<name>.pub.pem`` and the checkpoint journal is
``<name>.checkpoints.jsonl``. Loading public keys never creates anything.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from monitor.audit.checkpoint import Signer, key_id, load_public_key_pem, public_key_pem
from monitor.config.settings import MonitorSettings, Settings
from monitor.errors import SigningKeyError

log = logging.getLogger(__name__)


def configured_key_path(settings: Settings | None) -> Path:
    """``[monitor].key_path`` as written (commands resolve it with ``monitor.audit.home``)."""
    monitor = settings.monitor if settings is not None else MonitorSettings()
    return Path(monitor.key_path).expanduser()


def public_key_path(key_path: str | os.PathLike[str]) -> Path:
    """``monitor.key`` → ``monitor.pub.pem``."""
    return Path(key_path).expanduser().with_suffix(".pub.pem")


def journal_path(key_path: str | os.PathLike[str]) -> Path:
    """``monitor.key`` → ``monitor.checkpoints.jsonl``."""
    return Path(key_path).expanduser().with_suffix(".checkpoints.jsonl")


def load_or_create_key(key_path: str | os.PathLike[str]) -> Signer:
    """The signer for the key at ``key_path``; generated (mode 0600) when the file is absent."""
    path = Path(key_path).expanduser()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _create_key(path)
    except OSError as exc:
        raise SigningKeyError(f"cannot read the signing key {path}: {exc.strerror}") from exc
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning(
            "signing key %s is readable by other users (mode %o); run chmod 600 on it",
            path,
            mode,
        )
    signer = Signer(_parse_private_key(data, path))
    _write_public_key(path, signer)
    return signer


def load_public_keys(key_path: str | os.PathLike[str]) -> dict[str, Ed25519PublicKey]:
    """Public keys known at ``key_path`` (its private key, or its ``.pub.pem``); never creates."""
    path = Path(key_path).expanduser()
    keys: dict[str, Ed25519PublicKey] = {}
    if path.is_file():
        try:
            public = _parse_private_key(path.read_bytes(), path).public_key()
        except OSError as exc:
            raise SigningKeyError(f"cannot read the signing key {path}: {exc.strerror}") from exc
        keys[key_id(public)] = public
    pub = public_key_path(path)
    if pub.is_file():
        public = load_public_key_pem(pub.read_bytes(), where=str(pub))
        keys[key_id(public)] = public
    return keys


def _parse_private_key(data: bytes, path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(
            f"{path} is not an unencrypted PEM private key ({exc}); "
            "restore it from backup or point [monitor].key_path elsewhere"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} holds a key that is not Ed25519")
    return key


def _create_key(path: Path) -> Signer:
    if not path.parent.is_dir():
        raise SigningKeyError(f"cannot create the signing key {path}: no directory {path.parent}")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        # O_EXCL: two processes starting at once must not each write a different key.
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return load_or_create_key(path)
    except OSError as exc:
        raise SigningKeyError(f"cannot create the signing key {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    signer = Signer(key)
    _write_public_key(path, signer)
    log.info("created signing key %s (key id %s)", path, signer.key_id)
    return signer


def _write_public_key(path: Path, signer: Signer) -> None:
    pub = public_key_path(path)
    pem = public_key_pem(signer.public_key)
    try:
        if pub.is_file() and pub.read_bytes() == pem:
            return
        pub.write_bytes(pem)
    except OSError as exc:
        log.warning("cannot write the public key %s: %s", pub, exc.strerror)
