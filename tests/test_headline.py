"""Headlines lead with what the rule saw: the edit in the matched block, with its section."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config.settings import RuleSettings
from monitor.core.headline import rule_led_summary
from monitor.core.rules import RuleMatch, compile_rules, match_rules
from monitor.diff.textdiff import diff_texts
from tests.pageserver import PageServer

OLD = (
    "# Government requests\n"
    "Last updated: 1 June 2026\n"
    "## Hong Kong\n"
    "Requests from Hong Kong authorities: processing is paused.\n"
    "## Germany\n"
    "We answer valid legal process.\n"
)
NEW = OLD.replace("1 June", "8 July").replace("paused", "resumed")
HK = RuleSettings(id="hk", all=("Hong Kong",), severity="high")


def test_rule_led_headline_quotes_the_matched_edit_and_counts_the_rest() -> None:
    diff = diff_texts(OLD, NEW)
    matches = match_rules(compile_rules([HK]), diff, source_id="s", source_tags=())
    headline = rule_led_summary(diff, matches)
    assert headline == "'paused' → 'resumed' under 'Hong Kong'; 1 other block changed"
    assert "June" not in headline and "July" not in headline


def test_without_a_match_the_diff_keeps_its_own_summary() -> None:
    diff = diff_texts(OLD, NEW)
    assert rule_led_summary(diff, ()) is None


@pytest.mark.parametrize(
    ("old", "new", "side", "expected"),
    [
        (
            "## Hong Kong\nOther text.\n",
            "## Hong Kong\nOther text.\nHong Kong requests are now answered.\n",
            "added",
            "added 'Hong Kong requests are now answered.' under 'Hong Kong'",
        ),
        (
            "Intro.\nHong Kong requests are answered.\n",
            "Intro.\n",
            "removed",
            "removed 'Hong Kong requests are answered.'",
        ),
    ],
)
def test_added_and_removed_blocks_are_quoted(old: str, new: str, side: str, expected: str) -> None:
    rule = RuleSettings(id="hk", all=("Hong Kong",), on=side)  # type: ignore[arg-type]
    diff = diff_texts(old, new)
    matches = match_rules(compile_rules([rule]), diff, source_id="s", source_tags=())
    assert rule_led_summary(diff, matches) == expected


def test_the_most_severe_match_leads() -> None:
    diff = diff_texts(OLD, NEW)
    low = RuleMatch("de", "low", (), "added", ("We answer valid legal process.",), ())
    high = RuleMatch(
        "hk",
        "high",
        (),
        "added",
        ("Requests from Hong Kong authorities: processing is resumed.",),
        (),
    )
    assert str(rule_led_summary(diff, (low, high))).startswith("'paused' → 'resumed'")


def test_a_figures_match_leads_with_its_sentence() -> None:
    diff = diff_texts("a\n", "b\n")
    match = RuleMatch("hk", "high", (), "figures", ("Google · Hong Kong · X 2011: 45",), ())
    assert rule_led_summary(diff, (match,)) == "Google · Hong Kong · X 2011: 45; 1 block changed"


def page(updated: str, status: str) -> str:
    return (
        "<!doctype html><html><head><title>Government requests</title></head><body><main>"
        f"<h1>Government requests</h1><p>Last updated: {updated} 2026</p>"
        f"<h2>Hong Kong</h2><p>Requests from Hong Kong authorities: processing is {status}.</p>"
        "<h2>Germany</h2><p>We answer valid legal process.</p></main></body></html>"
    )


def test_check_log_line_and_log_lead_with_hong_kong_not_the_date(
    workdir: Path, page_server: PageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = page_server.set("/gov", page("1 June", "paused"))
    (workdir / "sources.toml").write_text(
        f'[[source]]\nid = "gov"\nurl = "{url}"\n\n'
        '[[rule]]\nid = "hk"\nall = ["Hong Kong"]\nseverity = "high"\n',
        encoding="utf-8",
    )
    assert main(["check"]) == 0
    page_server.set("/gov", page("8 July", "resumed"))
    capsys.readouterr()
    assert main(["check"]) == 0
    line = capsys.readouterr().out
    assert "'paused' → 'resumed' under 'Hong Kong'" in line
    assert "June" not in line and "July" not in line
    assert main(["log", "--type", "ChangeDetected"]) == 0
    logged = capsys.readouterr().out
    assert "'paused' → 'resumed' under 'Hong Kong'; 1 other block changed" in logged
