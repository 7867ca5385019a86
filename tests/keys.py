"""The checkpoint public keys a daemon run in the test's working directory created."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from monitor.audit.checkpoint import configured_key_path, load_public_keys


def working_directory_keys() -> dict[str, Ed25519PublicKey]:
    """Keys at the default ``[monitor].key_path`` (``./monitor.key``); empty when none."""
    return load_public_keys(configured_key_path(None))
