"""Two tables → published, restated, withdrawn; and which figure rules the facts satisfy."""

from __future__ import annotations

import pytest

from monitor.config.settings import FigureRuleSettings, FiguresSettings, RuleSettings
from monitor.core.rules import compile_rules
from monitor.figures.decide import compare, figure_matches
from monitor.figures.model import FiguresTable, build_table

SETTINGS = FiguresSettings(key=("Country",), period="Period", values=("Requests",))
HEAD = ["Period", "Country", "Requests"]


def table(*rows: tuple[str, str, str]) -> FiguresTable:
    return build_table([HEAD, *[list(r) for r in rows]], SETTINGS)


H2_2010 = [("2010 H2", "Hong Kong", "0"), ("2010 H2", "Japan", "90"), ("2010 H2", "Peru", "8")]
OLD = table(*H2_2010)
NEW = table(
    *H2_2010,
    ("2011 H1", "Hong Kong", "45"),
    ("2011 H1", "Japan", "123"),
    ("2011 H1", "Peru", "2"),
    ("2011 H1", "Chad", "5"),
)


def test_the_first_table_is_a_baseline() -> None:
    delta = compare(None, OLD)
    assert delta.baseline and delta.events(3) == []


def test_reformatting_and_reordering_publish_nothing() -> None:
    again = table(
        ("2010 H2", "Peru", "8"), ("2010 H2", "Japan", "90.0"), ("2010 H2", "Hong Kong", "0")
    )
    assert compare(OLD, again).events(3) == []


def test_a_row_added_to_a_published_period_is_restated_from_not_reported() -> None:
    more = table(*H2_2010, ("2010 H2", "Chad", "3"))
    [event] = compare(OLD, more).events(9)
    assert event.to_data() == {
        "change_seq": 9,
        "key": ["Chad"],
        "period": "2010 H2",
        "column": "Requests",
        "old": "",
        "new": "3",
    }


def rule(when: str, pct: int | None = None, **extra: object) -> RuleSettings:
    figures = FigureRuleSettings(when=when, pct=pct, **extra)  # type: ignore[arg-type]
    return RuleSettings(id=when, severity="high", figures=figures)


@pytest.mark.parametrize(
    ("settings", "sentences"),
    [
        (
            rule("from_zero"),
            [
                "Google · Chad · Requests 2011 H1: 5 (2010 H2: not reported)",
                "Google · Hong Kong · Requests 2011 H1: 45 (2010 H2: 0)",
            ],
        ),
        (
            rule("from_zero", where=(("Country", "hong kong"),)),
            ["Google · Hong Kong · Requests 2011 H1: 45 (2010 H2: 0)"],
        ),
        (rule("rise_pct", 30), ["Google · Japan · Requests 2011 H1: 123 (2010 H2: 90, +37 %)"]),
        (rule("rise_pct", 40), []),
        (rule("fall_pct", 50), ["Google · Peru · Requests 2011 H1: 2 (2010 H2: 8, −75 %)"]),
        (rule("to_zero"), []),
        (
            rule("published", where=(("Country", "Peru"),)),
            ["Google · Peru · Requests 2011 H1: 2 (2010 H2: 8, −75 %)"],
        ),
        (rule("published", column="Nope"), []),
        (rule("restated"), []),
    ],
)
def test_each_when(settings: RuleSettings, sentences: list[str]) -> None:
    delta = compare(OLD, NEW)
    matches = figure_matches(
        compile_rules([settings]), delta, NEW, source_id="s", source_tags=(), name="Google"
    )
    assert [s for m in matches for s in m.sentences] == sentences
    assert all(m.side == "figures" and m.severity == "high" for m in matches)


def test_to_zero_and_restated() -> None:
    later = table(*[(p, c, v) for ((c,), p), (v,) in NEW.rows.items()], ("2011 H2", "Japan", ""))
    fixed = table(
        *[
            (p, c, "50" if (c, p) == ("Hong Kong", "2011 H1") else v)
            for ((c,), p), (v,) in NEW.rows.items()
        ]
    )
    to_zero = figure_matches(
        compile_rules([rule("to_zero")]),
        compare(NEW, later),
        later,
        source_id="s",
        source_tags=(),
        name="G",
    )
    assert [s for m in to_zero for s in m.sentences] == [
        "G · Japan · Requests 2011 H2: not reported (2011 H1: 123)"
    ]
    restated = figure_matches(
        compile_rules([rule("restated")]),
        compare(NEW, fixed),
        fixed,
        source_id="s",
        source_tags=(),
        name="G",
    )
    assert [s for m in restated for s in m.sentences] == [
        "G · Hong Kong · Requests 2011 H1 restated: 45 → 50"
    ]


def test_scope_and_text_rules_do_not_mix() -> None:
    scoped = RuleSettings(id="x", sources=("other",), figures=FigureRuleSettings(when="published"))
    text = RuleSettings(id="t", all=("Hong Kong",))
    matches = figure_matches(
        compile_rules([scoped, text]),
        compare(OLD, NEW),
        NEW,
        source_id="s",
        source_tags=(),
        name="G",
    )
    assert matches == ()


def test_a_figure_rule_never_matches_text() -> None:
    from monitor.core.rules import match_rules
    from monitor.diff.textdiff import diff_texts

    diff = diff_texts("Hong Kong: 0\n", "Hong Kong: 45\n")
    assert (
        match_rules(compile_rules([rule("published")]), diff, source_id="s", source_tags=()) == ()
    )
