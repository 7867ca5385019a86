"""monitor.core.rules: which rules a change satisfies, on which side, with which sentences."""

from __future__ import annotations

import json
from typing import Any

import pytest

from monitor.config.settings import RuleSettings
from monitor.core.rules import (
    RuleMatch,
    compile_rules,
    fold,
    highest_severity,
    match_rules,
)
from monitor.diff.textdiff import diff_texts

HK_RULE: dict[str, Any] = {
    "id": "hk-data-requests",
    "all": ("Hong Kong",),
    "any": ("request", "law enforcement", "government"),
    "severity": "high",
    "notify": ("urgent",),
}
HK_OLD = "## Government requests\nWe have paused processing Hong Kong government requests."
HK_NEW = "## Government requests\nWe have resumed processing Hong Kong government requests."


def sides(
    rule: dict[str, Any],
    old: str,
    new: str,
    *,
    source_id: str = "meta-gov-requests",
    tags: tuple[str, ...] = (),
) -> list[str]:
    matches = match_rules(
        compile_rules([RuleSettings(**rule)]),
        diff_texts(old, new),
        source_id=source_id,
        source_tags=tags,
    )
    return [m.side for m in matches]


@pytest.mark.parametrize(
    ("rule", "old", "new", "expected"),
    [
        pytest.param(
            {**HK_RULE, "on": "added"}, HK_OLD, HK_NEW, ["added"], id="hk-paused-resumed-added"
        ),
        pytest.param(
            {**HK_RULE, "on": "removed"},
            HK_OLD,
            HK_NEW,
            ["removed"],
            id="hk-paused-resumed-removed",
        ),
        pytest.param(
            {**HK_RULE, "on": "any"}, HK_OLD, HK_NEW, ["added", "removed"], id="hk-on-any-both"
        ),
        pytest.param(
            HK_RULE,
            "Intro.",
            "Intro.\nＨＯＮＧ ＫＯＮＧ ＧＯＶＥＲＮＭＥＮＴ requests are published quarterly.",
            ["added"],
            id="full-width-latin",
        ),
        pytest.param(
            {"id": "zh", "all": ("香港",), "any": ("請求", "執法")},
            "## 政府請求\n我們已暫停處理香港政府的請求。",
            "## 政府請求\n我們已恢復處理香港政府的請求。",
            ["added", "removed"],
            id="traditional-chinese",
        ),
        pytest.param(
            {"id": "zh", "all": ("香港",), "any": ("請求", "執法")},
            "我們已暫停處理台灣政府的請求。",
            "我們已恢復處理台灣政府的請求。",
            [],
            id="traditional-chinese-other-place",
        ),
        pytest.param(
            {"id": "kana", "all": ("ｶﾞｲﾄﾞﾗｲﾝ",)},
            "前文。",
            "前文。\n新しいガイドラインを公開しました。",
            ["added"],
            id="half-width-kana-term",
        ),
        pytest.param(
            {**HK_RULE, "none": ("transparency center",)},
            HK_OLD,
            HK_NEW + " See the Transparency  Center.",
            ["removed"],
            id="none-excludes-the-side-that-has-it",
        ),
        pytest.param(
            {**HK_RULE, "none": ("transparency center",)},
            HK_OLD + "\nThe Transparency Center is elsewhere.",
            HK_NEW + "\nThe Transparency Center is elsewhere.",
            ["added", "removed"],
            id="none-only-within-the-block",
        ),
        pytest.param(
            {"id": "near", "all": ("Hong Kong",), "any": ("request",), "near": 5},
            "Intro.",
            "Intro.\nHong Kong police made a request.",
            ["added"],
            id="near-within",
        ),
        pytest.param(
            {"id": "near", "all": ("Hong Kong",), "any": ("request",), "near": 4},
            "Intro.",
            "Intro.\nHong Kong police made a request.",
            [],
            id="near-beyond",
        ),
        pytest.param(
            {"id": "near", "all": ("Hong Kong",), "any": ("request",), "near": 3},
            "Intro.",
            "Intro.\nA request arrived. Much later and far away: Hong Kong request.",
            ["added"],
            id="near-any-occurrence-counts",
        ),
        pytest.param(
            {"id": "near-zh", "all": ("香港",), "any": ("請求",), "near": 7},
            "前文。",
            "前文。\n香港警方提出了請求。",
            ["added"],
            id="near-cjk-within",
        ),
        pytest.param(
            {"id": "near-zh", "all": ("香港",), "any": ("請求",), "near": 6},
            "前文。",
            "前文。\n香港警方提出了請求。",
            [],
            id="near-cjk-chars-are-words",
        ),
        pytest.param(
            {**HK_RULE, "on": "removed"},
            "Intro.",
            "Intro.\nHong Kong government requests are now published.",
            [],
            id="on-removed-ignores-additions",
        ),
        pytest.param(
            {**HK_RULE, "on": "removed"},
            "Intro.\nHong Kong government requests are now published.",
            "Intro.",
            ["removed"],
            id="on-removed-sees-removals",
        ),
        pytest.param(
            {"id": "word-start", "all": ("request",)},
            "Intro.",
            "Intro.\nEvery prerequest is logged.",
            [],
            id="latin-term-starts-at-a-word",
        ),
        pytest.param(
            {"id": "word-start", "all": ("request",)},
            "Intro.",
            "Intro.\nRequests, request-forms and (request) all count.",
            ["added"],
            id="latin-term-prefix-matches",
        ),
        pytest.param(
            {"id": "word-start", "all": ("google",)},
            "前文。",
            "前文。\n香港Google公司收到請求。",
            ["added"],
            id="latin-term-after-cjk",
        ),
        pytest.param(
            {"id": "regex", "regex": (r"\b\d[\d,]* (?:REQUESTS|demands)\b",)},
            "Intro.\nWe received 900 requests.",
            "Intro.\nWe received 1,234 requests.",
            ["added", "removed"],
            id="regex-case-insensitive",
        ),
        pytest.param(
            {"id": "regex", "all": ("Hong Kong",), "regex": (r"\b\d+ requests",)},
            "Intro.",
            "Intro.\nHong Kong sent many requests.",
            [],
            id="regex-must-match-too",
        ),
        pytest.param(
            {**HK_RULE},
            "Intro.\nHong Kong government requests.\nOther.",
            "Other.\nIntro.\nHong Kong government requests.",
            [],
            id="moved-blocks-do-not-trigger",
        ),
        pytest.param(
            {"id": "split", "all": ("Hong Kong", "warrant")},
            "Intro.",
            "Intro.\nHong Kong is listed.\nA warrant is required.",
            [],
            id="all-terms-must-share-a-block",
        ),
    ],
)
def test_rule_table(rule: dict[str, Any], old: str, new: str, expected: list[str]) -> None:
    assert sides(rule, old, new) == expected


@pytest.mark.parametrize(
    ("scope", "source_id", "tags", "applies"),
    [
        ({}, "meta", (), True),
        ({"sources": ("meta",)}, "meta", (), True),
        ({"sources": ("google",)}, "meta", (), False),
        ({"tags": ("law-enforcement",)}, "meta", ("law-enforcement", "asia"), True),
        ({"tags": ("law-enforcement",)}, "meta", ("privacy",), False),
        ({"tags": ("law-enforcement",)}, "meta", (), False),
        ({"sources": ("meta",), "tags": ("privacy",)}, "meta", ("law-enforcement",), False),
        ({"sources": ("meta", "x"), "tags": ("a", "b")}, "meta", ("b",), True),
    ],
)
def test_sources_and_tags_scope_a_rule(
    scope: dict[str, Any], source_id: str, tags: tuple[str, ...], applies: bool
) -> None:
    rule = {**HK_RULE, "on": "added", **scope}
    assert sides(rule, HK_OLD, HK_NEW, source_id=source_id, tags=tags) == (
        ["added"] if applies else []
    )


def test_match_reports_rule_fields_sentences_and_terms() -> None:
    old = HK_OLD + " Nothing else here. Transparency matters."
    new = HK_NEW + " Nothing else here. Transparency matters."
    rules = compile_rules([RuleSettings(**{**HK_RULE, "on": "added"})])
    (match,) = match_rules(rules, diff_texts(old, new), source_id="s", source_tags=())
    assert match == RuleMatch(
        rule_id="hk-data-requests",
        severity="high",
        notify=("urgent",),
        side="added",
        sentences=("We have resumed processing Hong Kong government requests.",),
        terms=("Hong Kong", "request", "government"),
    )
    assert json.loads(json.dumps(match.to_data())) == {
        "rule_id": "hk-data-requests",
        "severity": "high",
        "notify": ["urgent"],
        "side": "added",
        "sentences": ["We have resumed processing Hong Kong government requests."],
        "terms": ["Hong Kong", "request", "government"],
    }


def test_sentences_are_original_text_at_most_five_and_clipped() -> None:
    long_sentence = "Hong Kong " + "very " * 120 + "long request."
    new = "Intro.\n" + " ".join(f"Hong Kong request number {n}." for n in range(8))
    new += "\n" + long_sentence
    rules = compile_rules([RuleSettings(id="hk", all=("hong kong",), any=("REQUEST",))])
    (match,) = match_rules(rules, diff_texts("Intro.", new), source_id="s", source_tags=())
    assert len(match.sentences) == 5
    assert match.sentences[0] == "Hong Kong request number 0."
    many = "Intro.\n" + long_sentence
    (match,) = match_rules(rules, diff_texts("Intro.", many), source_id="s", source_tags=())
    assert len(match.sentences[0]) == 400 and match.sentences[0].endswith("…")


def test_chinese_sentences_split_on_full_stops() -> None:
    new = "前文。\n這是第一句。我們已恢復處理香港政府的請求！最後一句？"
    rules = compile_rules([RuleSettings(id="zh", all=("香港",), any=("請求", "執法"))])
    (match,) = match_rules(rules, diff_texts("前文。", new), source_id="s", source_tags=())
    assert match.sentences == ("我們已恢復處理香港政府的請求！",)
    assert match.terms == ("香港", "請求")


def test_matches_follow_rule_order() -> None:
    rules = compile_rules(
        [
            RuleSettings(id="first", all=("government",), on="any", severity="low"),
            RuleSettings(id="never", all=("unrelated",)),
            RuleSettings(id="third", all=("resumed",), on="any", severity="critical"),
        ]
    )
    matches = match_rules(rules, diff_texts(HK_OLD, HK_NEW), source_id="s", source_tags=())
    assert [(m.rule_id, m.side) for m in matches] == [
        ("first", "added"),
        ("first", "removed"),
        ("third", "added"),
    ]
    assert highest_severity(matches) == "critical"


def test_highest_severity_is_info_without_matches() -> None:
    assert highest_severity(()) == "info"


def test_identical_texts_match_nothing() -> None:
    rules = compile_rules([RuleSettings(**HK_RULE)])
    assert match_rules(rules, diff_texts(HK_NEW, HK_NEW), source_id="s", source_tags=()) == ()


def test_a_broken_regex_is_refused_with_the_rule_named() -> None:
    with pytest.raises(ValueError, match="rule 'bad': regex"):
        compile_rules([RuleSettings(id="bad", regex=("(unclosed",))])


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("ＨＯＮＧ　ＫＯＮＧ", "hong kong"),
        ("Hong\n\tKong  ", "hong kong"),
        ("ｶﾞｲﾄﾞﾗｲﾝ", "ガイドライン"),
        ("Straße", "strasse"),
        ("１２３", "123"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded
