"""``Event``, the base of every event class, and how an event becomes its stored ``data``.

An event's ``data`` is its fields as JSON; a ``Capture`` field is stored as the capture's
own object. Optional fields added after a type was first stored are left out of the data
while they hold their "absent" value, so events that do not use them keep the shape (and
the hashes) they always had; ``without`` says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from monitor.events.capture import Capture, JsonObject


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready data, copied (like ``dataclasses.asdict``)."""
    if isinstance(value, Capture):
        return _plain(value.data)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(item) for item in value)
    return value


def without(data: JsonObject, *names: str, absent: bool | None = None) -> JsonObject:
    """``data`` without the optional fields ``names`` that hold ``absent`` (None or False)."""
    for name in names:
        if name in data and data[name] is absent:
            del data[name]
    return data


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event; subclasses are frozen, keyword-only and named in the past tense."""

    type: ClassVar[str] = ""
    schema: ClassVar[int] = 1

    def to_data(self) -> JsonObject:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Event:
        values = data
        capture = data.get("capture")
        if isinstance(capture, dict):  # stored data is JSON: its capture is a plain dict
            values = {**data, "capture": Capture.of(capture)}
        try:
            return cls(**values)
        except TypeError:
            # Keys this version does not know (written by a later one) are left out.
            names = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in values.items() if k in names})


@dataclass(frozen=True, kw_only=True)
class Unrecognized(Event):
    """A stored event of a type this version does not know (a later version wrote it).

    Decoding never fails on one, so readers of a whole stream pass it by like any event
    they do not match on; its ``data`` is kept as stored.
    """

    name: str
    data: JsonObject

    def to_data(self) -> JsonObject:
        return dict(self.data)
