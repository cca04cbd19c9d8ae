"""What kind of address is this: cluster, private, public, loopback, link-local, multicast.

``cluster`` is any address inside the configured pod and service CIDRs, checked before the
general classes (pod CIDRs are usually private ranges, but "another pod" is what a hunter
wants to know). The rest follows :func:`edgewatch.net.classify`: RFC 1918, CGNAT and
unique-local IPv6 are ``private``; IPv4-mapped IPv6 addresses are judged as IPv4.

A node talks to a few thousand addresses all day, so results are kept in a plain dict
(one C lookup per event); the dict is cleared when it reaches ``cache_size`` so that a
scan of the whole internet cannot grow it without bound.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from edgewatch.net import classify as _classify

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class IpClassifier:
    def __init__(self, cluster_cidrs: Iterable[str] = (), cache_size: int = 65_536) -> None:
        self.cluster: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(c, strict=False) for c in cluster_cidrs
        )
        self.cache_size = cache_size
        self._cache: dict[str, str] = {"": ""}

    def _uncached(self, addr: str) -> str:
        kind = _classify(addr)
        if self.cluster and kind not in ("invalid", "loopback", "unspecified"):
            ip = ipaddress.ip_address(addr)
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            if any(ip.version == n.version and ip in n for n in self.cluster):
                return "cluster"
        return kind

    def classify(self, addr: str) -> str:
        kind = self._cache.get(addr)
        if kind is None:
            if len(self._cache) >= self.cache_size:
                self._cache.clear()
                self._cache[""] = ""
            kind = self._cache[addr] = self._uncached(addr)
        return kind

    def classify_many(self, addrs: Sequence[str]) -> list[str]:
        """One class per address; cache hits cost one C-level lookup each."""
        out = list(map(self._cache.get, addrs))
        if None in out:
            for i, kind in enumerate(out):
                if kind is None:
                    out[i] = self.classify(addrs[i])
        return out  # type: ignore[return-value]
