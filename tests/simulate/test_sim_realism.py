"""Field by field, events look like IG's (see reference/ig-events.md)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TypeVar

import pytest

from edgewatch import simulate
from edgewatch.events import (
    BindEvent,
    CapabilitiesEvent,
    DnsEvent,
    Event,
    ExecEvent,
    OomkillEvent,
    OpenEvent,
    SeccompEvent,
    SignalEvent,
    SniEvent,
    TcpEvent,
)
from edgewatch.simulate.kernel import CAP_NUMBER, ERRNO, SIGNALS, SYSCALLS

HEX64 = re.compile(r"^[0-9a-f]{64}$")
K8S_NAME = "[bcdfghjklmnpqrstvwxz2456789]"
POD_NAME = {
    "Deployment": re.compile(rf"^[a-z-]+-{K8S_NAME}{{9,10}}-{K8S_NAME}{{5}}$"),
    "DaemonSet": re.compile(rf"^[a-z-]+-{K8S_NAME}{{5}}$"),
    "StatefulSet": re.compile(r"^[a-z-]+-\d+$"),
    "CronJob": re.compile(rf"^[a-z-]+-\d{{8}}-{K8S_NAME}{{5}}$"),
}
UNSET = 4294967295
_T = TypeVar("_T")


def _of(events: Iterable[object], kind: type[_T]) -> list[_T]:
    return [e for e in events if isinstance(e, kind)]


def _account(uid: int) -> tuple[str, str]:
    names = {0: ("root", "root"), 65534: ("nobody", "nogroup")}
    return names.get(uid, (f"uid:{uid}", f"gid:{uid}"))


def test_common_context(background: list[Event]) -> None:
    for ev in background:
        assert ev.node == ""  # plain ig never knows the node
        assert (ev.owner_kind, ev.owner_name) == ("", "")
        if ev.pod:
            assert HEX64.match(ev.container_id)
            assert ev.image_digest.startswith("sha256:") and HEX64.match(ev.image_digest[7:])
            assert ev.runtime == "containerd"
            assert ev.runtime_container == ev.container
            assert ev.container_pid > 0 and 0 < ev.container_started_at < ev.time_ns
            assert "=" in ev.pod_labels
            assert ev.mntns_id > 4026531841 or (ev.pid == 0 and ev.mntns_id == 0)
        else:  # host processes (--host): no Kubernetes or runtime context at all
            assert (ev.namespace, ev.container_id, ev.image, ev.runtime, ev.container_pid) == (
                "", "", "", "", 0
            )  # fmt: skip
            assert ev.comm in {"kubelet", "containerd-shim", "runc"}
        if ev.pid:
            assert (ev.user, ev.group) == _account(ev.uid)
            assert ev.ppid > 0 and ev.pcomm and len(ev.comm) <= 15
            assert ev.ptid == ev.ppid


def test_enriched_run_names_nodes_and_owners() -> None:
    events = list(simulate.generate(3000, seed=2, node_names=True, nodes=2))
    pods = [e for e in events if e.pod]
    assert {e.node for e in pods} == {"edge-node-01", "edge-node-02"}
    for ev in pods:
        assert POD_NAME[ev.owner_kind].match(ev.pod), (ev.owner_kind, ev.pod)
        assert ev.pod.startswith(ev.owner_name)
    assert {e.owner_kind for e in pods} >= {"Deployment", "DaemonSet", "StatefulSet"}


def test_pod_labels_carry_the_controller_hash(background: list[Event]) -> None:
    for ev in background:
        labels = dict(kv.split("=", 1) for kv in ev.pod_labels.split(",")) if ev.pod else {}
        if ev.pod and "pod-template-hash" in labels:
            assert labels["pod-template-hash"] in ev.pod


def test_tcp_rules(background: list[Event]) -> None:
    tcp = _of(background, TcpEvent)
    assert {e.type for e in tcp} == {"connect", "accept", "close"}
    for ev in tcp:
        assert ev.proto == "TCP" and ev.ip_version in (4, 6)
        assert ev.error_raw == ERRNO[ev.error]
        if ev.type == "close":
            assert (ev.fd, ev.accept_fd, ev.error) == (-1, -1, "")
        elif ev.type == "accept":
            assert ev.fd >= 3 and ev.accept_fd > ev.fd and ev.error == ""
        else:
            assert ev.fd >= 3 and ev.accept_fd == -1
    refused = [e for e in tcp if e.error == "ECONNREFUSED"]
    assert refused and all(e.error_raw == 111 for e in refused)
    closes = {(e.pid, e.src_port, e.dst_addr) for e in tcp if e.type == "close"}
    # IG drops closes of sockets that never connected.
    assert not any((e.pid, e.src_port, e.dst_addr) in closes for e in refused)
    assert any(e.comm == "kubelet" and e.dst_addr == "::1" for e in tcp)


def test_dns_rules(background: list[Event]) -> None:
    dns = _of(background, DnsEvent)
    for ev in dns:
        assert ev.name.endswith(".")
        assert re.fullmatch(r"[0-9a-f]{4}", ev.dns_id)
        assert ev.proto == "UDP" and ev.rd
        if ev.qr == "Q":
            assert (ev.rcode, ev.rcode_raw, ev.num_answers, ev.addresses, ev.latency_ns) == (
                "", 0, 0, [], 0
            )  # fmt: skip
            assert ev.dst_port == 53 and ev.nameserver == ev.dst_addr and not ev.ra
        else:
            assert ev.src_port == 53 and ev.nameserver == ev.src_addr and ev.ra
            assert ev.rcode in {"Success", "NameError"}
            assert ev.num_answers >= len(ev.addresses)
        assert ev.pkt_type_raw == {"HOST": 0, "OUTGOING": 4}[ev.pkt_type]
        # IG measures latency only for responses to queries it saw leave that socket.
        if ev.latency_ns:
            assert ev.qr == "R" and ev.pkt_type == "HOST" and ev.pid
    client_queries = [e for e in dns if e.qr == "Q" and e.comm != "coredns"]
    assert all(e.pkt_type == "OUTGOING" and e.dst_addr == "10.0.0.10" for e in client_queries)
    responses = [e for e in dns if e.qr == "R" and e.pkt_type == "HOST" and e.pid]
    assert all(e.latency_ns > 0 for e in responses)
    assert {"A", "AAAA", "65"} <= {e.qtype for e in dns}
    assert {e.qtype_raw for e in dns if e.qtype == "65"} == {65}
    upstream = [e for e in dns if e.nameserver == "168.63.129.16"]
    assert upstream and all(e.comm == "coredns" for e in upstream)
    assert any(e.rcode == "NameError" and not e.name.endswith("cluster.local.") for e in dns)


def test_sni_rules(background: list[Event]) -> None:
    sni = _of(background, SniEvent)
    assert sni
    connects = {(e.pid, e.tid) for e in _of(background, TcpEvent) if e.type == "connect"}
    for ev in sni:
        assert ev.name and not ev.name.endswith(".")
        assert (ev.pid, ev.tid) in connects or ev.pid == 0


def test_exec_rules(background: list[Event]) -> None:
    execs = _of(background, ExecEvent)
    assert execs
    for ev in execs:
        assert ev.args and ev.cmdline == " ".join(ev.args)
        assert ev.comm == ev.args[0].rsplit("/", 1)[-1][:15]
        assert (ev.loginuid, ev.sessionid, ev.loginuser) == (UNSET, UNSET, f"uid:{UNSET}")
        assert ev.error == "" and ev.exepath == ""  # failed execs and paths need flags
    assert any(e.args[:2] == ["sh", "-c"] and e.pcomm == "containerd-shim" for e in execs)


def test_seccomp_rules(background: list[Event]) -> None:
    seccomp = _of(background, SeccompEvent)
    assert seccomp
    for ev in seccomp:
        assert ev.code == "SECCOMP_RET_LOG" and ev.code_raw == 0x7FFC0000
        assert ev.syscall_raw == SYSCALLS[ev.syscall.removeprefix("SYS_").lower()]


@pytest.mark.parametrize("family", ["open", "bind", "signal", "capabilities", "oomkill"])
def test_optional_gadgets_only_when_asked(background: list[Event], family: str) -> None:
    assert not any(e.gadget_family == family for e in background)
    events = list(simulate.generate(2, seed=1, gadgets=[family]))
    assert [e.gadget_family for e in events] == [family, family]
    for ev in events:
        if isinstance(ev, OpenEvent):
            assert ev.fname.startswith("/") and ev.flags.startswith("O_")
            assert (ev.fd == 0) == bool(ev.error)
        elif isinstance(ev, BindEvent):
            assert ev.port and ev.opts == "REUSEADDRESS" and ev.opts_raw == 8
        elif isinstance(ev, SignalEvent):
            assert ev.sig_raw == SIGNALS.get(ev.sig, 0) and ev.tpid
        elif isinstance(ev, CapabilitiesEvent):
            assert ev.cap_raw == CAP_NUMBER[ev.cap.removeprefix("CAP_")]
            assert ev.cap_effective.startswith("FLAG_CAP_") and ev.kstack.endswith("; ")
        elif isinstance(ev, OomkillEvent):
            assert ev.tpid == ev.pid and ev.tcomm == ev.comm and ev.pages == 131072
            assert ev.tmntns_id == ev.mntns_id and ev.pod
