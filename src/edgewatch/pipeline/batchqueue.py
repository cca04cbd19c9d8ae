"""The queue between sources and the pipeline, bounded by batches *and* bytes.

A count bound alone does not bound memory: a batch of 1024 exec events with long
command lines weighs ten times a batch of DNS queries. The byte bound is what keeps the
agent's footprint flat whatever the input; the count bound keeps latency low.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class QueueFullError(Exception):
    pass


class QueueEmptyError(Exception):
    pass


class BatchQueue(Generic[T]):
    def __init__(self, max_items: int, max_bytes: int) -> None:
        if max_items < 1 or max_bytes < 1:
            raise ValueError("queue bounds must be positive")
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._not_empty = threading.Condition(self._lock)
        self.peak_items = 0
        self.peak_bytes = 0

    def put(self, item: T, size: int = 0, timeout: float | None = None) -> None:
        """Block while full. One item larger than ``max_bytes`` still fits into an
        empty queue, so a huge batch slows things down but never deadlocks them."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._not_full:
            while self._items and (
                len(self._items) >= self.max_items or self._bytes + size > self.max_bytes
            ):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise QueueFullError
                self._not_full.wait(remaining)
            self._items.append((item, size))
            self._bytes += size
            self.peak_items = max(self.peak_items, len(self._items))
            self.peak_bytes = max(self.peak_bytes, self._bytes)
            self._not_empty.notify()

    def put_nowait_unbounded(self, item: T) -> None:
        """For end-of-stream markers: they must get through even into a full queue."""
        with self._lock:
            self._items.append((item, 0))
            self._not_empty.notify()

    def get(self, timeout: float | None = None) -> T:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._not_empty:
            while not self._items:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise QueueEmptyError
                self._not_empty.wait(remaining)
            item, size = self._items.popleft()
            self._bytes -= size
            self._not_full.notify_all()
            return item

    def get_nowait(self) -> T:
        return self.get(timeout=0)

    def qsize(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def bytes(self) -> int:
        with self._lock:
            return self._bytes
