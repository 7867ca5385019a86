"""Logging set-up for the CLI, with secret redaction.

Only the CLI configures logging; modules just use ``logging.getLogger(__name__)``.
Channel URLs, header values and tokens are replaced by ``***`` in every record,
including tracebacks, so a secret never reaches a log file.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

REDACTED = "***"


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(verbosity: int, secrets: Iterable[str] = ()) -> logging.Handler:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    redactor = RedactingFilter(secrets)
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Library chatter (one line per SQLite call) would drown the monitor's own log.
    for noisy in ("aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(level, logging.INFO))
    # A run skipped because the source's previous check is still going is by design
    # (one check per source at a time); APScheduler warns about each one.
    logging.getLogger("apscheduler.scheduler").setLevel(max(level, logging.ERROR))
    logging.getLogger("apscheduler.executors.default").setLevel(max(level, logging.INFO))
    return handler


def update_secrets(redactor: RedactingFilter, secrets: Iterable[str]) -> None:
    """After a config reload, redact the new secrets too (old ones stay redacted)."""
    redactor.secrets = sorted(
        set(redactor.secrets) | {s for s in secrets if len(s) >= 4}, key=len, reverse=True
    )
