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
(held outside the database) can show that. ``CheckpointAudit`` checks them: every
``CheckpointSigned`` event in the log and every line of the checkpoint journal must
carry a valid Ed25519 signature, cover only events before it, and sign the Merkle root
of the log's first ``tree_size`` events as they are now; a checkpoint that signed more
events than the log still has is a truncated tail ("log truncated after checkpoint at
seq N"). A log rewritten from some seq on, with every later hash recomputed, passes the
chain checks but not these.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from monitor.audit.checkpoint import SignedCheckpoint, signature_problem
from monitor.audit.merkle import CompactTree, leaf_hash
from monitor.errors import BlobMissingError, StoreError, StoreUnavailableError
from monitor.events import GENESIS_HASH, CheckpointSigned, StoredEvent
from monitor.store.base import EventStore
from monitor.store.blobs import is_blob_id

CHAIN_FINDINGS_LISTED = 5  # the first break plus a few after it
BLOB_FINDINGS_LISTED = 20
CHECKPOINT_FINDINGS_LISTED = 10


@dataclass(frozen=True)
class Finding:
    """One problem in the log; ``seq`` is the event it was found at (None: the log as a whole)."""

    seq: int | None
    kind: str  # gap, order, link, content, malformed, unreadable, version, blob_missing, ...
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of a verification: counts, the head it reached and what was wrong."""

    events: int
    blobs: int
    head_hash: str
    findings: list[Finding] = field(default_factory=list)
    checkpoints: int = 0  # distinct signed checkpoints checked (log and journal)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None


class _Budget:
    """Lists the first ``limit`` findings and counts the rest."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit, self.what = limit, what
        self.listed = 0
        self.suppressed = 0

    def admit(self, findings: list[Finding]) -> list[Finding]:
        room = max(0, self.limit - self.listed)
        kept = findings[:room]
        self.listed += len(kept)
        self.suppressed += len(findings) - len(kept)
        return kept

    def summary(self) -> list[Finding]:
        if not self.suppressed:
            return []
        return [
            Finding(
                None,
                "suppressed",
                f"{self.suppressed} further {self.what} problem(s) not listed; "
                "deal with the first one, then verify again",
            )
        ]


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
        self._budget = _Budget(listed, "chain")

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
        self.budget = _Budget(BLOB_FINDINGS_LISTED, "blob")

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


JournalEntry = SignedCheckpoint | tuple[int, str]  # a journal line, or (line number, problem)


class CheckpointAudit:
    """Checks signed checkpoints against the log; fed the same events as ``ChainVerifier``.

    Keeps 32 bytes per event (the stored hashes, in log order) and computes every
    checkpoint's root in one pass at the end, so any number of checkpoints costs
    one walk over the leaves.
    """

    def __init__(
        self,
        public_keys: Mapping[str, Ed25519PublicKey],
        journal: Sequence[JournalEntry] = (),
        *,
        journal_name: str = "checkpoint journal",
        bound_log: str | None = None,
    ) -> None:
        self.keys = dict(public_keys)
        # The log id the journals say this database held (monitor.audit.home), if known.
        self.bound_log = bound_log
        self.journal = list(journal)
        self.journal_name = journal_name
        self._hashes = bytearray()
        self._first_hash: str | None = None
        self._logged: dict[int, SignedCheckpoint] = {}
        self._found: list[Finding] = []
        self._budget = _Budget(CHECKPOINT_FINDINGS_LISTED, "checkpoint")
        self.checked = 0

    @property
    def size(self) -> int:
        return len(self._hashes) // 32

    def feed(self, ev: StoredEvent) -> None:
        try:
            raw = bytes.fromhex(ev.hash)
        except ValueError:
            raw = b""
        # A malformed hash still takes its place, so later leaves keep their positions.
        self._hashes += raw if len(raw) == 32 else bytes(32)
        if ev.seq == 1:
            self._first_hash = ev.hash
        if ev.type != CheckpointSigned.type:
            return
        try:
            self._logged[ev.seq] = SignedCheckpoint.from_event(ev)
        except ValueError as exc:
            self._found.append(
                Finding(ev.seq, "checkpoint", f"seq {ev.seq}: checkpoint data is malformed ({exc})")
            )

    def unreadable(self) -> None:
        """An event that cannot be decoded still occupies its leaf."""
        self._hashes += bytes(32)

    def finish(self) -> list[Finding]:
        found = list(self._found)
        candidates = list(self._logged.values())
        foreign: set[str] = set()
        for entry in self.journal:
            if isinstance(entry, tuple):
                number, problem = entry
                found.append(
                    Finding(
                        None, "checkpoint_journal", f"{self.journal_name} line {number}: {problem}"
                    )
                )
                continue
            if entry.log_id and self._first_hash and entry.log_id != self._first_hash:
                foreign.add(entry.log_id)
                continue
            found += self._compare_with_log(entry)
            if entry not in candidates:
                candidates.append(entry)
        if foreign and self._first_hash is not None:
            found.append(
                Finding(
                    None,
                    "checkpoint_journal",
                    f"the {self.journal_name} holds checkpoints of a log whose first event "
                    f"hash is {min(foreign)[:16]}…, not this log's {self._first_hash[:16]}… "
                    "(another database sharing the key — give each its own key_path — or "
                    "this log rewritten from seq 1)",
                )
            )
        if self.bound_log and self._first_hash and self.bound_log != self._first_hash:
            found.append(
                Finding(
                    None,
                    "checkpoint_journal",
                    f"this database held the log whose first event hash is "
                    f"{self.bound_log[:16]}… when its checkpoints were journaled; it now "
                    f"holds {self._first_hash[:16]}… (the log was rewritten from seq 1 — or "
                    "the database was started anew, and `monitor checkpoint` records that)",
                )
            )
        self.checked = len(candidates)
        found += self._signatures(candidates)
        found += self._roots(candidates)
        found.sort(key=lambda f: (f.seq is None, f.seq or 0))
        return self._budget.admit(found) + self._budget.summary()

    def _compare_with_log(self, entry: SignedCheckpoint) -> list[Finding]:
        seq = entry.seq
        if seq is None or seq > self.size:
            return []  # beyond the log's end: reported as truncation
        logged = self._logged.get(seq)
        if logged is None:
            return [
                Finding(
                    seq,
                    "checkpoint_journal",
                    f"seq {seq}: the {self.journal_name} has a checkpoint here, the log does "
                    "not (event replaced?)",
                )
            ]
        if logged != entry:
            return [
                Finding(
                    seq,
                    "checkpoint_journal",
                    f"seq {seq}: checkpoint differs from the {self.journal_name}'s copy",
                )
            ]
        return []

    def _signatures(self, candidates: list[SignedCheckpoint]) -> list[Finding]:
        if not candidates:
            return []
        if not self.keys:
            return [
                Finding(
                    None,
                    "checkpoint_key",
                    f"{len(candidates)} checkpoint(s) cannot be checked: no public key "
                    "(keep the signing key at [monitor].key_path or pass --public-key)",
                )
            ]
        found = []
        for cp in candidates:
            problem = signature_problem(cp, self.keys)
            if problem is not None:
                found.append(
                    Finding(
                        cp.seq, "checkpoint_signature", f"checkpoint at seq {cp.seq}: {problem}"
                    )
                )
        return found

    def _roots(self, candidates: list[SignedCheckpoint]) -> list[Finding]:
        found = []
        size = self.size
        pending = []
        for cp in candidates:
            tree_size = cp.tree_size
            if cp.seq is not None and tree_size >= cp.seq and cp.seq <= size:
                found.append(
                    Finding(
                        cp.seq,
                        "checkpoint",
                        f"checkpoint at seq {cp.seq} claims {tree_size} events, but only "
                        f"{cp.seq - 1} precede it",
                    )
                )
            elif tree_size > size:
                found.append(
                    Finding(
                        size + 1,
                        "truncated",
                        f"log truncated after checkpoint at seq {cp.seq}: it signed "
                        f"{tree_size} events, the log now ends at seq {size}",
                    )
                )
            else:
                pending.append(cp)
        tree = CompactTree()
        for cp in sorted(pending, key=lambda c: c.tree_size):
            while tree.size < cp.tree_size:
                start = tree.size * 32
                tree.append(leaf_hash(bytes(self._hashes[start : start + 32])))
            if tree.root() == cp.root:
                continue
            head = self._hashes[(cp.tree_size - 1) * 32 : cp.tree_size * 32].hex()
            where = (
                f"seq {cp.tree_size} is not the event it signed"
                if cp.tree_size and head != cp.checkpoint.head_hash
                else f"events up to seq {cp.tree_size} were changed"
            )
            found.append(
                Finding(
                    cp.tree_size,
                    "checkpoint_root",
                    f"the log differs from checkpoint at seq {cp.seq}: {where} "
                    f"(Merkle root of the first {cp.tree_size} events does not match)",
                )
            )
        return found


async def verify_store(
    store: EventStore,
    *,
    check_blobs: bool = True,
    batch: int = 1000,
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
