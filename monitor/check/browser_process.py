"""The browser's processes as /proc shows them: which one is ours, its tree, its memory.

Linux only, read-only; a process that vanished while being read counts for nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def find_marked_process(marker: str, proc: Path = Path("/proc")) -> int | None:
    """The pid of the process whose command line holds ``marker`` (Chromium's main process).

    Chromium copies only the switches it knows to its helper processes, so an
    unknown switch of ours marks exactly the main process of one launch.
    """
    return next((pid for pid in _pids(proc) if is_marked(pid, marker, proc)), None)


def is_marked(pid: int, marker: str, proc: Path = Path("/proc")) -> bool:
    try:
        cmdline = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False
    return marker.encode() in cmdline.split(b"\0")


def process_tree(root: int, proc: Path = Path("/proc")) -> list[int]:
    """``root`` and every live descendant of it."""
    children: dict[int, list[int]] = {}
    for pid in _pids(proc):
        try:
            stat = (proc / str(pid) / "stat").read_text()
        except OSError:
            continue
        # The command name in parentheses may hold spaces; fields after it are fixed.
        fields_after = stat.rpartition(")")[2].split()
        if len(fields_after) > 1:
            children.setdefault(int(fields_after[1]), []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        if (proc / str(pid)).exists():
            tree.append(pid)
            todo.extend(children.get(pid, ()))
    return tree


def tree_memory(root: int, proc: Path = Path("/proc")) -> int:
    """Bytes of memory the process tree under ``root`` uses.

    Proportional set size (shared pages divided among their users) where the
    kernel offers it; summing plain RSS would count Chromium's shared code once
    per process and overstate the tree several times.
    """
    return sum(process_memory(pid, proc) for pid in process_tree(root, proc))


def process_memory(pid: int, proc: Path = Path("/proc")) -> int:
    """Bytes one process uses: its PSS, or its RSS where the kernel has no smaps_rollup."""
    for name, key in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
        try:
            text = (proc / str(pid) / name).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


def _pids(proc: Path) -> Iterator[int]:
    try:
        names = os.listdir(proc)
    except OSError:
        return
    for name in names:
        if name.isdigit():
            yield int(name)
