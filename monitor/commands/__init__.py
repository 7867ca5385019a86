"""Sub-commands of the ``monitor`` CLI, one module each (see ``monitor.cli``)."""

from __future__ import annotations

from types import ModuleType

from monitor.commands import check, log, notify_test, show, validate, verify

COMMANDS: tuple[ModuleType, ...] = (validate, check, log, show, verify, notify_test)
