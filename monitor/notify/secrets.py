"""Channel URLs are secrets: find their secret-looking parts and keep them out of text.

A channel is only ever named. Its URL is never put in an event, a log line or an
exception message: ``scrub`` removes a URL's secret fragments (``secret_fragments``:
the password, and tokens in host, path and query) and anything shaped like a URL
from a text; ``guard_third_party_logs`` puts the same filter on the loggers of
Apprise and of the HTTP library it uses, which may print a URL in their debug output.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

from monitor.check.netpolicy import is_ip_literal
from monitor.config.settings import ChannelSettings

# Loggers that may print a channel URL (Apprise's debug output, the HTTP library it uses).
THIRD_PARTY_LOGGERS = ("apprise", "urllib3.connectionpool", "urllib3.util.retry")

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")


def _secretish(text: str) -> bool:
    """Long enough, and shaped like a token (digits, or long) rather than a plain word."""
    return len(text) >= 6 and (any(c.isdigit() for c in text) or len(text) >= 16)


def secret_fragments(url: str) -> set[str]:
    """The URL and every part of it that may be a secret (password, tokens in host/path/query)."""
    found = {url}
    if "://" in url:
        found.add(url.split("://", 1)[1])
    try:
        parts = urlsplit(url)
    except ValueError:
        return {f for f in found if len(f) >= 4}
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if userinfo:
        user, _, password = userinfo.partition(":")
        found.update({password, unquote(password)})
        if _secretish(user):
            found.update({user, unquote(user)})
    host = hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport
    if _secretish(host) and "." not in host and not is_ip_literal(host):
        found.add(host)  # e.g. slack://TokenA/…, discord://webhook_id/…: the "host" is a token
    if len(parts.path) > 1:
        found.update({parts.path, unquote(parts.path)})
    for segment in parts.path.split("/"):
        if _secretish(segment):
            found.update({segment, unquote(segment)})
    for _, value in parse_qsl(url.partition("?")[2], keep_blank_values=False):
        if _secretish(value):
            found.add(value)
    return {f for f in found if len(f) >= 4}


def scrub(text: str, fragments: Iterable[str] = ()) -> str:
    """``text`` without the given secret fragments and without anything shaped like a URL."""
    for fragment in sorted(set(fragments), key=len, reverse=True):
        text = text.replace(fragment, "***")
    return _URL.sub("<url>", text)


class _SecretScrubber(logging.Filter):
    """Scrubs records of third-party loggers that may print channel URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.fragments: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed third-party log call must not break the caller
            message = str(record.msg)
        record.msg = scrub(message, self.fragments)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = scrub(text, self.fragments)
            record.exc_info = None
        return True


_SCRUBBER = _SecretScrubber()


def guard_third_party_logs(channels: Iterable[ChannelSettings]) -> None:
    """Make sure Apprise and urllib3 log records never carry these channels' URLs."""
    for channel in channels:
        _SCRUBBER.fragments |= secret_fragments(channel.url)
    for name in THIRD_PARTY_LOGGERS:
        logger = logging.getLogger(name)
        if _SCRUBBER not in logger.filters:
            logger.addFilter(_SCRUBBER)
