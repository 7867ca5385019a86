"""A typo or a hostile value in sources.toml is refused by ``validate``, with file:line:key.

Each case once passed validation and failed later, at run time: a huge interval
(``OverflowError`` in the scheduler after the config was recorded), a size past
float range, a regex that backtracks for seconds on a crafted page, or a token in
a URL's query that would be stored forever in the hash-chained log.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config.parse import parse_config
from monitor.errors import ConfigError, ConfigProblem

SOURCE = """\
[[source]]
id = "a"
url = "https://example.org/page"
"""


def only_problem(text: str, environ: dict[str, str] | None = None) -> ConfigProblem:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), path="sources.toml", environ=environ or {})
    assert len(caught.value.problems) == 1, caught.value.problems
    return caught.value.problems[0]


HUGE = "9" * 20


@pytest.mark.parametrize(
    ("line", "key", "says"),
    [
        (f'interval = "{HUGE}d"', "interval", "longer than 3650 days"),
        (f'timeout = "{HUGE}s"', "timeout", "longer than"),
        ('interval = "400d"', "interval", "at most 366 days"),
        (f"confirm = {HUGE}", "confirm", "at most 100"),
        (f'max_bytes = "{HUGE}GB"', "max_bytes", "larger than 1 TiB"),
        (f'max_bytes = "{"9" * 400}.5GB"', "max_bytes", "larger than"),
        (f"max_bytes = {HUGE}", "max_bytes", "at most"),
    ],
)
def test_huge_source_numbers_are_refused_on_their_line(line: str, key: str, says: str) -> None:
    problem = only_problem(SOURCE + line + "\n")
    assert (problem.line, problem.key) == (4, f'source[1] (id "a").{key}')
    assert says in problem.message


@pytest.mark.parametrize(
    "line",
    [
        f'default_interval = "{HUGE}w"',
        f'confirm_every = "{HUGE}h"',
        f'checkpoint_every = "{HUGE}m"',
        f'grace_period = "{HUGE}s"',
        f"concurrency = {HUGE}",
        f"per_host = {HUGE}",
        f"alert_after_failures = {HUGE}",
        f"browser_pages = {HUGE}",
        f"browser_restart_after = {HUGE}",
        f'browser_memory = "{HUGE}GB"',
    ],
)
def test_huge_monitor_numbers_are_refused_on_their_line(line: str) -> None:
    problem = only_problem(f"[monitor]\n{line}\n")
    assert problem.line == 2
    assert problem.key == f"monitor.{line.split()[0]}"


def test_a_huge_figure_rule_percentage_is_refused_on_its_line() -> None:
    problem = only_problem(f'[[rule]]\nid = "r"\nrise_pct = {HUGE}\n')
    assert (problem.line, problem.key) == (3, 'rule[1] (id "r").rise_pct')
    assert "at most 100000" in problem.message


def test_a_huge_interval_stops_at_validate_and_check_with_file_and_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "sources.toml").write_text(SOURCE + 'interval = "99999999999999999999d"\n')
    for command in ("validate", "check", "run"):
        assert main([command]) == 2
        err = capsys.readouterr().err
        assert "sources.toml:4:" in err and "interval" in err, err
    assert not (workdir / "monitor.db").exists()


# --------------------------------------------------------------------------- regexes


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(a)\1", "backreference"),
        (r"(?=x)y", "lookahead"),
        (r"(?<!x)y", "lookbehind"),
    ],
)
@pytest.mark.parametrize("where", ["ignore", "rule"])
def test_a_regex_feature_without_a_linear_time_engine_is_refused(
    pattern: str, why: str, where: str
) -> None:
    if where == "ignore":
        text = SOURCE + f"ignore = ['{pattern}']\n"
        key, line = 'source[1] (id "a").ignore', 4
    else:
        text = SOURCE + f"[[rule]]\nid = \"r\"\nregex = ['{pattern}']\n"
        key, line = 'rule[1] (id "r").regex', 6
    problem = only_problem(text)
    assert (problem.line, problem.key) == (line, key)
    assert "linear time" in problem.message, problem.message


def test_catastrophic_patterns_are_accepted_and_run_in_linear_time() -> None:
    """``(a+)+$`` backtracks exponentially in Python's re; RE2 runs it in one pass."""
    from monitor.extract.document import apply_ignore

    evil = "a" * 50_000 + "!"
    out = apply_ignore([("text", f"keep {evil} keep")], ("(a+)+$", "(x+x+)+y"))
    assert out == [("text", f"keep {evil} keep")]
    settings = parse_config(
        SOURCE + "ignore = ['(a+)+$']\n[[rule]]\nid = \"r\"\nregex = ['(a|aa)+$']\n",
        path="sources.toml",
        environ={},
    )
    from monitor.core.rules import compile_rules

    compiled = compile_rules(settings.rules)
    assert compiled[0].regex[0].starts(evil) == []


@pytest.mark.parametrize(
    ("pattern", "text", "left"),
    [
        (r"Updated \d+ \w+", "Updated ٣ août 2026.", "2026."),  # Unicode digits and letters
        (r"\s+", "a\u00a0b\u2003c", "abc"),
        (r"[\w-]+ ago", "mis-à-jour ago now", "now"),
    ],
)
def test_word_digit_and_space_classes_keep_their_unicode_meaning(
    pattern: str, text: str, left: str
) -> None:
    from monitor.extract.document import apply_ignore

    assert apply_ignore([("text", text)], (pattern,)) == [("text", left)]


# --------------------------------------------------------------------------- secrets in URLs


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/report?api_key=${TOKEN}",
        "https://example.org/report?format=html&token=abc123def",
        "https://example.org/report?Access-Token=abc123def",
        "https://example.org/report?key=abc123",
        "https://example.org/report?X-Amz-Signature=abc123",
        "https://example.org/report?password=hunter22",
        "https://example.org/report?client_secret=abc",
        "https://example.org/report?lang=en&page=${PAGE}",
    ],
)
def test_a_secret_in_the_query_string_is_refused_like_user_and_password(url: str) -> None:
    problem = only_problem(
        f'[[source]]\nid = "a"\nurl = "{url}"\n',
        environ={"TOKEN": "s3cret-token-value", "PAGE": "p4ge-secret-value"},
    )
    assert (problem.line, problem.key) == (3, 'source[1] (id "a").url')
    assert "headers" in problem.message
    for secret in ("s3cret", "abc123", "hunter22", "p4ge"):
        assert secret not in problem.message


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/report?lang=en&year=2026",
        "https://example.org/search?q=token+policy&keyword=privacy",
        "https://example.org/report?monkey=1&tokens_used=3",
    ],
)
def test_ordinary_query_strings_are_accepted(url: str) -> None:
    settings = parse_config(f'[[source]]\nid = "a"\nurl = "{url}"\n', path="s.toml", environ={})
    assert settings.sources[0].url == url
