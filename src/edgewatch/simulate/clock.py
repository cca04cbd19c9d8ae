"""The simulated clock: one time-ordered stream out of many overlapping activities.

A request's accept, a DNS response and a close happen at different moments, and
other pods act in between. Activities therefore schedule their events (and their own
next wake-up) at absolute times on one heap, and the stream pops the earliest entry.
Memory stays bounded because activities only schedule a short horizon ahead: the heap
holds what is "in flight", never the whole run.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from itertools import count

from edgewatch.events import Event

#: An activity woken at a time; it may schedule events and further wake-ups.
Task = Callable[[int], None]

_EVENT = 0
_TASK = 1


class Scheduler:
    """A min-heap of pending events and tasks, keyed by (time, insertion order)."""

    def __init__(self, start_ns: int) -> None:
        self.now = start_ns
        self._heap: list[tuple[int, int, int, str, object]] = []
        self._seq = count()

    def emit(self, t: int, label: str, event: Event) -> None:
        """Schedule an event at ``t`` (activities only schedule at or after ``now``)."""
        heapq.heappush(self._heap, (t, next(self._seq), _EVENT, label, event))

    def call(self, t: int, task: Task) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), _TASK, "", task))

    def __len__(self) -> int:
        return len(self._heap)

    def run(self) -> Iterator[tuple[int, str, Event]]:
        """Yield ``(time_ns, label, event)`` in time order until nothing is scheduled."""
        heap = self._heap
        pop = heapq.heappop
        while heap:
            t, _, kind, label, payload = pop(heap)
            self.now = t
            if kind == _TASK:
                payload(t)  # type: ignore[operator]
            else:
                yield t, label, payload  # type: ignore[misc]
