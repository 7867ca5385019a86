"""``monitor verify``: check the hash chain and every blob; exit 1 naming the first break.

Also every signed checkpoint (in the log and in the checkpoint journal next to the
key): its signature, and that the log still has the events it signed. With
``--export DIR`` it checks an exported bundle instead, without any database.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.commands import common
from monitor.errors import SigningKeyError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from monitor.audit.findings import VerifyReport
    from monitor.audit.home import AuditHome
    from monitor.audit.stamp_audit import StampReport


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    parser = common.add_command(
        sub,
        options,
        "verify",
        run,
        description="Recompute every event hash, check the chain links, seq continuity, "
        "every blob the events name, and every signed checkpoint; or, with --export, an "
        "exported bundle without the database.",
    )
    parser.add_argument(
        "--export", metavar="DIR", help="verify the bundle in DIR (no database needed)"
    )
    parser.add_argument(
        "--wacz",
        metavar="FILE",
        help="verify a WACZ written by export or evidence (no database needed)",
    )
    parser.add_argument(
        "--public-key",
        metavar="PEM",
        help="also trust this Ed25519 public key for checkpoint signatures",
    )


def _keys(args: argparse.Namespace, home: AuditHome) -> dict[str, Ed25519PublicKey]:
    from monitor.audit.checkpoint import key_id, load_public_key_pem

    keys = home.public_keys()
    if args.public_key:
        try:
            data = Path(args.public_key).read_bytes()
        except OSError as exc:
            raise common.UsageError(
                f"cannot read --public-key {args.public_key}: {exc.strerror}"
            ) from exc
        except ValueError as exc:  # a NUL in the name
            raise common.UsageError("cannot read --public-key: the path contains a NUL") from exc
        try:
            public = load_public_key_pem(data, where=args.public_key)
        except SigningKeyError as exc:
            raise common.UsageError(str(exc)) from exc
        keys[key_id(public)] = public
    return keys


def _print_findings(report: VerifyReport) -> None:
    for finding in report.findings:
        where = f"seq {finding.seq}: " if finding.seq is not None else ""
        print(f"FAILED {finding.kind}: {where}{finding.message}")


def _verify_export(directory: Path) -> int:
    from monitor.audit.export_verify import verify_bundle

    if not os.path.isdir(directory):  # False, not an exception, for a NUL or over-long name
        raise common.UsageError(f"{directory} is not a directory")
    report = verify_bundle(directory)
    if report.ok:
        print(
            f"ok: bundle {directory}: {report.events} events, {report.blobs} blobs; manifest, "
            f"events, proofs and checkpoint signatures intact; head {report.head_hash}"
        )
        return 0
    _print_findings(report)
    return 1


def _verify_wacz(args: argparse.Namespace) -> int:
    from monitor.audit.wacz_verify import verify_wacz

    path = Path(args.wacz)
    if not path.is_file():
        raise common.UsageError(f"{path} is not a file")
    keys: dict[str, Ed25519PublicKey] = {}
    if args.public_key:
        keys = _public_key_arg(args.public_key)
    findings, signer = verify_wacz(path, keys)
    if findings:
        for finding in findings:
            print(f"FAILED {finding.kind}: {finding.message}")
        return 1
    print(f"ok: WACZ {path}: every member matches datapackage.json, signature valid")
    trusted = " (the key given with --public-key)" if keys else ""
    print(f"signed by key id {signer}{trusted}; compare it with the key id the publisher announced")
    return 0


def _public_key_arg(name: str) -> dict[str, Ed25519PublicKey]:
    from monitor.audit.checkpoint import key_id, load_public_key_pem

    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        raise common.UsageError(f"cannot read --public-key {name}: {exc.strerror}") from exc
    try:
        public = load_public_key_pem(data, where=name)
    except SigningKeyError as exc:
        raise common.UsageError(str(exc)) from exc
    return {key_id(public): public}


async def run(args: argparse.Namespace) -> int:
    from monitor.audit.home import log_id_of
    from monitor.audit.stamp_audit import audit_stamps, load_chains
    from monitor.audit.verify import verify_store

    if args.export:
        return _verify_export(Path(args.export))
    if args.wacz:
        return _verify_wacz(args)
    settings = common.settings_if_present(args)
    home = common.audit_home_for(args, settings)
    keys = _keys(args, home)
    try:
        chains = load_chains(settings.audit.timestamp_authorities if settings else ())
    except SigningKeyError as exc:
        raise common.UsageError(str(exc)) from exc
    async with common.open_log(args, settings) as store:
        log_id = await log_id_of(store)
        report = await verify_store(
            store, public_keys=keys, journal=home.read(log_id), bound_log=home.bound_log()
        )
        stamps = await audit_stamps(store, chains)
    if stamps.findings:
        report.findings.extend(stamps.findings)
        report.findings.sort(key=lambda f: (f.seq is None, f.seq or 0))
    if report.ok:
        print(
            f"ok: {report.events} events, {report.blobs} blobs, chain intact; "
            f"head {report.head_hash}"
        )
        if report.checkpoints:
            print(f"ok: {report.checkpoints} signed checkpoints match the log")
        _print_stamps(stamps)
        return 0
    _print_findings(report)
    return 1


STAMPS_LISTED = 10


def _print_stamps(stamps: StampReport) -> None:
    """Which checkpoints carry how many trusted time stamps (the newest few)."""
    if not stamps.total:
        return
    print(
        f"ok: {stamps.total} RFC 3161 time stamps on {len(stamps.stamps)} checkpoints "
        "match their checkpoints"
    )
    for seq in sorted(stamps.stamps)[-STAMPS_LISTED:]:
        tsas = stamps.stamps[seq]
        print(f"  checkpoint seq {seq}: {len(tsas)} stamp(s) ({', '.join(sorted(set(tsas)))})")
    for tsa in sorted(stamps.unanchored):
        print(
            f"note: stamps by {tsa} were checked with the certificate inside them only; "
            "list the TSA in [audit] timestamp_authorities to check its chain"
        )
