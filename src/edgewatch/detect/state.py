"""Bounded memory for the rules that need some: every structure has a cap and counts evictions.

A detection engine on an edge node sees an unbounded number of pods, names and addresses
over its lifetime; nothing it remembers may grow with that. :class:`BoundedMap` is an
insertion-ordered dict with a size cap and an optional age limit (in event time, which is
what windows are measured in). What falls out is counted per reason, so an operator can
tell "the rule forgot" from "the rule never saw".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

#: One counter for the whole engine: (structure name, reason) -> evictions.
EVICTIONS: Counter[tuple[str, str]] = Counter()


class BoundedMap(Generic[K, V]):
    """An LRU-ish map: ``get`` refreshes, ``put`` evicts the oldest entry past ``max_items``.

    ``ttl_ns`` (event time) drops entries last touched longer ago than that; expiry is
    lazy (on ``get``) plus a sweep of the oldest entries on every ``put``, so the cost per
    operation stays constant. Evictions are counted in ``self.evicted`` and in the
    engine-wide :data:`EVICTIONS`.
    """

    __slots__ = ("_data", "_seen", "evicted", "max_items", "name", "ttl_ns")

    def __init__(self, name: str, max_items: int, ttl_ns: int | None = None) -> None:
        if max_items < 1:
            raise ValueError(f"{name}: max_items must be at least 1")
        self.name = name
        self.max_items = max_items
        self.ttl_ns = ttl_ns
        self._data: dict[K, V] = {}
        self._seen: dict[K, int] = {}
        self.evicted: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def _evict(self, key: K, reason: str) -> None:
        del self._data[key]
        del self._seen[key]
        self.evicted[reason] += 1
        EVICTIONS[(self.name, reason)] += 1

    def get(self, key: K, now_ns: int = 0) -> V | None:
        value = self._data.get(key)
        if value is None:
            return None
        if self.ttl_ns is not None and now_ns - self._seen[key] > self.ttl_ns:
            self._evict(key, "expired")
            return None
        # move to the young end
        del self._data[key]
        self._data[key] = value
        self._seen.pop(key)
        self._seen[key] = now_ns
        return value

    def peek(self, key: K) -> V | None:
        """The value without refreshing it or checking its age."""
        return self._data.get(key)

    def put(self, key: K, value: V, now_ns: int = 0) -> None:
        data = self._data
        if key in data:
            del data[key]
            del self._seen[key]
        data[key] = value
        self._seen[key] = now_ns
        if self.ttl_ns is not None:
            # sweep a few of the oldest entries: amortized O(1), never a full scan
            for _ in range(2):
                oldest = next(iter(self._seen))
                if now_ns - self._seen[oldest] > self.ttl_ns and oldest != key:
                    self._evict(oldest, "expired")
                else:
                    break
        while len(data) > self.max_items:
            self._evict(next(iter(data)), "full")

    def setdefault(self, key: K, factory: Callable[[], V], now_ns: int = 0) -> V:
        value = self.get(key, now_ns)
        if value is None:
            value = factory()
            self.put(key, value, now_ns)
        return value

    def clear(self) -> None:
        self._data.clear()
        self._seen.clear()


class WindowCounter:
    """Counts (or counts distinct values of) hits per key within a sliding window of event time.

    Each key keeps at most ``max_values`` timestamps (or distinct values), so a key that
    fires constantly costs a fixed amount of memory; at most ``max_keys`` keys are kept
    (the oldest go first, counted in :data:`EVICTIONS`). ``hit`` returns True once the
    count in the window reaches ``threshold``, then starts over for that key (the next
    alert needs a fresh window full).
    """

    def __init__(self, name: str, threshold: int, window_ns: int, max_keys: int = 10_000) -> None:
        self.name = name
        self.threshold = threshold
        self.window_ns = window_ns
        self.max_keys = max_keys
        self.keys: dict[object, dict[object, int]] = {}
        self.max_values = max(threshold * 2, 16)

    def seen_recently(self, key: object, value: object, now_ns: int) -> bool:
        """True if ``value`` was counted for ``key`` less than half a window ago.

        A repeat changes nothing worth the work (the distinct count stays), which makes
        a name looked up over and over cost one dict probe.
        """
        seen = self.keys.get(key)
        if seen is None:
            return False
        t = seen.get(value)
        return t is not None and now_ns - t < self.window_ns // 2

    def hit(self, key: object, now_ns: int, value: object = None) -> bool:
        """Record one hit (``value``: what to count distinctly; None counts every hit)."""
        keys = self.keys
        seen = keys.get(key)
        if seen is None:
            if len(keys) >= self.max_keys:
                del keys[next(iter(keys))]
                EVICTIONS[(self.name, "full")] += 1
            seen = keys[key] = {}
        marker = value if value is not None else now_ns
        seen.pop(marker, None)
        seen[marker] = now_ns
        horizon = now_ns - self.window_ns
        while seen:
            first = next(iter(seen))
            if seen[first] >= horizon and len(seen) <= self.max_values:
                break
            del seen[first]
        if len(seen) >= self.threshold:
            del keys[key]
            return True
        return False
