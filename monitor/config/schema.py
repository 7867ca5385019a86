"""JSON Schema (2020-12, as OpenAPI 3.1 uses) of declared settings, for the API document.

Derived from each field's type and declaration: its doc line is the description,
a ``Literal`` is an ``enum``, a whole number keeps its bounds. A schema describes a
value as ``SourceSettings.public_dict`` records it in ``SourceRegistered``: header
values are withheld, so ``headers`` is the list of their names. Pure.
"""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

from monitor.config.registry import Declared, declaration, declared
from monitor.config.settings import SEVERITIES, SourceSettings

__all__ = ["SEVERITY_SCHEMA", "field_schema", "settings_schema"]

JsonSchema = dict[str, Any]

_SCALARS: dict[Any, JsonSchema] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
}


def _type_schema(hint: Any) -> JsonSchema:
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        return {"type": "string", "enum": [str(value) for value in args]}
    if origin in (Union, types.UnionType):
        return {"anyOf": [_type_schema(arg) for arg in args]}
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return {"type": "array", "items": _type_schema(args[0])}
    if origin is tuple:
        return {"type": "array", "prefixItems": [_type_schema(arg) for arg in args]}
    if isinstance(hint, type) and declared(hint):
        return settings_schema(hint)
    raise TypeError(f"no JSON Schema for the settings type {hint!r}")


def field_schema(item: Declared) -> JsonSchema:
    """One declared field as recorded: its type, its doc as description, its bounds."""
    if item.setting.secret and get_origin(item.hint) is tuple:
        schema: JsonSchema = {"type": "array", "items": {"type": "string"}}  # names only
    else:
        schema = _type_schema(item.hint)
    if item.setting.kind == "whole":
        bounds = {"minimum": item.setting.minimum, "maximum": item.setting.maximum}
        target = schema["anyOf"][0] if "anyOf" in schema else schema
        target.update({name: value for name, value in bounds.items() if value is not None})
    return {**schema, "description": item.setting.doc}


def settings_schema(cls: type, names: tuple[str, ...] | None = None) -> JsonSchema:
    """An object schema of a settings class's recorded fields (or of ``names`` only)."""
    chosen = [item for item in declared(cls) if names is None or item.attr in names]
    return {
        "type": "object",
        "properties": {item.attr: field_schema(item) for item in chosen},
    }


SEVERITY_SCHEMA: JsonSchema = {
    "type": "string",
    "enum": list(SEVERITIES),
    "description": "From least to most severe: " + ", ".join(SEVERITIES) + ".",
}
# A source's identity as the API shows it, described by the settings that set it.
SOURCE_IDENTITY = {
    name: field_schema(declaration(SourceSettings, name))
    for name in ("id", "company", "title", "url", "tags")
}
