"""The background traffic is plausible and gives the seed's hunting queries something to find."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from typing import Any

from edgewatch.events import DnsEvent, Event, TcpEvent
from edgewatch.events.render import to_ig
from tests.simulate.conftest import is_public, unexplained_public_connects


def test_public_connects_follow_the_pods_own_dns_answers(background: list[Event]) -> None:
    public = [
        e
        for e in background
        if isinstance(e, TcpEvent) and e.type == "connect" and e.pod and is_public(e.dst_addr)
    ]
    assert len(public) >= 20
    assert unexplained_public_connects(background) == []


def test_dns_answers_are_the_addresses_used(background: list[Event]) -> None:
    answered = {
        a for e in background if isinstance(e, DnsEvent) and e.qr == "R" for a in e.addresses
    }
    service_connects = [
        e
        for e in background
        if isinstance(e, TcpEvent)
        and e.type == "connect"
        and e.dst_addr.startswith("10.0.")
        and e.comm != "nginx"  # nginx resolves its upstream once, at startup
    ]
    assert service_connects
    # Service IPs come from DNS too, except the API server's, which clients get from env vars.
    assert {e.dst_addr for e in service_connects} - answered <= {"10.0.0.1"}


def test_gadget_mix(background: list[Event]) -> None:
    mix = Counter(e.gadget_family for e in background)
    assert set(mix) == {"tcp", "dns", "sni", "exec", "seccomp"}
    assert (mix["tcp"] + mix["dns"]) / len(background) > 0.9
    assert mix["tcp"] > 0.25 * len(background) and mix["dns"] > 0.25 * len(background)
    assert mix["sni"] > mix["exec"] > mix["seccomp"] > 0


def test_a_few_pods_dominate(background: list[Event]) -> None:
    per_pod = Counter(f"{e.namespace}/{e.pod}" for e in background if e.pod)
    counts = sorted(per_pod.values(), reverse=True)
    assert len(counts) >= 20
    assert sum(counts[:3]) / sum(counts) > 0.3
    assert counts[0] > 8 * counts[len(counts) // 2]
    namespaces = {key.split("/")[0] for key in per_pod}
    assert namespaces >= {
        "shop",
        "payments",
        "iot-gateway",
        "monitoring",
        "kube-system",
        "edge-ingest",
    }


def _ig_rows(events: list[Event], family: str) -> list[dict[str, Any]]:
    return [to_ig(e) for e in events if e.gadget_family == family]


def _kql_private(addr: str) -> bool:
    """KQL's ipv4_is_private: RFC 1918 only."""
    try:
        ip = ipaddress.IPv4Address(addr)
    except ValueError:
        return False
    nets = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
    return any(ip in ipaddress.IPv4Network(n) for n in nets)


def test_seed_queries_find_something(background: list[Event]) -> None:
    """Python renditions of reference/seed-queries/*.kql over the IG JSON."""
    dns = [
        r
        for r in _ig_rows(background, "dns")
        if r["k8s"]["namespace"]
        and r["qtype"] == "A"
        and r["qr"] == "R"
        and r["pkt_type"] == "HOST"
        and not r["name"].endswith(".cluster.local.")
        and "Error" not in r["rcode"]
        and r["proc"]["comm"] != "coredns"
    ]
    assert len({r["name"] for r in dns}) >= 5
    assert all(r["addresses"] for r in dns)

    outbound = [
        r
        for r in _ig_rows(background, "tcp")
        if r["k8s"]["namespace"]
        and r["src"]["addr"] != "127.0.0.1"
        and r["type"] == "connect"
        and not _kql_private(r["dst"]["addr"])
    ]
    ports = {r["dst"]["port"] for r in outbound}
    assert {443, 8883, 5432} <= ports
    assert len({r["k8s"]["namespace"] for r in outbound}) >= 3

    sni = [r for r in _ig_rows(background, "sni") if r["k8s"]["namespace"]]
    assert {"api.stripe.com", "factory-hub-01.azure-devices.net"} <= {r["name"] for r in sni}

    seccomp = _ig_rows(background, "seccomp")
    assert {r["code"] for r in seccomp} == {"SECCOMP_RET_LOG"}
    assert len({r["syscall"] for r in seccomp}) >= 2
    json.dumps(seccomp)  # the rows are plain JSON values
