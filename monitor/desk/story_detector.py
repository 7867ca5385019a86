"""Follow the log and record stories: the only writer of the ``$stories`` stream.

Shell. ``StoryDetector.run`` folds the events after its head into a
``StoryBook`` in seq order and, for each change after the ``stories`` cursor,
appends the ``StoryDetected`` events ``StoryBook.decide`` returns (expected
version, deterministic ids), then moves the cursor. The check pipeline runs it
after every check that recorded a change, so a story is recorded right after
the change that completes it; several workers may run it at once (the stream
version settles who appends, the loser folds the winner's record and decides
again, and ``trigger_seq`` keeps a change from being counted twice).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime, timedelta

from monitor.clock import utc_now
from monitor.config.settings import StoriesSettings
from monitor.desk.stories import STORY_TYPES, StoryBook
from monitor.errors import ConcurrencyError
from monitor.events import (
    STORIES_STREAM,
    ChangeDetected,
    NewEvent,
    StoredEvent,
    StoryDetected,
    deterministic_event_id,
    parse_time,
)
from monitor.store import EventStore

log = logging.getLogger(__name__)

CURSOR = "stories"
ATTEMPTS = 5
CATCH_UP_AFTER = timedelta(days=1)


class StoryDetector:
    """Decides stories over one store; see the module docstring."""

    def __init__(self, settings: StoriesSettings) -> None:
        self.book = StoryBook(settings=settings)
        self._lock = asyncio.Lock()

    def reconfigure(self, settings: StoriesSettings) -> None:
        """New thresholds apply to changes decided from now on."""
        self.book.settings = settings

    async def run(self, store: EventStore, now: datetime | None = None) -> list[StoredEvent]:
        """Fold what is new, record the stories it calls for; returns what was appended.

        A story made by a change recorded more than ``CATCH_UP_AFTER`` before ``now`` is
        recorded with ``catch_up`` (not alerted): the detector is catching up on history.
        """
        now = now or utc_now()
        async with self._lock:
            cursor = await store.get_cursor(CURSOR)
            appended: list[StoredEvent] = []
            async for event in store.iterate(after=self.book.head_seq, types=STORY_TYPES):
                self.book.apply(event)
                if not isinstance(event.event, ChangeDetected) or event.seq <= cursor:
                    continue
                late = now - parse_time(event.recorded_at) > CATCH_UP_AFTER
                appended += await self._record(store, event.seq, late)
                cursor = event.seq
                await store.set_cursor(CURSOR, cursor)
            return appended

    async def _record(self, store: EventStore, seq: int, late: bool) -> list[StoredEvent]:
        for _ in range(ATTEMPTS):
            decided = self.book.decide(seq)
            if not decided:
                return []
            if late:
                decided = [replace(event, catch_up=True) for event in decided]
            try:
                stored = await self._append(store, decided)
            except ConcurrencyError:
                # Another worker recorded a story meanwhile: take it in and decide again.
                for other in await store.read(stream=STORIES_STREAM):
                    self.book.note_story(other)
                continue
            for item in stored:
                self.book.note_story(item)
                if isinstance(story := item.event, StoryDetected):
                    log.info("story %s: %s", story.story_id, story.headline)
            return stored
        log.warning("no story recorded for change #%d: %d conflicting writers", seq, ATTEMPTS)
        return []

    async def _append(self, store: EventStore, events: list[StoryDetected]) -> list[StoredEvent]:
        version = await store.stream_version(STORIES_STREAM)
        batch = []
        for offset, event in enumerate(events, start=1):
            data = event.to_data()
            batch.append(
                NewEvent(
                    event_id=deterministic_event_id(
                        STORIES_STREAM, version + offset, event.type, data
                    ),
                    stream=STORIES_STREAM,
                    type=event.type,
                    schema=event.schema,
                    data=data,
                )
            )
        return await store.append(batch, expected={STORIES_STREAM: version})
