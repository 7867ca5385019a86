"""Sub-commands of the ``monitor`` CLI, one module each (see ``monitor.cli``).

``COMMANDS`` is the registry: each command's name, its module under
``monitor.commands`` and its line in ``monitor --help``, in the order of that help
(the everyday commands first, then audit, then operations). A command's module is
imported only when that command is chosen: ``monitor --help`` and a usage error are
answered from this table alone, and ``monitor check`` does not load the code of the
other nineteen commands.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# One line a command: its name, then its line in ``monitor --help``. Its module is the
# name with "_" for "-" (``notify-test`` is ``monitor/commands/notify_test.py``).
_TABLE = """
validate     check the configuration (exit 0, or 2 listing every problem)
suggest      print a ready [[source]] block (select, remove, volatile text) for a URL or ID
check        check each source once now (all by default), then exit
discover     list the documents [[discover]] found; --accept or --ignore one
run          run the daemon: check sources on schedule and send alerts
log          list events (filters: --source, --type, --since; --json for machines)
show         print a source's normalized text as it was at TIME (default: now)
diff         show the change of a source's text between two times (default: the last change)
figures      a source's figures as series: values per period, restatements (--json, --csv)
review       review a change (important, routine, noise) or add a note to it
search       search the added and removed text of every change and every capture
replay       rebuild every source's state from the log; print it and its digest
verify       check the hash chain, blobs and checkpoints (exit 1 and name the seq on a break)
checkpoint   sign a checkpoint (tree size, Merkle root, time) of the log as it stands
export       write an auditor's bundle (events, blobs, WARC, checkpoints, proofs) to DIR
evidence     write everything about one change (captures, texts, HTML diff, proof) to DIR
migrate      copy a log verbatim to another database (e.g. SQLite → PostgreSQL)
serve        serve the read-only web view, Atom feeds and JSON API
notify-test  send a test message to a channel (all by default)
demo         a self-contained run against a local page that changes (no network, no config)
"""

COMMANDS: tuple[tuple[str, str, str], ...] = tuple(
    (name, name.replace("-", "_"), help_line.strip())
    for name, help_line in (line.split(" ", 1) for line in _TABLE.strip().splitlines())
)
"""(name, module, help line) of every command, in the order of ``monitor --help``."""


def command_help(name: str) -> str:
    """The line ``monitor --help`` shows for command ``name``."""
    return next(text for command, _, text in COMMANDS if command == name)


def command_module(name: str) -> ModuleType:
    """The module of command ``name``, imported now (it has ``add_parser`` and ``run``)."""
    module = next(module for command, module, _ in COMMANDS if command == name)
    return importlib.import_module(f"monitor.commands.{module}")
