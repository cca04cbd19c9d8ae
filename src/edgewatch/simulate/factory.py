"""Normalized events from the cluster model, filled the way IG fills them.

Every event of a process shares the same context columns (Kubernetes, runtime, the
process block), so each process keeps one template event per gadget family and a new
event is ``msgspec.structs.replace(template, **what_changed)``, which copies in C.
That keeps generation cheap enough to stream millions of events.

The rules IG applies per gadget live here as well: ``fd``/``accept_fd`` of -1, errno
names and numbers, DNS packet types and flags, latency only on responses the sender
saw the query of, trailing dots on DNS names but not on SNI names, the socket
enricher's empty ``proc`` block, and the login uid of container processes.
"""

from __future__ import annotations

from typing import Any

import msgspec

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
from edgewatch.simulate import kernel
from edgewatch.simulate.cluster import HOST_USERNS, Pod, Process, group_name, user_name

_replace = msgspec.structs.replace

#: audit ``loginuid`` / ``sessionid`` of processes no login session started.
UNSET_ID = 4294967295

QTYPES: dict[str, int] = {
    "A": 1,
    "NS": 2,
    "CNAME": 5,
    "SOA": 6,
    "PTR": 12,
    "MX": 15,
    "TXT": 16,
    "AAAA": 28,
    "SRV": 33,
    "65": 65,  # HTTPS/SVCB: IG prints unknown types as the decimal number
}
RCODES: dict[str, int] = {
    "": 0,
    "Success": 0,
    "FormatError": 1,
    "ServerFailure": 2,
    "NameError": 3,
    "NotImplemented": 4,
    "Refused": 5,
}
PKT_TYPES: dict[str, int] = {"HOST": 0, "OUTGOING": 4}

SECCOMP_CODES: dict[str, int] = {
    "SECCOMP_RET_KILL_PROCESS": 0x80000000,
    "SECCOMP_RET_KILL_THREAD": 0,
    "SECCOMP_RET_ERRNO": 0x00050000,
    "SECCOMP_RET_LOG": 0x7FFC0000,
}

_FAMILY_EXTRAS: dict[type[Event], dict[str, Any]] = {
    TcpEvent: {"proto": "TCP"},
    DnsEvent: {"proto": "UDP", "rd": True},
    ExecEvent: {
        "loginuid": UNSET_ID,
        "loginuser": f"uid:{UNSET_ID}",
        "sessionid": UNSET_ID,
        "from_rootfs": True,
        "file_from_rootfs": True,
    },
    CapabilitiesEvent: {"current_userns": HOST_USERNS, "target_userns": HOST_USERNS, "audit": 1},
}
_NETNS_FAMILIES = (TcpEvent, DnsEvent, SniEvent)


def ip_version(addr: str) -> int:
    return 6 if ":" in addr else 4


class EventFactory:
    """Builds events for processes. ``enriched`` mimics ``--enrich-with-k8s-apiserver``.

    Plain ``ig`` knows neither the node name nor the pod's owner; with apiserver
    enrichment (and ``NODE_NAME``) both are filled, so the two go together.
    """

    def __init__(self, enriched: bool = False) -> None:
        self.enriched = enriched

    # -- templates ----------------------------------------------------------------

    def pod_context(self, pod: Pod | None) -> dict[str, Any]:
        if pod is None:
            return {}
        main = pod.proc()
        ctx: dict[str, Any] = {
            "namespace": pod.namespace,
            "pod": pod.name,
            "container": pod.container,
            "pod_labels": pod.labels,
            "host_network": pod.spec.host_network,
            "container_id": pod.container_id,
            "runtime_container": pod.container,
            "image": pod.spec.image,
            "image_digest": pod.image_digest,
            "runtime": "containerd",
            "container_pid": main.pid,
            "container_started_at": pod.started_at,
        }
        if self.enriched:
            ctx["node"] = pod.node.name
            ctx["owner_kind"] = pod.owner_kind
            ctx["owner_name"] = pod.owner_name
        return ctx

    def _template(self, proc: Process, cls: type[Event]) -> Any:
        found = proc.templates.get(cls.__name__)
        if found is not None:
            return found
        ctx = self.pod_context(proc.pod)
        ctx.update(
            pid=proc.pid,
            tid=proc.pid,
            comm=proc.comm,
            uid=proc.uid,
            gid=proc.gid,
            user=user_name(proc.uid),
            group=group_name(proc.gid),
            ppid=proc.ppid,
            ptid=proc.ppid,
            pcomm=proc.pcomm,
            mntns_id=proc.mntns,
        )
        ctx.update(_FAMILY_EXTRAS.get(cls, {}))
        if cls in _NETNS_FAMILIES:
            ctx["netns_id"] = proc.netns
        template = cls(**ctx)
        proc.templates[cls.__name__] = template
        return template

    def _anonymous(self, pod: Pod, cls: type[Event]) -> Any:
        """The socket enricher found no socket: zero ``proc``, context from the netns."""
        ctx = self.pod_context(pod)
        ctx.update(user=user_name(0), group=group_name(0), netns_id=pod.netns)
        ctx.update({k: v for k, v in _FAMILY_EXTRAS.get(cls, {}).items()})
        return cls(**ctx)

    # -- per gadget ---------------------------------------------------------------

    def tcp(
        self,
        proc: Process,
        t: int,
        thread: tuple[int, str],
        kind: str,
        src: str,
        sport: int,
        dst: str,
        dport: int,
        fd: int,
        accept_fd: int = -1,
        error: str = "",
    ) -> TcpEvent:
        """``fd`` is the caller's socket; IG prints -1 for it on close."""
        return _replace(
            self._template(proc, TcpEvent),
            time_ns=t,
            tid=thread[0],
            comm=thread[1],
            src_addr=src,
            src_port=sport,
            dst_addr=dst,
            dst_port=dport,
            ip_version=ip_version(src),
            type=kind,
            error=error,
            error_raw=kernel.ERRNO[error],
            fd=-1 if kind == "close" else fd,
            accept_fd=accept_fd if kind == "accept" else -1,
        )

    def dns(
        self,
        proc: Process | None,
        pod: Pod | None,
        t: int,
        thread: tuple[int, str],
        *,
        src: str,
        sport: int,
        dst: str,
        dport: int,
        dns_id: str,
        name: str,
        qtype: str,
        response: bool,
        outgoing: bool,
        rcode: str = "",
        addresses: list[str] | None = None,
        num_answers: int = 0,
        latency_ns: int = 0,
    ) -> DnsEvent:
        """One DNS packet. ``proc`` None means the socket enricher found no socket."""
        if proc is None:
            assert pod is not None
            template = self._anonymous(pod, DnsEvent)
            tid, comm = 0, ""
        else:
            template = self._template(proc, DnsEvent)
            tid, comm = thread
        pkt = "OUTGOING" if outgoing else "HOST"
        return _replace(
            template,
            time_ns=t,
            tid=tid,
            comm=comm,
            src_addr=src,
            src_port=sport,
            dst_addr=dst,
            dst_port=dport,
            ip_version=ip_version(src),
            nameserver=src if response else dst,
            dns_id=dns_id,
            qr="R" if response else "Q",
            qtype=qtype,
            qtype_raw=QTYPES[qtype],
            name=name,
            rcode=rcode if response else "",
            rcode_raw=RCODES[rcode] if response else 0,
            num_answers=num_answers if response else 0,
            addresses=list(addresses) if (response and addresses) else [],
            ra=response,
            pkt_type=pkt,
            pkt_type_raw=PKT_TYPES[pkt],
            latency_ns=latency_ns if (response and not outgoing and proc is not None) else 0,
        )

    def sni(
        self, proc: Process | None, pod: Pod | None, t: int, thread: tuple[int, str], name: str
    ) -> SniEvent:
        if proc is None:
            assert pod is not None
            return _replace(self._anonymous(pod, SniEvent), time_ns=t, name=name.rstrip("."))
        return _replace(
            self._template(proc, SniEvent),
            time_ns=t,
            tid=thread[0],
            comm=thread[1],
            name=name.rstrip("."),
        )

    def exec(
        self,
        proc: Process,
        t: int,
        args: list[str],
        *,
        upper_layer: bool = False,
        from_rootfs: bool = True,
        file_upper_layer: bool | None = None,
        tty: tuple[int, int, int] = (0, 0, 0),
        error: str = "",
    ) -> ExecEvent:
        """A successful exec reports the new program's comm (set on ``proc``)."""
        return _replace(
            self._template(proc, ExecEvent),
            time_ns=t,
            args=list(args),
            cmdline=" ".join(args),
            error=error,
            error_raw=kernel.ERRNO[error],
            upper_layer=upper_layer,
            fupper_layer=upper_layer if file_upper_layer is None else file_upper_layer,
            from_rootfs=from_rootfs,
            file_from_rootfs=from_rootfs,
            tty=tty[0],
            tty_major=tty[1],
            tty_minor=tty[2],
        )

    def seccomp(
        self, proc: Process, t: int, thread: tuple[int, str], syscall: str, code: str
    ) -> SeccompEvent:
        name, raw = kernel.syscall(syscall)
        return _replace(
            self._template(proc, SeccompEvent),
            time_ns=t,
            tid=thread[0],
            comm=thread[1],
            syscall=name,
            syscall_raw=raw,
            code=code,
            code_raw=SECCOMP_CODES[code],
        )

    def open(
        self,
        proc: Process,
        t: int,
        thread: tuple[int, str],
        fname: str,
        flags: tuple[str, ...] = ("O_RDONLY", "O_CLOEXEC"),
        fd: int = 3,
        error: str = "",
        mode: int = 0,
    ) -> OpenEvent:
        """``fd`` is 0 when the open failed, as IG prints it."""
        text, raw = kernel.open_flags(*flags)
        return _replace(
            self._template(proc, OpenEvent),
            time_ns=t,
            tid=thread[0],
            comm=thread[1],
            fname=fname,
            fd=0 if error else fd,
            error=error,
            error_raw=kernel.ERRNO[error],
            flags=text,
            flags_raw=raw,
            mode=kernel.file_mode(mode),
            mode_raw=mode,
        )

    def bind(
        self,
        proc: Process,
        t: int,
        addr: str,
        port: int,
        proto: str = "TCP",
        opts: tuple[str, ...] = ("REUSEADDRESS",),
        error: str = "",
    ) -> BindEvent:
        order = {
            "FREEBIND": 1,
            "TRANSPARENT": 2,
            "BIND_ADDRESS_NO_PORT": 4,
            "REUSEADDRESS": 8,
            "REUSEPORT": 16,
        }
        names = [n for n in order if n in opts]
        return _replace(
            self._template(proc, BindEvent),
            time_ns=t,
            addr=addr,
            port=port,
            proto=proto,
            ip_version=ip_version(addr),
            error=error,
            error_raw=kernel.ERRNO[error],
            opts="|".join(names),
            opts_raw=sum(order[n] for n in names),
        )

    def signal(self, proc: Process, t: int, tpid: int, sig: str, error: str = "") -> SignalEvent:
        raw = kernel.SIGNALS.get(sig, 0)
        return _replace(
            self._template(proc, SignalEvent),
            time_ns=t,
            tpid=tpid,
            sig=sig if sig in kernel.SIGNALS else f"signal#{raw}",
            sig_raw=raw,
            error=error,
            error_raw=kernel.ERRNO[error],
        )

    def capability(
        self,
        proc: Process,
        t: int,
        thread: tuple[int, str],
        cap: str,
        capable: bool,
        syscall: str,
        effective: tuple[str, ...],
        kstack: str = "",
        kstack_raw: int = 0,
    ) -> CapabilitiesEvent:
        eff_text, eff_raw = kernel.cap_set(effective)
        sys_name, sys_raw = kernel.syscall(syscall)
        return _replace(
            self._template(proc, CapabilitiesEvent),
            time_ns=t,
            tid=thread[0],
            comm=thread[1],
            cap="CAP_" + cap,
            cap_raw=kernel.CAP_NUMBER[cap],
            capable=capable,
            syscall=sys_name,
            syscall_raw=sys_raw,
            cap_effective=eff_text,
            cap_effective_raw=eff_raw,
            kstack=kstack,
            kstack_raw=kstack_raw,
        )

    def oomkill(
        self, victim: Process, trigger: Process, t: int, thread: tuple[int, str], pages: int
    ) -> OomkillEvent:
        """Context is the killed task's container; the process columns are the trigger's."""
        ctx = self.pod_context(victim.pod)
        return OomkillEvent(
            **ctx,
            time_ns=t,
            pid=trigger.pid,
            tid=thread[0],
            comm=thread[1],
            uid=trigger.uid,
            gid=trigger.gid,
            user=user_name(trigger.uid),
            group=group_name(trigger.gid),
            ppid=trigger.ppid,
            ptid=trigger.ppid,
            pcomm=trigger.pcomm,
            mntns_id=trigger.mntns,
            tpid=victim.pid,
            tcomm=victim.comm,
            tmntns_id=victim.mntns,
            pages=pages,
        )
