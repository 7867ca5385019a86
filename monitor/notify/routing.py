"""Pure: *who* gets an alert — its severity, and the channels that take it.

Routing rules:

* alertable types: ``ChangeDetected``, ``ContentSuspect``, ``FetchFailed`` (only
  the failure whose ``consecutive_failures`` equals ``alert_after_failures``: one
  alert per outage, not one per failed check; never a ``deferred`` one, which sent
  nothing because the host asked for quiet) and ``SourceRecovered`` (only when
  the outage had reached that threshold, so a blip that was never alerted is
  never "resolved" either, unless the page had been recorded gone);
* ``StoryDetected`` (the same rule at several companies: one alert per record,
  with the story's severity, routed by the members' tags and the rule's
  ``notify``) and ``SourceGone`` (high: the page answers 404/410 or redirects
  away for ``gone_after`` checks);
* a change recorded ``silent`` (a quiet class — ``volatile``, ``dated``, ``chrome`` —
  that no rule matched and its source did not ask for in ``also_alert``) is no alert;
* severity: a change's own (``reverted`` changes are ``info``), ``medium`` for a
  suspect page, ``low`` for an outage or a recovery; a channel takes events at or
  above its ``min_severity`` and of a type in its ``events``;
* tags: a channel without tags takes every event; a channel with tags takes an
  event when they meet the source's tags or the ``notify`` targets of a matched
  rule (a ``notify`` target may also be the channel's name).

No I/O here: rules come from the current configuration, a source's tags from the
settings recorded in the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from monitor import events
from monitor.config.settings import SEVERITY_ORDER, ChannelSettings, RuleSettings
from monitor.events import ALERT_EVENTS, FETCH_DEFERRED, Event, StoredEvent

__all__ = ["alert_severity", "notify_targets", "route"]


def _known(severity: str, default: str) -> str:
    return severity if severity in SEVERITY_ORDER else default


def alert_severity(event: Event, *, alert_after: int) -> str | None:
    """The severity of the alert an event deserves, or None when it deserves none."""
    match event:
        case events.ChangeDetected(silent=True):
            return None  # a quiet class (volatile, dated, chrome) that nothing asked to alert
        case events.ChangeDetected(classification="reverted"):
            return "info"
        case events.ChangeDetected(severity=severity):
            return _known(severity or "low", "low")
        case events.ContentSuspect():
            return "medium"
        case events.FetchFailed(error=error) if error == FETCH_DEFERRED:
            return None  # the host asked for quiet; nothing is wrong with the page
        case events.FetchFailed(consecutive_failures=failures):
            return "low" if failures == alert_after else None
        case events.SourceRecovered(gone_since=gone_since) if gone_since:
            return "medium"  # a page that was gone is back: as much news as its going
        case events.SourceRecovered(failures=failures):
            return "low" if failures >= alert_after else None
        case events.SourceMoved():
            return "low"
        case events.SourceDiscovered(severity=severity):
            return _known(severity or "low", "low")
        case events.StoryDetected(catch_up=True):
            return None  # found while catching up on old changes: history, not news
        case events.StoryDetected(severity=severity):
            return _known(severity or "medium", "medium")
        case events.SourceGone():
            return "high"
    return None


def notify_targets(matches: Iterable[Mapping[str, Any]], rules: Sequence[RuleSettings]) -> set[str]:
    """The ``notify`` tags (or channel names) of the rules a change matched."""
    by_id = {rule.id: rule for rule in rules}
    targets: set[str] = set()
    for match in matches:
        targets.update(str(t) for t in match.get("notify") or ())
        rule = by_id.get(str(match.get("rule_id", "")))
        if rule is not None:
            targets.update(rule.notify)
    return targets


def route(
    stored: StoredEvent,
    channels: Sequence[ChannelSettings],
    *,
    source_tags: Iterable[str],
    rules: Sequence[RuleSettings],
    alert_after: int,
) -> tuple[str, ...]:
    """Names of the channels that should hear about ``stored`` (empty: no alert)."""
    event = stored.event
    if not isinstance(event, ALERT_EVENTS):
        return ()
    severity = alert_severity(event, alert_after=alert_after)
    if severity is None:
        return ()
    rank = SEVERITY_ORDER[severity]
    tags = set(source_tags)
    targets: set[str] = set()
    match event:
        case events.ChangeDetected(rules=matches):
            targets = notify_targets(matches, rules)
        case events.SourceDiscovered(rules=matches):
            targets = notify_targets(matches, rules)
            # A discovered document has no source yet: its tags are its [[discover]] entry's.
            tags |= {str(t) for t in event.tags}
        case events.StoryDetected(rule_id=rule_id):
            tags |= {str(t) for t in event.tags}
            targets = {t for rule in rules if rule.id == rule_id for t in rule.notify}
    chosen = []
    for channel in channels:
        if stored.type not in channel.events or rank < SEVERITY_ORDER[channel.min_severity]:
            continue
        if channel.tags and not (set(channel.tags) & (tags | targets) or channel.name in targets):
            continue
        chosen.append(channel.name)
    return tuple(chosen)
