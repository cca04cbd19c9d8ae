"""IG's documented example events, every gadget, decode to the values IG printed."""

from __future__ import annotations

import pytest

from edgewatch.decode.decoder import LineDecoder
from edgewatch.events import (
    BindEvent,
    CapabilitiesEvent,
    DnsEvent,
    ExecEvent,
    OomkillEvent,
    OpenEvent,
    SeccompEvent,
    SignalEvent,
    SniEvent,
    TcpEvent,
)
from tests.conftest import GADGET_FILES, ig_lines


def decode(lines: list[bytes], **kw: object) -> list:
    result = LineDecoder(**kw).decode(lines)  # type: ignore[arg-type]
    assert not result.rejects, result.rejects
    return result.events


@pytest.mark.parametrize(("gadget", "family"), sorted(GADGET_FILES.items()))
def test_every_example_decodes_to_its_gadget(gadget: str, family: str) -> None:
    lines = ig_lines(gadget)
    events = decode(lines)
    assert len(events) == len(lines)
    assert {e.gadget_family for e in events} == {family}
    assert all(e.time_ns > 1_700_000_000 * 10**9 for e in events)


def test_tcp_connect_accept_close_and_refused() -> None:
    connect, accept, close, refused, host = decode(ig_lines("trace_tcp"))
    assert isinstance(connect, TcpEvent)
    assert (connect.type, connect.src_addr, connect.dst_addr, connect.dst_port) == (
        "connect",
        "10.244.1.37",
        "10.0.184.20",
        80,
    )
    assert (connect.namespace, connect.pod, connect.container) == (
        "shop",
        "api-5c8f9d7b4-q7lmn",
        "api",
    )
    assert (connect.comm, connect.pid, connect.pcomm, connect.ppid) == ("curl", 31502, "sh", 31490)
    assert (connect.uid, connect.user, connect.proto, connect.ip_version) == (
        1000,
        "uid:1000",
        "TCP",
        4,
    )
    assert connect.accept_fd == -1 and connect.fd == 3
    assert connect.image == "myregistry.azurecr.io/shop/api:2.4.1"
    assert connect.time_ns == 1750237964123456789
    assert accept.type == "accept" and accept.accept_fd == 11 and accept.src_port == 80
    assert close.type == "close" and close.fd == -1
    assert refused.error == "ECONNREFUSED" and refused.error_raw == 111
    # a host process: every Kubernetes field empty, not an error
    assert (host.namespace, host.pod, host.container, host.image) == ("", "", "", "")
    assert host.dst_addr == "::1" and host.ip_version == 6 and host.comm == "kubelet"


def test_dns_query_response_nxdomain_and_numeric_qtype() -> None:
    query, response, nxdomain, upstream = decode(ig_lines("trace_dns"))
    assert isinstance(query, DnsEvent)
    assert (query.qr, query.name, query.qtype, query.rcode, query.dst_port) == (
        "Q",
        "db.shop.svc.cluster.local.",
        "A",
        "",
        53,
    )
    assert query.addresses == [] and query.pkt_type == "OUTGOING" and query.rd
    assert (response.qr, response.rcode, response.addresses) == ("R", "Success", ["10.0.77.5"])
    assert response.latency_ns == 812345 and response.dns_id == query.dns_id == "5c1e"
    assert response.nameserver == "10.0.0.10"
    assert nxdomain.rcode == "NameError" and nxdomain.qtype == "AAAA" and nxdomain.qtype_raw == 28
    assert upstream.qtype == "65" and upstream.comm == "coredns"


def test_sni_exec_seccomp() -> None:
    sni = decode(ig_lines("trace_sni"))
    assert isinstance(sni[0], SniEvent) and sni[0].name == "api.github.com"
    # the socket enricher found nobody: empty process, kept
    assert (sni[2].pid, sni[2].comm, sni[2].name) == (0, "", "storage.googleapis.com")

    execs = decode(ig_lines("trace_exec"))
    assert isinstance(execs[0], ExecEvent)
    assert execs[0].args == ["/bin/sh", "-c", "wget -qO- https://inspektor-gadget.io | head"]
    assert execs[0].cmdline == "/bin/sh -c wget -qO- https://inspektor-gadget.io | head"
    assert (execs[0].comm, execs[0].pcomm) == ("sh", "containerd-shim")
    assert execs[2].exepath == "/usr/bin/sleep" and execs[2].pupper_layer is True
    assert execs[3].error == "ENOEXEC" and execs[3].loginuid == 4294967295

    kill, log, ptrace = decode(ig_lines("audit_seccomp"))
    assert isinstance(kill, SeccompEvent)
    assert (kill.syscall, kill.code, kill.code_raw) == ("SYS_UNSHARE", "SECCOMP_RET_KILL_THREAD", 0)
    assert (log.syscall, log.code) == ("SYS_MKDIR", "SECCOMP_RET_LOG")
    assert ptrace.code_raw == 2147483648


def test_open_bind_signal_capabilities_oomkill() -> None:
    opened = decode(ig_lines("trace_open"))
    assert isinstance(opened[0], OpenEvent)
    assert (opened[0].fname, opened[0].fpath, opened[0].fd, opened[0].flags) == (
        "/dev/null2",
        "/dev/null",
        3,
        "O_RDONLY",
    )
    assert opened[1].error == "EACCES" and opened[1].mode == "-rw-r--r--"

    bound = decode(ig_lines("trace_bind"))
    assert isinstance(bound[0], BindEvent)
    assert (bound[0].addr, bound[0].port, bound[0].proto, bound[0].opts) == (
        "127.0.0.1",
        9090,
        "TCP",
        "REUSEADDRESS",
    )
    assert bound[2].proto == "UDP" and bound[2].opts_raw == 24

    sig = decode(ig_lines("trace_signal"))
    assert isinstance(sig[0], SignalEvent) and (sig[0].sig, sig[0].tpid) == ("SIGTERM", 32300)
    assert sig[2].sig == "signal#0" and sig[2].error == "EPERM"

    caps = decode(ig_lines("trace_capabilities"))
    assert isinstance(caps[0], CapabilitiesEvent)
    assert (caps[0].cap, caps[0].capable, caps[0].syscall) == (
        "CAP_SYS_NICE",
        False,
        "SYS_SETPRIORITY",
    )
    assert caps[0].kstack.startswith("cap_capable; ")

    ooms = decode(ig_lines("trace_oomkill"))
    assert isinstance(ooms[0], OomkillEvent)
    # the process columns describe the trigger (fprocess); tpid/tcomm the victim
    assert (ooms[2].comm, ooms[2].pid, ooms[2].tcomm, ooms[2].tpid) == (
        "kworker/u8:2",
        812,
        "nginx",
        23044,
    )
    assert ooms[0].pages == 32768 and ooms[0].tmntns_id == 4026533300


def test_flat_layout_from_ig_docs() -> None:
    (event,) = decode(ig_lines("flat_trace_tcp"))
    assert isinstance(event, TcpEvent)
    assert (event.comm, event.pid, event.tid, event.uid) == ("wget", 447673, 447673, 0)
    assert event.proto == "TCP"  # printed as the number 6 before v0.34
    assert (event.dst_addr, event.dst_port, event.type) == ("1.1.1.1", 80, "connect")
    assert event.mntns_id == 4026535102
    assert event.runtime_container == "mycontainer" and event.runtime == "docker"
    assert event.time_ns == 1722451156455283441


def test_node_is_filled_only_where_ig_left_it_empty() -> None:
    line = ig_lines("trace_tcp")[0]
    (ev,) = decode([line], node="edge-7")
    assert ev.node == "edge-7"
    # another container on a node IG knows the name of (--enrich-with-k8s-apiserver)
    other = line.replace(b'"node":""', b'"node":"aks-1"').replace(
        b'"containerId":"9b', b'"containerId":"8b'
    )
    (ev,) = decode([other], node="edge-7")
    assert ev.node == "aks-1"
