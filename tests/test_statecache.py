"""The check runner's long-lived states are compact and say exactly what the log says."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.check.statecache import FrozenSettings, compact
from monitor.config.settings import SourceSettings
from monitor.core.projections import fold
from monitor.core.reconcile import reconcile
from monitor.events import NewEvent, SourceRegistered
from monitor.store import MemoryEventStore

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_frozen_settings_equal_the_dict_they_were_made_from() -> None:
    settings = SourceSettings(id="a", url="https://example.org/", tags=("x",)).public_dict()
    frozen = FrozenSettings(settings)
    assert frozen == settings and settings == frozen
    assert (frozen != settings) is False  # reconcile asks with !=
    assert dict(frozen) == settings and list(frozen) == list(settings)
    assert frozen.get("tags") == ["x"] and frozen.get("missing") is None
    assert frozen != {**settings, "url": "https://example.org/other"}
    other = FrozenSettings(SourceSettings(id="b", url="https://example.org/").public_dict())
    assert other["remove"] is frozen["remove"]  # equal lists are one object


def test_a_compact_state_reconciles_like_the_folded_one() -> None:
    """An unchanged source records nothing; an edited one records the changed keys."""
    source = SourceSettings(id="a", url="https://example.org/", select="main")

    async def states() -> tuple[object, object]:
        store = MemoryEventStore(clock=lambda: NOW)
        await store.append(
            NewEvent.after("a", 0, [SourceRegistered(settings=source.public_dict())]),
            expected={"a": 0},
        )
        folded = fold("a", await store.read(stream="a"))
        return folded, compact(folded)

    folded, small = asyncio.run(states())
    assert small == folded
    assert isinstance(small.settings, FrozenSettings)  # type: ignore[attr-defined]
    assert reconcile({"a": small}, [source]) == reconcile({"a": folded}, [source]) == []
    edited = SourceSettings(id="a", url="https://example.org/", select="article")
    decisions = reconcile({"a": small}, [edited])
    assert decisions == reconcile({"a": folded}, [edited])
    assert decisions[0].events[0].changed == ["select"]  # type: ignore[attr-defined]


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.floats(allow_nan=False, min_value=-2, max_value=2),
    st.text(max_size=3),
    st.lists(st.text(max_size=2), max_size=3),
)


@settings(max_examples=300)
@given(st.lists(st.dictionaries(st.sampled_from("abcd"), VALUES, min_size=1), min_size=1))
def test_frozen_settings_read_back_every_value_with_its_type(dicts: list[dict[str, Any]]) -> None:
    """Whatever the first settings of a shape were, each mapping gives back its own values."""
    frozen = [FrozenSettings(d) for d in dicts]  # the first of each key set is the template
    for original, small in zip(dicts, frozen, strict=True):
        assert dict(small) == original
        assert [type(v) for v in small.values()] == [type(v) for v in original.values()]
