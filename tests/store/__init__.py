"""Event store tests: the shared contract suite and the SQLite-specific behaviour."""
