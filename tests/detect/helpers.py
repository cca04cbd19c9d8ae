"""Small event builders and a one-rule engine for the detection tests."""

from __future__ import annotations

from typing import Any

from edgewatch.detect import model
from edgewatch.detect.alert import Alert
from edgewatch.detect.detectors import Context
from edgewatch.detect.engine import Engine
from edgewatch.events.dns import DnsEvent
from edgewatch.events.exec import ExecEvent
from edgewatch.events.seccomp import SeccompEvent
from edgewatch.events.sni import SniEvent
from edgewatch.events.tcp import TcpEvent

T0 = 1_750_237_200_000_000_000
S = 1_000_000_000

POD = {
    "namespace": "shop",
    "pod": "web-64xdnxkr7f-6dn7h",
    "container": "nginx",
    "container_id": "c0ffee",
    "node": "node-1",
}


def builtin(name: str) -> model.RuleSpec:
    for spec in model.builtin():
        if spec.name == name:
            return spec
    raise KeyError(name)


def engine_for(*names: str, ctx: Context | None = None) -> Engine:
    return Engine([builtin(n) for n in names], ctx or Context())


def run(engine: Engine, events: list[Any]) -> list[Alert]:
    return engine.scan(events, [b""] * len(events))


def exec_ev(args: list[str], t: int = T0, **kw: Any) -> ExecEvent:
    fields = {**POD, "comm": args[0].rsplit("/", 1)[-1][:15], "pid": 100, **kw}
    return ExecEvent(time_ns=t, args=list(args), cmdline=" ".join(args), **fields)


def tcp(dst: str, port: int, t: int = T0, comm: str = "curl", **kw: Any) -> TcpEvent:
    fields = {**POD, "comm": comm, "pid": 200, "type": "connect", **kw}
    return TcpEvent(
        time_ns=t, dst_addr=dst, dst_port=port, src_addr="10.244.1.7", src_port=40000, **fields
    )


def dns(name: str, t: int = T0, qr: str = "Q", qtype: str = "A", **kw: Any) -> DnsEvent:
    fields = {**POD, "comm": "java", **kw}
    return DnsEvent(time_ns=t, name=name, qr=qr, qtype=qtype, **fields)


def answer(name: str, addresses: list[str], t: int = T0, **kw: Any) -> DnsEvent:
    return dns(name, t, qr="R", addresses=list(addresses), rcode="NoError", **kw)


def sni(name: str, t: int = T0, **kw: Any) -> SniEvent:
    return SniEvent(time_ns=t, name=name, **{**POD, "comm": "xmrig", **kw})


def seccomp(syscall: str, code: str, t: int = T0, **kw: Any) -> SeccompEvent:
    return SeccompEvent(time_ns=t, syscall=syscall, code=code, **{**POD, "comm": "java", **kw})
