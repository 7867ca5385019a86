"""Events of the alerts sent for an event, and of outside archives asked to capture a page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from monitor.events.base import Event


@dataclass(frozen=True, kw_only=True)
class NotificationSent(Event):
    """An alert about event ``for_seq`` reached channel ``channel`` (its name, never its URL)."""

    type: ClassVar[str] = "NotificationSent"
    for_seq: int
    channel: str
    attempt: int = 1
    digest: str | None = None  # the digest id when the alert went out in a digest


@dataclass(frozen=True, kw_only=True)
class NotificationFailed(Event):
    """Sending an alert about ``for_seq`` to ``channel`` failed on ``attempt``."""

    type: ClassVar[str] = "NotificationFailed"
    for_seq: int
    channel: str
    attempt: int
    error: str
    final: bool = False


@dataclass(frozen=True, kw_only=True)
class ThirdPartyCaptured(Event):
    """An outside archive (the Internet Archive's Save Page Now) captured the page after
    the change at ``for_seq``; ``archive_url`` is where anyone can see its copy."""

    type: ClassVar[str] = "ThirdPartyCaptured"
    for_seq: int
    url: str
    archive: str  # "wayback"
    archive_url: str
    attempt: int = 1


@dataclass(frozen=True, kw_only=True)
class ThirdPartyCaptureFailed(Event):
    """Asking an outside archive to capture the page after the change at ``for_seq``
    failed on ``attempt``; ``final`` when no further attempt will be made."""

    type: ClassVar[str] = "ThirdPartyCaptureFailed"
    for_seq: int
    url: str
    archive: str
    attempt: int
    error: str
    final: bool = False
