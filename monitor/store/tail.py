"""Before appending: a cheap check that the log about to be extended is intact at its head.

``monitor verify`` reads every event; ``check`` and ``run`` cannot afford that each
time they start, yet must not chain new events onto a log someone has altered: the
new events would be sealed with fresh, valid hashes on top of the damage, and a
reader of the alerts would never know. So before the first append they check, with
a handful of indexed queries whatever the log's size:

* the last event's hash, recomputed from its content (the head was edited);
* its ``prev_hash`` against the hash of the event before it, and that event's hash
  recomputed too (one of the last two was edited, replaced or inserted), or the
  genesis hash for a log of one event;
* that the log holds exactly ``head seq`` events — seq 1 to the head with none
  missing (an event deleted from anywhere in the middle);
* that the notifier's cursor is not past the head (events cut off the end after
  they had been alerted).

Not caught here, and left to ``monitor verify`` (which names the seq): an event in
the middle edited in place, and the end of a log cut off before the notifier read it.
A log rewritten wholesale with every hash recomputed is consistent in itself; only
a signed checkpoint held elsewhere exposes that (``monitor verify`` checks them).
"""

from __future__ import annotations

from monitor.errors import ChainBrokenError, StoreError, StoreUnavailableError
from monitor.events import GENESIS_HASH, StoredEvent
from monitor.store.base import EventStore

NOTIFIER_CURSOR = "notifier"


def _hash_holds(event: StoredEvent) -> bool:
    try:
        return event.expected_hash() == event.hash
    except (TypeError, ValueError):  # malformed prev_hash or data: not what was sealed
        return False


async def tail_problem(store: EventStore) -> str | None:
    """What is wrong at the head of the log, or None when it may be extended.

    Safe while another process appends: the cursor is read before the head and the
    count stops at the head read, so nothing appended meanwhile looks like damage.
    """
    cursor = await store.get_cursor(NOTIFIER_CURSOR)
    head_seq, _ = await store.head()
    if head_seq == 0:
        return None
    head = await store.get_event(head_seq)
    if head is None or not _hash_holds(head):
        return f"the last event (seq {head_seq}) does not match its hash (edited?)"
    if head_seq == 1:
        if head.prev_hash != GENESIS_HASH:
            return "seq 1 does not start from the genesis hash (the log's start was altered?)"
    else:
        before = await store.get_event(head_seq - 1)
        if before is None:
            return f"seq {head_seq - 1}, just before the last event, is missing (deleted?)"
        if not _hash_holds(before):
            return f"seq {before.seq} does not match its hash (edited?)"
        if head.prev_hash != before.hash:
            return (
                f"seq {head_seq} does not link to seq {before.seq} (events replaced or inserted?)"
            )
    count = await store.event_count(until=head_seq)
    if count != head_seq:
        missing = head_seq - count
        if missing > 0:
            what = f"{missing} event{' is' if missing == 1 else 's are'} missing"
        else:
            what = "there are duplicate seqs"
        return f"the log has {count} events up to seq {head_seq}: {what} (deleted?)"
    if cursor > head_seq:
        return (
            f"the notifier has already read up to seq {cursor}, but the log now ends at "
            f"seq {head_seq} (events cut off its end?)"
        )
    return None


async def require_intact_tail(store: EventStore, where: str) -> None:
    """Refuse (``ChainBrokenError``) to extend a log whose head does not verify."""
    try:
        problem = await tail_problem(store)
    except StoreUnavailableError:
        raise  # locked, unreadable file: said as such, not as tampering
    except StoreError as exc:  # a row at the head that cannot even be decoded
        problem = str(exc)
    if problem is not None:
        raise ChainBrokenError(
            f"{where}: {problem}; refusing to append to a log that was altered — run "
            "`monitor verify` to see every break, and restore the database from a backup"
        )
