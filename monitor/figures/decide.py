"""Two tables of figures → what happened between them, and which figure rules it satisfies. Pure.

``compare(previous, new)``: with no previous table the new one is the baseline
(nothing is published). Otherwise every period of the new table that the
previous one lacks is *published*; a figure of a row present in both that says
something else (``FigureValue.same_figure``: "1,234" → "1234" is no change) is
*restated*, and so is a row new to an already published period (its old figure
is empty: not reported); a row gone from the new table is *withdrawn*.

``figure_matches`` applies the figure rules (``[[rule]]`` with ``when``) to those
facts. ``from_zero``, ``to_zero``, ``rise_pct`` and ``fall_pct`` look at the rows
of newly published periods and compare each with the period before it in the
table (a key without a row there was not reported): ``from_zero`` holds when the
previous figure was 0 or not reported and the new one is above 0 ("resumed"),
``to_zero`` the reverse; ``rise_pct = N`` when the figure grew by at least N %
of a previous figure above 0, ``fall_pct = N`` when it shrank by at least N %.
Ranges count by what they guarantee (``0 - 249`` is neither 0 nor above 0) and
by their middle for percentages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from monitor.config.settings import FigureRuleSettings
from monitor.core.rules import MAX_SENTENCES, CompiledRule, RuleMatch
from monitor.events import Event, FiguresPublished, FiguresRestated, FiguresWithdrawn
from monitor.figures.model import FiguresTable, Key, RowId
from monitor.figures.values import FigureValue, parse_value

SEPARATOR = " · "


@dataclass(frozen=True, slots=True)
class Restatement:
    key: Key
    period: str
    column: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class FiguresDelta:
    """What changed between two captures' tables."""

    baseline: bool
    published: tuple[tuple[str, int], ...] = ()  # (period, rows), in time order
    restated: tuple[Restatement, ...] = ()
    withdrawn: tuple[tuple[RowId, dict[str, str]], ...] = ()
    new_rows: frozenset[RowId] = field(default_factory=frozenset)  # rows of published periods

    def events(self, change_seq: int) -> list[Event]:
        """The log's record of this delta, tied to the capture at ``change_seq``."""
        out: list[Event] = [
            FiguresPublished(change_seq=change_seq, period=period, rows=rows)
            for period, rows in self.published
        ]
        out += [
            FiguresRestated(
                change_seq=change_seq,
                key=list(r.key),
                period=r.period,
                column=r.column,
                old=r.old,
                new=r.new,
            )
            for r in self.restated
        ]
        out += [
            FiguresWithdrawn(change_seq=change_seq, key=list(key), period=period, values=values)
            for (key, period), values in self.withdrawn
        ]
        return out


def compare(previous: FiguresTable | None, new: FiguresTable) -> FiguresDelta:
    """The delta from ``previous`` (None: ``new`` is the baseline) to ``new``."""
    if previous is None:
        return FiguresDelta(baseline=True)
    known_periods = set(previous.periods)
    fresh = [p for p in new.periods if p not in known_periods]
    counts = dict.fromkeys(fresh, 0)
    new_rows = set()
    restated: list[Restatement] = []
    same_columns = previous.columns == new.columns
    old_rows = previous.rows
    # Unsorted: most rows are the same texts as before and cost one lookup; only the
    # facts found are sorted, so their order stays deterministic.
    for row_id, values in new.rows.items():
        period = row_id[1]
        if period in counts:
            counts[period] += 1
            new_rows.add(row_id)
            continue
        old_values = old_rows.get(row_id)
        if same_columns and old_values == values:
            continue
        for column, now in zip(new.columns, values, strict=True):
            before = previous.value(row_id, column)
            if before == now:
                continue
            if before is None:
                if old_values is not None or not parse_value(now).reported:
                    continue  # a column the old table lacked: no figure was published in it
                before = ""
            if not parse_value(before).same_figure(parse_value(now)):
                restated.append(Restatement(row_id[0], period, column, before, now))
    restated.sort(key=lambda r: (r.key, r.period, new.columns.index(r.column)))
    withdrawn = sorted(
        (row_id, dict(zip(previous.columns, values, strict=True)))
        for row_id, values in old_rows.items()
        if row_id not in new.rows
    )
    return FiguresDelta(
        baseline=False,
        published=tuple((p, counts[p]) for p in fresh),
        restated=tuple(restated),
        withdrawn=tuple(withdrawn),
        new_rows=frozenset(new_rows),
    )


# --------------------------------------------------------------------------- rules


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _where_holds(table: FiguresTable, row_id: RowId, where: Sequence[tuple[str, str]]) -> bool:
    key, period = row_id
    for column, wanted in where:
        name = _fold(column)
        if name == _fold(table.period_name):
            cell = period
        elif name in [_fold(k) for k in table.key_names]:
            cell = key[[_fold(k) for k in table.key_names].index(name)]
        else:
            found = next((c for c in table.columns if _fold(c) == name), None)
            cell = (table.value(row_id, found) or "") if found else ""
            if found is None:
                return False
        if _fold(cell) != _fold(wanted):
            return False
    return True


def _columns(table: FiguresTable, rule: FigureRuleSettings) -> list[str]:
    if rule.column is None:
        return list(table.columns)
    return [c for c in table.columns if _fold(c) == _fold(rule.column)]


def _previous_period(table: FiguresTable, period: str) -> str | None:
    at = table.periods.index(period)
    return table.periods[at - 1] if at > 0 else None


def _shown(value: FigureValue) -> str:
    return value.text if value.reported else "not reported"


def _pct(before: FigureValue, now: FigureValue) -> Decimal | None:
    old, new = before.midpoint, now.midpoint
    if old is None or new is None or old <= 0:
        return None
    return (new - old) * 100 / old


def _sentence(
    name: str,
    key: Key,
    column: str,
    period: str,
    now: FigureValue,
    prior: tuple[str, FigureValue] | None,
) -> str:
    head = SEPARATOR.join([name, *key, f"{column} {period}: {_shown(now)}"])
    if prior is None:
        return f"{head} (first period)"
    prior_period, before = prior
    pct = _pct(before, now)
    change = ""
    if pct is not None:
        rounded = int(pct.quantize(Decimal(1)))
        change = f", {'+' if rounded >= 0 else '−'}{abs(rounded)} %"
    return f"{head} ({prior_period}: {_shown(before)}{change})"


def _holds(rule: FigureRuleSettings, before: FigureValue | None, now: FigureValue) -> bool:
    when = rule.when
    if when == "published":
        return True
    if before is None:
        return False
    if when == "from_zero":
        return (not before.reported or before.is_zero()) and now.is_positive()
    if when == "to_zero":
        return before.is_positive() and (not now.reported or now.is_zero())
    pct = _pct(before, now)
    if pct is None or rule.pct is None:
        return False
    return pct >= rule.pct if when == "rise_pct" else -pct >= rule.pct


def figure_matches(
    rules: Sequence[CompiledRule],
    delta: FiguresDelta,
    new: FiguresTable,
    *,
    source_id: str,
    source_tags: Sequence[str],
    name: str,
) -> tuple[RuleMatch, ...]:
    """Every figure rule the delta satisfies, in rule order, each with its sentences."""
    if delta.baseline:
        return ()
    matches = []
    for compiled in rules:
        rule = compiled.settings.figures
        if rule is None or not compiled.applies_to(source_id, source_tags):
            continue
        sentences: list[str] = []
        columns = _columns(new, rule)
        if rule.when == "restated":
            for r in delta.restated:
                if r.column in columns and _where_holds(new, (r.key, r.period), rule.where):
                    head = SEPARATOR.join([name, *r.key, f"{r.column} {r.period}"])
                    old = r.old if parse_value(r.old).reported else "not reported"
                    sentences.append(f"{head} restated: {old} → {_shown(parse_value(r.new))}")
        else:
            for row_id in sorted(delta.new_rows, key=lambda r: (new.periods.index(r[1]), r[0])):
                if not _where_holds(new, row_id, rule.where):
                    continue
                key, period = row_id
                prior_period = _previous_period(new, period)
                for column in columns:
                    now = parse_value(new.value(row_id, column) or "")
                    if rule.when != "published" and not now.reported and rule.when != "to_zero":
                        continue
                    before = None
                    if prior_period is not None:
                        before = parse_value(new.value((key, prior_period), column) or "")
                    if _holds(rule, before, now):
                        prior = (prior_period, before) if prior_period and before else None
                        sentences.append(_sentence(name, key, column, period, now, prior))
        if sentences:
            settings = compiled.settings
            matches.append(
                RuleMatch(
                    rule_id=settings.id,
                    severity=settings.severity,
                    notify=tuple(settings.notify),
                    side="figures",
                    sentences=tuple(sentences[:MAX_SENTENCES]),
                    terms=(),
                )
            )
    return tuple(matches)
