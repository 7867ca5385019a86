"""Reloading the configuration: all of a valid one, or none of an invalid one.

A reload comes from SIGHUP or from a change of the config file's mtime, size or inode
seen by polling (``ConfigFile``). It applies a valid config completely —
``SourceRegistered`` / ``SourceUpdated`` / ``SourceRemoved`` appended, jobs added /
retimed / removed, a new fetcher if ``[monitor]`` changed, the notifier reconfigured —
or, if the new config is invalid, not at all: every problem is logged and the old one
keeps running. A change of ``database`` takes effect at the next start only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from monitor.config.parse import load_config
from monitor.config.settings import Settings
from monitor.daemon.context import RunContext
from monitor.daemon.generations import Generations
from monitor.daemon.notifying import Notifying
from monitor.daemon.scheduling import Schedule
from monitor.daemon.status import log
from monitor.errors import ConfigError, MonitorError


@dataclass(frozen=True)
class ConfigStamp:
    mtime_ns: int
    size: int
    inode: int


class ConfigFile:
    """The daemon's config file, and whether it changed since it was last looked at."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._stamp: ConfigStamp | None = None

    def _current(self) -> ConfigStamp | None:
        if self.path is None:
            return None
        try:
            st = os.stat(self.path)
        except OSError:
            return None  # e.g. an editor replacing the file: look again at the next poll
        return ConfigStamp(mtime_ns=st.st_mtime_ns, size=st.st_size, inode=st.st_ino)

    def mark(self) -> None:
        """The file as it is now is the one running."""
        self._stamp = self._current()

    def forget(self) -> None:
        """The file as it is now is not applied yet: the next ``changed`` says so."""
        self._stamp = None

    def changed(self) -> bool:
        stamp = self._current()
        if stamp is None or stamp == self._stamp:
            return False
        self._stamp = stamp
        return True


class Reloader:
    """Applies the config file again to a running daemon's components."""

    def __init__(
        self,
        ctx: RunContext,
        config: ConfigFile,
        generations: Generations,
        schedule: Schedule,
        notifying: Notifying,
        *,
        on_settings: Callable[[Settings], None] | None,
    ) -> None:
        self._ctx, self._config = ctx, config
        self._generations, self._schedule, self._notifying = generations, schedule, notifying
        self._on_settings = on_settings

    async def reload(self) -> bool:
        """Apply the config file again; False (old config kept) when it is invalid."""
        if self._config.path is None:
            log.warning("reload requested, but this daemon was not started from a config file")
            return False
        try:
            new = load_config(self._config.path, environ=self._ctx.environ)
        except ConfigError as exc:
            self._ctx.status.rejected_reloads += 1
            log.error(
                "the edited configuration is invalid; still running the previous one. "
                "%d problem%s:\n  %s",
                len(exc.problems),
                "" if len(exc.problems) == 1 else "s",
                "\n  ".join(str(p) for p in exc.problems),
            )
            return False
        if self._on_settings is not None:
            self._on_settings(new)  # new secrets are redacted before anything can log them
        old, previous = self._generations.settings, self._generations.current
        assert previous is not None
        if new.monitor.database != old.monitor.database:
            log.warning("the database setting changed; it takes effect at the next start")
        gen = self._generations.build(new, previous=previous)
        try:
            async with self._ctx.one_worker_at_a_time("reconcile"):
                appended = await gen.runner.reconcile()
        except MonitorError as exc:
            # Typically a check of the same source appended first; the next poll tries again.
            log.error("could not record the new configuration, will try again: %s", exc)
            self._generations.discard(gen, previous)
            self._config.forget()
            return False
        self._generations.adopt_discovered(gen)
        self._generations.install(gen, previous)
        await self._schedule.catch_up(gen)
        if (new.channels, new.rules, new.monitor, new.web) != (
            old.channels,
            old.rules,
            old.monitor,
            old.web,
        ):
            self._notifying.reconfigure(new)
        self._ctx.status.reloads += 1
        log.info(
            "configuration reloaded: %d sources; %d source events recorded",
            len(new.sources),
            len(appended),
        )
        return True
