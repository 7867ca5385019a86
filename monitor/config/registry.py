"""The tables of ``sources.toml`` and the settings each accepts, derived from their declarations.

A table is read into one settings class (a ``[[rule]]`` into two: its figures part is
written in the same table). Its keys, their kinds, bounds and choices come from the
declarations on the classes' fields (``monitor.config.fields``); nothing here repeats
a key. Pure.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from monitor.config.fields import METADATA, Setting
from monitor.config.settings import (
    FORMAT_DOCS,
    SEVERITY_DOCS,
    AuditSettings,
    ChannelSettings,
    DiscoverSettings,
    FigureRuleSettings,
    FiguresSettings,
    MonitorSettings,
    RuleSettings,
    SourceSettings,
    StoriesSettings,
    TimestampAuthority,
    UserSettings,
    WebSettings,
)

__all__ = [
    "ARRAY_TABLES",
    "CHOICE_DOCS",
    "NESTED_TABLES",
    "TABLES",
    "TABLE_KEYS",
    "Declared",
    "TableSpec",
    "declaration",
    "declared",
    "nested_table",
    "table_header",
]

REQUIRED = dataclasses.MISSING


@dataclass(frozen=True, kw_only=True)
class Declared:
    """A settings field with its declaration, as the readers, docs and schema need it."""

    owner: type
    attr: str  # the field of ``owner``
    setting: Setting
    default: Any  # REQUIRED when the table must set it
    hint: Any  # the field's type

    # Cached: every source of a config reads each of its fields through these.
    @functools.cached_property
    def keys(self) -> tuple[str, ...]:
        return (self.attr,) if self.setting.keys is None else self.setting.keys

    @functools.cached_property
    def key(self) -> str:
        return self.keys[0]

    @functools.cached_property
    def choices(self) -> tuple[str, ...]:
        """The values a ``choice`` may take: the ``Literal`` in the field's type."""
        return _literals(self.hint)


def _literals(hint: Any) -> tuple[str, ...]:
    if get_origin(hint) is Literal:
        return tuple(str(value) for value in get_args(hint))
    if get_origin(hint) in (Union, types.UnionType):
        return tuple(value for arg in get_args(hint) for value in _literals(arg))
    return ()


@functools.cache
def declared(cls: type) -> tuple[Declared, ...]:
    """Every declared field of a settings class, in field order."""
    hints = get_type_hints(cls)
    found: list[Declared] = []
    for item in dataclasses.fields(cls):
        setting = item.metadata.get(METADATA)
        if setting is None:
            raise TypeError(f"{cls.__name__}.{item.name} has no declaration (fields.setting)")
        default = item.default
        if default is REQUIRED and item.default_factory is not REQUIRED:
            default = item.default_factory()
        found.append(
            Declared(
                owner=cls, attr=item.name, setting=setting, default=default, hint=hints[item.name]
            )
        )
    return tuple(found)


def declaration(cls: type, attr: str) -> Declared:
    """The declared field ``attr`` of ``cls``."""
    return next(item for item in declared(cls) if item.attr == attr)


@dataclass(frozen=True, kw_only=True)
class TableSpec:
    """One table of ``sources.toml``: ``[monitor]``, ``[[source]]``, ``[source.figures]``…"""

    name: str
    classes: tuple[type, ...]  # the first is what the table is read into
    array: bool = False  # [[name]]: written once per entry
    doc: str

    @property
    def header(self) -> str:
        return table_header(self.name)

    @property
    def settings(self) -> tuple[Declared, ...]:
        """The declared fields that a key of this table sets."""
        return tuple(item for cls in self.classes for item in declared(cls) if item.keys)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(key for item in self.settings for key in item.keys)


TABLES: tuple[TableSpec, ...] = (
    TableSpec(name="monitor", classes=(MonitorSettings,), doc="the store, politeness, timing"),
    TableSpec(name="web", classes=(WebSettings,), doc="the web view, feeds and JSON API"),
    TableSpec(name="audit", classes=(AuditSettings,), doc="third parties who vouch for the log"),
    TableSpec(name="channel", classes=(ChannelSettings,), array=True, doc="where alerts go"),
    TableSpec(
        name="rule",
        classes=(RuleSettings, FigureRuleSettings),
        array=True,
        doc="why a change matters",
    ),
    TableSpec(name="source", classes=(SourceSettings,), array=True, doc="a page to watch"),
    TableSpec(
        name="discover",
        classes=(DiscoverSettings,),
        array=True,
        doc="where a company lists its documents",
    ),
    TableSpec(
        name="user", classes=(UserSettings,), array=True, doc="a person with their own token"
    ),
    TableSpec(
        name="stories", classes=(StoriesSettings,), doc="changes at several companies as one"
    ),
)
# Tables written inside another: ``[source.figures]``, ``[audit] timestamp_authorities``.
NESTED_TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        name="source.figures",
        classes=(FiguresSettings,),
        doc="a report's table read as series",
    ),
    TableSpec(
        name="audit.timestamp_authorities",
        classes=(TimestampAuthority,),
        array=True,
        doc="one RFC 3161 time-stamping authority",
    ),
)
TABLE_KEYS: dict[str, tuple[str, ...]] = {spec.name: spec.keys for spec in TABLES}
# Choices that several settings share, each with its one-line doc.
CHOICE_DOCS: dict[str, dict[str, str]] = {
    "format": {str(name): doc for name, doc in FORMAT_DOCS.items()},
    "severity": {str(name): doc for name, doc in SEVERITY_DOCS.items()},
}
ARRAY_TABLES = tuple(spec.name for spec in TABLES if spec.array)


def nested_table(name: str) -> TableSpec:
    return next(spec for spec in NESTED_TABLES if spec.name == name)


def table_header(table: str) -> str:
    return f"[[{table}]]" if table in ARRAY_TABLES else f"[{table}]"
