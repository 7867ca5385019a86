"""The real ``monitor`` CLI with ``serve`` in it, also before it is listed in COMMANDS.

``monitor.commands.COMMANDS`` is edited by the lead; until ``serve`` is listed
there, these helpers add it the way that list would. Once it is listed they are
plain calls of ``monitor.cli.main``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import monitor.cli
from monitor.commands import serve


def ensure_serve_registered() -> None:
    # monitor.cli reads the COMMANDS it imported when it builds its parser.
    commands = getattr(monitor.cli, "COMMANDS")  # noqa: B009 - not re-exported, for mypy
    if serve not in commands:
        setattr(monitor.cli, "COMMANDS", (*commands, serve))  # noqa: B010


def main(argv: Sequence[str]) -> int:
    ensure_serve_registered()
    return monitor.cli.main(list(argv))


if __name__ == "__main__":  # `python -m tests.web.cli serve …`, for tests that need a process
    sys.exit(main(sys.argv[1:]))
