"""monitor.core.classify: what one check means, row by row of the decision table.

Pure: every test drives ``decide`` and folds its events with ``projections.apply``,
exactly as the pipeline does, without a server or a store. Texts are cut from the
development corpus (Open Terms Archive histories) where a real page showed the case.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config.settings import RuleSettings, SourceSettings
from monitor.core.classify import (
    Captured,
    Failed,
    NotModified,
    decide,
    suspect_reason,
    words_digest,
)
from monitor.core.projections import SourceState, apply, fold, state_digest
from monitor.core.rules import compile_rules
from monitor.events import (
    GENESIS_HASH,
    Event,
    NewEvent,
    StoredEvent,
    format_time,
    seal,
)
from monitor.extract.blocks import Block, render_blocks

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

POLICY = "\n".join(
    [
        "# Information for Law Enforcement",
        "These operational guidelines are for law enforcement officials seeking account records.",
        "## Requests for User Information",
        "We disclose account records solely in accordance with our terms of service and "
        "applicable law, including the federal Stored Communications Act.",
        "- a valid subpoena is required to compel the disclosure of basic subscriber records.",
        "- a court order is required to compel the disclosure of certain records.",
        "- a search warrant is required to compel the disclosure of the stored contents.",
        "## Data Retention and Availability",
        "We retain different types of information for different time periods. "
        "Given the volume of real-time content, some information may only be stored "
        "for a short period of time.",
    ]
)
POLICY_V2 = POLICY.replace(
    "a court order is required", "a court order issued under 18 U.S.C. Section 2703(d) is required"
)
POLICY_V3 = POLICY.replace("short period", "brief period")


@dataclass
class Monitor:
    """A source's log, grown one check at a time through ``decide`` and ``apply``."""

    source: SourceSettings = field(default_factory=lambda: SourceSettings(id="s", url="https://e/"))
    rules: tuple[Any, ...] = ()
    stored: list[StoredEvent] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # text sha → text (the blob store)
    now: datetime = START
    key: str = "k1"

    @property
    def state(self) -> SourceState:
        return fold(self.source.id, self.stored)

    def outcome(self, text: str, **capture: Any) -> Captured:
        sha = hashlib.sha256(text.encode()).hexdigest()
        data: dict[str, Any] = {
            "requested_url": self.source.url,
            "final_url": self.source.url,
            "status": 200,
            "fetched_at": format_time(self.now),
            "raw_sha256": hashlib.sha256(b"raw" + text.encode()).hexdigest(),
            "text_sha256": sha,
            "text_chars": len(text),
            "extraction_key": self.key,
            **capture,
        }
        select_matched = data.pop("select_matched", True)
        return Captured(capture=data, text=text, select_matched=select_matched)

    def check(self, outcome: Captured | NotModified | Failed | str, **capture: Any) -> list[Event]:
        """One check at ``now`` (then an hour passes); returns the events it recorded."""
        if isinstance(outcome, str):
            outcome = self.outcome(outcome, **capture)
        state = self.state
        old_text = None
        last = state.last_good
        if (
            isinstance(outcome, Captured)
            and last is not None
            and outcome.capture["text_sha256"] != last.text_sha256
        ):
            old_text = self.texts[last.text_sha256]
        events = decide(
            state,
            outcome,
            source=self.source,
            rules=self.rules,
            now=self.now,
            old_text=old_text,
        )
        prev = self.stored[-1].hash if self.stored else GENESIS_HASH
        for event in events:
            record = seal(
                NewEvent.of(self.source.id, event),
                seq=len(self.stored) + 1,
                version=len(self.stored) + 1,
                recorded_at=format_time(self.now),
                prev_hash=prev,
            )
            prev = record.hash
            self.stored.append(record)
            if isinstance(outcome, Captured) and hasattr(event, "capture"):
                self.texts[outcome.capture["text_sha256"]] = outcome.text
        self.now += timedelta(hours=1)
        return events

    def types(self, outcome: Captured | NotModified | Failed | str, **capture: Any) -> list[str]:
        return [e.type for e in self.check(outcome, **capture)]


def data(event: Event) -> dict[str, Any]:
    return event.to_data()


# --------------------------------------------------------------------- rows 3, 5, 8


def test_first_capture_is_a_baseline_then_the_same_text_is_silent() -> None:
    m = Monitor()
    assert m.types(POLICY) == ["BaselineCaptured"]
    assert m.types(POLICY) == []
    assert m.state.status == "ok"


def test_unchanged_text_is_confirmed_once_per_confirm_every() -> None:
    m = Monitor()
    m.check(POLICY)
    m.now += timedelta(hours=30)
    assert m.types(POLICY) == ["ContentConfirmed"]
    assert m.types(POLICY) == []


def test_a_changed_text_is_a_substantive_change_with_its_diff() -> None:
    m = Monitor()
    m.check(POLICY)
    [event] = m.check(POLICY_V2)
    change = data(event)
    assert event.type == "ChangeDetected"
    assert change["classification"] == "substantive"
    assert change["previous"] == hashlib.sha256(POLICY.encode()).hexdigest()
    assert change["diff"]["summary"] == (
        "1 list item changed under 'Requests for User Information'; "
        "added 'issued under 18 U.S.C. Section 2703(d)'"
    )
    assert "first_seen" not in change  # only changes that waited for confirmation carry it


def test_a_return_to_an_earlier_text_is_reverted_not_substantive() -> None:
    m = Monitor()
    m.check(POLICY)
    m.check(POLICY_V2)
    [event] = m.check(POLICY)
    assert (event.type, data(event)["classification"], data(event)["severity"]) == (
        "ChangeDetected",
        "reverted",
        "info",
    )


def test_new_extraction_settings_give_a_new_baseline_not_a_change() -> None:
    m = Monitor()
    m.check(POLICY)
    m.key = "k2"  # e.g. the source gained a `select`
    assert m.types(POLICY_V2) == ["BaselineCaptured"]


def test_rules_and_severity_come_with_a_substantive_change() -> None:
    rules = compile_rules(
        [RuleSettings(id="hk", all=("Hong Kong",), any=("request",), on="added", severity="high")]
    )
    m = Monitor(rules=rules)
    m.check("## Government requests\nWe have paused processing Hong Kong government requests.")
    [event] = m.check(
        "## Government requests\nWe have resumed processing Hong Kong government requests."
    )
    change = data(event)
    assert change["severity"] == "high"
    assert [r["rule_id"] for r in change["rules"]] == ["hk"]
    # A rule matched: the headline is the edit in its block, with its section (issue #22).
    assert change["diff"]["summary"] == "'paused' → 'resumed' under 'Government requests'"


# ------------------------------------------------------------------------- row 6


@pytest.mark.parametrize(
    "variant",
    [
        # TikTok Community Guidelines, versions 3 → 4: three headings became paragraphs.
        POLICY.replace("## Requests for User Information", "Requests for User Information"),
        # A paragraph split in two, and a list turned into paragraphs.
        POLICY.replace("Stored Communications Act.", "Stored\nCommunications Act.").replace(
            "- a ", "a "
        ),
        # Amazon Terms of Service, versions 4 → 5 → 6: "smart" quotes on, off, on.
        POLICY.replace("'", "’").replace("different types", "different ‘types’"),
    ],
    ids=["heading-to-paragraph", "split-and-unlisted", "typography"],
)
def test_layout_only_changes_are_not_changes(variant: str) -> None:
    m = Monitor()
    m.check(POLICY.replace("different types", "different 'types'"))
    assert m.types(variant.replace("different types", "different 'types'")) == []


def test_a_change_after_a_layout_only_change_is_diffed_against_the_last_recorded_text() -> None:
    m = Monitor()
    m.check(POLICY)
    layout = POLICY.replace("## Data Retention", "Data Retention")
    assert m.types(layout) == []
    [event] = m.check(layout.replace("short period", "brief period"))
    assert data(event)["previous"] == hashlib.sha256(POLICY.encode()).hexdigest()
    assert data(event)["classification"] == "substantive"


def test_returning_to_a_layout_variant_of_an_earlier_text_is_reverted() -> None:
    m = Monitor()
    m.check(POLICY)
    m.check(POLICY.replace("## Data Retention", "Data Retention"))  # layout only: unrecorded
    m.check(POLICY_V3)
    [event] = m.check(POLICY.replace("## Data Retention", "Data Retention"))
    assert data(event)["classification"] == "reverted"


# ------------------------------------------------------------------------- row 4

LONG = POLICY * 3  # ~2,300 characters of policy


@pytest.mark.parametrize(
    ("text", "capture", "reason"),
    [
        # Instagram Community Guidelines #56 and Law Enforcement Guidelines #51.
        ("Sorry! Something went wrong :(", {}, "error_page"),
        # Instagram Privacy Policy #44.
        (
            "This Page Isn't Available Right Now\nThis may be because of a technical error that "
            "we're working to get fixed. Try reloading this page.\nReload Page",
            {},
            "error_page",
        ),
        # Amazon.com Terms of Service #16, #18, #20 (a soft 404 served with status 200).
        (
            "Find more solutions\n# We're Sorry.\nWe can't find the page you were trying to "
            "reach. We apologize for the inconvenience.",
            {},
            "error_page",
        ),
        # Facebook Data Processor Agreement #8 … #58: the selector caught the title only.
        ("# FACEBOOK EUROPEAN DATA TRANSFER ADDENDUM", {}, "collapsed"),
        # WhatsApp Privacy Policy #1, #2: the legal pages' menu instead of the policy.
        (
            "# WhatsApp Legal\n- Key Updates\n- Terms of service\n- Privacy Policy\n- Cookies",
            {},
            "collapsed",
        ),
        ("Just a moment...\nChecking your browser before accessing the site.", {}, "bot_challenge"),
        ("You must log in to continue.\nLog into Facebook", {}, "login_wall"),
        ("请稍后再试", {}, "error_page"),
        ("找不到網頁", {}, "error_page"),
        (
            LONG[:1800],
            {"final_url": "https://consent.example.com/m?continue=https://e/"},
            "consent_wall",
        ),
        (LONG[:1800], {"final_url": "https://e/login?next=/policy"}, "login_wall"),
        (LONG[:1800], {"final_url": "https://e/authwall?trk=public"}, "login_wall"),
        (
            LONG.replace("short period", "brief period"),
            {"requested_url": "https://e/legal/privacy", "final_url": "https://e/en-us/"},
            "error_page",
        ),
        ("", {"select_matched": False}, "selector_matched_nothing"),
        ("   ", {}, "empty"),
    ],
    ids=[
        "something-went-wrong",
        "page-isnt-available",
        "amazon-soft-404",
        "title-only-selection",
        "menu-instead-of-policy",
        "cloudflare",
        "login-wall",
        "zh-hans-try-later",
        "zh-hant-not-found",
        "consent-redirect",
        "login-redirect",
        "linkedin-authwall",
        "redirect-to-home-page",
        "select-matched-nothing",
        "empty",
    ],
)
def test_suspect_captures_are_flagged_not_reported_as_changes(
    text: str, capture: dict[str, Any], reason: str
) -> None:
    m = Monitor()
    m.check(LONG)
    [event] = m.check(text, **capture)
    assert (event.type, data(event)["reason"]) == ("ContentSuspect", reason)
    assert m.state.status == "suspect"
    assert m.state.last_good is not None and m.state.last_good.text_chars == len(LONG)


def test_an_error_page_is_suspect_even_as_the_first_capture() -> None:
    m = Monitor()
    assert m.types("Sorry! Something went wrong :(") == ["ContentSuspect"]
    assert m.types(POLICY) == ["BaselineCaptured"]


def test_the_same_suspect_page_is_reported_once() -> None:
    m = Monitor()
    m.check(LONG)
    assert m.types("Sorry! Something went wrong :(") == ["ContentSuspect"]
    assert m.types("Sorry! Something went wrong :(") == []
    assert m.types("This Page Isn't Available Right Now") == ["ContentSuspect"]


def test_after_an_error_page_the_same_text_is_no_change() -> None:
    m = Monitor()
    m.check(LONG)
    m.check("Sorry! Something went wrong :(")
    assert m.types(LONG) == ["ContentConfirmed"]  # leaves the suspect state, silently
    assert m.state.status == "ok"


def test_after_an_error_page_a_new_text_is_compared_with_the_last_good_one() -> None:
    m = Monitor()
    m.check(LONG)
    m.check("Sorry! Something went wrong :(")
    [event] = m.check(LONG.replace("short period", "brief period"))
    change = data(event)
    assert change["previous"] == hashlib.sha256(LONG.encode()).hexdigest()
    assert change["diff"]["stats"]["blocks_changed"] == 3
    assert "Something went wrong" not in str(change["diff"])


def test_a_long_page_that_mentions_errors_is_a_page() -> None:
    long_text = LONG + "\nIf something went wrong with your request, please try again later."
    m = Monitor()
    m.check(LONG)
    [event] = m.check(long_text)
    assert data(event)["classification"] == "substantive"


@pytest.mark.parametrize(
    ("last_chars", "chars", "suspect"),
    [
        (1200, 250, True),  # a tiny remnant of a 1,200-character page
        (900, 250, False),  # a 900-character page may shrink to 250 (72 %)
        (5000, 990, True),  # collapse: under 20 %
        (5000, 1010, False),
        (300, 10, False),  # too short before to judge a collapse
    ],
)
def test_collapse_and_tiny_thresholds(last_chars: int, chars: int, suspect: bool) -> None:
    m = Monitor()
    m.check(("policy text " * 500)[:last_chars])
    event = m.check(("other words " * 500)[:chars].strip() + ".")[0]
    assert (event.type == "ContentSuspect") is suspect


@pytest.mark.parametrize(
    ("requested", "final"),
    [
        ("https://e/privacy", "https://www.e/privacy/"),  # a canonical host
        ("https://e/privacy", "https://e/legal/privacy-policy"),  # a moved page
        ("http://e/", "https://e/en/"),  # the home page was watched
        ("https://e/legal/authors", "https://e/legal/authors-policy"),
    ],
)
def test_ordinary_redirects_are_not_suspect(requested: str, final: str) -> None:
    m = Monitor()
    m.check(LONG)
    capture = {"requested_url": requested, "final_url": final}
    assert suspect_reason(LONG, True, m.state, capture) is None


def test_an_error_title_counts_only_on_a_page_that_shrank() -> None:
    state = Monitor()
    state.check(LONG)
    shrunk = suspect_reason(
        LONG[:1000] + " more", True, state.state, {"title": "Page Not Found | Example"}
    )
    same = suspect_reason(LONG + " more", True, state.state, {"title": "Page Not Found | Example"})
    assert shrunk is not None and shrunk[0] == "error_page"
    assert same is None


# ------------------------------------------------------------------------- row 7


def test_confirm_two_reports_a_change_on_the_second_consecutive_sighting() -> None:
    m = Monitor(source=SourceSettings(id="s", url="https://e/", confirm=2))
    m.check(POLICY)
    first_seen = format_time(m.now)
    [pending] = m.check(POLICY_V2)
    assert (pending.type, data(pending)["seen"], data(pending)["needed"]) == (
        "ChangePending",
        1,
        2,
    )
    assert m.state.pending is not None and m.state.pending.since == first_seen
    [change] = m.check(POLICY_V2)
    assert change.type == "ChangeDetected"
    assert data(change)["first_seen"] == first_seen
    assert data(change)["capture"]["fetched_at"] > first_seen
    assert m.state.pending is None


def test_a_flicker_back_to_the_old_text_cancels_the_pending_change_silently() -> None:
    m = Monitor(source=SourceSettings(id="s", url="https://e/", confirm=2))
    m.check(POLICY)
    assert m.types(POLICY_V2) == ["ChangePending"]
    assert m.types(POLICY) == ["ContentConfirmed"]  # not an alert; it clears the pending text
    assert m.state.pending is None
    [again] = m.check(POLICY_V2)
    assert (again.type, data(again)["seen"]) == ("ChangePending", 1)  # counting starts over
    assert not any(e.type == "ChangeDetected" for e in m.stored)


def test_a_different_new_text_restarts_the_count() -> None:
    m = Monitor(source=SourceSettings(id="s", url="https://e/", confirm=3))
    m.check(POLICY)
    assert [data(e)["seen"] for e in m.check(POLICY_V2) + m.check(POLICY_V3)] == [1, 1]
    assert [data(e)["seen"] for e in m.check(POLICY_V3) if e.type == "ChangePending"] == [2]
    assert m.types(POLICY_V3) == ["ChangeDetected"]


def test_a_304_cancels_a_pending_change() -> None:
    m = Monitor(source=SourceSettings(id="s", url="https://e/", confirm=2))
    m.check(POLICY)
    m.check(POLICY_V2)
    assert m.types(NotModified(fetched_at=m.now)) == ["ContentConfirmed"]
    assert m.state.pending is None


def test_suspect_pages_and_failures_neither_confirm_nor_cancel() -> None:
    m = Monitor(source=SourceSettings(id="s", url="https://e/", confirm=2))
    m.check(LONG)
    new = LONG.replace("short period", "brief period")
    assert m.types(new) == ["ChangePending"]
    assert m.types("Sorry! Something went wrong :(") == ["ContentSuspect"]
    failure = Failed(
        url="https://e/", error="timeout", message="slow", status=None, fetched_at=m.now
    )
    assert m.types(failure) == ["FetchFailed"]
    assert m.types(new) == ["SourceRecovered", "ChangeDetected"]


def test_a_layout_variant_of_the_pending_text_counts_as_the_same_text() -> None:
    m = Monitor(source=SourceSettings(id="s", url="https://e/", confirm=2))
    m.check(POLICY)
    m.check(POLICY_V2)
    assert m.types(POLICY_V2.replace("## Data Retention", "Data Retention")) == ["ChangeDetected"]


def test_pending_state_is_in_the_digest_only_while_a_change_is_pending() -> None:
    m = Monitor(source=SourceSettings(id="s", url="https://e/", confirm=2))
    m.check(POLICY)
    before = state_digest({"s": m.state})
    m.check(POLICY_V2)
    pending = state_digest({"s": m.state})
    m.check(POLICY)
    assert len({before, pending}) == 2
    # Replaying the log event by event gives the same state as the live fold.
    replayed = SourceState(source_id="s")
    for record in m.stored:
        replayed = apply(replayed, record)
    assert replayed == m.state


# ------------------------------------------------------------------ rows 1 and 2


def test_failures_count_up_and_recovery_is_recorded_once() -> None:
    m = Monitor()
    m.check(POLICY)
    failure = Failed(
        url="https://e/", error="connect", message="refused", status=None, fetched_at=m.now
    )
    assert m.types(failure) == ["FetchFailed"]
    [second] = m.check(failure)
    assert data(second)["consecutive_failures"] == 2
    assert m.types(POLICY) == ["SourceRecovered"]
    assert m.state.status == "ok"


def test_decide_is_deterministic() -> None:
    m = Monitor()
    m.check(POLICY)
    outcome = m.outcome(POLICY_V2)
    runs = [
        decide(m.state, outcome, source=m.source, rules=(), now=m.now, old_text=POLICY)
        for _ in range(3)
    ]
    assert runs[0] == runs[1] == runs[2]


# ------------------------------------------------------------------- properties

_WORDS = (
    st.text(alphabet="abcdefgh ijk.,'’“”-–香港", min_size=1, max_size=30)
    .map(lambda t: " ".join(t.split()))
    .filter(bool)
)
_KINDS = st.sampled_from(["h1", "h2", "h3", "p", "li", "quote"])


@given(st.lists(st.tuples(_KINDS, _WORDS), min_size=1, max_size=8), st.data())
def test_words_ignore_block_kinds(blocks: list[tuple[str, str]], draw: st.DataObject) -> None:
    """Any re-layout of the same block texts has the same words."""
    other = [(draw.draw(_KINDS), text) for _, text in blocks]
    first = render_blocks([Block(kind, text) for kind, text in blocks])
    second = render_blocks([Block(kind, text) for kind, text in other])
    assert words_digest(first) == words_digest(second)


@given(st.lists(_WORDS, min_size=1, max_size=6), st.integers(min_value=0, max_value=5), _WORDS)
def test_words_see_every_word_edit(texts: list[str], where: int, extra: str) -> None:
    """Adding words to a block is never layout."""
    edited = list(texts)
    edited[where % len(texts)] += " zz" + extra
    assert words_digest("\n".join(texts)) != words_digest("\n".join(edited))


def test_a_collapse_still_there_an_hour_later_is_reported_as_the_pages_new_text() -> None:
    """A long policy really replaced by one short statement must not stay silent."""
    m = Monitor()
    m.now = START
    m.check(LONG)
    statement = "We have resumed processing Hong Kong government requests."
    [suspect] = m.check(statement)  # an hour after the baseline
    assert suspect.type == "ContentSuspect" and data(suspect)["reason"] == "collapsed"
    m.now -= timedelta(minutes=59)  # the next check comes one minute too early
    assert m.check(statement) == []
    [change] = m.check(statement)  # two hours after it was first recorded
    assert change.type == "ChangeDetected"
    assert data(change)["classification"] == "substantive"
    assert "resumed" in " ".join(data(change)["diff"]["added"])


def test_an_error_page_is_never_accepted_however_long_it_stays() -> None:
    m = Monitor()
    m.check(LONG)
    events = [e for _ in range(5) for e in m.check("Sorry, something went wrong.")]
    assert [e.type for e in events] == ["ContentSuspect"]
