"""Pure: *what* an alert says.

Rendering (``render_alert``, ``render_digest``, ``render_test``) turns an event into a
title and a body, in plain text (e-mail, generic webhooks) or Markdown (Slack
and other chat services). Apprise enforces each service's length limits; the
bodies here put what matters first (what changed, which rules, the link) and the
long excerpts last, so a truncated message still says why it was sent. Who gets
an alert, and at which severity, is ``notify.routing``'s.

No I/O here: sources are described by the settings recorded in the log, times are
strings from the events.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from monitor.config.settings import SEVERITY_ORDER
from monitor.desk.summaries import change_summary
from monitor.events import (
    ChangeDetected,
    ContentConfirmed,
    ContentSuspect,
    Event,
    FetchFailed,
    SourceDiscovered,
    SourceGone,
    SourceMoved,
    SourceRecovered,
    StoredEvent,
    StoryDetected,
    capture_of,
)
from monitor.notify.routing import alert_severity
from monitor.text.safe import show_bidi

__all__ = [
    "Message",
    "SourceInfo",
    "change_excerpt",
    "render_alert",
    "render_digest",
    "render_test",
]

Format = Literal["text", "markdown"]

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


def rule_headline(change: ChangeDetected) -> str | None:
    """A change's summary when a rule matched (it then leads with what the rule saw)."""
    if not change.rules or change.classification == "reverted":
        return None
    return str(change.diff.get("summary") or "") or None


def alert_title(stored: StoredEvent, source: SourceInfo, severity: str) -> str:
    """The subject line: severity, source and what happened, in one line."""
    name = source.name
    match stored.event:
        case ChangeDetected(classification="reverted"):
            what = f"{name} went back to an earlier version"
        case ChangeDetected() as change:
            rules = list(dict.fromkeys(str(r.get("rule_id", "")) for r in change.rules))
            what = f"{name} changed" + (f" ({', '.join(rules)})" if rules else "")
            headline = rule_headline(change)
            if headline:
                what += f": {headline}"
        case ContentSuspect(reason=reason):
            what = f"{name} looks wrong ({reason})"
        case FetchFailed(consecutive_failures=failures):
            what = f"{name} cannot be fetched ({failures} failures)"
        case SourceRecovered(gone_since=gone_since):
            what = f"{name} is back" if gone_since else f"{name} can be fetched again"
        case SourceMoved(to_url=to_url):
            what = f"{name} moved to {to_url}"
        case SourceDiscovered() as found:
            rules = list(dict.fromkeys(str(r.get("rule_id", "")) for r in found.rules))
            company = found.company
            what = (
                f"New document{' from ' + company if company else ''}: {found.title or found.url}"
            )
            what += f" ({', '.join(rules)})" if rules else ""
        case StoryDetected(headline=headline):
            what = headline or "a story across companies"
        case SourceGone() as gone:
            what = f"{name} is gone ({_gone_reason(gone)})"
        case _:
            what = f"{name}: {stored.type}"
    return _clip(f"[{severity}] {what}", 250)


def _gone_reason(gone: SourceGone) -> str:
    if gone.reason == "redirected":
        return f"redirects to {gone.final_url or 'a generic page'}"
    return f"HTTP {gone.status}" if gone.status else gone.reason


def _story_body(story: StoryDetected, fmt: Format, base_url: str | None) -> list[str]:
    """What a story alert says: the headline, then each company with its sentence."""
    lines = [_esc(story.headline, fmt), ""]
    members = list(story.members)
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
    lines.append(f"{_label('Rule', fmt)} {_esc(story.rule_id, fmt)}, {story.side} text")
    if base_url and story.story_id:
        link = f"{base_url.rstrip('/')}/stories/{quote_path(story.story_id)}"
        lines.append(_link("View this story", link, fmt))
    return lines


def quote_path(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _change_url(base_url: str | None, seq: int) -> str | None:
    return f"{base_url.rstrip('/')}/changes/{seq}" if base_url else None


def render_alert(
    stored: StoredEvent,
    source: SourceInfo,
    *,
    fmt: Format = "text",
    base_url: str | None = None,
    alert_after: int = 3,
) -> Message:
    """Title and body of the alert about one event."""
    event = stored.event
    if isinstance(event, SourceDiscovered) and not source.company:
        # A discovered document has no source of its own: name its company and entry.
        entry = source.source_id.removeprefix("$discover:")
        source = SourceInfo(
            source_id=source.source_id,
            company=event.company,
            title=f"discovered by {entry}",
            url=event.url,
        )
    severity = alert_severity(event, alert_after=alert_after) or "info"
    if isinstance(event, StoryDetected):
        body = _story_body(event, fmt, base_url)
        body += ["", f"{_label('Event', fmt)} #{stored.seq} (story record)"]
        return Message(
            title=alert_title(stored, source, severity), body="\n".join(body), format=fmt
        )
    capture = capture_of(event)
    page_url = (capture.final_url if capture is not None else "") or source.url
    lines = [f"**{_esc(source.name, fmt)}**" if fmt == "markdown" else source.name]
    headline = rule_headline(event) if isinstance(event, ChangeDetected) else None
    if headline:
        lines.insert(0, _esc(headline, fmt))  # what the rule saw, before anything else
    if capture is not None and capture.title and capture.title != source.title:
        lines.append(_esc(_clip(capture.title, 200), fmt))
    if page_url:
        lines.append(page_url)
    view = _change_url(base_url, stored.seq)
    if view:
        lines.append(_link("View this change", view, fmt))
    lines.append("")
    lines += _alert_lines(stored, event, severity, fmt)
    lines.append("")
    lines.append(f"{_label('Captured', fmt)} {_when(stored, event)}")
    if isinstance(event, ChangeDetected) and event.previous_seen_until:
        lines.append(f"{_label('Old text last seen', fmt)} {event.previous_seen_until}")
    lines.append(
        f"{_label('Event', fmt)} #{stored.seq} in the log of {_esc(source.source_id, fmt)}"
    )
    return Message(title=alert_title(stored, source, severity), body="\n".join(lines), format=fmt)


def _when(stored: StoredEvent, event: Event) -> str:
    """When the page was fetched (the capture's, a failure's), else when it was recorded."""
    capture = capture_of(event)
    if capture is not None and capture.fetched_at:
        return capture.fetched_at
    if isinstance(event, FetchFailed | ContentConfirmed) and event.fetched_at:
        return event.fetched_at
    return stored.recorded_at


def _alert_lines(stored: StoredEvent, event: Event, severity: str, fmt: Format) -> list[str]:
    """What an alert says about its event, after the source's lines."""
    match event:
        case ChangeDetected() as change:
            return _change_body(change, severity, fmt)
        case ContentSuspect(reason=reason, detail=detail):
            lines = [f"{_label('Suspect page', fmt)} {_esc(reason, fmt)}"]
            if detail:
                lines.append(_esc(_clip(detail, MAX_QUOTE_CHARS), fmt))
            lines.append(
                "The last good capture stays the reference; no change is recorded until the "
                "page looks right again."
            )
            return lines
        case FetchFailed() as failed:
            status = f" (HTTP {failed.status})" if failed.status else ""
            return [
                f"{_label('Failing', fmt)} {failed.consecutive_failures} checks in a row: "
                f"{_esc(failed.error, fmt)}{status}",
                _esc(_clip(failed.message, MAX_QUOTE_CHARS), fmt),
            ]
        case SourceRecovered(gone_since=gone_since) if gone_since:
            return [
                f"{_label('Back', fmt)} the page had been gone since {gone_since}; "
                "it answers again and its text is compared as usual."
            ]
        case SourceRecovered(failures=failures, failing_since=failing_since):
            return [
                f"{_label('Recovered', fmt)} after {failures} failed checks "
                f"since {failing_since or 'an unknown time'}"
            ]
        case SourceMoved() as moved:
            how = f"HTTP {moved.status}" if moved.how == "redirect" else "canonical link"
            return [
                f"{_label('Moved', fmt)} ({how}) from {_esc(moved.from_url, fmt)}",
                f"to {_esc(moved.to_url, fmt)}",
                "The source keeps its history; checks fetch the new address from now on.",
            ]
        case SourceDiscovered() as found:
            return _discovered_body(found, fmt)
        case SourceGone() as gone:
            return [
                f"{_label('Gone', fmt)} {_esc(_gone_reason(gone), fmt)} on {gone.checks} "
                f"checks in a row since {gone.since or 'an unknown time'}",
                "A removed page is news: its last text stays in the log (`monitor show`), and "
                "a SourceRecovered follows if it comes back.",
            ]
    return []


def _discovered_body(found: SourceDiscovered, fmt: Format) -> list[str]:
    lines = [f"{_label('New document', fmt)} {_esc(found.url, fmt)}"]
    if found.title:
        lines.append(_esc(_clip(found.title, MAX_QUOTE_CHARS), fmt))
    if found.lastmod:
        lines.append(f"{_label('Last modified', fmt)} {_esc(found.lastmod, fmt)}")
    if found.state == "watching":
        lines.append(f"Now watched as source {_esc(found.source_id, fmt)}.")
    elif found.state == "waiting":
        lines.append(f"Waiting for review: monitor discover --accept {_esc(found.url, fmt)}")
    lines += _rule_lines(found.rules, fmt)
    return lines


def _change_body(change: ChangeDetected, severity: str, fmt: Format) -> list[str]:
    diff = change.diff
    lines = [f"{_label('Change', fmt)} {change.classification}, severity {severity}"]
    if change.classification == "reverted":
        lines.append("The page text is again identical to an earlier capture (A→B→A).")
    summary = change_summary(change)
    if summary:
        lines.append(f"{_label('Summary', fmt)} {_esc(summary, fmt)}")
    if change.rules:
        lines.append(_label("Matched rules", fmt))
        lines += _rule_lines(change.rules, fmt)
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
    ranks = [alert_severity(e.event, alert_after=alert_after) or "info" for e, _ in items]
    top = max(ranks, key=lambda s: SEVERITY_ORDER[s]) if ranks else "info"
    title = f"[{top}] policy-monitor digest: {count} alert{'s' if count != 1 else ''} ({due})"
    lines = [
        f"{count} alert{'s' if count != 1 else ''} for {_esc(channel, fmt)} since the last digest.",
        "",
    ]
    for (event, source), severity in zip(items[:MAX_DIGEST_ITEMS], ranks, strict=False):
        head = alert_title(event, source, severity)
        lines.append(f"**{_esc(head, fmt)}**" if fmt == "markdown" else head)
        lines.append(f"{_label('When', fmt)} {_when(event, event.event)} — event #{event.seq}")
        if source.url:
            lines.append(source.url)
        view = _change_url(base_url, event.seq)
        if view:
            lines.append(_link("View this change", view, fmt))
        if isinstance(change := event.event, ChangeDetected):
            diff = change.diff
            summary = change_summary(change)
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
