"""``monitor checkpoint``: sign a checkpoint (tree size, Merkle root, time) of the log.

The checkpoint is appended to the log (``CheckpointSigned`` on ``$checkpoints``) and to
the checkpoint journal next to the key; the journal line is printed so it can be
published or sent to someone who keeps it. ``--consistency-from N`` also prints an
RFC 9162 consistency proof that the tree of the first N events is a prefix of it.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.commands import common

if TYPE_CHECKING:
    from monitor.config.settings import Settings
    from monitor.events import StoredEvent
    from monitor.store.base import EventStore


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    parser = common.add_command(
        sub,
        options,
        "checkpoint",
        run,
        description="Sign the Merkle root of every event so far with the Ed25519 key at "
        "[monitor].key_path (created on first use), record it in the log and the journal.",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="sign even if the newest event is already a checkpoint of everything before it",
    )
    parser.add_argument(
        "--consistency-from",
        type=int,
        metavar="N",
        help="also print a consistency proof from the tree of the first N events",
    )
    parser.add_argument("--json", action="store_true", help="print the checkpoint as JSON")


async def run(args: argparse.Namespace) -> int:
    from monitor.audit.checkpoint import Checkpointer, merkle_tree
    from monitor.audit.home import log_id_of
    from monitor.events import CheckpointTimestamped, TimestampFailed

    settings = common.settings_if_present(args)
    home = common.audit_home_for(args, settings)
    # A checkpoint is appended and signed: never over a log altered at its head.
    async with common.open_log(args, settings, append=True) as store:
        # Only once the database opened as a log: a typo in --db must not leave a new key.
        signer = home.signer()
        head_seq, _ = await store.head()
        checkpointer = Checkpointer(store, signer, journal=home)
        signed = await checkpointer.checkpoint(datetime.now(UTC), force=args.force)
        reused = signed.seq is not None and signed.seq <= head_seq
        log_id = await log_id_of(store)
        if log_id is not None:
            home.migrate_legacy(log_id)
        proof = None
        if args.consistency_from is not None:
            old = args.consistency_from
            if not 0 < old <= signed.tree_size:
                raise common.UsageError(
                    f"--consistency-from must be between 1 and the tree size {signed.tree_size}"
                )
            tree = await merkle_tree(store, signed.tree_size)
            proof = {
                "old_size": old,
                "old_root": tree.root(old).hex(),
                "new_size": signed.tree_size,
                "new_root": signed.checkpoint.root_hash,
                "proof": [node.hex() for node in tree.consistency_proof(old, signed.tree_size)],
            }
        stamps = await _stamp(store, settings)
    if args.json:
        out: dict[str, Any] = {"checkpoint": signed.to_json(), "consistency": proof}
        if stamps:
            out["timestamps"] = [{"type": e.type, **e.data} for e in stamps]
        print(json.dumps(out, sort_keys=True, ensure_ascii=False))
        return 0
    cp = signed.checkpoint
    what = "latest checkpoint (no events since; --force signs anew)" if reused else "signed"
    print(f"{what} at seq {signed.seq}: {cp.tree_size} events, root {cp.root_hash}")
    print(f"timestamp {cp.timestamp}, key {cp.key_id}")
    journal = home.journal(log_id) if log_id else home.journals
    print(f"public key {home.public_key}; journal {journal}")
    print(json.dumps(signed.to_json(), sort_keys=True))
    if proof is not None:
        print(json.dumps({"consistency": proof}, sort_keys=True))
    for stored in stamps:
        match stored.event:
            case CheckpointTimestamped(tsa=tsa, gen_time=gen_time):
                print(f"time stamp by {tsa}: {gen_time} (seq {stored.seq})")
            case TimestampFailed(tsa=tsa, error=error):
                print(f"time stamp by {tsa} failed: {error} (recorded; `monitor run` asks again)")
    return 0


async def _stamp(store: EventStore, settings: Settings | None) -> list[StoredEvent]:
    """Ask each configured TSA to stamp the newest checkpoint it has not stamped yet."""
    if settings is None or not settings.audit.timestamp_authorities:
        return []
    from monitor.audit.stamper import stamp_latest

    return await stamp_latest(store, settings.audit.timestamp_authorities, datetime.now(UTC))
