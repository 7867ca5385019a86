"""monitor.config.parse: sources.toml → frozen Settings, or every problem with its line and key."""

from __future__ import annotations

import random
import textwrap
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger

from monitor.config.parse import (
    load_config,
    locate_lines,
    normalize_cron,
    parse_config,
    parse_duration,
    parse_listen,
    parse_size,
    validate_cron,
)
from monitor.config.settings import MonitorSettings, Settings
from monitor.errors import ConfigError, ConfigProblem

SHIPPED = Path(__file__).resolve().parent.parent / "sources.toml"
SECRET = "xoxb-very-secret-value-123"

# Lines 1-3: a valid source every table-driven case below extends from line 4.
SOURCE = """\
[[source]]
id = "a"
url = "https://example.org/page"
"""


def parse(text: str, environ: dict[str, str] | None = None) -> Settings:
    return parse_config(textwrap.dedent(text), path="sources.toml", environ=environ or {})


def problems(text: str, environ: dict[str, str] | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        parse(text, environ)
    return info.value.problems


def only_problem(text: str, environ: dict[str, str] | None = None) -> ConfigProblem:
    found = problems(text, environ)
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------- valid configs


def test_empty_file_is_a_valid_config_with_no_sources() -> None:
    settings = parse("")
    assert settings.sources == () and settings.rules == () and settings.channels == ()
    assert settings.monitor == MonitorSettings()
    assert settings.path == "sources.toml"


def test_a_full_config_reads_into_settings() -> None:
    settings = parse(
        """\
        [monitor]
        database = "sqlite:///var/lib/monitor.db"
        default_interval = "3h"
        concurrency = 4
        per_host = 1
        timeout = "45s"
        max_bytes = "5MB"
        jitter = "20%"
        confirm_every = "1d"
        alert_after_failures = 5
        allow_private = true
        respect_robots = true
        key_path = "/etc/monitor/key"
        checkpoint_every = "30m"
        grace_period = "0s"
        base_url = "https://monitor.example.org/"

        [web]
        listen = "0.0.0.0:8080"
        token = "${WEB_TOKEN}"

        [[channel]]
        name = "team-slack"
        url = "${SLACK_WEBHOOK_URL}"
        tags = ["urgent", "policy"]
        digest = "weekly@mon 08:30"
        min_severity = "high"
        events = ["ChangeDetected"]

        [[rule]]
        id = "hk"
        all = "Hong Kong"
        any = ["request", "law enforcement"]
        none = "test"
        near = 20
        on = "added"
        severity = "critical"
        notify = "urgent"
        sources = ["meta-gov"]
        tags = "law-enforcement"

        [[source]]
        id = "meta-gov"
        company = "Meta"
        title = "Government requests"
        url = "https://transparency.meta.com/reports/government-data-requests/"
        tags = "law-enforcement"
        select = "main"
        remove = ".cookie-banner"
        ignore = 'Last updated: .*'
        cron = "0 9 * * 1-5"
        render = "auto"
        confirm = 2
        watch_links = true
        headers = { Accept-Language = "en", Authorization = "Bearer ${API_TOKEN}" }
        timeout = "2m"
        max_bytes = 1048576

        [[source]]
        id = "data.json"
        url = "http://example.org/data.json"
        format = "json"
        json_path = "$.items"
        verify_tls = false
        robots = false
        """,
        {"WEB_TOKEN": "t0ken", "SLACK_WEBHOOK_URL": "slack://a/b/c", "API_TOKEN": SECRET},
    )
    assert settings.monitor.default_interval == 3 * 3600
    assert settings.monitor.max_bytes == 5 * 1024 * 1024
    assert settings.monitor.jitter_percent == 20
    assert settings.monitor.grace_period == 0
    assert settings.monitor.allow_private is True
    assert settings.web.token == "t0ken"
    (channel,) = settings.channels
    assert channel.url == "slack://a/b/c" and channel.tags == ("urgent", "policy")
    assert channel.digest == "weekly@mon 08:30" and channel.events == ("ChangeDetected",)
    (rule,) = settings.rules
    assert rule.all == ("Hong Kong",) and rule.none == ("test",) and rule.notify == ("urgent",)
    assert (rule.near, rule.on, rule.severity) == (20, "added", "critical")
    meta, data = settings.sources
    assert meta.remove == (".cookie-banner",) and meta.ignore == ("Last updated: .*",)
    assert meta.cron == "0 9 * * mon-fri" and meta.interval is None
    assert meta.headers == (("Accept-Language", "en"), ("Authorization", f"Bearer {SECRET}"))
    assert (meta.timeout, meta.max_bytes, meta.confirm) == (120, 1048576, 2)
    assert data.interval == 3 * 3600  # no interval and no cron: [monitor].default_interval
    assert (data.format, data.json_path, data.verify_tls, data.robots) == (
        "json",
        "$.items",
        False,
        False,
    )


def test_a_source_without_interval_or_cron_uses_the_default_interval() -> None:
    (source,) = parse(SOURCE).sources
    assert source.interval == MonitorSettings().default_interval
    assert source.cron is None


def test_string_where_a_list_is_expected_becomes_a_one_element_list() -> None:
    (source,) = parse(
        SOURCE + 'tags = "dsa"\nremove = "nav"\nignore = "x+"\ncsv_key = "id"\n'
    ).sources
    assert (source.tags, source.remove, source.ignore, source.csv_key) == (
        ("dsa",),
        ("nav",),
        ("x+",),
        ("id",),
    )


def test_headers_can_be_written_as_a_subtable() -> None:
    (source,) = parse(SOURCE + '[source.headers]\nAccept = "text/html"\n').sources
    assert source.headers == (("Accept", "text/html"),)


# --------------------------------------------------------------------------- each error kind

ERROR_CASES = [
    # (name, toml, line, key, message fragment)
    (
        "misspelled key",
        SOURCE + 'intervall = "1h"\n',
        4,
        'source[1] (id "a").intervall',
        "unknown key 'intervall' in [[source]]; did you mean 'interval'?",
    ),
    (
        "key of another table",
        SOURCE + 'user_agent = "x"\n',
        4,
        'source[1] (id "a").user_agent',
        "it belongs in [monitor]",
    ),
    (
        "bare number duration",
        SOURCE + "interval = 90\n",
        4,
        'source[1] (id "a").interval',
        'a bare number has no unit; write "90s" for seconds or "90m" for minutes',
    ),
    (
        "duration not parseable",
        SOURCE + 'interval = "soon"\n',
        4,
        'source[1] (id "a").interval',
        "expected a duration like '90s', '15m', '6h' or '1d'",
    ),
    (
        "duration of wrong type",
        SOURCE + "interval = true\n",
        4,
        'source[1] (id "a").interval',
        "expected a duration like '90s', '15m', '6h' or '1d', got true/false",
    ),
    (
        "zero interval",
        SOURCE + 'interval = "0s"\n',
        4,
        'source[1] (id "a").interval',
        "must be at least 1s",
    ),
    (
        "list of wrong type",
        SOURCE + "tags = 5\n",
        4,
        'source[1] (id "a").tags',
        "expected a list of strings",
    ),
    (
        "empty list item",
        SOURCE + 'remove = ["nav", ""]\n',
        4,
        'source[1] (id "a").remove',
        "contains an empty string",
    ),
    (
        "string of wrong type",
        SOURCE + "title = 7\n",
        4,
        'source[1] (id "a").title',
        "expected a string, got a whole number (7)",
    ),
    (
        "bool of wrong type",
        SOURCE + 'watch_links = "yes"\n',
        4,
        'source[1] (id "a").watch_links',
        "expected true or false, got a string ('yes')",
    ),
    (
        "ftp url",
        '[[source]]\nid = "a"\nurl = "ftp://example.org/x"\n',
        3,
        'source[1] (id "a").url',
        "only http:// and https:// URLs can be watched; got 'ftp'",
    ),
    (
        "url without scheme",
        '[[source]]\nid = "a"\nurl = "example.org/x"\n',
        3,
        'source[1] (id "a").url',
        "has no scheme; only http:// and https:// URLs can be watched "
        "(did you mean 'https://example.org/x'?)",
    ),
    (
        "url without host",
        '[[source]]\nid = "a"\nurl = "https:///x"\n',
        3,
        'source[1] (id "a").url',
        "'https:///x' has no host",
    ),
    (
        "url with a bad port",
        '[[source]]\nid = "a"\nurl = "https://example.org:99999/"\n',
        3,
        'source[1] (id "a").url',
        "is not a valid URL",
    ),
    (
        "missing url",
        '[[source]]\nid = "a"\n',
        1,
        'source[1] (id "a").url',
        'is required; add url = "…" to this table',
    ),
    ("missing id", '[[source]]\nurl = "https://example.org/"\n', 1, "source[1].id", "is required"),
    (
        "bad id",
        '[[source]]\nid = "Meta Gov"\nurl = "https://example.org/"\n',
        2,
        'source[1] (id "Meta Gov").id',
        "must be 1-80 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
    ),
    (
        "bad id suggests a slug",
        '[[source]]\nid = "Meta Gov"\nurl = "https://example.org/"\n',
        2,
        'source[1] (id "Meta Gov").id',
        "try 'meta-gov'",
    ),
    (
        "invalid ignore regex",
        SOURCE + "ignore = ['Last updated: (']\n",
        4,
        'source[1] (id "a").ignore',
        "'Last updated: (' is not a valid regular expression: "
        "missing ), unterminated subpattern at position 14",
    ),
    (
        "invalid select",
        SOURCE + 'select = "div >"\n',
        4,
        'source[1] (id "a").select',
        "'div >' is not a valid CSS selector",
    ),
    (
        "invalid remove on its own line",
        SOURCE + 'remove = [\n  "nav",\n  "p:nth-child(",\n]\n',
        6,
        'source[1] (id "a").remove',
        "'p:nth-child(' is not a valid CSS selector",
    ),
    (
        "interval and cron",
        SOURCE + 'interval = "1h"\ncron = "0 * * * *"\n',
        5,
        'source[1] (id "a").cron',
        "set either interval or cron, not both",
    ),
    (
        "invalid cron",
        SOURCE + 'cron = "61 * * * *"\n',
        4,
        'source[1] (id "a").cron',
        "minute 61 is out of range 0-59",
    ),
    (
        "render",
        SOURCE + 'render = "browsr"\n',
        4,
        'source[1] (id "a").render',
        "'browsr' is not one of http, browser, auto; did you mean 'browser'?",
    ),
    (
        "format",
        SOURCE + 'format = "xml"\n',
        4,
        'source[1] (id "a").format',
        "'xml' is not one of html, pdf, json, csv, text, markdown",
    ),
    (
        "confirm below 1",
        SOURCE + "confirm = 0\n",
        4,
        'source[1] (id "a").confirm',
        "must be 1 or more, got 0",
    ),
    (
        "json_path on html",
        SOURCE + 'format = "html"\njson_path = "$.a"\n',
        5,
        'source[1] (id "a").json_path',
        "only applies to format = \"json\", not 'html'",
    ),
    (
        "csv_key on pdf",
        SOURCE + 'format = "pdf"\ncsv_key = ["id"]\n',
        5,
        'source[1] (id "a").csv_key',
        "only applies to format = \"csv\", not 'pdf'",
    ),
    (
        "source max_bytes",
        SOURCE + 'max_bytes = "20 parsecs"\n',
        4,
        'source[1] (id "a").max_bytes',
        "is not a size; expected bytes or a size like '512KB'",
    ),
    (
        "header name",
        SOURCE + 'headers = { "Bad Header" = "x" }\n',
        4,
        'source[1] (id "a").headers.Bad Header',
        "'Bad Header' is not a valid HTTP header name",
    ),
    (
        "headers not a table",
        SOURCE + 'headers = ["Accept: x"]\n',
        4,
        'source[1] (id "a").headers',
        "expected a table of header names to values",
    ),
    (
        "concurrency",
        "[monitor]\nconcurrency = 0\n",
        2,
        "monitor.concurrency",
        "must be 1 or more, got 0",
    ),
    ("per_host", "[monitor]\nper_host = -1\n", 2, "monitor.per_host", "must be 1 or more, got -1"),
    (
        "concurrency as a float",
        "[monitor]\nconcurrency = 1.5\n",
        2,
        "monitor.concurrency",
        "expected a whole number, got a decimal number (1.5)",
    ),
    (
        "jitter",
        "[monitor]\njitter = 60\n",
        2,
        "monitor.jitter",
        'expected a percentage from 0 to 50, like 10 or "10%", got 60',
    ),
    (
        "monitor max_bytes",
        '[monitor]\nmax_bytes = "lots"\n',
        2,
        "monitor.max_bytes",
        "'lots' is not a size",
    ),
    (
        "monitor unknown key",
        '[monitor]\ninterval = "1h"\n',
        2,
        "monitor.interval",
        "unknown key 'interval' in [monitor]; did you mean 'default_interval'?",
    ),
    (
        "monitor base_url",
        '[monitor]\nbase_url = "gopher://x"\n',
        2,
        "monitor.base_url",
        "got 'gopher'",
    ),
    (
        "rule unknown source",
        SOURCE + '[[rule]]\nid = "r"\nany = ["x"]\nsources = ["b"]\n',
        7,
        'rule[1] (id "r").sources',
        "unknown source id 'b'",
    ),
    (
        "rule unknown tag",
        SOURCE + 'tags = ["dsa"]\n[[rule]]\nid = "r"\nany = ["x"]\ntags = ["dsb"]\n',
        8,
        'rule[1] (id "r").tags',
        "no [[source]] has the tag 'dsb'; did you mean 'dsa'?",
    ),
    (
        "rule without matchers",
        '[[rule]]\nid = "r"\nnone = ["x"]\n',
        1,
        'rule[1] (id "r")',
        "a rule needs at least one of all, any or regex",
    ),
    (
        "rule near",
        '[[rule]]\nid = "r"\nany = ["x"]\nnear = 0\n',
        4,
        'rule[1] (id "r").near',
        "must be 1 or more, got 0",
    ),
    (
        "rule on",
        '[[rule]]\nid = "r"\nany = ["x"]\non = "changed"\n',
        4,
        'rule[1] (id "r").on',
        "'changed' is not one of added, removed, any",
    ),
    (
        "rule severity",
        '[[rule]]\nid = "r"\nany = ["x"]\nseverity = "urgent"\n',
        4,
        'rule[1] (id "r").severity',
        "'urgent' is not one of info, low, medium, high, critical",
    ),
    (
        "rule regex",
        '[[rule]]\nid = "r"\nregex = ["[a-"]\n',
        3,
        'rule[1] (id "r").regex',
        "'[a-' is not a valid regular expression: unterminated character set",
    ),
    ("rule missing id", '[[rule]]\nany = ["x"]\n', 1, "rule[1].id", "is required"),
    (
        "rule notify nowhere",
        '[[channel]]\nname = "c"\nurl = "json://h"\ntags = ["policy"]\n'
        '[[rule]]\nid = "r"\nany = ["x"]\nnotify = ["urgnt"]\n',
        8,
        'rule[1] (id "r").notify',
        "no [[channel]] has the tag or name 'urgnt'",
    ),
    (
        "channel missing url",
        '[[channel]]\nname = "c"\n',
        1,
        'channel[1] (name "c").url',
        "is required",
    ),
    (
        "channel missing name",
        '[[channel]]\nurl = "json://h"\n',
        1,
        "channel[1].name",
        "is required",
    ),
    (
        "channel digest",
        '[[channel]]\nname = "c"\nurl = "json://h"\ndigest = "daily@8am"\n',
        4,
        'channel[1] (name "c").digest',
        'expected "daily@HH:MM" or "weekly@mon HH:MM" (24-hour time), got \'daily@8am\'',
    ),
    (
        "channel digest hour",
        '[[channel]]\nname = "c"\nurl = "json://h"\ndigest = "weekly@mon 25:00"\n',
        4,
        'channel[1] (name "c").digest',
        "24-hour time",
    ),
    (
        "channel min_severity",
        '[[channel]]\nname = "c"\nurl = "json://h"\nmin_severity = "hi"\n',
        4,
        'channel[1] (name "c").min_severity',
        "is not one of info",
    ),
    (
        "channel events",
        '[[channel]]\nname = "c"\nurl = "json://h"\nevents = ["ChangeDetectd"]\n',
        4,
        'channel[1] (name "c").events',
        "unknown event type 'ChangeDetectd'; did you mean 'ChangeDetected'?",
    ),
    (
        "channel url not apprise",
        '[[channel]]\nname = "c"\nurl = "hooks.slack.com/x"\n',
        3,
        'channel[1] (name "c").url',
        "is not an Apprise URL",
    ),
    (
        "web token",
        '[web]\nlisten = "0.0.0.0:8080"\n',
        1,
        "web.token",
        "set [web] token when listening on a non-loopback address",
    ),
    (
        "web listen",
        '[web]\nlisten = "localhost"\n',
        2,
        "web.listen",
        "expected HOST:PORT like '127.0.0.1:8080'",
    ),
    (
        "unknown table",
        '[[sources]]\nid = "a"\n',
        1,
        "sources",
        "unknown table 'sources'; did you mean 'source'?",
    ),
    (
        "top-level key",
        'database = "sqlite:///x.db"\n',
        1,
        "database",
        "unknown top-level key 'database'; it belongs in [monitor]",
    ),
    (
        "single-bracket source",
        '[source]\nid = "a"\n',
        1,
        "source",
        "expected [[source]] (double brackets, one per source), got a single [source] table",
    ),
    (
        "double-bracket monitor",
        "[[monitor]]\nconcurrency = 2\n",
        1,
        "monitor",
        "expected a single [monitor] table, got [[monitor]] (double brackets)",
    ),
]


@pytest.mark.parametrize(
    ("toml", "line", "key", "fragment"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_each_problem_is_reported_with_its_line_key_and_reason(
    toml: str, line: int, key: str, fragment: str
) -> None:
    problem = only_problem(toml)
    assert (problem.file, problem.line, problem.key) == ("sources.toml", line, key)
    assert fragment in problem.message


@pytest.mark.parametrize(
    ("table", "id_key", "extra"),
    [
        ("source", "id", 'url = "https://example.org/"'),
        ("rule", "id", 'any = ["x"]'),
        ("channel", "name", 'url = "json://localhost"'),
    ],
)
def test_duplicate_ids_name_both_lines(table: str, id_key: str, extra: str) -> None:
    entry = f'[[{table}]]\n{id_key} = "same"\n{extra}\n\n'
    problem = only_problem(entry + entry)
    assert problem.line == 6
    assert problem.key == f'{table}[2] ({id_key} "same").{id_key}'
    assert f"duplicate {table} {id_key} 'same' (first used on line 2)" in problem.message


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    found = problems(
        """\
        [[source]]
        id = "meta-gov"
        url = "https://transparency.meta.com/"
        intervall = "1h"

        [[source]]
        id = "meta-gov"
        url = "ftp://files.example.org/report.pdf"
        """
    )
    assert [(p.line, p.key) for p in found] == [
        (4, 'source[1] (id "meta-gov").intervall'),
        (7, 'source[2] (id "meta-gov").id'),
        (8, 'source[2] (id "meta-gov").url'),
    ]
    assert "did you mean 'interval'?" in found[0].message
    assert "first used on line 2" in found[1].message
    assert "got 'ftp'" in found[2].message


def test_config_error_message_lists_file_line_and_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse(SOURCE + 'render = "browsr"\nconfirm = 0\n')
    assert str(info.value).splitlines() == [
        "sources.toml:4: source[1] (id \"a\").render: 'browsr' is not one of http, browser, "
        "auto; did you mean 'browser'?",
        'sources.toml:5: source[1] (id "a").confirm: must be 1 or more, got 0',
    ]


def test_a_broken_source_does_not_make_the_rules_naming_it_fail_too() -> None:
    found = problems(
        '[[source]]\nid = "a"\nurl = "ftp://x/"\n[[rule]]\nid = "r"\nany = ["x"]\nsources = ["a"]\n'
    )
    assert [p.key for p in found] == ['source[1] (id "a").url']


# --------------------------------------------------------------------------- environment


def test_variables_are_replaced_from_the_environment_and_dollar_dollar_escapes() -> None:
    settings = parse(
        '[[channel]]\nname = "c"\nurl = "${HOOK}"\n'
        + SOURCE
        + 'title = "costs $${HOME} and $5 in ${REGION}"\n',
        {"HOOK": "slack://a/b", "REGION": "EU", "HOME": "/root"},
    )
    assert settings.channels[0].url == "slack://a/b"
    assert settings.sources[0].title == "costs ${HOME} and $5 in EU"


def test_an_unset_variable_names_the_key_and_the_variable() -> None:
    problem = only_problem('[[channel]]\nname = "c"\nurl = "${SLACK_WEBHOOK_URL}"\n')
    assert (problem.line, problem.key) == (3, 'channel[1] (name "c").url')
    assert problem.message == (
        "uses ${SLACK_WEBHOOK_URL}, which is not set; set SLACK_WEBHOOK_URL in the environment"
    )


def test_a_malformed_variable_reference_is_a_problem() -> None:
    problem = only_problem(SOURCE + 'title = "${not closed"\n')
    assert problem.line == 4 and "write '$${' for a literal '${'" in problem.message


@pytest.mark.parametrize(
    "toml",
    [
        '[[channel]]\nname = "c"\nurl = "${S}"\n',  # no scheme://
        '[web]\nlisten = "127.0.0.1:8080"\ntoken = 12345\n[[source]]\nid = "a"\nurl = "${S}"\n',
        SOURCE + 'headers = { Authorization = "Bearer ${S}\\r\\nX: y" }\n',
        SOURCE + 'headers = { Authorization = "${S} ${MISSING}" }\n',
    ],
    ids=[
        "channel url",
        "web token, and a url from the environment",
        "header value",
        "header with a missing variable",
    ],
)
def test_secret_values_never_appear_in_problems(toml: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(toml, {"S": SECRET})
    assert info.value.problems
    assert SECRET not in str(info.value)
    assert "12345" not in str(info.value)


def test_values_from_the_environment_are_shown_as_their_variable() -> None:
    problem = only_problem('[[source]]\nid = "a"\nurl = "${URL}"\n', {"URL": SECRET})
    assert SECRET not in problem.message
    assert problem.message.startswith("'${URL}' has no scheme")


def test_web_token_from_the_environment_allows_a_public_listen_address() -> None:
    settings = parse('[web]\nlisten = "0.0.0.0:8080"\ntoken = "${T}"\n', {"T": SECRET})
    assert settings.web.token == SECRET
    problem = only_problem('[web]\nlisten = "[::]:8080"\ntoken = "${T}"\n', {"T": ""})
    assert problem.key == "web.token"


@pytest.mark.parametrize(
    "listen", ["127.0.0.1:8080", "localhost:80", "[::1]:8080", "127.0.0.2:9000"]
)
def test_loopback_listen_addresses_need_no_token(listen: str) -> None:
    assert parse(f'[web]\nlisten = "{listen}"\n').web.listen == listen


# --------------------------------------------------------------------------- line locator


def test_line_locator_is_not_confused_by_multiline_values() -> None:
    text = "\n".join(
        [
            'title = """',
            "[[source]]",
            'id = "not-a-key"',
            '"""',
            "[[source]]",
            'id = "a"          # comment with [[source]] and key = 1',
            "remove = [",
            '  "nav",          # ] not the end',
            '  ".ad",',
            "]",
            "ignore = [ '''",
            "x = 1",
            "''', \"y\" ]",
            '"quoted.key" = 1',
            'headers.Accept = "x"',
            "inline = { a = 1, b = [1,",
            "  2] }",
            "",
            "[[source]]",
            'id = "b"',
            "[source.headers]",
            '"X-Key" = "v"',
            "",
        ]
    )
    lines = locate_lines(text)
    assert lines[("title",)] == 1
    assert lines[("source", 0)] == 5
    assert lines[("source", 0, "id")] == 6
    assert lines[("source", 0, "remove", 1)] == 9
    assert lines[("source", 0, "ignore", 1)] == 13
    assert lines[("source", 0, "quoted.key")] == 14
    assert lines[("source", 0, "headers", "Accept")] == 15
    assert lines[("source", 0, "inline", "b")] == 16
    assert lines[("source", 1)] == 19
    assert lines[("source", 1, "headers")] == 21
    assert lines[("source", 1, "headers", "X-Key")] == 22


# Values that span lines or contain text that looks like keys, headers or comments.
_VALUES = [
    '"plain"',
    "'literal # [[source]]'",
    '"escaped \\" quote = 1"',
    '"""an escaped \\""" inside\nkey = 1\n"""',
    '"""\nkey = 1\n[[source]]\n"""',
    "'''\n'' id = 2 \\\n'''",
    '"""ends with quotes"\n"""""',
    '[\n  "a",  # ] comment\n  "b",\n]',
    "{ x = 1, y = [1, 2] }",
    "[ { x = 1 }, { y = [\n 1 ] } ]",
    "1979-05-27 07:32:00Z",
]
_KEYS = ["id", "url", '"quoted key"', "dotted.key", "title"]


@pytest.mark.parametrize("seed", range(200))
def test_line_locator_finds_every_key_of_generated_documents(seed: int) -> None:
    """Whatever multi-line values sit between them, each key is placed on its own line."""
    # Seeded rather than hypothesis: hypothesis writes a .hypothesis directory into the tree.
    rng = random.Random(seed)
    out: list[str] = []
    expected: dict[tuple[str | int, ...], int] = {}
    for index in range(rng.randint(0, 4)):
        out.append("[[source]]  # a header")
        expected[("source", index)] = len(out)
        for key in rng.sample(_KEYS, rng.randint(0, len(_KEYS))):
            value = rng.choice(_VALUES)
            if rng.random() < 0.3:
                out.append("# a comment line with key = 1")
            expected[("source", index, key.strip('"').split(".")[0])] = len(out) + 1
            out.extend(f"{key} = {value}".split("\n"))
    text = "\n".join(out) + "\n"
    tomllib.loads(text)  # the generated document is valid TOML
    lines = locate_lines(text)
    for path, line in expected.items():
        assert lines[path] == line, (path, text)


def test_problems_in_an_inline_array_of_tables_have_lines() -> None:
    found = problems(
        'source = [\n  { id = "a", url = "https://x/" },\n  { id = "b", url = 5 },\n]\n'
    )
    assert [(p.line, p.key) for p in found] == [(3, 'source[2] (id "b").url')]


# --------------------------------------------------------------------------- durations, sizes


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("6h", 21600),
        ("1d", 86400),
        ("1w", 604800),
        ("1h30m", 5400),
        ("1d 12h", 129600),
        ("2 hours", 7200),
        ("45 MIN", 2700),
        ("0s", 0),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("90", "'90' has no unit; write '90s' for seconds or '90m' for minutes"),
        ("", "the duration is empty"),
        ("1.5h", "use whole numbers, like '1h30m'"),
        ("30m1h", "largest to smallest"),
        ("1h1h", "largest to smallest"),
        ("5ms", "'ms' in '5ms' is not a unit"),
        ("-5m", "is not a duration"),
        ("1h30", "'30' in '1h30' has no unit"),
    ],
)
def test_parse_duration_rejects_with_a_reason(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("20MB", 20 * 1024**2),
        ("512 KB", 512 * 1024),
        ("1GiB", 1024**3),
        ("4096", 4096),
        ("1.5M", 1536 * 1024),
        ("10b", 10),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


# --------------------------------------------------------------------------- cron


@pytest.mark.parametrize(
    ("expr", "normalized"),
    [
        ("0 */6 * * *", "0 */6 * * *"),
        ("*/15 9-17 * * *", "*/15 9-17 * * *"),
        ("0 9 * * 1-5", "0 9 * * mon-fri"),
        ("0 9 * * MON-FRI", "0 9 * * mon-fri"),
        ("0 0 * * 0", "0 0 * * sun"),
        ("0 0 * * 7", "0 0 * * sun"),
        ("0 0 * * fri-sun", "0 0 * * fri-sun"),
        ("0 0 * * */2", "0 0 * * tue,thu,sat,sun"),
        ("0 0 1 jan,jul *", "0 0 1 1,7 *"),
        ("0 0 1 jan-jun/2 *", "0 0 1 1-6/2 *"),
        ("5/15 * * * *", "5/15 * * * *"),
        ("30 4 1,15 * *", "30 4 1,15 * *"),
        ("@daily", "0 0 * * *"),
        ("@weekly", "0 0 * * sun"),
    ],
)
def test_valid_cron_is_normalized_for_the_scheduler(expr: str, normalized: str) -> None:
    assert validate_cron(expr) is None
    assert normalize_cron(expr) == normalized
    CronTrigger.from_crontab(normalized, timezone="UTC")  # the scheduler accepts it as is


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [  # 2024-01-03 is a Wednesday
        ("0 9 * * 1", datetime(2024, 1, 3, tzinfo=UTC), datetime(2024, 1, 8, 9, tzinfo=UTC)),
        ("0 9 * * 0", datetime(2024, 1, 3, tzinfo=UTC), datetime(2024, 1, 7, 9, tzinfo=UTC)),
        ("0 9 * * 6", datetime(2024, 1, 3, tzinfo=UTC), datetime(2024, 1, 6, 9, tzinfo=UTC)),
        ("0 0 * * */2", datetime(2024, 1, 3, 1, tzinfo=UTC), datetime(2024, 1, 4, tzinfo=UTC)),
    ],
)
def test_normalized_cron_fires_on_the_weekday_cron_means(
    expr: str, after: datetime, expected: datetime
) -> None:
    """APScheduler 3 reads weekday 0 as Monday; normalization keeps cron's Sunday = 0."""
    trigger = CronTrigger.from_crontab(normalize_cron(expr), timezone="UTC")
    assert trigger.get_next_fire_time(None, after) == expected


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("* * *", "it needs 5 fields (minute hour day-of-month month day-of-week), got 3"),
        ("61 * * * *", "minute 61 is out of range 0-59"),
        ("0 24 * * *", "hour 24 is out of range 0-23"),
        ("0 0 0 * *", "day of month 0 is out of range 1-31"),
        ("0 0 * 13 *", "month 13 is out of range 1-12"),
        ("0 0 * * 8", "day of week 8 is out of range 0-7"),
        ("0 0 * * tues", "did you mean 'tue'?"),
        ("0 0 * jnu *", "did you mean 'jun'?"),
        ("5-1 * * * *", "range '5-1' in the minute field goes backwards"),
        ("*/0 * * * *", "must be a whole number from 1"),
        ("*/90 * * * *", "for every 90 minutes use interval = '90m' instead"),
        ("0 0 L * *", "'L' is not valid in the day of month field"),
        ("0 0 ? * *", "'?' is not valid"),
        ("1,,2 * * * *", "empty item"),
        ("0 0 31 2 *", "never fires"),
        ("0 0 1 * mon", "restricts both the day of month ('1') and the day of week ('mon')"),
    ],
)
def test_invalid_cron_says_why(expr: str, fragment: str) -> None:
    message = validate_cron(expr)
    assert message is not None and fragment in message, message


# --------------------------------------------------------------------------- files


def test_load_config_of_a_missing_file_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "sources.toml")
    (problem,) = info.value.problems
    assert problem.file == str(tmp_path / "sources.toml")
    assert "does not exist" in problem.message and "copy sources.toml" in problem.message


def test_load_config_reports_the_line_of_a_toml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text('[[source]]\nid = "a"\nurl = https://example.org\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.key) == (3, "syntax")
    assert problem.message.startswith("invalid TOML: invalid value")


def test_load_config_reads_utf8_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_bytes("\ufeff".encode() + (SOURCE + 'company = "Société"\n').encode())
    settings = load_config(path, environ={})
    assert settings.sources[0].company == "Société"
    assert settings.path == str(path)


def test_load_config_uses_the_process_environment_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "sources.toml"
    path.write_text('[[channel]]\nname = "c"\nurl = "${CONFIG_TEST_HOOK}"\n', encoding="utf-8")
    monkeypatch.setenv("CONFIG_TEST_HOOK", "json://localhost")
    assert load_config(path).channels[0].url == "json://localhost"


def test_load_config_rejects_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_bytes(b'[[source]]\nid = "a"\ntitle = "caf\xe9"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems[0].line == 3
    assert "not valid UTF-8" in info.value.problems[0].message


def test_the_shipped_sources_toml_loads_cleanly() -> None:
    # `pip install . && monitor run` must work on a fresh machine: no variable needed.
    settings = load_config(SHIPPED, environ={})
    assert len(settings.sources) >= 25
    assert len({s.company for s in settings.sources}) >= 12
    assert all(s.interval or s.cron for s in settings.sources)


def test_load_config_of_a_directory_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:9000", ("::1", 9000)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["8080", ":8080", "host:", "host:0", "host:70000", "host:http"])
def test_parse_listen_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        parse_listen(text)


def test_a_source_url_with_a_password_is_refused_without_echoing_it() -> None:
    problem = only_problem('[[source]]\nid = "a"\nurl = "https://user:hunter22@example.org/"\n')
    assert problem.key.endswith(".url") and problem.line == 3
    assert "header" in problem.message
    assert "hunter22" not in str(problem)
