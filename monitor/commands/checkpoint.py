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

from monitor.audit.checkpoint import (
    Checkpointer,
    configured_key_path,
    journal_path,
    load_or_create_key,
    merkle_tree,
    public_key_path,
)
from monitor.commands.common import Subparsers, UsageError, database_url, settings_if_present
from monitor.store import open_store


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "checkpoint",
        parents=[common],
        help="sign a checkpoint (tree size, Merkle root, time) of the log as it stands",
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
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    settings = settings_if_present(args)
    key_path = configured_key_path(settings)
    async with open_store(database_url(args, settings), create=False) as store:
        # Only once the database opened as a log: a typo in --db must not leave a new key.
        signer = load_or_create_key(key_path)
        head_seq, _ = await store.head()
        checkpointer = Checkpointer(store, signer, journal=journal_path(key_path))
        signed = await checkpointer.checkpoint(datetime.now(UTC), force=args.force)
        reused = signed.seq is not None and signed.seq <= head_seq
        proof = None
        if args.consistency_from is not None:
            old = args.consistency_from
            if not 0 < old <= signed.tree_size:
                raise UsageError(
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
    if args.json:
        out = {"checkpoint": signed.to_json(), "consistency": proof}
        print(json.dumps(out, sort_keys=True, ensure_ascii=False))
        return 0
    cp = signed.checkpoint
    what = "latest checkpoint (no events since; --force signs anew)" if reused else "signed"
    print(f"{what} at seq {signed.seq}: {cp.tree_size} events, root {cp.root_hash}")
    print(f"timestamp {cp.timestamp}, key {cp.key_id}")
    print(f"public key {public_key_path(key_path)}; journal {journal_path(key_path)}")
    print(json.dumps(signed.to_json(), sort_keys=True))
    if proof is not None:
        print(json.dumps({"consistency": proof}, sort_keys=True))
    return 0
