"""Each attack scenario leaves its signature, coherently across gadgets."""

from __future__ import annotations

import itertools
import math
from collections import Counter

from edgewatch import simulate
from edgewatch.events import DnsEvent, Event, ExecEvent, SniEvent, TcpEvent
from edgewatch.simulate.internet import ATTACKER_IPS, TUNNEL_DOMAIN
from edgewatch.simulate.scenarios import START_AT
from tests.simulate.conftest import SCENARIO_EVENTS, is_public, unexplained_public_connects


def _labeled(attacked: list[tuple[str, Event]], label: str) -> list[Event]:
    return [e for lab, e in attacked if lab == label]


def test_every_scenario_starts_where_planned(attacked: list[tuple[str, Event]]) -> None:
    labels = [lab for lab, _ in attacked]
    assert Counter(labels)[""] > 0.8 * len(labels)
    for name in simulate.SCENARIOS:
        first = labels.index(name)
        assert abs(first - START_AT[name] * SCENARIO_EVENTS) < 0.01 * SCENARIO_EVENTS, name
    assert not any(lab for lab, _ in simulate.generate_labeled(2000, seed=11))


def test_shell(attacked: list[tuple[str, Event]]) -> None:
    events = _labeled(attacked, "shell")
    execs = [e for e in events if isinstance(e, ExecEvent)]
    spawned = [e for e in execs if e.comm == "sh" and e.pcomm == "nginx"]
    assert spawned and all(e.namespace == "shop" and e.pod.startswith("web-") for e in spawned)
    assert spawned[0].uid == 101  # the nginx worker's user
    assert any(e.args == ["id"] for e in execs)
    assert any(e.comm == "curl" and "/tmp/k.sh" in e.args for e in execs)
    connects = [e for e in events if isinstance(e, TcpEvent) and e.type == "connect"]
    assert {(e.comm, e.dst_addr, e.dst_port) for e in connects} >= {
        ("curl", ATTACKER_IPS["payload"], 80),
        ("bash", ATTACKER_IPS["reverse_shell"], 4444),
    }
    assert all(e.pod == spawned[0].pod for e in events)


def test_miner(attacked: list[tuple[str, Event]]) -> None:
    events = _labeled(attacked, "miner")
    miner = next(e for e in events if isinstance(e, ExecEvent) and e.comm == "kswapd0")
    assert miner.args[0].startswith(("/dev/shm/", "/tmp/"))
    assert "pool.supportxmr.com:3333" in miner.args and not miner.from_rootfs
    answers = {
        a
        for e in events
        if isinstance(e, DnsEvent) and e.qr == "R" and e.name == "pool.supportxmr.com."
        for a in e.addresses
    }
    assert answers
    pool = [
        e for e in events if isinstance(e, TcpEvent) and e.type == "connect" and e.dst_port == 3333
    ]
    assert pool and all(e.dst_addr in answers and e.pid == miner.pid for e in pool)
    # The pod's search list is tried first, as with every short name.
    assert any(
        isinstance(e, DnsEvent) and e.name == "pool.supportxmr.com.edge-ingest.svc.cluster.local."
        for e in events
    )


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def test_dns_tunnel(attacked: list[tuple[str, Event]]) -> None:
    events = _labeled(attacked, "dns-tunnel")
    queries = [
        e
        for e in events
        if isinstance(e, DnsEvent)
        and e.qr == "Q"
        and e.pkt_type == "OUTGOING"
        and e.pod.startswith("payments-api-")
    ]
    assert len(queries) >= 100
    assert {e.qtype for e in queries} == {"TXT", "A"}
    assert all(e.name.endswith("." + TUNNEL_DOMAIN) for e in queries)
    labels = [e.name.split(".")[1] for e in queries]
    assert min(map(len, labels)) >= 50
    assert _entropy("".join(labels)) > 4.5
    assert len({e.name for e in queries}) == len(queries)  # every query misses every cache
    span = queries[-1].time_ns - queries[0].time_ns
    assert span < 120 * 1_000_000_000  # a burst
    forwarded = [e for e in events if isinstance(e, DnsEvent) and e.nameserver == "168.63.129.16"]
    assert len(forwarded) >= 2 * len(queries)


def test_c2_beacons_to_an_address_no_dns_answer_explains(
    attacked: list[tuple[str, Event]],
) -> None:
    everything = [e for _, e in attacked]
    unexplained = unexplained_public_connects(everything)
    labels = {id(e): lab for lab, e in attacked}
    assert unexplained and all(labels[id(e)] for e in unexplained)  # only attacks
    beacons = [e for e in unexplained if labels[id(e)] == "c2-ip"]
    c2 = ATTACKER_IPS["c2"]
    assert len(beacons) >= 3 and {e.dst_addr for e in beacons} == {c2}
    assert len({e.pid for e in beacons}) == 1
    gaps = [(b.time_ns - a.time_ns) / 1e9 for a, b in itertools.pairwise(beacons)]
    assert all(20 < g < 40 for g in gaps), gaps
    assert not any(isinstance(e, DnsEvent) and c2 in e.addresses for e in everything)
    assert not any(isinstance(e, SniEvent) and e.pid == beacons[0].pid for e in everything)
    implant = next(
        e
        for e in _labeled(attacked, "c2-ip")
        if isinstance(e, ExecEvent) and e.pid == beacons[0].pid
    )
    assert implant.args[0].startswith("/tmp/") and implant.upper_layer


def test_attack_addresses_are_public() -> None:
    assert all(is_public(ip) for ip in ATTACKER_IPS.values())
