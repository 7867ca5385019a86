"""The single tables of ``sources.toml``: ``[monitor]``, ``[web]``, ``[audit]``, ``[stories]``.

What a setting's declaration says how to read is read by it (``read_declared``);
this module adds the settings with a shape of their own (networks, the jitter
percentage, time-stamping authorities) and the checks across keys.
"""

from __future__ import annotations

import ipaddress
import re

from monitor.config.checks import is_loopback, parse_listen
from monitor.config.reader import Table, given, kind_of, read_declared
from monitor.config.registry import declaration, nested_table
from monitor.config.settings import (
    AuditSettings,
    MonitorSettings,
    StoriesSettings,
    TimestampAuthority,
    WebSettings,
)

__all__ = ["audit_settings", "monitor_settings", "stories_settings", "web_settings"]


def monitor_settings(table: Table | None) -> MonitorSettings:
    if table is None:
        return MonitorSettings()
    values = read_declared(table, MonitorSettings)
    values["jitter_percent"] = _jitter(table)
    for key in ("allow_networks", "deny_networks"):
        values[key] = _networks(table, key)
    return MonitorSettings(**given(values))


def _networks(table: Table, key: str) -> tuple[str, ...] | None:
    """``allow_networks`` / ``deny_networks``: addresses or CIDRs, checked here."""
    values = table.texts(key)
    if values is None:
        return None
    listed = isinstance(table.data.get(key), list)
    ok = True
    for index, value in enumerate(values):
        try:
            ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            table.problem(
                key,
                f'{value!r} is not an IP network; write an address or a CIDR like "10.0.0.0/8"',
                item=index if listed else None,
            )
            ok = False
    return tuple(v.strip() for v in values) if ok else None


def _jitter(table: Table) -> int | None:
    """``jitter``: a percentage, written 10 or "10%"."""
    declared = declaration(MonitorSettings, "jitter_percent")
    key, low, high = declared.key, declared.setting.minimum or 0, declared.setting.maximum or 100
    value = table.data.get(key)
    if isinstance(value, str):
        text = table.expand(key, value)
        if text is None:
            return None
        found = re.fullmatch(r"\s*(\d+)\s*%?\s*", text)
        value = int(found.group(1)) if found else value
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        table.problem(
            key, f'expected a percentage from {low} to {high}, like 10 or "10%", got {value!r}'
        )
        return None
    return value


def web_settings(table: Table | None) -> WebSettings:
    if table is None:
        return WebSettings()
    values = read_declared(table, WebSettings)
    values["token"] = token = values["token"] or None  # an empty token is no token
    listen = values["listen"]
    if listen is not None:
        try:
            host, _ = parse_listen(listen)
        except ValueError as exc:
            table.problem("listen", str(exc))
            values["listen"] = None
        else:
            if not is_loopback(host) and token is None:
                table.problem(
                    "token",
                    "set [web] token when listening on a non-loopback "
                    f"address (listen is {listen!r})",
                )
    return WebSettings(**given(values))


def audit_settings(table: Table | None) -> AuditSettings:
    if table is None:
        return AuditSettings()
    values = read_declared(table, AuditSettings)
    values["timestamp_authorities"] = _authorities(table)
    return AuditSettings(**given(values))


def _authorities(table: Table) -> tuple[TimestampAuthority, ...] | None:
    """``timestamp_authorities = [{ url = "…", certificates = "tsa.pem" }, …]``."""
    key = "timestamp_authorities"
    value = table.data.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        table.problem(
            key,
            'expected a list like [{ url = "https://…", certificates = "tsa-chain.pem" }], '
            f"got {kind_of(value)}",
        )
        return None
    known = nested_table("audit.timestamp_authorities").keys
    found: list[TimestampAuthority] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            table.problem(key, f"expected a table, got {kind_of(item)}", item=index)
            continue
        label = f"{table.label}.{key}[{index + 1}]"
        entry = Table(table.sink, item, (*table.path, key, index), label)
        entry.check_known(known)
        values = read_declared(entry, TimestampAuthority)
        if values["url"] is not None and values["certificates"] is not None:
            found.append(TimestampAuthority(**given(values)))
    return tuple(found)


def stories_settings(table: Table | None) -> StoriesSettings:
    if table is None:
        return StoriesSettings()
    return StoriesSettings(**given(read_declared(table, StoriesSettings)))
