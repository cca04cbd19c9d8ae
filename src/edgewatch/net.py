"""IP address classification, cached: the same few thousand addresses recur all day; and
the check of configured networks."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Literal

AddressClass = Literal[
    "loopback", "private", "public", "link-local", "multicast", "unspecified", "invalid"
]

# RFC 1918 + RFC 6598 (carrier-grade NAT, common on edge uplinks) + unique-local IPv6.
_PRIVATE_V4 = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
_PRIVATE_V6 = (ipaddress.ip_network("fc00::/7"),)


@lru_cache(maxsize=65536)
def classify(addr: str) -> AddressClass:
    """Where an address points, as a network defender thinks of it."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return "invalid"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    nets = _PRIVATE_V4 if ip.version == 4 else _PRIVATE_V6
    if any(ip in n for n in nets):
        return "private"
    if ip.is_private or ip.is_reserved:
        # documentation, benchmarking and other special ranges: not the internet
        return "private"
    return "public"


def is_loopback(addr: str) -> bool:
    return classify(addr) == "loopback"


def is_public(addr: str) -> bool:
    return classify(addr) == "public"


def check_networks(values: list[str], example: str) -> list[str]:
    """``values`` if each is an IP network (host bits allowed), else a ValueError naming
    the first that is not, with ``example`` of what one looks like. For config fields."""
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not {example}: {exc}") from None
    return values
