"""What every verifier reports: ``Finding``s, a ``VerifyReport``, and a ``Budget`` for them.

The chain and checkpoint checks (``verify``, ``checkpoint_audit``), the bundle and WACZ
checks (``export_verify``, ``wacz_verify``) and the time-stamp checks (``stamp_audit``)
all speak this vocabulary, so ``monitor verify`` prints them alike. A finding names
the seq it was found at (None: the log or file as a whole) and says, in words, what
is wrong; a budget lists the first few of a kind and counts the rest, since after
the first break the rest of a log usually breaks too.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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


class Budget:
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
