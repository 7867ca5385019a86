"""The settings tables of ``docs/configuration.md``, written from the declarations.

``settings_doc(text)`` returns the document with every block between
``<!-- settings: NAME -->`` and ``<!-- /settings -->`` replaced by the table of
that ``sources.toml`` table's settings (key, what it takes, default, what it does),
and each block between ``<!-- choices: NAME -->`` and ``<!-- /choices -->`` by the
list of a shared choice (formats, severities) with a line on each.
A test compares the file with what this returns, so the docs cannot fall behind a
declaration; to bring them up to date::

    python -c "from monitor.config.docs import update_settings_doc; update_settings_doc()"

Pure but for ``update_settings_doc``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from monitor.config.durations import MAX_CONFIG_SECONDS, duration_text, size_text
from monitor.config.registry import (
    CHOICE_DOCS,
    NESTED_TABLES,
    REQUIRED,
    TABLES,
    Declared,
    TableSpec,
)

__all__ = ["DOC_PATH", "choices_table", "settings_doc", "settings_table", "update_settings_doc"]

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
_BLOCK = re.compile(
    r"(<!-- (settings|choices): ([a-z_.]+) -->\n)(.*?)(<!-- /(?:settings|choices) -->)", re.DOTALL
)


def _takes(item: Declared) -> str:
    """What a key's value may be, in words."""
    setting = item.setting
    low, high = setting.minimum, setting.maximum
    match setting.kind:
        case "text":
            shown = "string"
        case "texts":
            shown = "list of strings"
        case "flag":
            shown = "true/false"
        case "whole":
            shown = (
                f"whole number, {low} to {high}" if high is not None else f"whole number ≥ {low}"
            )
        case "seconds":
            first = duration_text(1 if low is None else low)
            shown = f"duration, {first} to {(high or MAX_CONFIG_SECONDS) // 86400} days"
        case "size":
            shown = f"size, up to {size_text(high or 0)}"
        case "choice":
            shown = "one of " + ", ".join(f"`{name}`" for name in item.choices)
        case "url":
            shown = "http(s) URL"
        case "file":
            shown = "file (relative to this file)"
        case "custom":
            shown = setting.shape
            if high is not None:
                shown += f", {low} to {high}"
    if setting.secret and setting.kind == "text":
        return f"{shown}; secret: write `${{VARIABLE}}`"
    return shown


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return str(value)


def _default(spec: TableSpec, item: Declared) -> str:
    value = item.default
    if value is REQUIRED and item.owner is spec.classes[0]:
        return "required"
    if value is REQUIRED or value in (None, "", ()):
        return "—"  # unset; or, in a part of the table (a rule's figures), needed by that part
    if item.setting.kind == "seconds":
        return f'`"{duration_text(value)}"`'
    if item.setting.kind == "size":
        return f'`"{size_text(value)}"`'
    return f"`{_toml(value)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def settings_table(spec: TableSpec) -> str:
    """The Markdown table of one ``sources.toml`` table's settings."""
    lines = ["| key | takes | default | what it does |", "| --- | --- | --- | --- |"]
    for item in spec.settings:
        keys = ", ".join(f"`{key}`" for key in item.keys)
        cells = (keys, _takes(item), _default(spec, item), item.setting.doc)
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def choices_table(name: str) -> str:
    """The Markdown table of a shared choice: each value and its line."""
    lines = [f"| {name} | means |", "| --- | --- |"]
    lines += [f"| `{value}` | {_cell(doc)} |" for value, doc in CHOICE_DOCS[name].items()]
    return "\n".join(lines) + "\n"


def settings_doc(text: str) -> str:
    """``text`` with each marked block replaced by its current table."""
    specs = {spec.name: spec for spec in (*TABLES, *NESTED_TABLES)}

    def replace(found: re.Match[str]) -> str:
        start, what, name, _, end = found.groups()
        if what == "choices" and name in CHOICE_DOCS:
            return f"{start}{choices_table(name)}{end}"
        if what == "settings" and name in specs:
            return f"{start}{settings_table(specs[name])}{end}"
        raise ValueError(f"docs: no {what} named {name!r}")

    return _BLOCK.sub(replace, text)


def update_settings_doc(path: Path = DOC_PATH) -> bool:
    """Rewrite the settings tables of ``path``; True when anything changed."""
    text = path.read_text(encoding="utf-8")
    updated = settings_doc(text)
    if updated != text:
        path.write_text(updated, encoding="utf-8")
    return updated != text
