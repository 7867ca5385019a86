"""A ``[[rule]]``: why a change matters — terms or patterns in the changed text, or figures.

A rule over text matches ``all`` / ``any`` / ``regex`` terms; a rule over figures
(``when``, ``rise_pct``, ``fall_pct``) matches a report's series instead, and the two
cannot be mixed. Names of channels, sources and tags are checked against what the
file writes (``RuleRefs``), not against what was built, so one broken source does
not also make every rule naming it an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.config.reader import Table, given, read_declared
from monitor.config.registry import declaration, declared
from monitor.config.settings import FigureRuleSettings, RuleSettings
from monitor.config.sources import check_patterns

__all__ = ["RuleRefs", "rule_settings"]

_TEXT_KEYS = ("all", "any", "none", "regex", "near", "on")


@dataclass(frozen=True, kw_only=True)
class RuleRefs:
    """What the file names that a rule may refer to."""

    reachable: set[str]  # channel names and tags
    source_ids: set[str]
    source_tags: set[str]
    with_figures: set[str]  # ids of the sources with a [source.figures] table


def _figure_keys() -> tuple[str, ...]:
    return tuple(key for item in declared(FigureRuleSettings) for key in item.keys)


def rule_settings(table: Table, refs: RuleRefs) -> RuleSettings | None:
    values = read_declared(table, RuleSettings)
    check_patterns(table, "regex", values["regex"])
    values["figures"] = figures = _figure_rule(table)
    if any(key in table.data for key in _figure_keys()):
        pass  # a rule over figures: _figure_rule reported what is wrong with it
    elif not any(table.data.get(key) for key in ("all", "any", "regex")):
        table.problem(
            None,
            "a rule needs at least one of all, any or regex to match on (none alone only excludes)",
        )
    if refs.reachable:
        table.unknown_items(
            "notify",
            values["notify"],
            refs.reachable,
            lambda n: f"no [[channel]] has the tag or name {n!r}",
        )
    sources = values["sources"]
    table.unknown_items("sources", sources, refs.source_ids, lambda s: f"unknown source id {s!r}")
    table.unknown_items(
        "tags", values["tags"], refs.source_tags, lambda g: f"no [[source]] has the tag {g!r}"
    )
    if figures is not None:
        for index, source_id in enumerate(sources or ()):
            if source_id in refs.source_ids and source_id not in refs.with_figures:
                table.problem(
                    "sources",
                    f"source {source_id!r} has no [source.figures] table, and a rule "
                    "with when (or rise_pct, fall_pct) matches figures only",
                    item=index,
                )
    if values["id"] is None:
        return None
    return RuleSettings(**given(values))


def _figure_rule(table: Table) -> FigureRuleSettings | None:
    """The figures part of a ``[[rule]]`` (``when``, ``where``, ``column``, ``rise_pct``…)."""
    if not any(key in table.data for key in _figure_keys()):
        return None
    for key in _TEXT_KEYS:
        if key in table.data:
            table.problem(
                key,
                "a rule over figures (when, rise_pct, fall_pct) does not match text; "
                "write a separate rule for the text",
            )
    # Read before when is settled, so a bad where or column is reported even then.
    where = _where(table)
    values: dict[str, Any] = read_declared(table, FigureRuleSettings)
    when = table.choice("when", declaration(FigureRuleSettings, "when").choices)
    pct = None
    bounds = declaration(FigureRuleSettings, "pct")
    for name in bounds.keys:
        if name in table.data:
            if when is not None and when != name:
                table.problem(name, f'cannot be combined with when = "{when}"')
            when = name
            pct = table.whole(
                name, minimum=bounds.setting.minimum or 1, maximum=bounds.setting.maximum
            )
    if when in bounds.keys and pct is None and "when" in table.data:
        table.problem("when", f'write {when} = N (a percentage) instead of when = "{when}"')
        return None
    if when is None:
        if "when" not in table.data:
            table.problem(
                "when",
                'a rule over figures needs when = "published", "restated", '
                '"from_zero" or "to_zero", or rise_pct = N / fall_pct = N',
            )
        return None
    if where is None:
        return None
    return FigureRuleSettings(**given(values), when=when, where=where, pct=pct)  # type: ignore[arg-type]  # one of its choices, checked above


def _where(table: Table) -> tuple[tuple[str, str], ...] | None:
    """``where = { Country = "Hong Kong" }``: the rows a figures rule is about."""
    raw = table.data.get("where")
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not all(isinstance(v, str) and v.strip() for v in raw.values()):
        table.problem(
            "where",
            'expected a table of column = value, like where = { Country = "Hong Kong" }',
        )
        return None
    return tuple((str(k), str(v)) for k, v in raw.items())
