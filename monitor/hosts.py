"""Pure facts about the host part of a URL, for code that must not treat an address as a name."""

from __future__ import annotations

import ipaddress


def is_ip_literal(host: str) -> bool:
    """True when ``host`` is an IPv4 or IPv6 address (brackets allowed), not a DNS name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
