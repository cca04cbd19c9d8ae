"""Shared simulated runs: generated once per test session, they are the slow part."""

from __future__ import annotations

import ipaddress

import pytest

from edgewatch import simulate
from edgewatch.events import DnsEvent, Event, TcpEvent

#: Long enough (about four simulated minutes) for every scenario's story to unfold.
SCENARIO_EVENTS = 50_000
BACKGROUND_EVENTS = 20_000


@pytest.fixture(scope="session")
def background() -> list[Event]:
    return list(simulate.generate(BACKGROUND_EVENTS, seed=5))


@pytest.fixture(scope="session")
def attacked() -> list[tuple[str, Event]]:
    return list(simulate.generate_labeled(SCENARIO_EVENTS, seed=11, scenarios=["all"]))


@pytest.fixture(scope="session")
def every_gadget() -> list[Event]:
    return list(simulate.generate(8_000, seed=3, scenarios=["all"], gadgets=["all"]))


def is_public(addr: str) -> bool:
    """Public the way the seed's KQL sees it: not RFC 1918, loopback, link-local or CGNAT."""
    ip = ipaddress.ip_address(addr)
    if ip.version == 6:
        return ip.is_global
    private = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
               "100.64.0.0/10", "0.0.0.0/8")  # fmt: skip
    return not any(ip in ipaddress.ip_network(net) for net in private)


def unexplained_public_connects(events: list[Event]) -> list[TcpEvent]:
    """Connects from pods to public addresses no earlier DNS answer of that pod listed."""
    answered: dict[tuple[str, str], set[str]] = {}
    out: list[TcpEvent] = []
    for ev in events:
        key = (ev.namespace, ev.pod)
        if isinstance(ev, DnsEvent) and ev.qr == "R" and ev.pod:
            answered.setdefault(key, set()).update(ev.addresses)
        elif isinstance(ev, TcpEvent) and ev.type == "connect" and ev.pod:
            public = is_public(ev.dst_addr)
            if public and ev.dst_addr not in answered.get(key, ()):
                out.append(ev)
    return out
