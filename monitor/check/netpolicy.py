"""Which network addresses a watched URL may reach (pure).

A watched page, or a redirect it answers with, must not be able to point the
monitor at the machine's private network or a cloud metadata endpoint
(169.254.169.254). By default private, link-local, carrier-grade NAT,
multicast, unspecified and reserved ranges are refused; loopback is allowed so
that a monitor can watch a page served on its own machine. Intranet users set
``allow_private = true`` or list networks in ``allow_networks``; anyone can
forbid more with ``deny_networks`` (deny wins over allow).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_CGNAT = ipaddress.ip_network("100.64.0.0/10")


@dataclass(frozen=True)
class NetworkPolicy:
    allow_private: bool = False
    allow_networks: tuple[IPNetwork, ...] = ()
    deny_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_strings(
        cls, *, allow_private: bool, allow: tuple[str, ...] = (), deny: tuple[str, ...] = ()
    ) -> NetworkPolicy:
        return cls(
            allow_private=allow_private,
            allow_networks=tuple(ipaddress.ip_network(n, strict=False) for n in allow),
            deny_networks=tuple(ipaddress.ip_network(n, strict=False) for n in deny),
        )

    def refusal(self, address: str) -> str | None:
        """Why ``address`` may not be contacted, or None when it may."""
        try:
            ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return f"{address!r} is not an IP address"
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.deny_networks):
            return f"{ip} is in a network the configuration forbids"
        if any(ip in net for net in self.allow_networks):
            return None
        if ip.is_loopback:
            return None
        kind = _forbidden_kind(ip)
        if kind and not self.allow_private:
            return (
                f"{ip} is a {kind} address; refused by default "
                "(set allow_private = true or allow_networks in [monitor] for intranet pages)"
            )
        return None


def _forbidden_kind(ip: IPAddress) -> str | None:
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "carrier-grade NAT"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    return None


def is_ip_literal(host: str) -> bool:
    """True when ``host`` is an IPv4 or IPv6 address (brackets allowed), not a DNS name.

    For code that must not treat an address as a name (a certificate's host, a secret's
    host in a channel URL, a WACZ page's origin).
    """
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
