"""Which name did this pod resolve to this address? A bounded, expiring answer map.

A connection to ``52.84.1.7`` means little; "``api.example.com``, which the pod looked up
a second earlier" means a lot, and a public address that *no* DNS answer explains is one
of the better signs of a hard-coded C2 server. The map remembers, per pod, the names its
DNS responses mapped to each address.

Keys are ``(namespace, pod, address)``: two pods that resolve the same name to different
addresses (CDNs, round-robin) each keep their own answer, and a pod's lookups never
explain another pod's connections. Time is *event* time (IG's ``timestamp_raw``), so the
map behaves the same on live input and on a replayed capture. IG's trace_dns does not
print the answers' TTLs, so every answer lives ``ttl_ns`` (configurable); a later answer
for the same address replaces the earlier one and restarts its life.

Memory is bounded by ``max_entries``: the least recently answered entry is evicted first,
and evictions are counted (``evicted``), as are lookups that found only an expired answer
(``expired``). Both are cheap O(1) operations on an ``OrderedDict``.

Used by the enrichment stage and usable by anything else that has the same question
(detections): ``learn`` from DNS responses, ``name_for``/``names_for`` to ask.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: (namespace, pod): the Kubernetes identity DNS answers belong to ("" "" = the host)
PodKey = tuple[str, str]


@dataclass
class DnsMapStats:
    learned: int = 0
    evicted: int = 0
    expired: int = 0
    hits: int = 0
    misses: int = 0


class DnsMap:
    """(namespace, pod, address) -> (name, expiry in event-time ns), bounded and expiring."""

    def __init__(self, ttl_ns: int = 600 * 10**9, max_entries: int = 200_000) -> None:
        if ttl_ns <= 0 or max_entries <= 0:
            raise ValueError("ttl_ns and max_entries must be positive")
        self.ttl_ns = ttl_ns
        self.max_entries = max_entries
        self.stats = DnsMapStats()
        self._entries: OrderedDict[tuple[str, str, str], tuple[str, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    # -- learning ---------------------------------------------------------------------

    def learn(
        self,
        namespace: str,
        pod: str,
        name: str,
        addresses: Iterable[str],
        at_ns: int,
        ttl_ns: int | None = None,
    ) -> None:
        """Record that ``name`` resolved to ``addresses`` for this pod at ``at_ns``."""
        if not name:
            return
        if name.endswith("."):
            name = name[:-1]  # trace_dns keeps the root dot; TLS server names never have it
        expires = at_ns + (self.ttl_ns if ttl_ns is None else ttl_ns)
        entries = self._entries
        for addr in addresses:
            if not addr:
                continue
            key = (namespace, pod, addr)
            if key in entries:
                entries.move_to_end(key)
            entries[key] = (name, expires)
            self.stats.learned += 1
        while len(entries) > self.max_entries:
            entries.popitem(last=False)
            self.stats.evicted += 1

    # -- asking -----------------------------------------------------------------------

    def name_for(self, namespace: str, pod: str, addr: str, at_ns: int) -> str:
        """The name this pod's DNS answers gave ``addr``, valid at ``at_ns``; else ""."""
        found = self._entries.get((namespace, pod, addr))
        if found is None:
            self.stats.misses += 1
            return ""
        name, expires = found
        if at_ns > expires:
            self.stats.expired += 1
            return ""
        self.stats.hits += 1
        return name

    def names_for(self, keys: Sequence[tuple[str, str, str]], times: Sequence[int]) -> list[str]:
        """``name_for`` over a batch: the dictionary lookups run in C, one pass in Python."""
        found = list(map(self._entries.get, keys))
        out: list[str] = []
        append = out.append
        hits = expired = 0
        for entry, t in zip(found, times, strict=True):
            if entry is None:
                append("")
            elif t > entry[1]:
                expired += 1
                append("")
            else:
                hits += 1
                append(entry[0])
        self.stats.hits += hits
        self.stats.expired += expired
        self.stats.misses += len(out) - hits - expired
        return out

    def clear(self) -> None:
        self._entries.clear()
