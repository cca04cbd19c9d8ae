"""Filtering before anything leaves the node: who (namespace/pod/...) and what (noise).

Decisions about *who* depend only on an event's Kubernetes identity, and a node runs a
few hundred containers, so the verdict is cached per identity: one dict lookup per event
in steady state. Noise rules look at one value each (a destination address, a query
name, a process name) and are cached per value the same way. Every drop is counted with
its reason, per gadget.
"""

from __future__ import annotations

import fnmatch
import operator
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from operator import call, not_
from typing import Any

import msgspec

from edgewatch.config import FiltersConfig, SelectorConfig
from edgewatch.decode.classify import layout_of_obj
from edgewatch.decode.generic import event_from_dict
from edgewatch.events.base import Event
from edgewatch.events.registry import BY_FAMILY, resolve
from edgewatch.net import classify as _classify_uncached
from edgewatch.pipeline.batch import EventBatch
from edgewatch.pipeline.stats import Stats
from edgewatch.sources.ig.selectors import Selectors

_GLOB_CHARS = re.compile(r"[*?\[]")
_CACHE_LIMIT = 100_000


_ADDRESS_CLASS: dict[str, str] = {}


def classify(addr: str) -> str:
    """net.classify behind a plain dict: one lookup per event on the hot path."""
    kind = _ADDRESS_CLASS.get(addr)
    if kind is None:
        if len(_ADDRESS_CLASS) > _CACHE_LIMIT:
            _ADDRESS_CLASS.clear()
        kind = _ADDRESS_CLASS[addr] = _classify_uncached(addr)
    return kind


def _is_glob(pattern: str) -> bool:
    return bool(_GLOB_CHARS.search(pattern))


@dataclass(frozen=True)
class Matcher:
    """Matches a string against glob patterns: exact names by set, the rest by one regex."""

    exact: frozenset[str]
    regex: re.Pattern[str] | None

    @classmethod
    def of(cls, patterns: Iterable[str]) -> Matcher | None:
        patterns = list(patterns)
        if not patterns:
            return None
        exact = frozenset(p for p in patterns if not _is_glob(p))
        globs = [p for p in patterns if _is_glob(p)]
        regex = re.compile("|".join(fnmatch.translate(g) for g in globs)) if globs else None
        return cls(exact, regex)

    def __call__(self, value: str) -> bool:
        if value in self.exact:
            return True
        return self.regex is not None and self.regex.match(value) is not None


@lru_cache(maxsize=4096)
def parse_labels(text: str) -> Mapping[str, str]:
    """IG prints pod labels as ``k1=v1,k2=v2`` (in Go map order)."""
    out: dict[str, str] = {}
    if not text:
        return out
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


Identity = tuple[type, str, str, str, str, str]
_IDENTITY = operator.attrgetter("__class__", "namespace", "pod", "container", "image", "pod_labels")
_UNSEEN = object()


class _IdentityRule:
    """include/exclude/host rules over (gadget, namespace, pod, container, image, labels)."""

    def __init__(self, cfg: FiltersConfig) -> None:
        inc, exc = cfg.include, cfg.exclude
        self.host_events = cfg.host_events
        self.inc_ns = Matcher.of(inc.namespaces)
        self.inc_pod = Matcher.of(inc.pods)
        self.inc_container = Matcher.of(inc.containers)
        self.inc_image = Matcher.of(inc.images)
        self.inc_labels = {k: Matcher.of([v]) for k, v in inc.labels.items()}
        self.inc_gadgets = frozenset(resolve(g).event for g in inc.gadgets)
        self.exc_ns = Matcher.of(exc.namespaces)
        self.exc_pod = Matcher.of(exc.pods)
        self.exc_container = Matcher.of(exc.containers)
        self.exc_image = Matcher.of(exc.images)
        self.exc_labels = {k: Matcher.of([v]) for k, v in exc.labels.items()}
        self.exc_gadgets = frozenset(resolve(g).event for g in exc.gadgets)

    def verdict(self, ident: Identity) -> str | None:
        """The drop reason for this identity, or None to keep."""
        etype, ns, pod, container, image, labels = ident
        if self.inc_gadgets and etype not in self.inc_gadgets:
            return "filter:gadget"
        if etype in self.exc_gadgets:
            return "filter:gadget"
        if not pod and not ns:
            # A process outside any pod has no Kubernetes identity to match: it is kept
            # or dropped by ``host_events`` alone.
            return None if self.host_events else "filter:host_event"
        if self.inc_ns is not None and not self.inc_ns(ns):
            return "filter:namespace"
        if self.inc_pod is not None and not self.inc_pod(pod):
            return "filter:pod"
        if self.inc_container is not None and not self.inc_container(container):
            return "filter:container"
        if self.inc_image is not None and not self.inc_image(image):
            return "filter:image"
        if self.inc_labels:
            parsed = parse_labels(labels)
            for key, m in self.inc_labels.items():
                value = parsed.get(key)
                if value is None or m is None or not m(value):
                    return "filter:label"
        if self.exc_ns is not None and self.exc_ns(ns):
            return "filter:namespace"
        if self.exc_pod is not None and self.exc_pod(pod):
            return "filter:pod"
        if self.exc_container is not None and self.exc_container(container):
            return "filter:container"
        if self.exc_image is not None and self.exc_image(image):
            return "filter:image"
        if self.exc_labels:
            parsed = parse_labels(labels)
            for key, m in self.exc_labels.items():
                value = parsed.get(key)
                if value is not None and m is not None and m(value):
                    return "filter:label"
        return None


#: Drop reasons as bit flags, so per-source verdicts combine in C (``operator.or_``).
#: When several apply, the lowest bit is the reason reported.
REASONS: tuple[str, ...] = (
    "filter:gadget",
    "filter:host_event",
    "filter:namespace",
    "filter:pod",
    "filter:container",
    "filter:image",
    "filter:label",
    "noise:process",
    "noise:loopback",
    "noise:cluster_local_dns",
    "noise:destination",
)
FLAG = {name: 1 << i for i, name in enumerate(REASONS)}


def reason_of(flags: int) -> str:
    return REASONS[(flags & -flags).bit_length() - 1]


#: Verdicts are cached per key; a pod relabelled to fall under another rule takes effect
#: when the caches are next cleared (at most this many seconds later).
IDENTITY_TTL = 30.0

_HOST_KEY = ""


class _TypeRule:
    """How to judge events of one type (an event class or a decoded view class).

    ``key`` reads, in one C call, exactly the values the verdict depends on for this
    type (container id, and per configured noise rule the process name, destination or
    DNS question); ``cache`` maps a key to its verdict. Reading a view's columns through
    their nested attribute paths skips the property layer.
    """

    __slots__ = ("cache", "columns", "family", "key")

    def __init__(self, family: str, columns: tuple[str, ...], paths: dict[str, str]) -> None:
        self.family = family
        self.columns = columns
        self.key = operator.attrgetter(*(paths.get(c, c) for c in columns))
        self.cache: dict[Any, int] = {}


class FilterStage:
    """Drops events by who produced them and by noise rules; counts every drop.

    Per event the stage does one C-level key read and one dictionary lookup: verdicts
    are computed once per distinct key (a container, a destination, a DNS question) and
    cached. The Kubernetes identity behind a container id is read from the IG JSON the
    first time that container is seen, so the decoder never has to produce it per event.
    """

    name = "filter"

    def __init__(self, cfg: FiltersConfig, stats: Stats) -> None:
        self.cfg = cfg
        self.stats = stats
        self._identity = _IdentityRule(cfg)
        self._identity_active = not (
            cfg.include.is_empty() and cfg.exclude.is_empty() and cfg.host_events
        )
        noise = cfg.noise
        self._processes = Matcher.of(noise.processes)
        self._loopback = noise.loopback
        self._cluster_local = noise.cluster_local_dns
        self._destinations = noise.destinations
        self._rules: dict[type, _TypeRule] = {}
        self._key_of: dict[type, Any] = {}
        self._get_of: dict[type, Any] = {}
        self._by_container: dict[tuple[type, str], int] = {}
        self._cleared = time.monotonic()

    # -- what is read -----------------------------------------------------------------

    def _columns_for(self, family: str) -> tuple[str, ...]:
        cols = ["container_id"]
        if self._processes is not None:
            cols.append("comm")
        if family == "tcp" and (self._loopback or self._destinations != "any"):
            cols.append("dst_addr")
        if family == "dns" and self._cluster_local:
            cols.append("name")
        if family == "dns" and self._loopback:
            cols.append("nameserver")
        return tuple(cols)

    @property
    def columns(self) -> frozenset[str]:
        """Columns the stage reads, so the decoder can skip the rest."""
        out: set[str] = set()
        for family in ("tcp", "dns", "other"):
            out.update(self._columns_for(family))
        return frozenset(out)

    @property
    def active(self) -> bool:
        return (
            self._identity_active
            or self._processes is not None
            or self._loopback
            or self._cluster_local
            or self._destinations != "any"
        )

    def _rule(self, t: type) -> _TypeRule:
        rule = self._rules.get(t)
        if rule is None:
            family: str = t.gadget_family  # type: ignore[attr-defined]
            paths = getattr(t, "ew_paths", {})
            rule = self._rules[t] = _TypeRule(family, self._columns_for(family), paths)
            self._key_of[t] = rule.key
            self._get_of[t] = rule.cache.get
        return rule

    # -- verdicts, computed once per key ------------------------------------------------

    def _verdict(self, rule: _TypeRule, ev: Event, raw: bytes, key: Any) -> int:
        values = dict(zip(rule.columns, key if len(rule.columns) > 1 else (key,), strict=True))
        flags = self._identity_flags(rule, ev, raw, values["container_id"])
        if self._processes is not None and self._processes(values["comm"]):
            flags |= FLAG["noise:process"]
        if "dst_addr" in values and rule.family == "tcp":
            flags |= self._dst_flags(values["dst_addr"])
        if rule.family == "dns":
            name = values.get("name", "")
            if self._cluster_local and (
                name.endswith(".cluster.local.") or name.endswith(".cluster.local")
            ):
                flags |= FLAG["noise:cluster_local_dns"]
            if self._loopback:
                server = values["nameserver"]
                if not server:
                    # IG < 0.41 does not name the resolver: it is the query's destination
                    # or the response's source. Per event, so not cacheable by this key.
                    obj = msgspec.json.decode(raw)
                    side = "dst" if obj.get("qr") == "Q" else "src"
                    server = str((obj.get(side) or {}).get("addr") or "")
                    if classify(server) == "loopback":
                        flags |= FLAG["noise:loopback"]
                    return flags
                if classify(server) == "loopback":
                    flags |= FLAG["noise:loopback"]
        rule.cache[key] = flags
        return flags

    def _identity_flags(self, rule: _TypeRule, ev: Event, raw: bytes, container_id: str) -> int:
        """Gadget, host and Kubernetes identity rules, cached per (type, container)."""
        cached = self._by_container.get((type(ev), container_id))
        if cached is not None:
            return cached
        spec = BY_FAMILY[rule.family]
        if not self._identity_active:
            flags = 0
        else:
            try:
                ident = (spec.event, ev.namespace, ev.pod, ev.container, ev.image, ev.pod_labels)
            except AttributeError:
                # A decoded view carries only the columns read on every event; the
                # identity is needed once per container, so read it from IG's JSON.
                obj = msgspec.json.decode(raw)
                full = event_from_dict(spec, layout_of_obj(spec, obj), obj)
                ident = (
                    spec.event,
                    full.namespace,
                    full.pod,
                    full.container,
                    full.image,
                    full.pod_labels,
                )
            verdict = self._identity.verdict(ident)
            flags = FLAG[verdict] if verdict else 0
        # An empty container id means IG found no container at all (a host process, or
        # enrichment failed): such events carry no Kubernetes context either, so "" is
        # as good a cache key as any id.
        self._by_container[(type(ev), container_id)] = flags
        return flags

    def _dst_flags(self, addr: str) -> int:
        kind = classify(addr)
        flags = 0
        if self._loopback and kind == "loopback":
            flags |= FLAG["noise:loopback"]
        if self._destinations != "any" and (self._destinations == "public") != (kind == "public"):
            flags |= FLAG["noise:destination"]
        return flags

    def _maybe_expire(self) -> None:
        now = time.monotonic()
        if now - self._cleared > IDENTITY_TTL:
            self._by_container.clear()
            for rule in self._rules.values():
                rule.cache.clear()
            self._cleared = now
            return
        if len(self._by_container) > _CACHE_LIMIT:
            self._by_container.clear()
        for rule in self._rules.values():
            if len(rule.cache) > _CACHE_LIMIT:
                rule.cache.clear()

    # -- the stage --------------------------------------------------------------------

    def _fill_misses(
        self,
        found: list[int | None],
        keys: list[Any],
        batch: EventBatch,
        rule_at: Callable[[int], _TypeRule],
    ) -> list[int]:
        """Compute the verdicts the caches did not have (first sight of a key)."""
        if None in found:
            for i, f in enumerate(found):
                if f is None:
                    rule = rule_at(i)
                    cached = rule.cache.get(keys[i])  # an earlier miss in this batch
                    found[i] = (
                        cached
                        if cached is not None
                        else self._verdict(rule, batch.events[i], batch.raws[i], keys[i])
                    )
        return found  # type: ignore[return-value]

    def process(self, batch: EventBatch) -> EventBatch:
        if not self.active or not batch.events:
            return batch
        self._maybe_expire()
        events, types = batch.events, batch.types
        distinct = set(types)
        if len(distinct) == 1:
            rule = self._rule(types[0])
            keys = list(map(rule.key, events))
            found = list(map(rule.cache.get, keys))
            flags = self._fill_misses(found, keys, batch, lambda i: rule)
        else:
            # Mixed gadgets: dispatch per event, still in C. Each event's type picks its
            # key reader and its verdict cache; only cache misses run Python.
            for t in distinct:
                self._rule(t)
            keys = list(map(call, map(self._key_of.__getitem__, types), events))
            found = list(map(call, map(self._get_of.__getitem__, types), keys))
            flags = self._fill_misses(found, keys, batch, lambda i: self._rules[types[i]])
        if not any(flags):
            return batch
        # one gadget's stream: count the flags alone, no (flag, type) tuples
        counted = (
            Counter(zip(flags, types, strict=True))
            if len(distinct) > 1
            else {(f, types[0]): n for f, n in Counter(flags).items()}
        )
        dropped: Counter[tuple[str, str]] = Counter()
        for (f, t), n in counted.items():
            if f:
                dropped[(reason_of(f), t.gadget_family)] += n
        with self.stats._lock:
            self.stats.dropped.update(dropped)
        return batch.keep_where(list(map(not_, flags)))

    def selectors(self, traces_host: bool) -> Selectors:
        """The exact part of the include/exclude rules, for IG's in-kernel filtering.

        ``traces_host`` says whether the IG source also traces host processes (``--host``).
        """
        if not self.cfg.pushdown:
            return Selectors()
        return pushdown_selectors(
            self.cfg.include, self.cfg.exclude, host_events=self.cfg.host_events and traces_host
        )


def pushdown_selectors(
    include: SelectorConfig, exclude: SelectorConfig, host_events: bool = True
) -> Selectors:
    """Only whole dimensions made of exact names can be pushed down safely.

    An include list with one glob in it cannot be expressed with IG's exact names, so
    that dimension stays with edgewatch alone. Excluding by exact name is always safe.
    Host processes have no namespace, so include rules are only pushed down when host
    events are not wanted (or not traced) anyway.
    """

    def exact(patterns: list[str]) -> tuple[str, ...]:
        if not patterns or any(_is_glob(p) for p in patterns):
            return ()
        return tuple(patterns)

    def exact_subset(patterns: list[str]) -> tuple[str, ...]:
        return tuple(p for p in patterns if not _is_glob(p))

    namespaces = exact(include.namespaces) if not host_events else ()
    return Selectors(
        namespaces=namespaces,
        exclude_namespaces=exact_subset(exclude.namespaces),
        pods=exact(include.pods) if not host_events else (),
        exclude_pods=exact_subset(exclude.pods),
        containers=exact(include.containers) if not host_events else (),
        exclude_containers=exact_subset(exclude.containers),
        labels=tuple((k, v) for k, v in include.labels.items() if not _is_glob(v))
        if not host_events
        else (),
    )
