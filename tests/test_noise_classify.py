"""Quiet classes of change: volatile tokens, dates, chrome, learned blocks — and alerts.

Texts are small pages written for each noise class (see test_noise_visibility for
how HTML becomes these texts and chrome line ranges).
"""

from __future__ import annotations

from typing import Any

import pytest

from monitor.config.settings import ChannelSettings, RuleSettings, SourceSettings
from monitor.core.classify import decide
from monitor.core.projections import apply
from monitor.core.rules import compile_rules
from monitor.events import ChangeDetected, Event, NewEvent, StoredEvent, format_time, seal
from monitor.noise.volatile import mask_dates, mask_volatile, noise_class
from monitor.notify.routing import alert_severity, route
from tests.test_classify import Monitor

PAGE = "\n".join(
    [
        "# Help centre: deleting your account",
        "{stamp}",
        "You can delete your account at any time from the settings page.",
        "- We keep backups for 30 days after deletion.",
        "Request id: {token}",
    ]
)


def page(stamp: str = "Updated 2 weeks ago", token: str = "5f1c9a7e2b") -> str:
    return PAGE.format(stamp=stamp, token=token)


def change(m: Monitor, text: str, **capture: Any) -> dict[str, Any]:
    events = m.check(text, **capture)
    found = [e for e in events if isinstance(e, ChangeDetected)]
    assert len(found) == 1, events
    return found[0].to_data()


def alerted(data: dict[str, Any]) -> bool:
    return alert_severity(ChangeDetected.from_data(data), alert_after=3) is not None


# --- volatile tokens --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("Updated 2 weeks ago", "Updated yesterday"),
        ("Updated today", "Updated over a week ago"),
        ("Mis à jour il y a 3 jours", "Mis à jour hier"),
        ("Aktualisiert vor 2 Stunden", "Aktualisiert gestern"),
        ("Actualizado hace 5 minutos", "Actualizado ayer"),
        ("更新于3天前", "更新于昨天"),
        ("Generated at 10:42 UTC", "Generated at 3:05 pm"),
        ("1,204 views · 12 comments", "1,388 views · 15 comments"),
    ],
)
def test_relative_times_clocks_and_counters_are_volatile(before: str, after: str) -> None:
    m = Monitor()
    m.check(page(before))
    data = change(m, page(after))
    assert data["classification"] == "volatile"
    assert data["severity"] == "info" and data["silent"] is True
    assert not alerted(data)


@pytest.mark.parametrize(
    "token",
    [
        "9b2e4f0a71c3",  # hex
        "550e8400-e29b-41d4-a716-446655440001",  # UUID
        "eyJhbGciOiJIUzI1NiJ9Tk3Qx",  # base64-like
        "170123456789",  # long digit run
    ],
)
def test_identifiers_are_volatile(token: str) -> None:
    m = Monitor()
    m.check(page())
    assert change(m, page(token=token))["classification"] == "volatile"


def test_a_real_edit_next_to_a_volatile_token_is_substantive_and_alerts() -> None:
    m = Monitor()
    m.check(page())
    edited = page(stamp="Updated yesterday", token="0a9f8e7d6c").replace("30 days", "90 days")
    data = change(m, edited)
    assert data["classification"] == "substantive" and "silent" not in data
    assert alerted(data)


def test_a_flicker_of_volatile_text_is_volatile_not_reverted() -> None:
    m = Monitor()
    m.check(page("Updated today"))
    change(m, page("Updated yesterday"))
    assert change(m, page("Updated today"))["classification"] == "volatile"


def test_words_that_only_look_volatile_are_text() -> None:
    assert mask_volatile("You may share it in May") == "You may share it in May"
    assert mask_volatile("We received 45 requests in 2024") == "We received 45 requests in 2024"
    assert noise_class("Deleted after 30 days", "Deleted after 90 days") is None
    assert noise_class("See section 3.1.12.", "See section 3.1.14.") is None


# --- dates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("Last updated: 3 June 2025", "Last updated: 1 July 2025"),
        ("Last updated: June 3, 2025", "Last updated: July 1, 2025"),
        ("Effective 2025-06-03", "Effective 2025-07-01"),
        ("Stand: 3. Juni 2025", "Stand: 1. Juli 2025"),
        ("Dernière mise à jour : 3 juin 2025", "Dernière mise à jour : 1 juillet 2025"),
        ("更新日期：2025年6月3日", "更新日期：2025年7月1日"),
    ],
)
def test_a_new_absolute_date_alone_is_dated_low_and_not_alerted(before: str, after: str) -> None:
    m = Monitor()
    m.check(page(before))
    data = change(m, page(after))
    assert data["classification"] == "dated"
    assert data["severity"] == "low" and not alerted(data)
    assert mask_dates(before) == mask_dates(after)


def test_a_source_can_ask_for_dated_changes() -> None:
    m = Monitor(source=SourceSettings(id="s", url="https://e/", also_alert=("dated",)))
    m.check(page("Last updated: 3 June 2025"))
    data = change(m, page("Last updated: 1 July 2025"))
    assert data["classification"] == "dated" and alerted(data)


def test_a_rule_matching_the_changed_text_still_alerts() -> None:
    rules = compile_rules((RuleSettings(id="ids", any=("request id",), severity="high"),))
    m = Monitor(rules=rules)
    m.check(page())
    data = change(m, page(token="77aa88bb99cc"))
    assert data["classification"] == "volatile"
    assert data["rules"] and data["severity"] == "high" and alerted(data)


# --- chrome -------------------------------------------------------------------------------

MENU = ["- Products", "- Solutions", "- Pricing"]
DOC = [
    "# Terms of Service",
    "These terms govern your use of every service we offer.",
    "- You must be 18 or older to open an account.",
]


def chrome_page(menu: list[str], doc: list[str]) -> tuple[str, list[list[int]]]:
    return "\n".join(menu + doc), [[0, len(menu)]]


def test_a_change_confined_to_the_chrome_is_chrome_and_not_alerted() -> None:
    m = Monitor()
    text, chrome = chrome_page(MENU, DOC)
    m.check(text, chrome=chrome)
    text2, chrome2 = chrome_page([*MENU, "- Enterprise"], DOC)
    data = change(m, text2, chrome=chrome2)
    assert data["classification"] == "chrome" and data["severity"] == "info"
    assert not alerted(data)


def test_a_document_change_with_a_chrome_change_is_substantive() -> None:
    m = Monitor()
    text, chrome = chrome_page(MENU, DOC)
    m.check(text, chrome=chrome)
    edited = [DOC[0], DOC[1], "- You must be 16 or older to open an account."]
    text2, chrome2 = chrome_page([*MENU, "- Enterprise"], edited)
    assert change(m, text2, chrome=chrome2)["classification"] == "substantive"


def test_a_source_can_ask_for_chrome_changes() -> None:
    m = Monitor(source=SourceSettings(id="s", url="https://e/", also_alert=("chrome",)))
    text, chrome = chrome_page(MENU, DOC)
    m.check(text, chrome=chrome)
    text2, chrome2 = chrome_page(MENU[:2], DOC)
    data = change(m, text2, chrome=chrome2)
    assert data["classification"] == "chrome" and alerted(data)


# --- learned volatility --------------------------------------------------------------------


def featured(n: int) -> str:
    return "\n".join(
        [
            "# Community guidelines",
            "We remove content that incites violence.",
            f"Featured story: {['Ada', 'Grace', 'Edsger', 'Barbara', 'Alan', 'Ken'][n]} on safety",
            "- Report anything that breaks these rules.",
        ]
    )


class CountingMonitor(Monitor):
    """``Monitor`` that tells ``decide`` how many checks passed since the last event,
    as ``CheckRunner`` does."""

    since_event: int = 1

    def check(self, outcome: Any, **capture: Any) -> list[Event]:
        text = outcome
        outcome = self.outcome(text, **capture)
        state = self.state
        last = state.last_good
        old = (
            self.texts[last.text_sha256]
            if last and last.text_sha256 != outcome.capture["text_sha256"]
            else None
        )
        events = decide(
            state,
            outcome,
            source=self.source,
            rules=self.rules,
            now=self.now,
            old_text=old,
            checks_since_event=self.since_event,
        )
        for event in events:
            prev = self.stored[-1].hash if self.stored else "0" * 64
            self.stored.append(
                seal(
                    NewEvent.of(self.source.id, event),
                    seq=len(self.stored) + 1,
                    version=len(self.stored) + 1,
                    recorded_at=format_time(self.now),
                    prev_hash=prev,
                )
            )
            if hasattr(event, "capture"):
                self.texts[outcome.capture["text_sha256"]] = outcome.text
        self.since_event = 1 if events else self.since_event + 1
        return events


def learned_monitor(**settings: Any) -> Monitor:
    return CountingMonitor(source=SourceSettings(id="s", url="https://e/", **settings))


def test_a_block_changing_on_every_check_is_learned_then_volatile() -> None:
    m = learned_monitor(learn_volatile_after=3)
    m.check(featured(0))
    kinds = []
    for n in (1, 2, 3):
        events = m.check(featured(n))
        kinds.append([e.type for e in events])
    assert kinds[-1] == ["ChangeDetected", "VolatilityLearned"]
    assert [r.example for r in m.state.learned] == ["Featured story: Barbara on safety"]
    data = change(m, featured(4))
    assert data["classification"] == "volatile" and not alerted(data)
    # A change elsewhere is still a change.
    real = featured(4).replace("incites violence", "incites or glorifies violence")
    assert change(m, real)["classification"] == "substantive"


def test_an_unchanged_check_breaks_the_streak() -> None:
    m = learned_monitor(learn_volatile_after=3)
    m.check(featured(0))
    m.check(featured(1))
    m.check(featured(1))  # unchanged: the block did not change on every check
    m.check(featured(2))
    events = m.check(featured(3))
    assert "VolatilityLearned" not in [e.type for e in events]


def test_a_learned_block_is_unlearned_after_quiet_checks() -> None:
    m = learned_monitor(learn_volatile_after=2, unlearn_volatile_after=3)
    m.check(featured(0))
    m.check(featured(1))
    assert "VolatilityLearned" in [e.type for e in m.check(featured(2))]
    found: list[str] = []
    for _ in range(3):
        found += [e.type for e in m.check(featured(2))]
    assert "VolatilityUnlearned" in found
    assert m.state.learned == ()
    assert change(m, featured(3))["classification"] == "substantive"


def test_settings_change_unlearns_and_replay_rebuilds() -> None:
    m = learned_monitor(learn_volatile_after=2)
    for n in (0, 1, 2):
        m.check(featured(n))
    assert len(m.state.learned) == 1
    updated = StoredEvent(
        seq=len(m.stored) + 1,
        event_id="u",
        stream="s",
        version=len(m.stored) + 1,
        type="SourceUpdated",
        schema=1,
        recorded_at="2026-03-02T00:00:00.000000Z",
        data={"settings": {}, "changed": ["select"]},
        prev_hash="0" * 64,
        hash="0" * 64,
    )
    assert apply(m.state, updated).learned == ()


def test_learning_can_be_turned_off() -> None:
    m = learned_monitor(learn_volatile_after=0)
    for n in range(5):
        events = m.check(featured(n))
        assert "VolatilityLearned" not in [e.type for e in events]


def test_an_a_b_flicker_is_reverted_never_learned() -> None:
    m = learned_monitor(learn_volatile_after=2)
    m.check(featured(0))
    m.check(featured(1))
    for n in (0, 1, 0, 1):
        data = change(m, featured(n))
        assert data["classification"] == "reverted"
    assert m.state.learned == ()


def test_a_change_too_long_to_be_tokens_is_text_and_costs_little() -> None:
    old = "Counts: " + "1 " * 30000 + "views"
    new = "Counts: " + "2 " * 30000 + "views"
    assert noise_class(old, new) is None  # 60,000 changed characters are not a token
    ids_old = "\n".join(f"Item {n}: ref 9f8e7d6c{n:04x}" for n in range(200))
    ids_new = "\n".join(f"Item {n}: ref 1a2b3c4d{n:04x}" for n in range(200))
    assert noise_class(ids_old, ids_new) == "volatile"


def test_no_channel_hears_of_a_silent_change_even_one_taking_everything() -> None:
    m = Monitor()
    m.check(page())
    m.check(page(token="0f1e2d3c4b5a"))
    stored = [e for e in m.stored if e.type == "ChangeDetected"][-1]
    everything = ChannelSettings(name="all", url="json://127.0.0.1/x", min_severity="info")
    assert route(stored, [everything], source_tags=(), rules=(), alert_after=3) == ()
    m.check(page(token="0f1e2d3c4b5a").replace("30 days", "90 days"))
    loud = [e for e in m.stored if e.type == "ChangeDetected"][-1]
    assert route(loud, [everything], source_tags=(), rules=(), alert_after=3) == ("all",)
