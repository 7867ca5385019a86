"""Extraction in worker processes, so that a daemon's checks use every core.

Parsing and reading pages is CPU work under the GIL; the daemon's event loop
(fetches, the store, the scheduler) needs little. ``ExtractionPool`` runs
``extract.reading.read_page`` in a ``ProcessPoolExecutor`` of *spawned* workers (never
forked: the daemon has threads — SQLite's, the resolver's — that a fork would copy
mid-flight). What is recorded does not depend on where a page was read:
``read_page`` is pure, and its result travels back as plain data.

Sized to the machine by default — one worker per usable CPU, none on a single CPU,
where workers would only add copying — or by ``[monitor] extract_workers``. Small
bodies are read inline: pickling them to a worker costs more than reading them. A
worker that dies (killed, out of memory) breaks the executor; the pool starts a new
one and reads that page inline, so a check never fails for it.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from monitor.config.settings import SourceSettings
from monitor.extract.reading import LastText, PageText, read_page

log = logging.getLogger(__name__)

# Below this, the round trip to a worker costs more than reading the body here.
INLINE_BYTES = 32 * 1024


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def workers_for(configured: int | None, cpus: int | None = None) -> int:
    """Worker processes for ``extract_workers`` (None: one per CPU, none on one CPU)."""
    if configured is not None:
        return configured
    cpus = usable_cpus() if cpus is None else cpus
    return cpus if cpus > 1 else 0


class ExtractionPool:
    """Worker processes that read page bodies (see the module docstring)."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("an extraction pool needs at least one worker")
        self.workers = workers
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
        )

    async def read(
        self,
        body: bytes,
        content_type: str | None,
        source: SourceSettings,
        *,
        fingerprint: bool,
        last: LastText | None,
        known: str | None,
    ) -> tuple[PageText | None, bytes | None]:
        """``read_page`` in a worker (inline for small bodies, or if the pool broke)."""
        args = (body, content_type, source, fingerprint, last, known)
        if len(body) < INLINE_BYTES:
            return read_page(*args)
        executor = self._executor
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, read_page, *args)
        except BrokenProcessPool:
            if executor is self._executor:
                log.warning("an extraction worker died; starting new workers")
                self._executor = self._new_executor()
                executor.shutdown(wait=False, cancel_futures=True)
            return await asyncio.to_thread(read_page, *args)

    async def aclose(self) -> None:
        """Stop the workers (pages being read are finished first)."""
        await asyncio.to_thread(self._executor.shutdown, True, cancel_futures=True)
