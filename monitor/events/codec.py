"""From a stored record to its typed event: the registry of types and the upcasters.

``decode`` is the one way readers turn stored ``(type, schema, data)`` into an event
(``StoredEvent.event`` calls it once per record). Two kinds of older shapes exist, and
both are handled here or in the classes, never by readers:

- **a schema bump** (a field renamed or its meaning changed): an upcaster registered in
  ``UPCASTERS`` under ``(type, old schema)`` rewrites a copy of the data one schema up,
  applied on read only; the stored bytes (and hashes) stay as written;
- **an optional field added later** (schema unchanged, so the data of events that do not
  use it keeps its bytes): the class declares it with its default, which is what an
  older record reads as; ``Capture``'s properties do the same for the keys of a capture.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from monitor.events import audit, checks, delivery, desk, sources
from monitor.events.base import Event, Unrecognized
from monitor.events.capture import JsonObject

# Every event class of the catalog modules, by its stored type name.
EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for module in (sources, checks, delivery, audit, desk)
    for cls in vars(module).values()
    if isinstance(cls, type) and issubclass(cls, Event) and cls.type
}

# (type, stored schema) -> function upgrading data to schema + 1. Applied on read only.
Upcaster = Callable[[JsonObject], JsonObject]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class Stored(Protocol):
    """What decoding needs of a stored record (``StoredEvent`` has it)."""

    @property
    def type(self) -> str: ...
    @property
    def schema(self) -> int: ...
    @property
    def data(self) -> JsonObject: ...


def upcast(type_: str, schema: int, data: JsonObject) -> tuple[int, JsonObject]:
    """Upgrade stored ``data`` to the current schema of its type."""
    current = EVENT_TYPES[type_].schema if type_ in EVENT_TYPES else schema
    while schema < current:
        data = UPCASTERS[(type_, schema)](dict(data))
        schema += 1
    return schema, data


def decode(stored: Stored) -> Event:
    """The typed event for a stored record, upcast to the current schema
    (``Unrecognized`` for a type this version does not know)."""
    cls = EVENT_TYPES.get(stored.type)
    if cls is None:
        return Unrecognized(name=stored.type, data=stored.data)
    _, data = upcast(stored.type, stored.schema, stored.data)
    return cls.from_data(data)
