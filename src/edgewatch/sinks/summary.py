"""What the node saw, in a few tables: the demo's report and ``--summary`` output.

Keeps bounded tallies (a fixed number of keys per table) so it can sit on an agent for
days. Public destinations are named from the DNS answers the same pod received before,
which is the question the seed's hunting queries ask ("what is this pod talking to?").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from edgewatch.events import DnsEvent, ExecEvent, SeccompEvent, SniEvent, TcpEvent
from edgewatch.net import classify
from edgewatch.pipeline.batch import EventBatch

MAX_KEYS = 5000
SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "busybox"})
SUSPICIOUS_DIRS = ("/tmp/", "/dev/shm/", "/var/tmp/")


def _bump(counter: Counter, key: object, n: int = 1) -> None:  # type: ignore[type-arg]
    if key in counter or len(counter) < MAX_KEYS:
        counter[key] += n
    else:
        counter["(other)"] += n


@dataclass
class Destination:
    count: int = 0
    names: set[str] = field(default_factory=set)
    pods: set[str] = field(default_factory=set)
    ports: set[int] = field(default_factory=set)


class SummarySink:
    name = "summary"
    columns = None

    def __init__(self) -> None:
        self.by_gadget: Counter[str] = Counter()
        self.by_pod: Counter[tuple[str, str]] = Counter()
        self.dns_names: Counter[str] = Counter()
        self.dns_failures: Counter[str] = Counter()
        self.long_dns_labels: Counter[str] = Counter()
        self.sni: Counter[tuple[str, str]] = Counter()
        self.execs: Counter[tuple[str, str, str, str]] = Counter()
        self.suspicious_execs: Counter[tuple[str, str, str, str]] = Counter()
        self.seccomp: Counter[tuple[str, str, str]] = Counter()
        self.public: dict[str, Destination] = defaultdict(Destination)
        self.unexplained_public: Counter[tuple[str, str, int]] = Counter()
        # (namespace, pod) -> addr -> name, from DNS answers
        self._answers: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)

    def write(self, batch: EventBatch) -> int:
        for ev in batch.events:
            self.by_gadget[ev.gadget_family] += 1
            pod_key = (ev.namespace, ev.pod)
            _bump(self.by_pod, pod_key)
            if isinstance(ev, DnsEvent):
                self._dns(ev, pod_key)
            elif isinstance(ev, TcpEvent):
                self._tcp(ev, pod_key)
            elif isinstance(ev, SniEvent):
                _bump(self.sni, (ev.pod or "(host)", ev.name))
            elif isinstance(ev, ExecEvent):
                key = (ev.pod or "(host)", ev.pcomm, ev.comm, ev.cmdline[:120])
                _bump(self.execs, key)
                exe = ev.exepath or (ev.args[0] if ev.args else "")
                if (
                    ev.comm in SHELLS and ev.pcomm not in SHELLS | {"containerd-shim", "runc", ""}
                ) or exe.startswith(SUSPICIOUS_DIRS):
                    _bump(self.suspicious_execs, key)
            elif isinstance(ev, SeccompEvent):
                _bump(self.seccomp, (ev.pod or "(host)", ev.syscall, ev.code))
        return 0

    def _dns(self, ev: DnsEvent, pod_key: tuple[str, str]) -> None:
        if ev.qr != "R":
            labels = ev.name.rstrip(".").split(".")
            if labels and max(map(len, labels)) >= 40:
                # grouped by the domain they were sent to: a tunnel is many names, one domain
                _bump(self.long_dns_labels, ".".join(labels[-2:]))
            return
        _bump(self.dns_names, ev.name)
        if ev.rcode and ev.rcode != "Success":
            _bump(self.dns_failures, f"{ev.name} ({ev.rcode})")
        answers = self._answers[pod_key]
        if len(answers) < MAX_KEYS:
            for addr in ev.addresses:
                answers[addr] = ev.name.rstrip(".")

    def _tcp(self, ev: TcpEvent, pod_key: tuple[str, str]) -> None:
        if ev.type != "connect" or classify(ev.dst_addr) != "public":
            return
        if ev.dst_addr not in self.public and len(self.public) >= MAX_KEYS:
            return
        dest = self.public[ev.dst_addr]
        dest.count += 1
        dest.pods.add(f"{ev.namespace}/{ev.pod}" if ev.pod else "(host)")
        dest.ports.add(ev.dst_port)
        name = self._answers.get(pod_key, {}).get(ev.dst_addr)
        if name:
            dest.names.add(name)
        else:
            _bump(self.unexplained_public, (f"{ev.namespace}/{ev.pod}", ev.dst_addr, ev.dst_port))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
