"""``python -m monitor`` — the same entry point as the ``monitor`` console script."""

from monitor.cli import main

# Guarded: worker processes (spawned, not forked) import the main module again.
if __name__ == "__main__":
    raise SystemExit(main())
