"""Stateful checks: what one event cannot tell, but the stream around it can.

A rule names a detector (``detector: unexplained_public_ip``); the engine calls the
detector's ``check`` only for events that already passed the rule's condition, so the
per-event cost of the stateless prefilter is all most events ever pay. A detector
returns None (nothing to report) or one sentence saying what it saw.

Shared knowledge lives in :class:`Context`: the DNS answers seen on the node (which
addresses a lookup explained, and by which name), the time the engine started (rules
that learn a baseline stay quiet while learning), the egress policies and the threat
intelligence. Every structure is bounded (``state.BoundedMap``).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import operator
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress, islice
from typing import Any

from edgewatch.detect.model import parse_duration
from edgewatch.detect.state import EVICTIONS, BoundedMap

#: Kubernetes' ``kubernetes.default`` service address in common distributions (kubeadm,
#: AKS, k3s) and the API server ports; more can be configured.
DEFAULT_APISERVER_ADDRS: tuple[str, ...] = ("10.96.0.1", "10.0.0.1", "10.43.0.1")
DEFAULT_APISERVER_PORTS: tuple[int, ...] = (443, 6443)
APISERVER_NAMES: tuple[str, ...] = (
    "kubernetes.default.svc.cluster.local.",
    "kubernetes.default.svc.",
)

#: Kubernetes' "safe" alphabet for generated name parts: no vowels, no 0/1/3.
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
_REPLICASET = re.compile(rf"^(.+)-{_SAFE}{{6,10}}-{_SAFE}{{5}}$")
_JOB = re.compile(rf"^(.+)-\d{{6,}}-{_SAFE}{{5}}$")
_DAEMONSET = re.compile(rf"^(.+)-{_SAFE}{{5}}$")
_ORDINAL = re.compile(r"^(.+)-\d+$")


@lru_cache(maxsize=16384)
def workload_of(namespace: str, pod: str) -> str:
    """The workload of a pod, from its generated name: ``shop/web-64x…-6dn7h`` -> ``shop/web``.

    Kubernetes names Deployment pods ``<name>-<rs hash>-<5>``, Job pods
    ``<cronjob>-<time>-<5>``, DaemonSet pods ``<name>-<5>`` and StatefulSet pods
    ``<name>-<ordinal>``; all replicas of a workload share a baseline.
    """
    for rx in (_REPLICASET, _JOB, _DAEMONSET, _ORDINAL):
        m = rx.match(pod)
        if m:
            return f"{namespace}/{m.group(1)}"
    return f"{namespace}/{pod}"


class DnsMemory:
    """Which addresses DNS answers on this node handed out, and for which names.

    Fed with every DNS event before rules run (most are not responses; those cost one
    C-level read each). An address maps to (name, time of the last answer); it is
    forgotten ``ttl`` after that (long: applications such as the JVM cache answers far
    beyond their DNS TTL), or when ``max_addresses`` newer ones push it out (counted).
    A repeated answer refreshes the entry at most once a minute, so busy names cost a
    dict lookup, not a re-insert.
    """

    columns = frozenset({"qr", "name", "addresses", "time_ns"})
    REFRESH_NS = 60 * 10**9
    #: a name answered again within this long is not read again (busy names)
    SKIP_NS = 5 * 10**9

    def __init__(self, max_addresses: int = 200_000, ttl_ns: int = 24 * 3600 * 10**9) -> None:
        self.max_addresses = max_addresses
        self.ttl_ns = ttl_ns
        self._names: dict[str, tuple[str, int]] = {}
        self.evicted: Counter[str] = Counter()
        self._qr: dict[type, Callable[[Any], Any]] = {}
        self._recent: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._names)

    def observe(self, events: list[Any]) -> None:
        if not events:
            return
        t = type(events[0])
        get_qr = self._qr.get(t)
        if get_qr is None:
            get_qr = self._qr[t] = operator.attrgetter(getattr(t, "ew_paths", {}).get("qr", "qr"))
        try:
            qrs = list(map(get_qr, events))
        except AttributeError:  # mixed layouts in one batch
            qrs = [e.qr for e in events]
        names = self._names
        refresh = self.REFRESH_NS
        recent = self._recent
        for i in compress(range(len(events)), map("R".__eq__, qrs)):
            e = events[i]
            name = e.name
            now = e.time_ns
            last = recent.get(name)
            if last is not None and 0 <= now - last < self.SKIP_NS:
                continue  # answered moments ago: its addresses are already known
            recent[name] = now
            addrs = e.addresses
            if not addrs:
                continue
            for a in addrs:
                prev = names.get(a)
                if prev is None or prev[0] != name or now - prev[1] > refresh:
                    if prev is not None:
                        del names[a]
                    names[a] = (name, now)
        if len(recent) > 10_000:
            recent.clear()
        over = len(names) - self.max_addresses
        if over > 0:
            for a in list(islice(names, over)):
                del names[a]
            self.evicted["full"] += over
            EVICTIONS[("dns_answers", "full")] += over

    def name_of(self, addr: str, now_ns: int) -> str | None:
        got = self._names.get(addr)
        if got is None:
            return None
        if now_ns - got[1] > self.ttl_ns:
            del self._names[addr]
            self.evicted["expired"] += 1
            EVICTIONS[("dns_answers", "expired")] += 1
            return None
        return got[0]


@dataclass
class EgressPolicy:
    """Where one namespace may connect on the internet: CIDRs and domain globs."""

    cidrs: tuple[Any, ...] = ()
    domains: tuple[str, ...] = ()

    def allows(self, addr: str, name: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        if any(ip.version == n.version and ip in n for n in self.cidrs):
            return True
        if name:
            host = name.rstrip(".").lower()
            return any(fnmatch.fnmatchcase(host, d) for d in self.domains)
        return False


@dataclass
class Context:
    """What detectors share: DNS knowledge, start time, policies, intelligence."""

    dns: DnsMemory = field(default_factory=DnsMemory)
    egress: Mapping[str, EgressPolicy] = field(default_factory=dict)
    intel: Any = None  # detect.intel.IntelStore, when configured
    apiserver_addrs: frozenset[str] = frozenset(DEFAULT_APISERVER_ADDRS)
    apiserver_ports: frozenset[int] = frozenset(DEFAULT_APISERVER_PORTS)
    #: event time of the first event the engine saw (0 until then)
    started_ns: int = 0
    needs_dns: bool = False


Check = Callable[[Any], str | None]


class Detector(ABC):
    """Base: ``columns`` the check reads, ``families`` it applies to, ``check`` itself."""

    columns: frozenset[str] = frozenset()
    uses_dns = False

    def __init__(self, params: Mapping[str, Any], ctx: Context) -> None:
        self.params = dict(params)
        self.ctx = ctx

    def active(self) -> bool:
        """False when the check could never fire (nothing configured): the rule is skipped."""
        return True

    @abstractmethod
    def check(self, e: Any) -> str | None:
        """Why ``e`` is a hit (the alert's detail), or None."""


def _dst_name(e: Any, ctx: Context) -> str | None:
    """The name the destination was resolved from: enrichment's field, else DNS memory."""
    name = getattr(e, "dst_name", "") or None
    if name is None:
        name = ctx.dns.name_of(e.dst_addr, e.time_ns)
    return name


class UnexplainedPublicIp(Detector):
    """A connect to a public address no DNS answer on the node handed out (hard-coded C2).

    Quiet for ``warmup`` after the engine starts: answers resolved before the agent ran
    are not in its memory yet.
    """

    columns = frozenset({"dst_addr", "dst_port", "time_ns"})
    uses_dns = True

    def __init__(self, params: Mapping[str, Any], ctx: Context) -> None:
        super().__init__(params, ctx)
        self.warmup_ns = parse_duration(params.get("warmup", "10m"))
        self.ignore = frozenset(params.get("ignore", ()))

    def check(self, e: Any) -> str | None:
        if e.time_ns - self.ctx.started_ns < self.warmup_ns:
            return None
        addr = e.dst_addr
        if addr in self.ignore or _dst_name(e, self.ctx) is not None:
            return None
        return f"connect to {addr}:{e.dst_port}, an address no DNS answer on this node explains"


class EgressNotAllowed(Detector):
    """A connect to the internet from a namespace whose egress policy does not allow it."""

    columns = frozenset({"namespace", "dst_addr", "dst_port", "time_ns"})
    uses_dns = True

    def active(self) -> bool:
        return bool(self.ctx.egress)

    def check(self, e: Any) -> str | None:
        policy = self.ctx.egress.get(e.namespace)
        if policy is None:
            return None
        name = _dst_name(e, self.ctx)
        if policy.allows(e.dst_addr, name):
            return None
        shown = f" ({name.rstrip('.')})" if name else ""
        return (
            f"namespace {e.namespace} may not reach {e.dst_addr}:{e.dst_port}{shown}: "
            "not in its egress allow-list"
        )


class FirstSeen(Detector):
    """Base for "a workload did X for the first time" after a learning period."""

    what = ""

    def __init__(self, params: Mapping[str, Any], ctx: Context) -> None:
        super().__init__(params, ctx)
        self.learn_ns = parse_duration(params.get("learn", "1h"))
        self.seen: BoundedMap[tuple[str, str], bool] = BoundedMap(
            f"first_seen_{self.what}", int(params.get("max_items", 50_000))
        )

    def first(self, e: Any, key: tuple[str, str]) -> bool:
        if self.seen.get(key) is not None:
            return False
        self.seen.put(key, True)
        return e.time_ns - self.ctx.started_ns >= self.learn_ns


class NewSyscall(FirstSeen):
    """A syscall the workload's seccomp audit never reported during learning, or since."""

    what = "syscall"
    columns = frozenset({"namespace", "pod", "syscall", "time_ns"})

    def check(self, e: Any) -> str | None:
        workload = workload_of(e.namespace, e.pod)
        if self.first(e, (workload, e.syscall)):
            return f"{e.syscall} is new for workload {workload}"
        return None


class ApiServerFirstContact(FirstSeen):
    """A pod of a workload that never talked to the Kubernetes API server now does."""

    what = "apiserver"
    columns = frozenset({"namespace", "pod", "dst_addr", "dst_port", "time_ns"})
    uses_dns = True

    def __init__(self, params: Mapping[str, Any], ctx: Context) -> None:
        super().__init__(params, ctx)
        extra = params.get("addresses", ())
        self.addrs = frozenset(ctx.apiserver_addrs) | frozenset(extra)

    def check(self, e: Any) -> str | None:
        addr = e.dst_addr
        if e.dst_port not in self.ctx.apiserver_ports:
            return None
        if addr not in self.addrs:
            name = _dst_name(e, self.ctx)
            if name not in APISERVER_NAMES:
                return None
        workload = workload_of(e.namespace, e.pod)
        if self.first(e, (workload, "")):
            return (
                f"workload {workload} contacts the API server ({addr}:{e.dst_port}) "
                "for the first time"
            )
        return None


class _Intel(Detector):
    def active(self) -> bool:
        return self.ctx.intel is not None


class IntelConnect(_Intel):
    """A connection to an address on a threat-intelligence list."""

    columns = frozenset({"dst_addr", "dst_port"})

    def check(self, e: Any) -> str | None:
        intel = self.ctx.intel
        if intel is None:
            return None
        hit = intel.match_ip(e.dst_addr)
        return None if hit is None else f"connect to {e.dst_addr}:{e.dst_port}: {hit}"


class IntelDns(_Intel):
    """A DNS question or answer naming an indicator (domain, or an answered address)."""

    columns = frozenset({"name", "addresses", "qr"})

    def check(self, e: Any) -> str | None:
        intel = self.ctx.intel
        if intel is None:
            return None
        hit = intel.match_domain(e.name)
        if hit is not None:
            return f"DNS {'answer' if e.qr == 'R' else 'query'} for {e.name.rstrip('.')}: {hit}"
        if e.qr == "R":
            for a in e.addresses:
                hit = intel.match_ip(a)
                if hit is not None:
                    return f"DNS answer for {e.name.rstrip('.')} includes {a}: {hit}"
        return None


class IntelSni(_Intel):
    """A TLS ClientHello naming an indicator's host."""

    columns = frozenset({"name"})

    def check(self, e: Any) -> str | None:
        intel = self.ctx.intel
        if intel is None:
            return None
        hit = intel.match_domain(e.name)
        return None if hit is None else f"TLS server name {e.name}: {hit}"


DETECTORS: Mapping[str, type[Detector]] = {
    "unexplained_public_ip": UnexplainedPublicIp,
    "egress_not_allowed": EgressNotAllowed,
    "new_syscall": NewSyscall,
    "apiserver_first_contact": ApiServerFirstContact,
    "intel_connect": IntelConnect,
    "intel_dns": IntelDns,
    "intel_sni": IntelSni,
}
