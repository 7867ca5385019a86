"""Handing start-up's memory back once, before the daemon settles into months of running.

Start-up (folding every stream, the notifier's first pass) leaves cyclic garbage and a
fragmented C heap behind. ``settle`` runs once, ``STARTUP_SETTLE_SECONDS`` after the
start: later garbage is the normal collector's business.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

STARTUP_SETTLE_SECONDS = 5.0


def release_free_memory() -> None:
    """Hand the C allocator's free pages back to the system (glibc only; else nothing).

    Freed Python objects larger than pymalloc's blocks (decoded event data, rows) leave
    glibc's heap fragmented after start-up folds every stream; trimming once returns
    ~12 MB at 10,000 sources that the daemon would otherwise hold for months.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return
    trim(0)


def settle() -> None:
    """Collect start-up's garbage, freeze what survived it, and trim the C heap."""
    # Collecting once lets those memory arenas go back to the system (~7 MB at 10,000
    # sources).
    gc.collect()
    # What survived start-up lives as long as the daemon: keep it out of the full
    # collections that otherwise stall the loop for up to 0.5 s.
    gc.freeze()
    release_free_memory()
