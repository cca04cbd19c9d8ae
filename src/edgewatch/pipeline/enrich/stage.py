"""The enrichment stage: names for addresses, classes for addresses, owners for pods.

Per batch, in arrival order:

* DNS responses teach the :class:`DnsMap` (namespace, pod, address -> name);
* TCP events get ``dst_name`` from it, ``dst_class`` from the :class:`IpClassifier`, and
  ``dst_unresolved`` when the remote end is public and no DNS answer explains it
  (``accept`` is excluded: the peer chose us, no lookup was ever expected);
* a TCP ``connect`` is remembered per (namespace, pod, pid) so that the process's next
  TLS ClientHello (trace_sni) gets ``dst_addr`` and that address's ``dst_name``;
* events whose ``owner_kind`` IG left empty get the owner the pod name implies.

The work is arranged per batch and per gadget so that the per-event part is C-level
column reads (``attrgetter``) and dict lookups, plus one short Python loop that stores
the results.

Fields are written only on event objects. A pipeline whose sinks forward IG's own lines
decodes read-only views of just the columns its stages read; there the stage still
learns (DNS answers, connections) but has nowhere to write, and the aggregation stage
asks :meth:`EnrichStage.annotate` for the fields of each summary it makes instead: the
same answers, computed once per summary rather than once per event.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from itertools import compress, repeat
from operator import attrgetter, eq
from typing import Any

from edgewatch.events.base import Event
from edgewatch.events.dns import DnsEvent
from edgewatch.events.sni import SniEvent
from edgewatch.events.tcp import TcpEvent
from edgewatch.pipeline.batch import EventBatch
from edgewatch.pipeline.enrich.dnsmap import DnsMap
from edgewatch.pipeline.enrich.ipclass import IpClassifier
from edgewatch.pipeline.enrich.owner import owner_of
from edgewatch.pipeline.reduce_config import EnrichConfig
from edgewatch.pipeline.stats import Stats

_TCP_KEY = attrgetter("namespace", "pod", "dst_addr")
_TIME = attrgetter("time_ns")
_DST = attrgetter("dst_addr")
_TYPE = attrgetter("type")
_OWNER_KEY = attrgetter("owner_kind", "pod", "pod_labels", "node")
_QR = attrgetter("qr")
_PROC_KEY = attrgetter("namespace", "pod", "pid")
#: Connections remembered for SNI correlation (a ClientHello follows its connect closely).
MAX_CONNECTS = 16_384
_UNROUTABLE = frozenset({"", "loopback", "unspecified", "invalid"})
_ORDER = {"dns": 0, "tcp": 1, "sni": 2}


def _family_order(t: type) -> tuple[int, str]:
    family = getattr(t, "gadget_family", "")
    return _ORDER.get(family, 3), f"{family}:{t.__name__}"


#: families the stage reads even as views (it learns from them)
_ENRICHED = frozenset({"dns", "tcp", "sni"})


#: What the stage reads, so a view-decoding pipeline decodes it.
COLUMNS = frozenset(
    {
        "time_ns", "namespace", "pod", "pod_labels", "node", "owner_kind", "pid",
        "dst_addr", "type", "qr", "addresses", "name",
    }
)  # fmt: skip


class EnrichStage:
    name = "enrich"

    def __init__(
        self, cfg: EnrichConfig, stats: Stats | None = None, dns: DnsMap | None = None
    ) -> None:
        self.cfg = cfg
        self.stats = stats
        self.dns = dns or DnsMap(
            ttl_ns=int(cfg.dns_ttl.total_seconds() * 1e9), max_entries=cfg.dns_max_entries
        )
        self.ip = IpClassifier(cfg.cluster_cidrs)
        self._connects: OrderedDict[tuple[str, str, int], str] = OrderedDict()
        self._reported: dict[str, int] = {}

    @property
    def columns(self) -> frozenset[str] | None:
        return COLUMNS

    # -- the stage --------------------------------------------------------------------

    def process(self, batch: EventBatch) -> EventBatch:
        events = batch.events
        if not events:
            return batch
        types = batch.types
        if types.count(types[0]) == len(types):
            self._group(types[0], events)
        else:
            # per type, selected in C; DNS first (a response in this batch may explain a
            # connection in it), then TCP (a connect may explain a TLS hello), in that order
            # whatever order the set of types comes in
            for t in sorted(set(types), key=_family_order):
                if getattr(t, "gadget_family", "") in _ENRICHED or issubclass(t, Event):
                    self._group(t, list(compress(events, map(eq, types, repeat(t)))))
        self._report()
        return batch

    def _group(self, t: type, events: list[Any]) -> None:
        cfg = self.cfg
        family = getattr(t, "gadget_family", "")
        writable = issubclass(t, Event)
        if not writable and family not in _ENRICHED:
            return
        if cfg.owner and writable:
            self._owners(events)
        if family == "dns":
            if cfg.dns_names:
                self._learn(events)
        elif family == "tcp":
            if writable:
                self._tcp(events)
            else:
                self._remember_connects(events)
        elif family == "sni" and cfg.sni_connections and writable:
            self._sni(events)

    # -- parts ------------------------------------------------------------------------

    def _owners(self, events: list[Any]) -> None:
        keys = list(map(_OWNER_KEY, events))
        for ev, (kind, pod, labels, node) in zip(events, keys, strict=True):
            if not kind and pod:
                ev.owner_kind, ev.owner_name = owner_of(pod, labels, node)

    def _learn(self, events: list[DnsEvent]) -> None:
        learn = self.dns.learn
        for ev in compress(events, map(eq, map(_QR, events), repeat("R"))):
            addresses = ev.addresses
            if addresses:
                learn(ev.namespace, ev.pod, ev.name, addresses, ev.time_ns)

    def _remember_connects(self, events: list[Any]) -> None:
        """Views: only the connections SNI events will ask about, all in C."""
        connects = list(compress(events, map(eq, map(_TYPE, events), repeat("connect"))))
        if connects:
            self._connects.update(zip(map(_PROC_KEY, connects), map(_DST, connects), strict=True))
            while len(self._connects) > MAX_CONNECTS:
                self._connects.popitem(last=False)

    def _tcp(self, events: list[TcpEvent]) -> None:
        cfg = self.cfg
        dsts = list(map(_DST, events))
        classes = self.ip.classify_many(dsts)
        if cfg.dns_names:
            names = self.dns.names_for(list(map(_TCP_KEY, events)), list(map(_TIME, events)))
        else:
            names = [""] * len(events)
        types = list(map(_TYPE, events))
        connects = self._connects
        for ev, kind, name, typ in zip(events, classes, names, types, strict=True):
            if cfg.ip_class:
                ev.dst_class = kind
            if name:
                ev.dst_name = name
            elif cfg.dns_names and kind == "public" and typ != "accept":
                ev.dst_unresolved = True
            if typ == "connect" and kind not in _UNROUTABLE:
                key = (ev.namespace, ev.pod, ev.pid)
                connects[key] = ev.dst_addr
                connects.move_to_end(key)
        while len(connects) > MAX_CONNECTS:
            connects.popitem(last=False)

    def _sni(self, events: list[SniEvent]) -> None:
        get = self._connects.get
        name_for = self.dns.name_for
        for ev, key in zip(events, map(_PROC_KEY, events), strict=True):
            addr = get(key)
            if addr:
                ev.dst_addr = addr
                if self.cfg.dns_names:
                    ev.dst_name = name_for(key[0], key[1], addr, ev.time_ns)

    def adopt(self, old_stages: Sequence[Any]) -> None:
        """On a config reload, keep what was learnt: the DNS answers and recent connects
        (under this config's TTL and size limit), not an empty memory."""
        for old in old_stages:
            if isinstance(old, EnrichStage) and old is not self:
                dns = old.dns
                dns.ttl_ns, dns.max_entries = self.dns.ttl_ns, self.dns.max_entries
                self.dns = dns
                self._connects = old._connects
                self._reported = old._reported
                return

    def annotate(self, ev: Any) -> dict[str, Any]:
        """The fields this stage would have set on ``ev`` (a view), as of now."""
        cfg = self.cfg
        out: dict[str, Any] = {}
        family = ev.gadget_family
        if cfg.owner and not ev.owner_kind and ev.pod:
            kind, name = owner_of(ev.pod, ev.pod_labels, ev.node)
            if kind:
                out["owner_kind"], out["owner_name"] = kind, name
        if family == "tcp":
            kind = self.ip.classify(ev.dst_addr)
            if cfg.ip_class and kind:
                out["dst_class"] = kind
            name = (
                self.dns.name_for(ev.namespace, ev.pod, ev.dst_addr, ev.time_ns)
                if (cfg.dns_names)
                else ""
            )
            if name:
                out["dst_name"] = name
            elif cfg.dns_names and kind == "public" and ev.type != "accept":
                out["dst_unresolved"] = True
        elif family == "sni" and cfg.sni_connections:
            addr = self._connects.get((ev.namespace, ev.pod, ev.pid))
            if addr:
                out["dst_addr"] = addr
                if cfg.dns_names:
                    name = self.dns.name_for(ev.namespace, ev.pod, addr, ev.time_ns)
                    if name:
                        out["dst_name"] = name
        return out

    def _report(self) -> None:
        """The DNS map's counters into the pipeline's stage figures (deltas only)."""
        if self.stats is None:
            return
        s = self.dns.stats
        now = {
            "enrich:dns_learned": s.learned,
            "enrich:dns_evicted": s.evicted,
            "enrich:dns_expired": s.expired,
            "enrich:dns_hits": s.hits,
        }
        deltas = {k: v - self._reported.get(k, 0) for k, v in now.items()}
        if any(deltas.values()):
            with self.stats._lock:
                self.stats.stages.update(deltas)
            self._reported = now
