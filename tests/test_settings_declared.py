"""One declaration per setting: every key is declared with a doc line, and what is derived
from the declarations (accepted keys, bounds, choices, the docs table, the API schema)
holds in the parser, the docs and the recorded events."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from monitor.config.docs import DOC_PATH, settings_doc
from monitor.config.durations import duration_text, size_text
from monitor.config.fields import METADATA
from monitor.config.parse import load_config, parse_config
from monitor.config.registry import CHOICE_DOCS, NESTED_TABLES, TABLES, Declared, TableSpec
from monitor.config.settings import (
    ALERT_TYPES,
    FORMAT_DOCS,
    FORMATS,
    SEVERITIES,
    SEVERITY_DOCS,
    FiguresSettings,
    SourceSettings,
)
from monitor.errors import ConfigError
from monitor.events import EVENT_TYPES
from monitor.web.openapi import openapi_document

SHIPPED = Path(__file__).resolve().parent.parent / "sources.toml"
ALL_TABLES = (*TABLES, *NESTED_TABLES)
# The least each top-level table needs to be valid, so one key at a time can be wrong.
MINIMAL: dict[str, str] = {
    "monitor": "",
    "web": "",
    "audit": "",
    "stories": "",
    "channel": 'name = "c"\nurl = "json://127.0.0.1/"',
    "rule": 'id = "r"\nall = ["word"]',
    "source": 'id = "s"\nurl = "https://example.org/"',
    "discover": 'id = "d"\nsitemap = "https://example.org/sitemap.xml"',
    "user": 'name = "u"\ntoken_env = "USER_TOKEN"',
}
ENVIRON = {"USER_TOKEN": "a-token-for-tests"}


def _settings(kinds: tuple[str, ...]) -> list[tuple[TableSpec, Declared]]:
    return [
        (spec, item)
        for spec in TABLES
        for item in spec.settings
        if item.setting.kind in kinds and item.owner is spec.classes[0]
    ]


def _problems(spec: TableSpec, line: str) -> list[str]:
    """The problems of a minimal ``spec`` table plus ``line`` (which replaces its own key)."""
    key = line.split(" = ")[0]
    lines = [kept for kept in MINIMAL[spec.name].split("\n") if not kept.startswith(f"{key} =")]
    text = "\n".join((spec.header, *lines, line)) + "\n"
    with pytest.raises(ConfigError) as raised:
        parse_config(text, path="sources.toml", environ=ENVIRON)
    return [f"{p.key}: {p.message}" for p in raised.value.problems]


def _label(spec: TableSpec, item: Declared, key: str | None = None) -> str:
    key = key or item.key
    if not spec.array:
        return f"{spec.name}.{key}"
    ident, value = MINIMAL[spec.name].split("\n")[0].split(" = ")
    if ident == key:
        return f"{spec.name}[1].{key}"
    return f"{spec.name}[1] ({ident} {value}).{key}"


KEYS = [(spec, item, key) for spec in TABLES for item in spec.settings for key in item.keys]


@pytest.mark.parametrize(
    ("spec", "item", "key"), KEYS, ids=[f"{spec.name}.{key}" for spec, _, key in KEYS]
)
def test_every_declared_key_is_read_and_checked(spec: TableSpec, item: Declared, key: str) -> None:
    """A key that is declared but read by no code would be accepted and silently dropped."""
    found = _problems(spec, f"{key} = {{ bogus = 1 }}")
    assert any(problem.startswith(_label(spec, item, key)) for problem in found), found


@pytest.mark.parametrize("spec", ALL_TABLES, ids=lambda spec: spec.name)
def test_every_settings_field_is_declared_with_a_key_and_a_one_line_doc(spec: TableSpec) -> None:
    for cls in spec.classes:
        for field in dataclasses.fields(cls):
            declared = field.metadata.get(METADATA)
            assert declared is not None, f"{cls.__name__}.{field.name} has no declaration"
            assert declared.doc.strip() and "\n" not in declared.doc, field.name
            if declared.keys == ():
                # Set by the keys of another class of the same table (a rule's figures).
                assert any(other.__name__ in str(field.type) for other in spec.classes[1:])
                continue
            assert declared.keys is None or all(declared.keys), field.name
            if declared.kind == "custom":
                assert declared.shape, f"{field.name}: a custom setting says how it is written"
    assert len(set(spec.keys)) == len(spec.keys), "a key is declared twice"


def test_the_docs_settings_tables_are_the_declared_ones() -> None:
    text = DOC_PATH.read_text(encoding="utf-8")
    for spec in ALL_TABLES:
        assert f"<!-- settings: {spec.name} -->" in text, f"docs lack the {spec.header} table"
    for name in CHOICE_DOCS:
        assert f"<!-- choices: {name} -->" in text, f"docs lack the list of {name}s"
    assert settings_doc(text) == text, (
        "docs/configuration.md is out of date: run python -c "
        '"from monitor.config.docs import update_settings_doc; update_settings_doc()"'
    )


def test_every_declared_key_has_its_row_in_the_docs() -> None:
    text = DOC_PATH.read_text(encoding="utf-8")
    for spec in ALL_TABLES:
        block = text.split(f"<!-- settings: {spec.name} -->")[1].split("<!-- /settings -->")[0]
        for item in spec.settings:
            row = next(line for line in block.splitlines() if f"`{item.key}`" in line)
            assert item.setting.doc in row


BOUNDED = _settings(("whole", "seconds", "size"))
CHOICES = _settings(("choice",))


@pytest.mark.parametrize(
    ("spec", "item"), BOUNDED, ids=[f"{spec.name}.{item.key}" for spec, item in BOUNDED]
)
def test_every_declared_bound_is_enforced_on_its_key(spec: TableSpec, item: Declared) -> None:
    low, high = item.setting.minimum, item.setting.maximum
    too_high: str | None
    match item.setting.kind:
        case "whole":
            too_high = None if high is None else str(high + 1)
            too_low: str | None = str((low or 0) - 1)
            low_message = f"must be {low or 0} or more"
        case "seconds":
            too_high = f'"{(high or 366 * 86400) // 86400 + 1}d"'
            too_low, low_message = (None, "") if low == 0 else ('"0s"', "must be at least 1s")
        case _:
            too_high, too_low = f'"{size_text((high or 0) * 2)}"', "0"
            low_message = "must be at least 1 byte"
    label = _label(spec, item)
    if too_high is not None:
        found = _problems(spec, f"{item.key} = {too_high}")
        assert len(found) == 1 and found[0].startswith(f"{label}: must be at most "), found
    if too_low is not None:
        found = _problems(spec, f"{item.key} = {too_low}")
        assert len(found) == 1 and found[0].startswith(f"{label}: {low_message}"), found


@pytest.mark.parametrize(
    ("spec", "item"), CHOICES, ids=[f"{spec.name}.{item.key}" for spec, item in CHOICES]
)
def test_every_choice_is_its_literal_and_nothing_else(spec: TableSpec, item: Declared) -> None:
    assert item.choices and item.default in (*item.choices, None)
    wrong = f"{item.choices[0]}x"
    found = _problems(spec, f'{item.key} = "{wrong}"')
    assert found == [
        f"{_label(spec, item)}: {wrong!r} is not one of {', '.join(item.choices)}; "
        f"did you mean {item.choices[0]!r}?"
    ]


ENTRIES = {"channel": "channels", "rule": "rules", "source": "sources", "user": "users"}


def test_the_durations_in_the_docs_read_back_as_their_defaults() -> None:
    for spec in TABLES:
        for item in spec.settings:
            if item.setting.kind == "seconds" and isinstance(item.default, int):
                line = f'{item.key} = "{duration_text(item.default)}"'
                settings = parse_config(
                    f"{spec.header}\n{MINIMAL[spec.name]}\n{line}\n",
                    path="sources.toml",
                    environ=ENVIRON,
                )
                read: Any = getattr(settings, ENTRIES.get(spec.name, spec.name))
                entry = read[0] if spec.array else read
                assert getattr(entry, item.attr) == item.default, item.key


def test_what_a_source_records_is_what_the_api_document_describes() -> None:
    schema = openapi_document()["components"]["schemas"]["SourceSettings"]
    sources = list(load_config(SHIPPED, environ={}).sources)
    sources.append(
        SourceSettings(
            id="report",
            url="https://example.org/a",
            urls=("https://example.org/a", "https://example.org/b"),
            headers=(("Authorization", "secret-value"),),
            figures=FiguresSettings(key=("Country",), period="Period"),
            gone_after=5,
            watch_links="documents",
        )
    )
    for source in sources:
        jsonschema.validate(source.public_dict(), schema)
    assert "secret-value" not in str(sources[-1].public_dict())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**sources[0].public_dict(), "format": "docx"}, schema)


def test_the_api_documents_the_declared_severities_and_source_fields() -> None:
    document = openapi_document()
    severity = document["components"]["schemas"]["Change"]["properties"]["severity"]
    assert severity["enum"] == ["info", "low", "medium", "high", "critical"]
    source = document["components"]["schemas"]["Source"]["properties"]
    assert (
        source["id"]["description"]
        == SourceSettings.__dataclass_fields__["id"].metadata[METADATA].doc
    )


def test_every_format_and_severity_has_one_doc_line_in_its_order() -> None:
    assert tuple(FORMAT_DOCS) == FORMATS
    assert tuple(SEVERITY_DOCS) == SEVERITIES
    for doc in (*FORMAT_DOCS.values(), *SEVERITY_DOCS.values()):
        assert doc.strip() and "\n" not in doc


def test_a_channel_hears_of_alert_types_only() -> None:
    assert set(ALERT_TYPES) <= set(EVENT_TYPES)
