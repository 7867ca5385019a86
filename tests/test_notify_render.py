"""Routing and rendering of alerts: pure functions, checked with tables and examples."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.config.settings import ChannelSettings, RuleSettings
from monitor.diff.textdiff import diff_texts
from monitor.events import (
    GENESIS_HASH,
    Capture,
    ContentSuspect,
    Event,
    FetchFailed,
    JsonObject,
    NewEvent,
    NotificationSent,
    SourceRecovered,
    StoredEvent,
    seal,
)
from monitor.notify.render import (
    SourceInfo,
    change_excerpt,
    render_alert,
    render_digest,
    render_test,
)
from monitor.notify.routing import alert_severity, route

OLD = (
    "# Government requests\n"
    "We publish this report twice a year.\n"
    "In Hong Kong, we have resumed processing government data requests since March.\n"
)
NEW = (
    "# Government requests\n"
    "We publish this report twice a year.\n"
    "In Hong Kong, we have paused processing government data requests since March.\n"
)
SOURCE = SourceInfo(
    source_id="meta-gov",
    company="Meta",
    title="Government requests",
    url="https://transparency.example.com/gov",
    tags=("law-enforcement",),
)
HK_MATCH: JsonObject = {
    "rule_id": "hk-data-requests",
    "severity": "high",
    "sentences": ["In Hong Kong, we have paused processing government data requests since March."],
}


def stored(type_: str, data: JsonObject, *, seq: int = 7, stream: str = "meta-gov") -> StoredEvent:
    new = NewEvent(event_id=f"id-{seq}", stream=stream, type=type_, schema=1, data=data)
    return seal(
        new, seq=seq, version=3, recorded_at="2026-03-09T07:00:00.000000Z", prev_hash=GENESIS_HASH
    )


def change(
    *,
    classification: str = "substantive",
    rules: list[JsonObject] | None = None,
    severity: str = "high",
    seq: int = 7,
) -> StoredEvent:
    data: JsonObject = {
        "capture": {
            "final_url": "https://transparency.example.com/gov",
            "fetched_at": "2026-03-09T06:59:58.000000Z",
            "text_sha256": "b" * 64,
        },
        "previous": "a" * 64,
        "previous_seen_until": "2026-03-08T18:00:00.000000Z",
        "diff": diff_texts(OLD, NEW).to_data(),
        "classification": classification,
        "rules": [HK_MATCH] if rules is None else rules,
        "severity": severity,
    }
    return stored("ChangeDetected", data, seq=seq)


def channel(name: str, **kwargs: Any) -> ChannelSettings:
    return ChannelSettings(name=name, url=f"json://127.0.0.1:9/{name}", **kwargs)


CHANNELS = (
    channel("everything"),
    channel("urgent-only", tags=("urgent",)),
    channel("le-team", tags=("law-enforcement",)),
    channel("high-only", min_severity="high"),
    channel("changes-only", events=("ChangeDetected",)),
    channel("by-name", tags=("nobody",)),
)
RULES = (
    RuleSettings(id="hk-data-requests", all=("Hong Kong",), severity="high", notify=("urgent",)),
    RuleSettings(id="named", any=("x",), notify=("by-name",)),
)


def names(
    event: StoredEvent, tags: tuple[str, ...] = ("law-enforcement",), after: int = 3
) -> set[str]:
    return set(route(event, CHANNELS, source_tags=tags, rules=RULES, alert_after=after))


@pytest.mark.parametrize(
    ("event", "tags", "expected"),
    [
        # A high-severity change matching a rule that notifies "urgent".
        (
            change(),
            ("law-enforcement",),
            {"everything", "urgent-only", "le-team", "high-only", "changes-only"},
        ),
        # Same change, source without tags: tagged channels only via the rule.
        (change(), (), {"everything", "urgent-only", "high-only", "changes-only"}),
        # A change without rules: severity low, tags only from the source.
        (change(rules=[], severity="low"), (), {"everything", "changes-only"}),
        (
            change(rules=[], severity="low"),
            ("law-enforcement",),
            {"everything", "le-team", "changes-only"},
        ),
        # A rule may name a channel instead of a tag.
        (
            change(rules=[{"rule_id": "named"}], severity="medium"),
            (),
            {"everything", "by-name", "changes-only"},
        ),
        # Reverted: info severity, only channels that take info.
        (
            change(classification="reverted", rules=[], severity="info"),
            ("law-enforcement",),
            {"everything", "le-team", "changes-only"},
        ),
        (stored("ContentSuspect", {"capture": {}, "reason": "login_wall"}), (), {"everything"}),
        (
            stored(
                "ContentConfirmed",
                {"text_sha256": "a", "fetched_at": "", "checks_since_last_event": 1},
            ),
            (),
            set(),
        ),
        (stored("BaselineCaptured", {"capture": {}}), (), set()),
    ],
)
def test_route(event: StoredEvent, tags: tuple[str, ...], expected: set[str]) -> None:
    assert names(event, tags) == expected


def failure(n: int) -> StoredEvent:
    return stored(
        "FetchFailed",
        {
            "url": "https://x.example",
            "error": "http",
            "message": "HTTP 503",
            "status": 503,
            "consecutive_failures": n,
        },
    )


@pytest.mark.parametrize(
    ("n", "alerted"), [(1, False), (2, False), (3, True), (4, False), (9, False)]
)
def test_fetch_failed_alerts_once_per_outage_at_the_threshold(n: int, alerted: bool) -> None:
    assert bool(names(failure(n), ())) is alerted


@pytest.mark.parametrize(("failures", "alerted"), [(1, False), (2, False), (3, True), (10, True)])
def test_recovery_is_announced_only_for_outages_that_were_announced(
    failures: int, alerted: bool
) -> None:
    event = stored("SourceRecovered", {"failures": failures, "failing_since": "2026-03-09T01:00Z"})
    assert bool(names(event, ())) is alerted


@pytest.mark.parametrize(
    ("event", "severity"),
    [
        (change(severity="critical").event, "critical"),
        (change(severity="high", classification="reverted").event, "info"),
        (change(severity="bogus").event, "low"),
        (ContentSuspect(capture=Capture.of({}), reason="login_wall"), "medium"),
        (FetchFailed(url="u", error="http", message="m", consecutive_failures=3), "low"),
        (FetchFailed(url="u", error="http", message="m", consecutive_failures=2), None),
        (SourceRecovered(failures=5, failing_since="2026-03-09T01:00Z"), "low"),
        (NotificationSent(for_seq=7, channel="everything"), None),
    ],
)
def test_alert_severity(event: Event, severity: str | None) -> None:
    assert alert_severity(event, alert_after=3) == severity


def test_text_alert_says_what_changed_and_why() -> None:
    message = render_alert(change(), SOURCE, fmt="text", base_url="https://monitor.example.org/")
    assert message.format == "text"
    # A rule matched: the title goes on with the change's summary (issue #22), and so
    # does the body's first line.
    summary = change().data["diff"]["summary"]
    assert message.title == (
        f"[high] Meta — Government requests changed (hk-data-requests): {summary}"
    )
    body = message.body
    assert body.splitlines()[0] == summary
    for expected in (
        "Meta — Government requests",
        "https://transparency.example.com/gov",
        "https://monitor.example.org/changes/7",
        "Change: substantive, severity high",
        "hk-data-requests (high)",
        "“In Hong Kong, we have paused processing government data requests since March.”",
        "Removed: “resumed”",
        "Added: “paused”",
        "[-resumed-] {+paused+}",
        "Captured: 2026-03-09T06:59:58.000000Z",
        "Old text last seen: 2026-03-08T18:00:00.000000Z",
    ):
        assert expected in body, expected
    assert "**" not in body
    # What matters comes before the long excerpt, so a truncated message still says why.
    assert body.index("hk-data-requests") < body.index("What changed")


def test_markdown_alert_marks_words_and_escapes_page_text() -> None:
    diff = diff_texts("Fees are *waived* for NGOs.\n", "Fees are *charged* for NGOs.\n")
    event = stored(
        "ChangeDetected",
        {
            "capture": {},
            "previous": "",
            "previous_seen_until": "",
            "diff": diff.to_data(),
            "classification": "substantive",
            "rules": [],
            "severity": "low",
        },
    )
    message = render_alert(event, SOURCE, fmt="markdown", base_url="https://m.example")
    assert "[View this change](https://m.example/changes/7)" in message.body
    assert "**charged**" in message.body and "~~waived~~" in message.body
    assert "\\*" in message.body  # the page's own asterisks stay literal


def test_no_link_without_base_url() -> None:
    assert "/changes/" not in render_alert(change(), SOURCE).body


def test_reverted_change_is_explained() -> None:
    message = render_alert(change(classification="reverted", rules=[], severity="info"), SOURCE)
    assert message.title.startswith("[info] ")
    assert "earlier version" in message.title
    assert "identical to an earlier capture" in message.body


def test_outage_and_recovery_messages() -> None:
    down = render_alert(failure(3), SOURCE)
    assert down.title == "[low] Meta — Government requests cannot be fetched (3 failures)"
    assert "HTTP 503" in down.body
    up = render_alert(
        stored("SourceRecovered", {"failures": 4, "failing_since": "2026-03-09T01:00:00Z"}), SOURCE
    )
    assert "after 4 failed checks since 2026-03-09T01:00:00Z" in up.body


def test_source_without_company_or_title_is_named_by_id() -> None:
    message = render_alert(change(), SourceInfo(source_id="bare-page"))
    assert "bare-page changed" in message.title


def test_excerpt_keeps_context_short_and_counts_the_rest() -> None:
    words = " ".join(f"w{i}" for i in range(40))
    old = "\n".join(f"{words} old{i} {words}" for i in range(10)) + "\n"
    new = "\n".join(f"{words} new{i} {words}" for i in range(10)) + "\n"
    lines = change_excerpt(diff_texts(old, new).to_data(), "text")
    assert len(lines) == 7
    assert lines[-1] == "… and 4 more changed blocks"
    assert (
        lines[0].strip()
        == "~ … w32 w33 w34 w35 w36 w37 w38 w39 [-old0-] {+new0+} w0 w1 w2 w3 w4 w5 w6 w7 …"
    )


def test_digest_lists_every_alert() -> None:
    items = [(change(seq=7), SOURCE), (failure(3), SOURCE)]
    message = render_digest(
        items, channel="team-mail", due="2026-03-10T08:00Z", base_url="https://m.example"
    )
    assert message.title == "[high] policy-monitor digest: 2 alerts (2026-03-10T08:00Z)"
    assert "2 alerts for team-mail" in message.body
    assert "https://m.example/changes/7" in message.body
    assert "cannot be fetched" in message.body
    assert "Added: “paused”" in message.body


def test_test_message_names_the_channel() -> None:
    message = render_test("team-slack", "2026-03-09T08:00:00.000000Z", fmt="markdown")
    assert "team-slack" in message.body and message.format == "markdown"


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_bidi_controls_in_page_text_are_shown_in_alerts(fmt: str) -> None:
    """A right-to-left override in page text would reorder the alert on screen."""
    diff = diff_texts("Fees are waived.\n", "Fees are \u202echarged.\n")
    event = stored(
        "ChangeDetected",
        {
            "capture": {},
            "previous": "",
            "previous_seen_until": "",
            "diff": diff.to_data(),
            "classification": "substantive",
            "rules": [],
            "severity": "low",
        },
    )
    body = render_alert(event, SOURCE, fmt=fmt).body  # type: ignore[arg-type]
    assert "\u202e" not in body
    assert "U+202E" in body
