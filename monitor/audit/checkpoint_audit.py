"""Signed checkpoints against the log: what the hash chain alone cannot show.

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

from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from monitor.audit.checkpoint import JournalEntry, SignedCheckpoint, signature_problem
from monitor.audit.findings import Budget, Finding
from monitor.audit.merkle import CompactTree, leaf_hash
from monitor.events import CheckpointSigned, StoredEvent

CHECKPOINT_FINDINGS_LISTED = 10


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
        self._budget = Budget(CHECKPOINT_FINDINGS_LISTED, "checkpoint")
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
