"""Python's cyclic garbage collector, paused while start-up makes objects that live on.

Start-up makes objects by the hundred thousand and next to no garbage: the modules,
classes and functions a command imports, the parsed configuration (one ``SourceSettings``
and its values per source), the state of every source folded from the log. All of it
lives until the process ends, but the collector cannot know that: every 700 new objects
it walks the young ones, every tenth time the older ones too, and now and then
everything — so at 1,000 configured sources about 30 ms of the ~330 ms start-up of
``monitor check`` went into collections that freed nothing.

``Paused`` stops the collector for such a block (reference counting still frees what
dies at once; a cycle made meanwhile waits for the next collection after it) and
``settled()`` moves what start-up made out of the collector's sight for good
(``gc.freeze``), so the collections of the pass that follows walk only what the pass
makes. Nothing a command records depends on when the collector runs.
"""

from __future__ import annotations

import gc
from types import TracebackType


class Paused:
    """No cyclic collection from now until ``end()`` or the end of the ``with`` block.

    Nested pauses leave it to the outermost: only the pause that stopped the collector
    starts it again.
    """

    def __init__(self) -> None:
        self._resume = gc.isenabled()  # False inside another pause (or the embedder's)
        gc.disable()

    def end(self) -> None:
        """Let the collector run again (once; later calls do nothing)."""
        if self._resume:
            self._resume = False
            gc.enable()

    def __enter__(self) -> Paused:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.end()


def settled() -> None:
    """What exists now lives as long as the process: keep later collections off it."""
    gc.freeze()
