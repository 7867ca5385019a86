"""Record a review or a note about a change: the only writer of the ``$reviews`` stream.

Shell. Validation first (the seq must be a ``ChangeDetected``, the status one of
``REVIEW_STATUSES``, a name given), then one append with the stream's expected
version; a concurrent reviewer makes the append retry on the new version. The
event id is derived from the stream position and content, so a retried append of
the same review records it once.
"""

from __future__ import annotations

import asyncio
import json

from monitor.desk.noise_selector import remove_selector
from monitor.desk.triage import REVIEW_STATUSES
from monitor.errors import BlobMissingError, ReviewError
from monitor.events import (
    REVIEWS_STREAM,
    ChangeAnnotated,
    ChangeDetected,
    ChangeReviewed,
    Event,
    StoredEvent,
)
from monitor.store import EventStore
from monitor.store.base import append_at_end

MAX_NOTE_CHARS = 4000
MAX_NAME_CHARS = 100
ATTEMPTS = 5


def review_event(change_seq: int, *, by: str, status: str | None, note: str) -> Event:
    """The event for a review (with a status) or a plain note; ReviewError when invalid."""
    by = " ".join(by.split())
    note = note.strip()
    if not by:
        raise ReviewError("say who reviews: --by NAME")
    if len(by) > MAX_NAME_CHARS:
        raise ReviewError(f"the reviewer's name is longer than {MAX_NAME_CHARS} characters")
    if len(note) > MAX_NOTE_CHARS:
        raise ReviewError(f"the note is longer than {MAX_NOTE_CHARS} characters")
    if status is None:
        if not note:
            raise ReviewError("give a --status (important, routine, noise), a --note, or both")
        return ChangeAnnotated(change_seq=change_seq, note=note, by=by)
    if status not in REVIEW_STATUSES:
        raise ReviewError(f"status must be one of {', '.join(REVIEW_STATUSES)}, not {status!r}")
    return ChangeReviewed(change_seq=change_seq, status=status, by=by, note=note)


async def record_review(
    store: EventStore, change_seq: int, *, by: str, status: str | None = None, note: str = ""
) -> StoredEvent:
    """Append the review (or note) of the change at ``change_seq``; returns the stored event."""
    event = review_event(change_seq, by=by, status=status, note=note)
    target = await store.get_event(change_seq) if change_seq > 0 else None
    if target is None or not isinstance(target.event, ChangeDetected):
        raise ReviewError(
            f"#{change_seq} is not a change in the log; `monitor log --type ChangeDetected` "
            "lists them"
        )
    # Another reviewer writing meanwhile is fine: the review goes after theirs.
    stored = await append_at_end(store, REVIEWS_STREAM, event, attempts=ATTEMPTS)
    if stored is None:
        raise ReviewError("the review could not be recorded: too many reviewers at once; try again")
    return stored


async def remove_line(store: EventStore, change: ChangeDetected) -> str | None:
    """The ``remove = [...]`` line naming the element that holds a change's new blocks,
    read from the capture's raw HTML; None when the page is not HTML or no element fits."""
    capture = change.capture
    if capture.format != "html" or not capture.raw_sha256:
        return None
    blocks = [
        str(c.get("new") or "")
        for c in change.diff.get("changes") or ()
        if c.get("op") in ("changed", "added")
    ]
    if not blocks:
        return None
    try:
        body = await store.get_blob(capture.raw_sha256)
    except BlobMissingError:
        return None
    content_type = capture.headers.get("content-type")
    selector = await asyncio.to_thread(remove_selector, body, content_type, blocks)
    return f"remove = {json.dumps([selector])}" if selector else None
