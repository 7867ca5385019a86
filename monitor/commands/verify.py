"""``monitor verify``: check the hash chain and every blob; exit 1 naming the first break.

Also every signed checkpoint (in the log and in the checkpoint journal next to the
key): its signature, and that the log still has the events it signed. With
``--export DIR`` it checks an exported bundle instead, without any database.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from monitor.audit.checkpoint import (
    configured_key_path,
    journal_path,
    key_id,
    load_public_key_pem,
    load_public_keys,
    read_journal,
)
from monitor.audit.export import verify_bundle
from monitor.audit.verify import VerifyReport, verify_store
from monitor.commands.common import Subparsers, UsageError, database_url, settings_if_present
from monitor.errors import SigningKeyError
from monitor.store import open_store


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "verify",
        parents=[common],
        help="check the hash chain, blobs and checkpoints (exit 1 and name the seq on a break)",
        description="Recompute every event hash, check the chain links, seq continuity, "
        "every blob the events name, and every signed checkpoint; or, with --export, an "
        "exported bundle without the database.",
    )
    parser.add_argument(
        "--export", metavar="DIR", help="verify the bundle in DIR (no database needed)"
    )
    parser.add_argument(
        "--public-key",
        metavar="PEM",
        help="also trust this Ed25519 public key for checkpoint signatures",
    )
    parser.set_defaults(handler=run)


def _keys(args: argparse.Namespace, key_path: Path) -> dict[str, Ed25519PublicKey]:
    keys = load_public_keys(key_path)
    if args.public_key:
        try:
            data = Path(args.public_key).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read --public-key {args.public_key}: {exc.strerror}") from exc
        except ValueError as exc:  # a NUL in the name
            raise UsageError("cannot read --public-key: the path contains a NUL") from exc
        try:
            public = load_public_key_pem(data, where=args.public_key)
        except SigningKeyError as exc:
            raise UsageError(str(exc)) from exc
        keys[key_id(public)] = public
    return keys


def _print_findings(report: VerifyReport) -> None:
    for finding in report.findings:
        where = f"seq {finding.seq}: " if finding.seq is not None else ""
        print(f"FAILED {finding.kind}: {where}{finding.message}")


def _verify_export(directory: Path) -> int:
    if not os.path.isdir(directory):  # False, not an exception, for a NUL or over-long name
        raise UsageError(f"{directory} is not a directory")
    report = verify_bundle(directory)
    if report.ok:
        print(
            f"ok: bundle {directory}: {report.events} events, {report.blobs} blobs; manifest, "
            f"events, proofs and checkpoint signatures intact; head {report.head_hash}"
        )
        return 0
    _print_findings(report)
    return 1


async def run(args: argparse.Namespace) -> int:
    if args.export:
        return _verify_export(Path(args.export))
    settings = settings_if_present(args)
    key_path = configured_key_path(settings)
    keys = _keys(args, key_path)
    journal = journal_path(key_path)
    async with open_store(database_url(args, settings), read_only=True) as store:
        report = await verify_store(store, public_keys=keys, journal=read_journal(journal))
    if report.ok:
        print(
            f"ok: {report.events} events, {report.blobs} blobs, chain intact; "
            f"head {report.head_hash}"
        )
        if report.checkpoints:
            print(f"ok: {report.checkpoints} signed checkpoints match the log")
        return 0
    _print_findings(report)
    return 1
