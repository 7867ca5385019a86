"""Check every recorded RFC 3161 token against its checkpoint and the configured chain.

Part of ``monitor verify``: each ``CheckpointTimestamped`` must name a checkpoint of
the log, stamp exactly that checkpoint's signed bytes, and carry a valid TSA signature
chaining to the certificates configured for its TSA (``[audit]
timestamp_authorities``). A token whose TSA is no longer configured is still checked
(imprint and signature, with the certificate inside it) and counted as unanchored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography import x509

from monitor.audit.checkpoint import checkpoints_in
from monitor.audit.findings import Finding
from monitor.audit.stamper import TIMESTAMP_STREAM
from monitor.audit.timestamps import TimestampError, check_token, imprint_of, load_chain
from monitor.config.settings import TimestampAuthority
from monitor.errors import SigningKeyError, StoreError, StoreUnavailableError
from monitor.events import CheckpointTimestamped, parse_time
from monitor.store.base import EventStore


@dataclass
class StampReport:
    """Stamps per checkpoint seq (TSA URLs), what failed, and TSAs without a chain."""

    stamps: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    findings: list[Finding] = field(default_factory=list)
    unanchored: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.stamps.values())


def load_chains(
    authorities: Sequence[TimestampAuthority],
) -> dict[str, list[x509.Certificate]]:
    """Each configured TSA's certificates by URL; SigningKeyError (exit 2) if unreadable."""
    chains: dict[str, list[x509.Certificate]] = {}
    for tsa in authorities:
        try:
            with open(tsa.certificates, "rb") as handle:
                pem = handle.read()
            chains[tsa.url] = load_chain(pem, where=tsa.certificates)
        except OSError as exc:
            raise SigningKeyError(
                f"cannot read the certificates of the TSA {tsa.label} ({tsa.certificates}): "
                f"{exc.strerror}"
            ) from exc
        except TimestampError as exc:
            raise SigningKeyError(str(exc)) from exc
    return chains


async def audit_stamps(
    store: EventStore, chains: Mapping[str, list[x509.Certificate]]
) -> StampReport:
    report = StampReport()
    stamps = await store.read(stream=TIMESTAMP_STREAM, types=(CheckpointTimestamped.type,))
    if not stamps:
        return report
    checkpoints = {cp.seq: cp for cp in await checkpoints_in(store)}
    for ev in stamps:
        try:
            stamp = ev.event
        except (KeyError, TypeError, ValueError):
            stamp = None
        if not isinstance(stamp, CheckpointTimestamped):
            report.findings.append(Finding(ev.seq, "timestamp", f"seq {ev.seq}: malformed"))
            continue
        seq, tsa, token_name = stamp.checkpoint_seq, stamp.tsa, stamp.token_sha256
        signed = checkpoints.get(seq)
        if signed is None:
            report.findings.append(
                Finding(ev.seq, "timestamp", f"seq {ev.seq}: stamps seq {seq}, no checkpoint")
            )
            continue
        try:
            token = await store.get_blob(token_name)
        except StoreUnavailableError:
            raise
        except StoreError:
            continue  # the blob check of verify already names it
        imprint = imprint_of(signed.checkpoint.signed_bytes())
        chain = chains.get(tsa)
        if chain is None:
            report.unanchored.add(tsa)
        try:
            info = check_token(token, imprint, chain)
        except TimestampError as exc:
            report.findings.append(
                Finding(
                    ev.seq,
                    "timestamp",
                    f"seq {ev.seq}: time stamp of checkpoint seq {seq} by {tsa}: {exc}",
                )
            )
            continue
        recorded = stamp.gen_time
        if recorded and parse_time(recorded) != info.gen_time:
            report.findings.append(
                Finding(
                    ev.seq,
                    "timestamp",
                    f"seq {ev.seq}: the event says {recorded}, its token says {info.gen_time}",
                )
            )
            continue
        report.stamps[seq].append(tsa)
    return report
