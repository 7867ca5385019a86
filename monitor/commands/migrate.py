"""``monitor migrate --from URL --to URL``: copy a log verbatim and prove the heads equal.

Verbatim means the target ends up with the same rows, not an equivalent log: the same
seq, event_id, stream, version, type, schema and ``recorded_at``, the *stored* data
bytes (not re-encoded), the same ``prev_hash`` and ``hash``, every blob with its stored
(compressed) bytes, and every cursor. A source with a broken chain is copied broken, so
``monitor verify`` says the same about both.

Safety:

* the target must be empty, or hold a prefix of the source (its head seq and hash are
  the source's at that seq) — then the copy resumes after it; anything else is refused
  untouched (exit 2);
* events are copied in batches, each in one transaction that checks it continues the
  target's head, so an interrupted migrate is resumed by running it again;
* at the end the chain of each side is recomputed from the stored rows, both heads
  are printed, and the exit status is 1 if they differ — or if the target's chain has
  a break the source's has not (a resumed target edited in between).

Events appended to the source during the copy are left for the next run (stop the
workers first, or run ``migrate`` again after stopping them).
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.commands.common import Subparsers, UsageError, settings_if_present
from monitor.errors import StoreError, StoreUnavailableError

if TYPE_CHECKING:
    from monitor.audit.findings import Finding
    from monitor.audit.verify import ChainVerifier
    from monitor.events import StoredEvent
    from monitor.store.base import EventStore, RawRows

log = logging.getLogger(__name__)

BATCH = 1000  # rows per copied batch: each is one transaction on the target


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "migrate",
        parents=[common],
        help="copy a log verbatim to another database (e.g. SQLite → PostgreSQL)",
        description="Copy every event (same seq, bytes and hashes), blob and cursor from one "
        "database to another, resuming if the target already holds a prefix of the source; "
        "then recompute both chains and print both heads (exit 1 if they differ).",
    )
    parser.add_argument("--from", dest="source", required=True, metavar="URL", help="source")
    parser.add_argument("--to", dest="target", required=True, metavar="URL", help="target")
    parser.set_defaults(handler=run)


def raw_rows(store: EventStore, name: str) -> RawRows:
    """Row-level access to ``store`` (every backend offers it: ``monitor.store.base.RawCopy``)."""
    from monitor.store.base import raw_rows_of

    rows = raw_rows_of(store)
    if rows is None:
        raise UsageError(f"{name}: this database cannot be copied row by row")
    return rows


# --------------------------------------------------------------------------- the command


@dataclass(frozen=True)
class ChainSummary:
    events: int
    head_seq: int
    head_hash: str
    findings: tuple[Finding, ...]

    def problems(self) -> list[tuple[int | None, str]]:
        return [(f.seq, f.kind) for f in self.findings]

    def line(self, name: str) -> str:
        state = "intact" if not self.findings else f"{len(self.findings)} problem(s)"
        return (
            f"{name}: {self.events} events, head seq {self.head_seq} {self.head_hash} "
            f"(chain {state})"
        )


async def recompute_chain(store: EventStore, until: int) -> ChainSummary:
    """Every hash and link recomputed from the stored rows up to ``until``."""
    from monitor.audit.verify import ChainVerifier

    verifier = ChainVerifier()
    findings: list[Finding] = []
    last_seq = 0
    after = 0
    while after < until:
        try:
            async for ev in store.iterate(after=after, until=until):
                findings += verifier.feed(ev)
                last_seq = after = ev.seq
            break
        except StoreUnavailableError:
            raise
        except StoreError:
            # An unreadable row: name it and step over it, like `monitor verify` does.
            after = await _step_over(store, after, until, verifier, findings)
            last_seq = after
    findings += verifier.finish()
    return ChainSummary(verifier.events, last_seq, verifier.head_hash, tuple(findings))


async def _step_over(
    store: EventStore, after: int, until: int, verifier: ChainVerifier, findings: list[Finding]
) -> int:
    for seq in range(after + 1, until + 1):
        try:
            ev: StoredEvent | None = await store.get_event(seq)
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            findings += verifier.unreadable(seq, str(exc))
            return seq
        if ev is not None:
            findings += verifier.feed(ev)
    return until


def _check_urls(source: str, target: str) -> None:
    from monitor.store import url_scheme

    for name, url in (("--from", source), ("--to", target)):
        try:
            scheme = url_scheme(url)
        except StoreUnavailableError as exc:
            raise UsageError(f"{name}: {exc}") from exc
        if scheme == "memory":
            raise UsageError(f"{name}: memory:// holds nothing that outlives the command")
    if _same_database(source, target):
        raise UsageError("--from and --to name the same database")


def _same_database(source: str, target: str) -> bool:
    from monitor.store import sqlite_path, url_scheme

    if url_scheme(source) == url_scheme(target) == "sqlite":
        return os.path.abspath(sqlite_path(source)) == os.path.abspath(sqlite_path(target))
    return source == target


async def run(args: argparse.Namespace) -> int:
    from monitor.audit.home import log_id_of
    from monitor.store import describe_url, open_store

    _check_urls(args.source, args.target)
    async with (
        open_store(args.source, read_only=True) as source,
        open_store(args.target) as target,
    ):
        source_name, target_name = describe_url(args.source), describe_url(args.target)
        src = raw_rows(source, source_name)
        dst = raw_rows(target, target_name)
        code = await copy_log(source, target, src, dst, source_name, target_name)
        log_id = await log_id_of(source)
    if code == 0 and log_id is not None:
        _carry_audit_files(args, log_id)
    return code


def _carry_audit_files(args: argparse.Namespace, log_id: str) -> None:
    """The target is the same log: its checkpoint journal and key go where it will look."""
    from monitor.audit.home import audit_home, carry_over

    settings = settings_if_present(args)
    old = audit_home(settings, args.source, config_path=args.config)
    new = audit_home(settings, args.target, config_path=args.config)
    for line in carry_over(old, new, log_id):
        print(line)


async def copy_log(
    source: EventStore,
    target: EventStore,
    src: RawRows,
    dst: RawRows,
    source_name: str,
    target_name: str,
) -> int:
    """Copy blobs, events and cursors; print both recomputed heads; 0 if they are equal."""
    until, _ = await src.last()
    have_seq, have_hash = await dst.last()
    if have_seq:
        theirs = await src.event_hash(have_seq)
        if have_seq > until or theirs != have_hash:
            raise UsageError(
                f"{target_name} is not empty and not a prefix of {source_name} (its seq "
                f"{have_seq} has hash {have_hash[:16]}…, the source's "
                f"{'has none' if theirs is None else theirs[:16] + '…'}); refusing to touch it"
            )
        print(f"resuming: {target_name} already holds seq 1 to {have_seq} of {source_name}")

    # Blobs first, like every writer: an event is never in the target before its blobs.
    blobs = 0
    async for names in src.blob_names(BATCH):
        missing = await dst.missing_blobs(names)
        if missing:
            await dst.write_blobs(await src.read_blobs(missing))
            blobs += len(missing)
    events = 0
    async for batch in src.events(have_seq, until, BATCH):
        await dst.write_events(batch)
        events += len(batch)
        log.info("copied up to seq %d of %d", batch[-1].seq, until)
    cursors = await src.cursors()
    for name, seq in sorted(cursors.items()):
        await target.set_cursor(name, seq)
    print(f"copied {events} events, {blobs} blobs, {len(cursors)} cursors")

    src_chain = await recompute_chain(source, until)
    dst_chain = await recompute_chain(target, until)
    print(src_chain.line("source"))
    print(dst_chain.line("target"))
    if (src_chain.head_seq, src_chain.head_hash) != (dst_chain.head_seq, dst_chain.head_hash):
        print("HEADS DIFFER: the target does not hold the same log")
        return 1
    extra = set(dst_chain.problems()) - set(src_chain.problems())
    if extra:
        at, kind = min(extra, key=lambda p: (p[0] is None, p[0] or 0))
        print(
            f"CHAINS DIFFER: the target has problems the source has not (first: {kind} at "
            f"seq {at}); it was changed outside the monitor — migrate into an empty database"
        )
        return 1
    if src_chain.findings:
        print(
            "heads equal; the source's own chain has problems, copied as they are "
            "(run `monitor verify` on either side for details)"
        )
    else:
        print("heads equal: the target holds the same log")
    return 0
