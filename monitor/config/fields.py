"""How one setting is declared: its TOML key, kind, bounds and one-line doc.

Each settings field in ``monitor.config.settings`` carries its declaration in the
dataclass field's metadata, next to its type and default, so a setting is written
once. Everything else is derived from it: which keys a table accepts, how a value is
read and checked (``monitor.config.reader``), the docs' settings table
(``monitor.config.docs``) and the JSON Schema of the API (``monitor.config.schema``).
Choices are not declared here: they are the ``Literal`` of the field's type.

Pure: no I/O, no import of ours.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

__all__ = ["METADATA", "Kind", "Setting", "declare", "setting"]

# How a value is written in the file, and so how it is read and checked:
# text (a string), texts (a list of strings, or one string), flag (true/false),
# whole (a whole number), seconds (a duration like "6h"), size (bytes or "20MB"),
# choice (one of the field's Literal), url (http or https), file (a path relative to
# the config file), custom (read by its table's own code, which says what it accepts).
Kind = Literal[
    "text", "texts", "flag", "whole", "seconds", "size", "choice", "url", "file", "custom"
]

METADATA = "setting"  # the key of a dataclass field's metadata that holds its Setting

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One setting as written in ``sources.toml``."""

    doc: str  # one line, for the docs table and the API schema
    kind: Kind
    # The TOML keys that set this field: None, its own name; (), none of its own (its
    # value is built from other declared keys of the table, like a rule's figures).
    keys: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    required: bool = False
    secret: bool = False  # never echoed in a problem, never in repr
    empty: bool = False  # "" is a value (and not "is empty")
    shape: str = ""  # how a custom value is written, for the docs ("a table of name = value")
    missing: str = ""  # what to write when a required list is missing


def declare(doc: str, kind: Kind, **options: Any) -> dict[str, Setting]:
    """Metadata for a ``dataclasses.field`` that has no default (a required setting)."""
    return {METADATA: Setting(doc=doc, kind=kind, required=True, **options)}


def setting(default: T, doc: str, kind: Kind, **options: Any) -> T:
    """A dataclass field with a default, declared as a setting; secrets stay out of repr."""
    declared = Setting(doc=doc, kind=kind, **options)
    field: T = dataclasses.field(
        default=default, repr=not declared.secret, metadata={METADATA: declared}
    )
    return field
