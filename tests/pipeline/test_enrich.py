"""Enrichment: DNS names per pod (expiring, bounded), address classes, pod owners."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch import simulate
from edgewatch.config import parse_config
from edgewatch.events import DnsEvent, SniEvent, TcpEvent
from edgewatch.pipeline.batch import EventBatch
from edgewatch.pipeline.enrich import DnsMap, EnrichStage, IpClassifier, owner_of
from edgewatch.pipeline.reduce_config import EnrichConfig
from edgewatch.pipeline.stats import Stats

S = 1_000_000_000
T0 = simulate.DEFAULT_START_NS


def answer(ns: str, pod: str, name: str, addrs: list[str], t: int) -> DnsEvent:
    return DnsEvent(time_ns=t, namespace=ns, pod=pod, qr="R", qtype="A", name=name, addresses=addrs)


def connect(ns: str, pod: str, addr: str, t: int, typ: str = "connect", pid: int = 7) -> TcpEvent:
    return TcpEvent(
        time_ns=t, namespace=ns, pod=pod, dst_addr=addr, dst_port=443, type=typ, pid=pid
    )


def run(stage: EnrichStage, *events: object) -> list[object]:
    batch = EventBatch(list(events), [b"{}"] * len(events))  # type: ignore[arg-type]
    return stage.process(batch).events  # type: ignore[return-value]


def stage(**cfg: object) -> EnrichStage:
    return EnrichStage(EnrichConfig.model_validate({"enabled": True, **cfg}), Stats())


# -- the DNS map ---------------------------------------------------------------------------


def test_pods_resolving_one_name_to_different_addresses_each_keep_theirs() -> None:
    s = stage()
    out = run(
        s,
        answer("shop", "api-1", "api.example.com.", ["52.1.1.1"], T0),
        answer("shop", "api-2", "api.example.com.", ["52.2.2.2"], T0),
        answer("ops", "agent-1", "cdn.example.net.", ["52.2.2.2"], T0),
        connect("shop", "api-1", "52.1.1.1", T0 + S),
        connect("shop", "api-2", "52.2.2.2", T0 + S),
        connect("ops", "agent-1", "52.2.2.2", T0 + S),
        connect("shop", "api-1", "52.2.2.2", T0 + S),  # api-2's answer does not explain api-1
    )
    tcp = [e for e in out if isinstance(e, TcpEvent)]
    assert [e.dst_name for e in tcp] == [
        "api.example.com",
        "api.example.com",
        "cdn.example.net",
        "",
    ]
    assert [e.dst_unresolved for e in tcp] == [False, False, False, True]
    assert all(e.dst_class == "public" for e in tcp)


def test_answers_expire_after_the_ttl() -> None:
    s = stage(dns_ttl="60s")
    run(s, answer("shop", "api-1", "api.example.com.", ["52.1.1.1"], T0))
    fresh, at_limit, stale = run(
        s,
        connect("shop", "api-1", "52.1.1.1", T0 + 30 * S),
        connect("shop", "api-1", "52.1.1.1", T0 + 60 * S),
        connect("shop", "api-1", "52.1.1.1", T0 + 61 * S),
    )
    assert (fresh.dst_name, at_limit.dst_name, stale.dst_name) == (  # type: ignore[attr-defined]
        "api.example.com",
        "api.example.com",
        "",
    )
    assert stale.dst_unresolved  # type: ignore[attr-defined]
    assert s.dns.stats.expired == 1
    # a new answer for the address restarts its life, under the name it now has
    run(s, answer("shop", "api-1", "other.example.com.", ["52.1.1.1"], T0 + 100 * S))
    (renewed,) = run(s, connect("shop", "api-1", "52.1.1.1", T0 + 150 * S))
    assert renewed.dst_name == "other.example.com"  # type: ignore[attr-defined]


def test_memory_is_bounded_and_evictions_are_counted() -> None:
    dns = DnsMap(ttl_ns=3600 * S, max_entries=100)
    for i in range(250):
        dns.learn("ns", "pod", f"h{i}.example.com.", [f"52.0.{i // 250}.{i % 250}"], T0)
    assert len(dns) == 100
    assert dns.stats.evicted == 150
    assert dns.name_for("ns", "pod", "52.0.0.249", T0) == "h249.example.com"
    assert dns.name_for("ns", "pod", "52.0.0.0", T0) == ""  # the oldest went first


def test_stage_reports_dns_figures() -> None:
    stats = Stats()
    s = EnrichStage(EnrichConfig(enabled=True, dns_max_entries=1), stats)
    run(s, answer("a", "p", "x.example.", ["52.1.1.1", "52.1.1.2"], T0))
    assert stats.stages["enrich:dns_learned"] == 2
    assert stats.stages["enrich:dns_evicted"] == 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["p1", "p2"]),
            st.sampled_from(["a.example", "b.example", "c.example"]),
            st.sampled_from(["52.0.0.1", "52.0.0.2", "52.0.0.3"]),
            st.integers(0, 200),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_batch_lookup_agrees_with_a_plain_model(ops: list[tuple[str, str, str, int, bool]]) -> None:
    """Learning and asking in any order: the latest live answer per (pod, address) wins."""
    dns = DnsMap(ttl_ns=50 * S, max_entries=1000)
    model: dict[tuple[str, str], tuple[str, int]] = {}
    t = T0
    for pod, name, addr, dt_s, is_answer in ops:
        t += dt_s * S // 10
        if is_answer:
            dns.learn("ns", pod, name + ".", [addr], t)
            model[(pod, addr)] = (name, t + 50 * S)
        else:
            want = model.get((pod, addr))
            expected = want[0] if want and t <= want[1] else ""
            assert dns.name_for("ns", pod, addr, t) == expected
            assert dns.names_for([("ns", pod, addr)], [t]) == [expected]


# -- TCP and SNI ---------------------------------------------------------------------------


def test_accepted_connections_and_private_peers_are_never_unresolved() -> None:
    s = stage(cluster_cidrs=["10.244.0.0/16"])
    inbound, pod_peer, lan = run(
        s,
        connect("shop", "web", "52.9.9.9", T0, typ="accept"),
        connect("shop", "web", "10.244.3.4", T0),
        connect("shop", "web", "192.168.1.5", T0),
    )
    assert not inbound.dst_unresolved and inbound.dst_class == "public"  # type: ignore[attr-defined]
    assert pod_peer.dst_class == "cluster" and not pod_peer.dst_unresolved  # type: ignore[attr-defined]
    assert lan.dst_class == "private" and not lan.dst_unresolved  # type: ignore[attr-defined]


def test_sni_gets_the_address_its_process_connected_to_and_that_address_name() -> None:
    s = stage()
    _, _, hello, other = run(
        s,
        answer("shop", "api-1", "api.example.com.", ["52.1.1.1"], T0),
        connect("shop", "api-1", "52.1.1.1", T0 + S, pid=42),
        SniEvent(time_ns=T0 + S + 1000, namespace="shop", pod="api-1", pid=42, name="evil.test"),
        SniEvent(time_ns=T0 + S + 1000, namespace="shop", pod="api-1", pid=43, name="x.test"),
    )
    assert (hello.dst_addr, hello.dst_name) == ("52.1.1.1", "api.example.com")  # type: ignore[attr-defined]
    assert (other.dst_addr, other.dst_name) == ("", "")  # type: ignore[attr-defined]


def test_parts_can_be_switched_off() -> None:
    s = stage(dns_names=False, ip_class=False, owner=False)
    _, tcp = run(
        s,
        answer("shop", "api-1", "api.example.com.", ["52.1.1.1"], T0),
        TcpEvent(time_ns=T0, namespace="shop", pod="api-7d9f8c6b5-x2x9q", dst_addr="52.1.1.1"),
    )
    assert (tcp.dst_name, tcp.dst_class, tcp.dst_unresolved, tcp.owner_kind) == (  # type: ignore[attr-defined]
        "",
        "",
        False,
        "",
    )


# -- address classes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("addr", "kind"),
    [
        ("10.244.1.7", "cluster"),
        ("10.0.0.10", "cluster"),
        ("fd00:10:244::5", "cluster"),
        ("::ffff:10.244.1.7", "cluster"),
        ("10.9.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12::1", "private"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::fb", "multicast"),
        ("52.84.1.7", "public"),
        ("2606:4700::1111", "public"),
        ("", ""),
        ("not-an-ip", "invalid"),
    ],
)
def test_ip_classes(addr: str, kind: str) -> None:
    ip = IpClassifier(["10.244.0.0/16", "10.0.0.0/16", "fd00:10:244::/56"])
    assert ip.classify(addr) == kind
    assert ip.classify_many([addr, addr]) == [kind, kind]


def test_ip_cache_is_bounded() -> None:
    ip = IpClassifier(cache_size=10)
    for i in range(100):
        ip.classify(f"52.0.0.{i}")
    assert len(ip._cache) <= 10


def test_cluster_cidrs_are_checked_in_the_config() -> None:
    from edgewatch.config import ConfigError

    with pytest.raises(ConfigError, match="not a CIDR"):
        parse_config("reduce: {enrich: {cluster_cidrs: [10.244.0.0/33]}}")


# -- owners --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pod", "labels", "owner"),
    [
        ("api-5c8f9d7b4-q7lmn", "app=api,pod-template-hash=5c8f9d7b4", ("Deployment", "api")),
        ("api-5c8f9d7b4-q7lmn", "", ("Deployment", "api")),
        (
            "fluent-bit-x2x9q",
            "controller-revision-hash=6d4b75cb6d,pod-template-generation=1",
            ("DaemonSet", "fluent-bit"),
        ),
        ("fluent-bit-x2x9q", "", ("DaemonSet", "fluent-bit")),
        ("db-0", "statefulset.kubernetes.io/pod-name=db-0", ("StatefulSet", "db")),
        ("db-12", "", ("StatefulSet", "db")),
        ("backup-29123456-x7k2p", "job-name=backup-29123456", ("CronJob", "backup")),
        ("migrate-x7k2p", "job-name=migrate", ("Job", "migrate")),
        ("kube-apiserver-node-1", "component=kube-apiserver", ("Node", "node-1")),
        ("debug", "run=debug", ("", "")),
        ("", "", ("", "")),
    ],
)
def test_owner_from_pod_name(pod: str, labels: str, owner: tuple[str, str]) -> None:
    assert owner_of(pod, labels, "node-1") == owner


def test_owner_matches_the_api_server_on_the_simulated_cluster() -> None:
    """The simulator names pods as the controllers do and knows their real owners."""
    events = list(simulate.generate(3000, seed=4, scenarios=["all"], node_names=True))
    s = stage()
    blank = [msgspec.structs.replace(e, owner_kind="", owner_name="") for e in events]
    enriched = run(s, *blank)
    pods = [(e, b) for e, b in zip(events, enriched, strict=True) if e.pod]
    assert pods
    for truth, got in pods:
        assert (got.owner_kind, got.owner_name) == (truth.owner_kind, truth.owner_name)  # type: ignore[attr-defined]


def test_a_config_reload_keeps_what_was_learnt() -> None:
    old = stage()
    run(old, answer("shop", "api-1", "api.example.com.", ["52.1.1.1"], T0))
    new = stage(dns_ttl="1h")
    new.adopt([old])
    (tcp,) = run(new, connect("shop", "api-1", "52.1.1.1", T0 + 300 * S))
    assert tcp.dst_name == "api.example.com"  # type: ignore[attr-defined]
    assert new.dns.ttl_ns == 3600 * S
