"""Sub-commands of the ``monitor`` CLI, one module each (see ``monitor.cli``).

The order here is the order of ``monitor --help``: the everyday commands first,
then audit, then operations.
"""

from __future__ import annotations

from types import ModuleType

from monitor.commands import (
    check,
    checkpoint,
    demo,
    diff,
    discover,
    evidence,
    export,
    figures,
    log,
    migrate,
    notify_test,
    replay,
    review,
    run,
    search,
    serve,
    show,
    suggest,
    validate,
    verify,
)

COMMANDS: tuple[ModuleType, ...] = (
    validate,
    suggest,
    check,
    discover,
    run,
    log,
    show,
    diff,
    figures,
    review,
    search,
    replay,
    verify,
    checkpoint,
    export,
    evidence,
    migrate,
    serve,
    notify_test,
    demo,
)
