"""Which destinations (tenants) an event goes to: ordered rules, the first match decides.

Rules match on namespace, pod, pod label and gadget, with globs. Every event of one
pod and gadget gets the same answer, so answers are cached per (gadget, namespace,
pod, labels): the per-event cost is a tuple and a dict lookup.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from edgewatch.config import RouteConfig
from edgewatch.events.base import Event
from edgewatch.events.registry import resolve

#: The reason an event that no route takes is counted under.
NO_ROUTE = "no_route"


@dataclass(frozen=True)
class _Rule:
    namespaces: tuple[str, ...]
    pods: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]
    families: frozenset[str]
    to: tuple[str, ...]

    def matches(self, family: str, namespace: str, pod: str, labels: str) -> bool:
        if self.families and family not in self.families:
            return False
        if self.namespaces and not any(fnmatchcase(namespace, g) for g in self.namespaces):
            return False
        if self.pods and not any(fnmatchcase(pod, g) for g in self.pods):
            return False
        if self.labels:
            pairs = [kv.split("=", 1) for kv in labels.split(",") if kv]
            for key_glob, value_glob in self.labels:
                if not any(
                    fnmatchcase(k, key_glob) and fnmatchcase(v, value_glob)
                    for k, v in (p if len(p) == 2 else (p[0], "") for p in pairs)
                ):
                    return False
        return True


class Router:
    def __init__(self, routes: Sequence[RouteConfig], destinations: Sequence[str]) -> None:
        self.destinations = tuple(destinations)
        self._rules = [
            _Rule(
                tuple(r.match.namespace),
                tuple(r.match.pod),
                tuple(_label(g) for g in r.match.label),
                frozenset(resolve(g).family for g in r.match.gadget),
                tuple(r.to),
            )
            for r in routes
        ]
        self._cache: dict[tuple[str, str, str, str], tuple[str, ...]] = {}

    def targets(self, event: Event) -> tuple[str, ...]:
        key = (event.gadget_family, event.namespace, event.pod, event.pod_labels)
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) > 65536:
                self._cache.clear()
            hit = self._cache[key] = self._decide(*key)
        return hit

    def _decide(self, family: str, namespace: str, pod: str, labels: str) -> tuple[str, ...]:
        if not self._rules:
            return self.destinations
        for rule in self._rules:
            if rule.matches(family, namespace, pod, labels):
                return rule.to
        return ()

    def split(self, events: Sequence[Event]) -> tuple[dict[str, list[Event]], Counter[str]]:
        """Events per destination, and per gadget how many no route took."""
        out: dict[str, list[Event]] = defaultdict(list)
        unrouted: Counter[str] = Counter()
        targets = self.targets
        for event in events:
            names = targets(event)
            if not names:
                unrouted[event.gadget_family] += 1
            for name in names:
                out[name].append(event)
        return out, unrouted


def _label(glob: str) -> tuple[str, str]:
    key, _, value = glob.partition("=")
    return key, value or "*"
