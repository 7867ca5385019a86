"""Apprise as the notifier's channel adapter: one ``ChannelSender`` per configured channel.

A sender knows its channel's URL and never tells it: what it reports about a failed
send (Apprise's last warning, an exception, a timeout) is scrubbed of the URL's
secret parts. It picks the message format the service renders (``message_format``)
and makes Apprise truncate an over-long message rather than let the service refuse
it, since the top of an alert says why it was sent. Apprise is imported on first
use: a daemon without channels never loads it.
"""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl

from monitor.config.settings import ChannelSettings
from monitor.events import format_time
from monitor.notify.render import Format, Message, render_test
from monitor.notify.secrets import guard_third_party_logs, scrub, secret_fragments

SEND_TIMEOUT = 120.0  # seconds one Apprise call may take before it counts as failed
MAX_ERROR_CHARS = 300


def _apprise() -> ModuleType:
    """Apprise, imported on first use: ~15 MB that a daemon needs only to send."""
    import apprise

    return apprise


def _instantiate(url: str, name: str) -> Any:
    """Apprise's service object for ``url``, or None when Apprise cannot use it."""
    with warnings.catch_warnings():
        # Apprise's e-mail plugin imports the stdlib ``imghdr`` module, deprecated since
        # Python 3.11; the warning is about Apprise, not something a user can act on.
        warnings.filterwarnings("ignore", message=".*imghdr.*", category=DeprecationWarning)
        return _apprise().Apprise.instantiate(url, tag=name)


# Services that take any format and pass it through (webhooks), and e-mail: plain text.
PLAIN_TEXT_SCHEMES = frozenset(
    {"json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos"}
)


def message_format(url: str, requested: str | None, supported: Any) -> Format:
    """Markdown for chat services that render it (Slack, Discord, Matrix …), else plain text.

    ``requested`` is the URL's ``format=`` parameter, which wins; ``supported`` is the
    Apprise service's ``notify_format`` (one format, or several with the default first).
    """
    if requested:
        return "markdown" if requested.lower() == "markdown" else "text"
    if url.split("://", 1)[0].lower() in PLAIN_TEXT_SCHEMES:
        return "text"
    formats = supported if isinstance(supported, list | tuple) else (supported,)
    return "markdown" if _apprise().NotifyFormat.MARKDOWN in formats else "text"


@dataclass
class ChannelSender:
    """One channel's Apprise object and the message format it takes. Knows its URL; never tells."""

    channel: ChannelSettings
    fragments: set[str] = field(default_factory=set)
    _apprise: Any = None
    format: Format = "text"
    problem: str | None = None

    @classmethod
    def build(cls, channel: ChannelSettings) -> ChannelSender:
        guard_third_party_logs([channel])
        sender = cls(channel=channel, fragments=secret_fragments(channel.url))
        try:
            service = _instantiate(channel.url, channel.name)
        except Exception as exc:  # Apprise raises assorted errors for odd URLs
            service = None
            sender.problem = "Apprise cannot use this channel's URL: " + sender.clean(str(exc))
        if service is None:
            sender.problem = sender.problem or (
                "Apprise cannot use this channel's URL (unknown service, or a part is missing)"
            )
            return sender
        # Not urlsplit: Apprise URLs put "#channel" before the query (slack://…/#general?…).
        query = {k.lower(): v for k, v in parse_qsl(channel.url.partition("?")[2])}
        if "overflow" not in query:
            # Apprise's default ("upstream") sends over-long text as is and lets the
            # service reject it; truncating keeps the top of the alert, which says why.
            service.overflow_mode = _apprise().common.OverflowMode.TRUNCATE
        sender.format = message_format(channel.url, query.get("format"), service.notify_format)
        sender._apprise = _apprise().Apprise()
        sender._apprise.add(service)
        return sender

    def clean(self, text: str) -> str:
        return scrub(" ".join(text.split()), self.fragments)[:MAX_ERROR_CHARS]

    async def send(self, message: Message) -> str | None:
        """Deliver ``message``; None on success, else why not (scrubbed of secrets)."""
        if self._apprise is None:
            return self.problem or "channel not usable"
        formats = _apprise().NotifyFormat
        body_format = formats.MARKDOWN if message.format == "markdown" else formats.TEXT
        try:
            result = await asyncio.wait_for(
                self._apprise.async_notify(
                    body=message.body, title=message.title, body_format=body_format
                ),
                SEND_TIMEOUT,
            )
        except TimeoutError:
            return f"no answer within {SEND_TIMEOUT:.0f} s"
        except Exception as exc:
            return self.clean(f"{type(exc).__name__}: {exc}")
        if result:
            return None
        return self._reason(result)

    def _reason(self, result: Any) -> str:
        """The last warning Apprise captured about the failed call, scrubbed."""
        entries = getattr(result, "logs", None)
        messages: list[str] = []
        if callable(entries):
            messages = [
                str(e.message) for e in entries() if getattr(e, "level", "") in ("WARNING", "ERROR")
            ]
        status = getattr(getattr(result, "status", None), "name", None)
        reason = messages[-1] if messages else "the service did not accept the message"
        return self.clean(f"{reason} ({status.lower()})" if status else reason)


async def send_test(channel: ChannelSettings, now: datetime) -> str | None:
    """Send ``monitor notify-test``'s message to one channel; None on success, else why not."""
    sender = ChannelSender.build(channel)
    return await sender.send(render_test(channel.name, format_time(now), fmt=sender.format))
