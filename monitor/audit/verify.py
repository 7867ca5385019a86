"""Verify the event log: seq continuity, the hash chain, stream versions and named blobs.

``ChainVerifier`` is pure: it is fed ``StoredEvent``s in seq order and returns
``Finding``s, so the same checks run over a live store (``verify_store``) and over an
exported ``events.jsonl`` with no database at all.

What each check catches:

* seq must run 1, 2, 3 …: a hole is a deleted event ("seq 5 is missing (deleted?)").
* ``prev_hash`` must equal the *stored* hash of the previous event: a mismatch means
  events were reordered or inserted.
* the hash recomputed from the envelope must equal the stored hash: a mismatch means
  the event was edited.
* versions within a stream must run 1, 2, 3 ….
* every blob named in event data (a key ending in ``sha256`` whose value is a 64-hex
  name, at any depth) must exist and hash to its name.

Links are checked against stored hashes, not recomputed ones, so one edited event
is one finding instead of a cascade down the rest of the log. The first break is
always reported exactly; after it only a few more are listed and the rest counted.

Deleting the newest events leaves a shorter but valid chain: only signed checkpoints
(held outside the database) can show that; ``checkpoint_audit`` checks them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from monitor.audit.checkpoint import JournalEntry
from monitor.audit.checkpoint_audit import CheckpointAudit
from monitor.audit.findings import Budget, Finding, VerifyReport
from monitor.errors import BlobMissingError, StoreError, StoreUnavailableError
from monitor.events import GENESIS_HASH, StoredEvent
from monitor.store.base import EventStore
from monitor.store.blobs import is_blob_id
from monitor.store.rules import ITERATE_BATCH

CHAIN_FINDINGS_LISTED = 5  # the first break plus a few after it
BLOB_FINDINGS_LISTED = 20


class ChainVerifier:
    """Checks a sequence of stored events fed in seq order; pure and incremental."""

    def __init__(self, *, listed: int = CHAIN_FINDINGS_LISTED) -> None:
        self.events = 0
        self.head_hash = GENESIS_HASH
        self._last_seq = 0
        self._last_hash: str | None = GENESIS_HASH  # None: the previous record was unreadable
        self._versions: dict[str, tuple[int, int]] = {}  # stream -> (version, seq)
        # Seqs already reported missing or unreadable: they explain later version jumps.
        self._holes: list[tuple[int, int]] = []
        self._budget = Budget(listed, "chain")

    def feed(self, ev: StoredEvent) -> list[Finding]:
        """Check one event against its predecessor; returns what is wrong with it."""
        self.events += 1
        found: list[Finding] = []
        expected_seq = self._last_seq + 1
        if ev.seq < expected_seq:
            # A duplicate or out-of-order line (exports): report it and keep the chain as it was.
            found.append(
                Finding(
                    ev.seq,
                    "order",
                    f"seq {ev.seq} appears after seq {self._last_seq} "
                    "(events reordered or duplicated?)",
                )
            )
            found += self._check_content(ev)
            return self._budget.admit(found)
        if ev.seq > expected_seq:
            found.append(_gap(expected_seq, ev.seq))
            self._holes.append((expected_seq, ev.seq - 1))
        elif self._last_hash is not None and ev.prev_hash != self._last_hash:
            # After a gap the link cannot match; the gap is the finding, not the link.
            if ev.seq == 1:
                message = "seq 1: prev_hash is not the genesis hash (the log's start was altered?)"
            else:
                message = (
                    f"seq {ev.seq}: prev_hash does not match the hash of seq {self._last_seq} "
                    "(events reordered or inserted?)"
                )
            found.append(Finding(ev.seq, "link", message))
        found += self._check_content(ev)
        last_version, last_seq = self._versions.get(ev.stream, (0, 0))
        skipped = ev.version - last_version - 1
        if skipped != 0 and not 0 < skipped <= self._holes_between(last_seq, ev.seq):
            found.append(
                Finding(
                    ev.seq,
                    "version",
                    f"seq {ev.seq}: stream {ev.stream!r} has version {ev.version} after "
                    f"version {last_version} (expected {last_version + 1})",
                )
            )
        self._versions[ev.stream] = (ev.version, ev.seq)
        self._last_seq, self._last_hash = ev.seq, ev.hash
        self.head_hash = ev.hash
        return self._budget.admit(found)

    def unreadable(self, seq: int, reason: str) -> list[Finding]:
        """Record that the event at ``seq`` exists but cannot be decoded."""
        self.events += 1
        found: list[Finding] = []
        if seq > self._last_seq + 1:
            found.append(_gap(self._last_seq + 1, seq))
        self._holes.append((self._last_seq + 1, seq))
        found.append(Finding(seq, "unreadable", f"seq {seq} cannot be read: {reason}"))
        self._last_seq, self._last_hash = max(seq, self._last_seq), None
        return self._budget.admit(found)

    def finish(self) -> list[Finding]:
        """Findings about the log as a whole, once every event has been fed."""
        return self._budget.summary()

    def _holes_between(self, after: int, before: int) -> int:
        """How many reported missing/unreadable seqs lie strictly between two positions."""
        return sum(
            max(0, min(last, before - 1) - max(first, after + 1) + 1) for first, last in self._holes
        )

    @staticmethod
    def _check_content(ev: StoredEvent) -> list[Finding]:
        try:
            recomputed = ev.expected_hash()
        except (TypeError, ValueError) as exc:  # bad hex in prev_hash, floats in data, ...
            return [
                Finding(ev.seq, "malformed", f"seq {ev.seq}: cannot recompute its hash ({exc})")
            ]
        if recomputed != ev.hash:
            return [
                Finding(
                    ev.seq,
                    "content",
                    f"seq {ev.seq}: stored hash does not match its content (event edited)",
                )
            ]
        return []


def _gap(first_missing: int, present: int) -> Finding:
    last_missing = present - 1
    if first_missing == last_missing:
        message = f"seq {first_missing} is missing (deleted?)"
    else:
        message = f"seq {first_missing} to {last_missing} are missing (deleted?)"
    return Finding(first_missing, "gap", message)


# ``…sha256`` keys whose value is a digest compared in place, never stored as a blob:
# ``words_sha256`` hashes a capture's words without layout (see classify.words_digest).
DIGEST_KEYS = frozenset({"words_sha256"})


def blob_refs(data: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, str]]:
    """(key path, blob name) for every ``…sha256`` key holding a 64-hex name, at any depth
    (except the plain digests in ``DIGEST_KEYS``)."""
    for key, value in data.items():
        where = f"{path}.{key}" if path else key
        if key in DIGEST_KEYS:
            continue
        if key.endswith("sha256") and is_blob_id(value):
            yield where, value
        elif isinstance(value, Mapping):
            yield from blob_refs(value, where)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    yield from blob_refs(item, f"{where}[{index}]")


class _BlobChecker:
    """Checks each named blob once, at the first event that names it."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.checked: set[str] = set()
        self.budget = Budget(BLOB_FINDINGS_LISTED, "blob")

    async def check(self, ev: StoredEvent) -> list[Finding]:
        found: list[Finding] = []
        for where, sha256 in blob_refs(ev.data):
            if sha256 in self.checked:
                continue
            self.checked.add(sha256)
            try:
                await self.store.get_blob(sha256)
            except BlobMissingError:
                found.append(
                    Finding(
                        ev.seq,
                        "blob_missing",
                        f"seq {ev.seq}: blob {sha256} named by {where} is missing",
                    )
                )
            except StoreUnavailableError:
                raise
            except StoreError as exc:
                found.append(Finding(ev.seq, "blob_corrupt", f"seq {ev.seq}: {where}: {exc}"))
        return self.budget.admit(found)


async def verify_store(
    store: EventStore,
    *,
    check_blobs: bool = True,
    batch: int = ITERATE_BATCH,
    public_keys: Mapping[str, Ed25519PublicKey] | None = None,
    journal: Sequence[JournalEntry] = (),
    bound_log: str | None = None,
) -> VerifyReport:
    """Verify every event up to the head at the start (later appends are left alone).

    ``public_keys`` (by key id) and ``journal`` (checkpoints kept outside the database)
    enable the checkpoint checks; without keys, any checkpoint found is a finding,
    since an unchecked signature proves nothing.
    """
    head_seq, _ = await store.head()
    verifier = ChainVerifier()
    blobs = _BlobChecker(store)
    audit = CheckpointAudit(public_keys or {}, journal, bound_log=bound_log)
    findings: list[Finding] = []

    async def take(ev: StoredEvent) -> None:
        findings.extend(verifier.feed(ev))
        audit.feed(ev)
        if check_blobs:
            findings.extend(await blobs.check(ev))

    after = 0
    while after < head_seq:
        try:
            async for ev in store.iterate(after=after, until=head_seq, batch=batch):
                await take(ev)
                after = ev.seq
            break
        except StoreUnavailableError:
            raise
        except StoreError:
            # A row in the next page cannot be decoded: walk to it one seq at a time,
            # report it, and carry on with the rest of the log.
            after, unreadable = await _step_past_unreadable(store, after, head_seq, verifier, take)
            while audit.size < verifier.events:  # the unreadable row keeps its leaf
                audit.unreadable()
            findings.extend(unreadable)
    findings.extend(verifier.finish())
    findings.extend(blobs.budget.summary())
    findings.extend(audit.finish())
    findings.sort(key=lambda f: (f.seq is None, f.seq or 0))
    return VerifyReport(
        events=verifier.events,
        blobs=len(blobs.checked),
        head_hash=verifier.head_hash,
        findings=findings,
        checkpoints=audit.checked,
    )


async def _step_past_unreadable(
    store: EventStore,
    after: int,
    head_seq: int,
    verifier: ChainVerifier,
    take: Callable[[StoredEvent], Awaitable[None]],
) -> tuple[int, list[Finding]]:
    """Feed readable events after ``after`` until the unreadable one; returns where it is."""
    for seq in range(after + 1, head_seq + 1):
        try:
            ev = await store.get_event(seq)
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            reason = str(exc).removeprefix(f"seq {seq}: ")
            return seq, verifier.unreadable(seq, reason)
        if ev is not None:
            await take(ev)
    return head_seq, []  # the failure did not recur row by row; everything was checked
