"""The read model is a pure fold: same log prefix, same model, however it was fed."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.projections import replay
from monitor.events import StoredEvent
from monitor.web.model import Filters, ReadModel
from tests.web.site import Site


def snapshot(model: ReadModel) -> tuple[object, ...]:
    return (
        model.head_seq,
        {
            k: (v.state, v.captures, v.timeline, v.change_seqs, v.last_check_at)
            for k, v in model.sources.items()
        },
        model.changes,
        model.notifications,
        model.counters,
        model.text_blobs,
        model.raw_blobs,
        model.screenshot_blobs,
        model.last_check_at,
    )


def fed_whole(events: list[StoredEvent]) -> ReadModel:
    model = ReadModel()
    model.apply_all(events)
    return model


def test_source_states_are_the_projection_fold(site: Site) -> None:
    model = fed_whole(site.events)
    states = replay(site.events)
    assert {k: v.state for k, v in model.sources.items()} == states


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_feeding_in_any_chunks_with_repeats_gives_the_same_model(
    site: Site, data: st.DataObject
) -> None:
    events = site.events
    model = ReadModel()
    position = 0
    while position < len(events):
        # a follower may re-read a few events it already has (a retried poll)
        start = data.draw(st.integers(max(0, position - 3), position))
        end = data.draw(st.integers(position + 1, len(events)))
        model.apply_all(events[start:end])
        position = end
    assert snapshot(model) == snapshot(fed_whole(events))


def test_an_unreadable_event_is_skipped_and_counted(site: Site) -> None:
    events = list(site.events)
    broken_at = next(i for i, e in enumerate(events) if e.type == "ChangeDetected")
    broken = events[broken_at]
    events[broken_at] = dataclasses.replace(broken, data={"classification": "substantive"})
    model = fed_whole(events)
    assert model.counters.unreadable == 1
    assert model.head_seq == events[-1].seq
    assert broken.seq not in model.changes
    assert len(model.changes) == len([e for e in events if e.type == "ChangeDetected"]) - 1


def test_filters_combine(site: Site) -> None:
    model = fed_whole(site.events)
    everything = model.filter_changes(Filters())
    assert [c.seq for c in everything] == sorted((c.seq for c in everything), reverse=True)
    asia_high = model.filter_changes(Filters(tag="asia", severity="high"))
    assert [c.source_id for c in asia_high] == ["hk-requests"]
    assert model.filter_changes(Filters(tag="asia", classification="reverted"))[0].severity == (
        "info"
    )
    assert model.filter_changes(Filters(company="Example")) == []
    groups = model.grouped(Filters(status="ok"))
    assert [company for company, _ in groups] == ["AT&T", "Meta", "腾讯"]
