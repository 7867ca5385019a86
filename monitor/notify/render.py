"""Pure: *who* gets an alert and *what* it says.

Routing (``route``) decides which channels an event goes to; rendering
(``render_alert``, ``render_digest``, ``render_test``) turns an event into a
title and a body, in plain text (e-mail, generic webhooks) or Markdown (Slack
and other chat services). Apprise enforces each service's length limits; the
bodies here put what matters first (what changed, which rules, the link) and the
long excerpts last, so a truncated message still says why it was sent.

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

No I/O here: sources are described by the settings recorded in the log, rules
by the current configuration, times are strings from the events.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from monitor.config.settings import SEVERITY_ORDER, ChannelSettings, RuleSettings
from monitor.desk.summaries import change_summary
from monitor.events import FETCH_DEFERRED, StoredEvent
from monitor.text.safe import show_bidi

__all__ = [
    "ALERT_TYPES",
    "Message",
    "SourceInfo",
    "alert_severity",
    "change_excerpt",
    "render_alert",
    "render_digest",
    "render_test",
    "route",
]

Format = Literal["text", "markdown"]

ALERT_TYPES = (
    "ChangeDetected",
    "ContentSuspect",
    "FetchFailed",
    "SourceRecovered",
    "SourceMoved",
    "SourceDiscovered",
    "StoryDetected",
    "SourceGone",
)
CONTEXT_WORDS = 8  # unchanged words shown on each side of an edit
MAX_EXCERPT_CHANGES = 6  # block changes quoted in one alert; the rest are counted
MAX_QUOTE_CHARS = 400  # one quoted sentence or block
MAX_WORD_RUNS_CHARS = 600  # the "Added:" / "Removed:" lines
MAX_DIGEST_ITEMS = 50  # alerts described in one digest; the rest are counted


@dataclass(frozen=True, slots=True)
class Message:
    """One notification as Apprise sends it."""

    title: str
    body: str
    format: Format = "text"


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What an alert says about its source, from the settings recorded in the log."""

    source_id: str
    company: str = ""
    title: str = ""
    url: str = ""
    tags: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, source_id: str, settings: Mapping[str, Any] | None) -> SourceInfo:
        settings = settings or {}
        return cls(
            source_id=source_id,
            company=str(settings.get("company") or ""),
            title=str(settings.get("title") or ""),
            url=str(settings.get("url") or ""),
            tags=tuple(str(t) for t in settings.get("tags") or ()),
        )

    @property
    def name(self) -> str:
        """The display name: company and title ("Meta — Government requests"), or the id."""
        parts = [p for p in (self.company, self.title) if p]
        return " — ".join(parts) if parts else self.source_id


# --------------------------------------------------------------------------- routing


def alert_severity(event_type: str, data: Mapping[str, Any], *, alert_after: int) -> str | None:
    """The severity of the alert an event deserves, or None when it deserves none."""
    if event_type == "ChangeDetected":
        if data.get("silent"):
            return None  # a quiet class (volatile, dated, chrome) that nothing asked to alert
        if data.get("classification") == "reverted":
            return "info"
        severity = str(data.get("severity") or "low")
        return severity if severity in SEVERITY_ORDER else "low"
    if event_type == "ContentSuspect":
        return "medium"
    if event_type == "FetchFailed":
        if data.get("error") == FETCH_DEFERRED:
            return None  # the host asked for quiet; nothing is wrong with the page
        return "low" if int(data.get("consecutive_failures", 1)) == alert_after else None
    if event_type == "SourceRecovered":
        if data.get("gone_since"):
            return "medium"  # a page that was gone is back: as much news as its going
        return "low" if int(data.get("failures", 0)) >= alert_after else None
    if event_type == "SourceMoved":
        return "low"
    if event_type == "SourceDiscovered":
        severity = str(data.get("severity") or "low")
        return severity if severity in SEVERITY_ORDER else "low"
    if event_type == "StoryDetected":
        if data.get("catch_up"):
            return None  # found while catching up on old changes: history, not news
        severity = str(data.get("severity") or "medium")
        return severity if severity in SEVERITY_ORDER else "medium"
    if event_type == "SourceGone":
        return "high"
    return None


def notify_targets(data: Mapping[str, Any], rules: Sequence[RuleSettings]) -> set[str]:
    """The ``notify`` tags (or channel names) of the rules a change matched."""
    by_id = {rule.id: rule for rule in rules}
    targets: set[str] = set()
    for match in data.get("rules") or ():
        targets.update(str(t) for t in match.get("notify") or ())
        rule = by_id.get(str(match.get("rule_id", "")))
        if rule is not None:
            targets.update(rule.notify)
    return targets


def route(
    event: StoredEvent,
    channels: Sequence[ChannelSettings],
    *,
    source_tags: Iterable[str],
    rules: Sequence[RuleSettings],
    alert_after: int,
) -> tuple[str, ...]:
    """Names of the channels that should hear about ``event`` (empty: no alert)."""
    if event.type not in ALERT_TYPES:
        return ()
    severity = alert_severity(event.type, event.data, alert_after=alert_after)
    if severity is None:
        return ()
    rank = SEVERITY_ORDER[severity]
    tags = set(source_tags)
    matched = event.type in ("ChangeDetected", "SourceDiscovered")
    targets = notify_targets(event.data, rules) if matched else set()
    if event.type == "SourceDiscovered":
        # A discovered document has no source yet: its tags are its [[discover]] entry's.
        tags |= {str(t) for t in event.data.get("tags") or ()}
    if event.type == "StoryDetected":
        tags |= {str(t) for t in event.data.get("tags") or ()}
        rule_id = str(event.data.get("rule_id") or "")
        targets = {t for rule in rules if rule.id == rule_id for t in rule.notify}
    chosen = []
    for channel in channels:
        if event.type not in channel.events or rank < SEVERITY_ORDER[channel.min_severity]:
            continue
        if channel.tags and not (set(channel.tags) & (tags | targets) or channel.name in targets):
            continue
        chosen.append(channel.name)
    return tuple(chosen)


# --------------------------------------------------------------------------- text helpers

_MD_SPECIAL = re.compile(r"([\\`*_~\[\]<>|#])")


def _esc(text: str, fmt: Format) -> str:
    """Page text is data, never markup: escape what Markdown would interpret, and show
    bidi controls (which would reorder the alert on screen) as ``[U+202E]``."""
    text = show_bidi(text)
    return _MD_SPECIAL.sub(r"\\\1", text) if fmt == "markdown" else text


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _label(label: str, fmt: Format) -> str:
    return f"**{label}:**" if fmt == "markdown" else f"{label}:"


def _link(text: str, url: str, fmt: Format) -> str:
    return f"[{_esc(text, fmt)}]({url})" if fmt == "markdown" else f"{text}: {url}"


def _words(text: str) -> list[str]:
    return text.split()


def _inline_excerpt(segments: Sequence[Sequence[Any]], fmt: Format) -> str:
    """One changed block, word by word, with a few unchanged words around each edit."""
    pieces: list[str] = []
    count = len(segments)
    for index, segment in enumerate(segments):
        op, text = int(segment[0]), str(segment[1])
        if op == 0:
            words = _words(text)
            first, last = index == 0, index == count - 1
            if first and len(words) > CONTEXT_WORDS:
                words = ["…", *words[-CONTEXT_WORDS:]]
            elif last and len(words) > CONTEXT_WORDS:
                words = [*words[:CONTEXT_WORDS], "…"]
            elif not first and not last and len(words) > 2 * CONTEXT_WORDS:
                words = [*words[:CONTEXT_WORDS], "…", *words[-CONTEXT_WORDS:]]
            if words:
                pieces.append(" ".join(_esc(w, fmt) if w != "…" else w for w in words))
            continue
        text = " ".join(text.split())
        if not text:
            continue
        quoted = _esc(_clip(text, MAX_QUOTE_CHARS), fmt)
        if fmt == "markdown":
            pieces.append(f"~~{quoted}~~" if op < 0 else f"**{quoted}**")
        else:
            pieces.append(f"[-{quoted}-]" if op < 0 else f"{{+{quoted}+}}")
    return _clip(" ".join(pieces), 2 * MAX_QUOTE_CHARS)


def change_excerpt(diff: Mapping[str, Any], fmt: Format) -> list[str]:
    """Lines quoting what was removed and added, word by word, block by block."""
    lines: list[str] = []
    changes = list(diff.get("changes") or ())
    for change in changes[:MAX_EXCERPT_CHANGES]:
        op = change.get("op", "changed")
        inline = change.get("inline") or ()
        if op == "changed" and inline:
            text = _inline_excerpt(inline, fmt)
            marker = "~"
        elif op == "removed":
            text = _esc(_clip(str(change.get("old") or ""), MAX_QUOTE_CHARS), fmt)
            text = f"~~{text}~~" if fmt == "markdown" else f"[-{text}-]"
            marker = "-"
        elif op == "moved":
            text = "(moved) " + _esc(_clip(str(change.get("new") or ""), MAX_QUOTE_CHARS), fmt)
            marker = "↕"
        else:
            text = _esc(_clip(str(change.get("new") or ""), MAX_QUOTE_CHARS), fmt)
            text = f"**{text}**" if fmt == "markdown" else f"{{+{text}+}}"
            marker = "+"
        path = " › ".join(str(p) for p in change.get("path") or ())
        where = f"{_esc(_clip(path, 120), fmt)}: " if path else ""
        lines.append(f"- {where}{text}" if fmt == "markdown" else f"  {marker} {where}{text}")
    if len(changes) > MAX_EXCERPT_CHANGES:
        lines.append(f"… and {len(changes) - MAX_EXCERPT_CHANGES} more changed blocks")
    return lines


def _runs(runs: Iterable[Any], fmt: Format) -> str:
    quoted = [f"“{_esc(' '.join(str(r).split()), fmt)}”" for r in runs if str(r).strip()]
    return _clip(", ".join(quoted), MAX_WORD_RUNS_CHARS)


def _rule_lines(rules: Sequence[Mapping[str, Any]], fmt: Format) -> list[str]:
    lines: list[str] = []
    for match in rules:
        rule_id = str(match.get("rule_id", "?"))
        about = ", ".join(str(match[k]) for k in ("severity", "side") if match.get(k))
        head = _esc(rule_id, fmt) + (f" ({about})" if about else "")
        lines.append(f"- {head}" if fmt == "markdown" else f"  - {head}")
        for sentence in list(match.get("sentences") or ())[:3]:
            quote = _esc(_clip(str(sentence), MAX_QUOTE_CHARS), fmt)
            lines.append(f"  > {quote}" if fmt == "markdown" else f"      “{quote}”")
    return lines


# --------------------------------------------------------------------------- alerts


def rule_headline(data: Mapping[str, Any]) -> str | None:
    """A change's summary when a rule matched (it then leads with what the rule saw)."""
    if not data.get("rules") or data.get("classification") == "reverted":
        return None
    summary = str((data.get("diff") or {}).get("summary") or "")
    return summary or None


def alert_title(event: StoredEvent, source: SourceInfo, severity: str) -> str:
    """The subject line: severity, source and what happened, in one line."""
    data = event.data
    name = source.name
    if event.type == "ChangeDetected":
        if data.get("classification") == "reverted":
            what = f"{name} went back to an earlier version"
        else:
            rules = list(dict.fromkeys(str(r.get("rule_id", "")) for r in data.get("rules") or ()))
            what = f"{name} changed" + (f" ({', '.join(rules)})" if rules else "")
            headline = rule_headline(data)
            if headline:
                what += f": {headline}"
    elif event.type == "ContentSuspect":
        what = f"{name} looks wrong ({data.get('reason', 'suspect')})"
    elif event.type == "FetchFailed":
        what = f"{name} cannot be fetched ({data.get('consecutive_failures', 1)} failures)"
    elif event.type == "SourceRecovered":
        what = f"{name} is back" if data.get("gone_since") else f"{name} can be fetched again"
    elif event.type == "SourceMoved":
        what = f"{name} moved to {data.get('to_url', '')}"
    elif event.type == "SourceDiscovered":
        company = str(data.get("company") or "")
        found = str(data.get("title") or data.get("url") or "")
        rules = list(dict.fromkeys(str(r.get("rule_id", "")) for r in data.get("rules") or ()))
        what = f"New document{' from ' + company if company else ''}: {found}" + (
            f" ({', '.join(rules)})" if rules else ""
        )
    elif event.type == "StoryDetected":
        what = str(data.get("headline") or "a story across companies")
    elif event.type == "SourceGone":
        what = f"{name} is gone ({_gone_reason(data)})"
    else:
        what = f"{name}: {event.type}"
    return _clip(f"[{severity}] {what}", 250)


def _gone_reason(data: Mapping[str, Any]) -> str:
    reason = str(data.get("reason") or "")
    if reason == "redirected":
        return f"redirects to {data.get('final_url') or 'a generic page'}"
    status = data.get("status")
    return f"HTTP {status}" if status else reason


def _story_body(data: Mapping[str, Any], fmt: Format, base_url: str | None) -> list[str]:
    """What a story alert says: the headline, then each company with its sentence."""
    lines = [_esc(str(data.get("headline") or ""), fmt), ""]
    members = list(data.get("members") or ())
    lines.append(_label(f"{len(members)} companies, in the order they changed", fmt))
    for member in members:
        who = str(member.get("company") or member.get("source_id") or "")
        when = str(member.get("at") or "")[:10]
        head = f"{_esc(who, fmt)} ({when})"
        view = _change_url(base_url, int(member.get("seq") or 0))
        head += f" — {view}" if view else f" — change #{member.get('seq')}"
        lines.append(f"- {head}" if fmt == "markdown" else f"  - {head}")
        sentence = str(member.get("sentence") or "")
        if sentence:
            quote = _esc(_clip(sentence, MAX_QUOTE_CHARS), fmt)
            lines.append(f"  > {quote}" if fmt == "markdown" else f"      “{quote}”")
    lines.append("")
    lines.append(
        f"{_label('Rule', fmt)} {_esc(str(data.get('rule_id') or ''), fmt)}, "
        f"{data.get('side') or ''} text"
    )
    if base_url and data.get("story_id"):
        story = f"{base_url.rstrip('/')}/stories/{quote_path(str(data['story_id']))}"
        lines.append(_link("View this story", story, fmt))
    return lines


def quote_path(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _change_url(base_url: str | None, seq: int) -> str | None:
    return f"{base_url.rstrip('/')}/changes/{seq}" if base_url else None


def render_alert(
    event: StoredEvent,
    source: SourceInfo,
    *,
    fmt: Format = "text",
    base_url: str | None = None,
    alert_after: int = 3,
) -> Message:
    """Title and body of the alert about one event."""
    data = event.data
    if event.type == "SourceDiscovered" and not source.company:
        # A discovered document has no source of its own: name its company and entry.
        entry = source.source_id.removeprefix("$discover:")
        source = SourceInfo(
            source_id=source.source_id,
            company=str(data.get("company") or ""),
            title=f"discovered by {entry}",
            url=str(data.get("url") or ""),
        )
    severity = alert_severity(event.type, data, alert_after=alert_after) or "info"
    if event.type == "StoryDetected":
        body = _story_body(data, fmt, base_url)
        body += ["", f"{_label('Event', fmt)} #{event.seq} (story record)"]
        return Message(title=alert_title(event, source, severity), body="\n".join(body), format=fmt)
    page_url = source.url
    capture = data.get("capture") or {}
    if capture.get("final_url"):
        page_url = str(capture["final_url"])
    lines = [f"**{_esc(source.name, fmt)}**" if fmt == "markdown" else source.name]
    headline = rule_headline(data) if event.type == "ChangeDetected" else None
    if headline:
        lines.insert(0, _esc(headline, fmt))  # what the rule saw, before anything else
    if capture.get("title") and capture["title"] != source.title:
        lines.append(_esc(_clip(str(capture["title"]), 200), fmt))
    if page_url:
        lines.append(page_url)
    view = _change_url(base_url, event.seq)
    if view:
        lines.append(_link("View this change", view, fmt))
    lines.append("")
    if event.type == "ChangeDetected":
        lines += _change_body(data, severity, fmt)
    elif event.type == "ContentSuspect":
        lines.append(f"{_label('Suspect page', fmt)} {_esc(str(data.get('reason', '')), fmt)}")
        if data.get("detail"):
            lines.append(_esc(_clip(str(data["detail"]), MAX_QUOTE_CHARS), fmt))
        lines.append(
            "The last good capture stays the reference; no change is recorded until the "
            "page looks right again."
        )
    elif event.type == "FetchFailed":
        status = f" (HTTP {data['status']})" if data.get("status") else ""
        lines.append(
            f"{_label('Failing', fmt)} {data.get('consecutive_failures', 1)} checks in a row: "
            f"{_esc(str(data.get('error', '')), fmt)}{status}"
        )
        lines.append(_esc(_clip(str(data.get("message", "")), MAX_QUOTE_CHARS), fmt))
    elif event.type == "SourceRecovered" and data.get("gone_since"):
        lines.append(
            f"{_label('Back', fmt)} the page had been gone since {data['gone_since']}; "
            "it answers again and its text is compared as usual."
        )
    elif event.type == "SourceRecovered":
        lines.append(
            f"{_label('Recovered', fmt)} after {data.get('failures', 0)} failed checks "
            f"since {data.get('failing_since') or 'an unknown time'}"
        )
    elif event.type == "SourceMoved":
        how = f"HTTP {data.get('status')}" if data.get("how") == "redirect" else "canonical link"
        lines.append(f"{_label('Moved', fmt)} ({how}) from {_esc(str(data.get('from_url')), fmt)}")
        lines.append(f"to {_esc(str(data.get('to_url', '')), fmt)}")
        lines.append("The source keeps its history; checks fetch the new address from now on.")
    elif event.type == "SourceDiscovered":
        lines += _discovered_body(data, fmt)
    elif event.type == "SourceGone":
        lines.append(
            f"{_label('Gone', fmt)} {_esc(_gone_reason(data), fmt)} on {data.get('checks', 0)} "
            f"checks in a row since {data.get('since') or 'an unknown time'}"
        )
        lines.append(
            "A removed page is news: its last text stays in the log (`monitor show`), and "
            "a SourceRecovered follows if it comes back."
        )
    lines.append("")
    when = capture.get("fetched_at") or data.get("fetched_at") or event.recorded_at
    lines.append(f"{_label('Captured', fmt)} {when}")
    if data.get("previous_seen_until"):
        lines.append(f"{_label('Old text last seen', fmt)} {data['previous_seen_until']}")
    lines.append(f"{_label('Event', fmt)} #{event.seq} in the log of {_esc(source.source_id, fmt)}")
    return Message(title=alert_title(event, source, severity), body="\n".join(lines), format=fmt)


def _discovered_body(data: Mapping[str, Any], fmt: Format) -> list[str]:
    lines = [f"{_label('New document', fmt)} {_esc(str(data.get('url', '')), fmt)}"]
    if data.get("title"):
        lines.append(_esc(_clip(str(data["title"]), MAX_QUOTE_CHARS), fmt))
    if data.get("lastmod"):
        lines.append(f"{_label('Last modified', fmt)} {_esc(str(data['lastmod']), fmt)}")
    state = str(data.get("state") or "listed")
    if state == "watching":
        lines.append(f"Now watched as source {_esc(str(data.get('source_id', '')), fmt)}.")
    elif state == "waiting":
        lines.append(
            f"Waiting for review: monitor discover --accept {_esc(str(data.get('url')), fmt)}"
        )
    lines += _rule_lines(data.get("rules") or (), fmt)
    return lines


def _change_body(data: Mapping[str, Any], severity: str, fmt: Format) -> list[str]:
    diff = data.get("diff") or {}
    classification = str(data.get("classification", ""))
    lines = [f"{_label('Change', fmt)} {classification}, severity {severity}"]
    if classification == "reverted":
        lines.append("The page text is again identical to an earlier capture (A→B→A).")
    summary = change_summary(data)
    if summary:
        lines.append(f"{_label('Summary', fmt)} {_esc(summary, fmt)}")
    rules = list(data.get("rules") or ())
    if rules:
        lines.append(_label("Matched rules", fmt))
        lines += _rule_lines(rules, fmt)
    removed, added = _runs(diff.get("removed") or (), fmt), _runs(diff.get("added") or (), fmt)
    if removed:
        lines.append(f"{_label('Removed', fmt)} {removed}")
    if added:
        lines.append(f"{_label('Added', fmt)} {added}")
    excerpt = change_excerpt(diff, fmt)
    if excerpt:
        lines.append("")
        lines.append(_label("What changed", fmt))
        lines += excerpt
    return lines


def render_digest(
    items: Sequence[tuple[StoredEvent, SourceInfo]],
    *,
    channel: str,
    due: str,
    fmt: Format = "text",
    base_url: str | None = None,
    alert_after: int = 3,
) -> Message:
    """One message summarizing several alerts (a channel's digest), oldest first."""
    count = len(items)
    ranks = [alert_severity(e.type, e.data, alert_after=alert_after) or "info" for e, _ in items]
    top = max(ranks, key=lambda s: SEVERITY_ORDER[s]) if ranks else "info"
    title = f"[{top}] policy-monitor digest: {count} alert{'s' if count != 1 else ''} ({due})"
    lines = [
        f"{count} alert{'s' if count != 1 else ''} for {_esc(channel, fmt)} since the last digest.",
        "",
    ]
    for (event, source), severity in zip(items[:MAX_DIGEST_ITEMS], ranks, strict=False):
        head = alert_title(event, source, severity)
        lines.append(f"**{_esc(head, fmt)}**" if fmt == "markdown" else head)
        data = event.data
        capture = data.get("capture") or {}
        when = capture.get("fetched_at") or data.get("fetched_at") or event.recorded_at
        lines.append(f"{_label('When', fmt)} {when} — event #{event.seq}")
        if source.url:
            lines.append(source.url)
        view = _change_url(base_url, event.seq)
        if view:
            lines.append(_link("View this change", view, fmt))
        if event.type == "ChangeDetected":
            diff = data.get("diff") or {}
            summary = change_summary(data)
            if summary:
                lines.append(f"{_label('Summary', fmt)} {_esc(summary, fmt)}")
            added = _runs(diff.get("added") or (), fmt)
            if added:
                lines.append(f"{_label('Added', fmt)} {_clip(added, 200)}")
            removed = _runs(diff.get("removed") or (), fmt)
            if removed:
                lines.append(f"{_label('Removed', fmt)} {_clip(removed, 200)}")
        lines.append("")
    if count > MAX_DIGEST_ITEMS:
        lines.append(f"… and {count - MAX_DIGEST_ITEMS} more alerts (see `monitor log`).")
    return Message(title=title, body="\n".join(lines).rstrip(), format=fmt)


def render_test(channel: str, now: str, *, fmt: Format = "text") -> Message:
    """The message ``monitor notify-test`` sends."""
    body = (
        f"This is a test message from policy-monitor to the channel {_esc(channel, fmt)}, "
        f"sent at {now}. If you can read it, alerts will reach you here."
    )
    return Message(title="policy-monitor test message", body=body, format=fmt)
