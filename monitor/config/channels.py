"""Who hears of what: ``[[channel]]`` (an Apprise URL reached by tags) and ``[[user]]``.

Both hold secrets: a channel's URL and a user's token are never echoed in a
problem; the token is read from the environment variable the entry names.
"""

from __future__ import annotations

import re

from monitor.config.reader import Table, given, read_declared
from monitor.config.settings import ChannelSettings, UserSettings
from monitor.events import EVENT_TYPES

__all__ = ["channel_settings", "user_settings"]

_DIGEST = re.compile(r"^(?:daily@|weekly@(mon|tue|wed|thu|fri|sat|sun) )(\d\d):(\d\d)$")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def channel_settings(table: Table) -> ChannelSettings | None:
    values = read_declared(table, ChannelSettings)
    url = values["url"]
    if url is not None and "://" not in url:
        table.problem(
            "url", "is not an Apprise URL (expected scheme://…, like slack://… or mailto://…)"
        )
        values["url"] = None
    digest = values["digest"]
    if digest is not None:
        found = _DIGEST.match(digest)
        if not found or int(found.group(2)) > 23 or int(found.group(3)) > 59:
            table.problem(
                "digest",
                f'expected "daily@HH:MM" or "weekly@mon HH:MM" (24-hour time), got {digest!r}',
            )
            values["digest"] = None
    if table.unknown_items(
        "events", values["events"], EVENT_TYPES, lambda e: f"unknown event type {e!r}"
    ):
        values["events"] = None
    if values["name"] is None or values["url"] is None:
        return None
    return ChannelSettings(**given(values))


def user_settings(table: Table) -> UserSettings | None:
    """A ``[[user]]``: the token is read from the environment variable ``token_env`` names."""
    values = read_declared(table, UserSettings)
    token_env = table.text("token_env", required=True)
    token: str | None = None
    if token_env is not None:
        environ = table.sink.environ
        if not _VARIABLE_NAME.fullmatch(token_env):
            table.problem("token_env", f"{token_env!r} is not an environment variable name")
        elif not environ.get(token_env, "").strip():
            table.problem(
                "token_env", f"{token_env} is not set (or empty); set it to this user's token"
            )
        else:
            token = environ[token_env].strip()
            table.sink.from_env[token_env] = token
    if values["name"] is None or token is None:
        return None
    return UserSettings(**given(values), token=token)
