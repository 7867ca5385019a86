"""`[source.figures]` and figure rules in sources.toml: parsed once, every mistake located."""

from __future__ import annotations

import pytest

from monitor.config.parse import parse_config
from monitor.config.settings import FigureRuleSettings, FiguresSettings, SourceSettings
from monitor.errors import ConfigError

SOURCE = '[[source]]\nid = "g"\nurl = "https://example.org/report.zip"\n'


def parse(text: str) -> object:
    return parse_config(text, path="sources.toml", environ={})


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return [str(p) for p in caught.value.problems]


def test_figures_source_and_rule_parse() -> None:
    settings = parse_config(
        SOURCE
        + '[source.figures]\nkey = ["Country", "Data Request Type"]\nperiod = "Period Ending"\n'
        'values = ["User Data Requests"]\nmember = "requests.csv"\n'
        '[[rule]]\nid = "hk"\nwhen = "from_zero"\nwhere = { Country = "Hong Kong" }\n'
        'column = "User Data Requests"\nseverity = "high"\n'
        '[[rule]]\nid = "jump"\nrise_pct = 50\n',
        path="sources.toml",
        environ={},
    )
    [source] = settings.sources
    assert source.figures == FiguresSettings(
        key=("Country", "Data Request Type"),
        period="Period Ending",
        values=("User Data Requests",),
        member="requests.csv",
    )
    assert source.public_dict()["figures"]["member"] == "requests.csv"
    # The change diff keys the report's rows as the figures are keyed.
    assert source.csv_key == ("Country", "Data Request Type", "Period Ending")
    hk, jump = settings.rules
    assert hk.figures == FigureRuleSettings(
        when="from_zero", where=(("Country", "Hong Kong"),), column="User Data Requests"
    )
    assert jump.figures == FigureRuleSettings(when="rise_pct", pct=50)


def test_sources_without_figures_keep_their_recorded_settings() -> None:
    """No ``figures`` key appears in SourceRegistered data unless set (no SourceUpdated
    for every existing source after an upgrade)."""
    assert "figures" not in SourceSettings(id="a", url="https://example.org/").public_dict()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            SOURCE + '[source.figures]\nperiod = "P"\n',
            'sources.toml:4: source[1] (id "g").figures.key: is required',
        ),
        (SOURCE + '[source.figures]\nkey = ["C"]\n', "figures.period: is required"),
        (SOURCE + '[source.figures]\nkey = ["C"]\nperiod = "P"\nkeys = 1\n', "unknown key 'keys'"),
        (
            SOURCE + '[source.figures]\nkey = ["C"]\nperiod = "P"\nvalues = ["C"]\n',
            "already the key",
        ),
        (SOURCE + '[source.figures]\nkey = ["C"]\nperiod = "P"\ntable = "p[["\n', "figures.table"),
        (SOURCE + 'figures = "yes"\n', "expected a table like [source.figures]"),
        (SOURCE + '[[rule]]\nid = "r"\nwhen = "soon"\n', "'soon' is not one of published"),
        (SOURCE + '[[rule]]\nid = "r"\nwhere = { C = "x" }\n', "a rule over figures needs when"),
        (SOURCE + '[[rule]]\nid = "r"\nwhen = "published"\nall = ["x"]\n', "does not match text"),
        (
            SOURCE + '[[rule]]\nid = "r"\nwhen = "published"\nrise_pct = 5\n',
            'combined with when = "published"',
        ),
        (SOURCE + '[[rule]]\nid = "r"\nwhen = "rise_pct"\n', "write rise_pct = N"),
        (SOURCE + '[[rule]]\nid = "r"\nfall_pct = 0\n', "fall_pct: must be 1 or more"),
        (SOURCE + '[[rule]]\nid = "r"\nwhen = "published"\nwhere = { C = 1 }\n', "column = value"),
        (
            SOURCE + '[[rule]]\nid = "r"\nwhen = "published"\nsources = ["g"]\n',
            "source 'g' has no [source.figures] table",
        ),
    ],
)
def test_mistakes_are_located_and_explained(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in p for p in found), found
