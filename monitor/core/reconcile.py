"""Reconcile the configuration into the log (pure).

Before any check, the sources in ``sources.toml`` are compared with what the
log says: a new id → ``SourceRegistered``, changed settings → ``SourceUpdated``
(naming the keys), an id that left the config → ``SourceRemoved`` (its history
stays). Running it twice in a row yields nothing the second time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.config.settings import SourceSettings
from monitor.core.projections import SourceState
from monitor.events import Event, SourceRegistered, SourceRemoved, SourceUpdated


@dataclass(frozen=True, kw_only=True)
class Decision:
    """Events for one stream, with the version the stream must be at to append them."""

    stream: str
    expected: int
    events: tuple[Event, ...]


def reconcile(
    states: Mapping[str, SourceState], sources: Sequence[SourceSettings]
) -> list[Decision]:
    decisions: list[Decision] = []
    configured = {s.id for s in sources}
    for source in sources:
        settings = source.public_dict()
        state = states.get(source.id)
        if state is None or not state.registered or state.removed:
            version = state.version if state else 0
            decisions.append(
                Decision(
                    stream=source.id,
                    expected=version,
                    events=(SourceRegistered(settings=settings),),
                )
            )
        elif state.settings != settings:
            changed = sorted(
                k
                for k in settings.keys() | state.settings.keys()
                if settings.get(k) != state.settings.get(k)
            )
            decisions.append(
                Decision(
                    stream=source.id,
                    expected=state.version,
                    events=(SourceUpdated(settings=settings, changed=changed),),
                )
            )
    for source_id in sorted(states):
        state = states[source_id]
        if state.registered and not state.removed and source_id not in configured:
            decisions.append(
                Decision(stream=source_id, expected=state.version, events=(SourceRemoved(),))
            )
    return decisions
