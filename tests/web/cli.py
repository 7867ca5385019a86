"""The real ``monitor`` CLI as a module, for tests that start ``serve`` in a process.

``python -m tests.web.cli serve …`` runs ``monitor.cli.main``: the tests that import
``main`` from here and the ones that start it by module name share one entry point.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import monitor.cli


def main(argv: Sequence[str]) -> int:
    return monitor.cli.main(list(argv))


if __name__ == "__main__":  # `python -m tests.web.cli serve …`, for tests that need a process
    sys.exit(main(sys.argv[1:]))
