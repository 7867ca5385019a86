"""The checkpoint public keys a daemon run created for its log (beside the database or config)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from monitor.audit.home import audit_home
from monitor.config.parse import load_config


def log_keys(database: str, config: Path) -> dict[str, Ed25519PublicKey]:
    """Keys where ``monitor`` keeps them for ``database`` run with ``config``; never creates."""
    settings = load_config(config, environ={})
    return audit_home(settings, database, config_path=str(config)).public_keys()
