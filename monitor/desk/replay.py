"""Replay the desk's projections from the log: reviews and stories, with their digests.

Shell (reads the store). The same folds the web view keeps live
(``TriageBook``, ``StoryBook``), applied to the log prefix ``1..until_seq``; the
digests equal the live books' digests. ``monitor replay`` prints them after the
source states (whose digest covers removals: a gone page's state).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.config.settings import StoriesSettings
from monitor.desk.stories import STORY_TYPES, StoryBook
from monitor.desk.triage import REVIEW_TYPES, TriageBook
from monitor.store import EventStore


@dataclass(frozen=True, kw_only=True)
class DeskReplay:
    """The desk's books after the replayed prefix."""

    triage: TriageBook
    stories: StoryBook

    def data(self) -> dict[str, Any]:
        return {
            "reviewed_changes": len(self.triage.reviewed()),
            "reviews": sum(len(v) for v in self.triage.history.values()),
            "reviews_digest": self.triage.digest(),
            "stories": len(self.stories.stories),
            "stories_digest": self.stories.digest(),
        }

    def lines(self) -> str:
        d = self.data()
        return (
            f"reviews and notes {d['reviews']} ({d['reviewed_changes']} changes reviewed), "
            f"digest {d['reviews_digest']}\n"
            f"stories {d['stories']}, digest {d['stories_digest']}\n"
        )


async def replay_desk(
    store: EventStore, *, until_seq: int | None = None, until: str | None = None
) -> DeskReplay:
    """Fold reviews and stories up to ``until_seq`` / recorded ``until`` (default: all)."""
    triage = TriageBook()
    stories = StoryBook(settings=StoriesSettings())
    async for event in store.iterate(until=until_seq, types=(*REVIEW_TYPES, *STORY_TYPES)):
        if until is not None and event.recorded_at > until:
            break
        triage.apply(event)
        stories.apply(event)
    return DeskReplay(triage=triage, stories=stories)
