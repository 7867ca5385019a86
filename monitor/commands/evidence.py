"""``monitor evidence SEQ DIR``: everything about one change, checkable with standard tools.

Writes the before and after captures (raw bodies and normalized texts), fetch
metadata, a standalone HTML diff, hashes and the inclusion proof of the event
against a signed checkpoint (one is signed first if none covers the event).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from monitor.commands import common
from monitor.commands.export import output_directory, require_empty


def add_parser(sub: common.Subparsers, options: argparse.ArgumentParser) -> None:
    parser = common.add_command(
        sub,
        options,
        "evidence",
        run,
        description="Collect the before/after captures, normalized texts, an HTML diff, "
        "hashes, fetch metadata and the inclusion proof of event SEQ into DIR.",
    )
    parser.add_argument("seq", type=int, metavar="SEQ", help="seq of a ChangeDetected event")
    parser.add_argument("directory", metavar="DIR", help="a new or empty directory")


async def run(args: argparse.Namespace) -> int:
    from monitor.audit.checkpoint import ensure_checkpoint
    from monitor.audit.evidence import write_evidence
    from monitor.audit.stamper import stamp_latest
    from monitor.events import ARCHIVED_CAPTURES, names

    common.check_seq_argument("SEQ", args.seq, minimum=-common.MAX_SEQ)
    target = Path(args.directory)
    require_empty(target)
    settings = common.settings_if_present(args)
    home = common.audit_home_for(args, settings)
    with output_directory(target):
        # A checkpoint may be appended and signed: never over a log altered at its head.
        async with common.open_log(args, settings, append=True) as store:
            event = await store.get_event(args.seq) if args.seq > 0 else None
            if event is None:
                raise common.UsageError(
                    f"there is no event at seq {args.seq}; `monitor log` lists them"
                )
            if not isinstance(event.event, ARCHIVED_CAPTURES):
                raise common.UsageError(
                    f"seq {args.seq} is a {event.type}; evidence needs a capture "
                    f"({', '.join(names(ARCHIVED_CAPTURES))}); "
                    "`monitor log --type ChangeDetected` lists changes"
                )
            now = datetime.now(UTC)
            # Only once the database opened as a log: a typo in --db must not leave a key.
            signer = home.signer()
            if settings is not None and settings.audit.timestamp_authorities:
                # Sign the checkpoint the evidence will be proven against, and have it
                # stamped now, so the bundle carries the time stamps too.
                await ensure_checkpoint(store, signer, covering=event.seq, now=now, journal=home)
                await stamp_latest(store, settings.audit.timestamp_authorities, now)
            report = await write_evidence(
                store,
                event,
                target,
                signer=signer,
                journal=home,
                now=now,
            )
    before = f"seq {report.before.seq}" if report.before is not None else "none"
    print(f"evidence for seq {event.seq} ({event.type} in {event.stream}) in {target}")
    print(f"before: {before}; {len(report.files)} files; check with: sha256sum -c SHA256SUMS")
    cp = report.checkpoint
    print(
        f"proven against checkpoint seq {cp.seq} ({cp.tree_size} events, root "
        f"{cp.checkpoint.root_hash})"
    )
    if report.stamps:
        print(f"{report.stamps} RFC 3161 time stamp(s) of that checkpoint in timestamps/")
    if report.patch_reproduces is False:
        print("WARNING: the recorded patch does not reproduce the new text from the old one")
        return 1
    return 0
