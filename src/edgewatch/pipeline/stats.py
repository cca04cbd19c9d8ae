"""Counters for everything that enters: delivered, dropped (with a reason) or rejected.

"Nothing lost silently" is checked against these numbers: every line a source hands over
ends up in exactly one of events_in (then out or dropped), rejected or skipped.
Updated per batch, never per event, so counting costs nothing measurable.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def count_by_gadget(types: list[type]) -> Counter[str]:
    """Events per gadget family, from the events' types (see EventBatch.types)."""
    if types and types.count(types[0]) == len(types):  # one gadget's stream: no hashing
        return Counter({types[0].gadget_family: len(types)})  # type: ignore[attr-defined]
    out: Counter[str] = Counter()
    for t, n in Counter(types).items():
        out[t.gadget_family] += n  # type: ignore[attr-defined]
    return out


@dataclass
class Stats:
    lines_in: int = 0
    events_in: Counter[str] = field(default_factory=Counter)
    #: (sink name, gadget) -> events written
    events_out: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: (reason, gadget) -> events dropped by a stage
    dropped: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: reason -> input lines that could not be decoded (sent to the dead-letter file)
    rejected: Counter[str] = field(default_factory=Counter)
    #: kind -> input lines that were deliberately not events (blank, ig stderr, ...)
    skipped: Counter[str] = field(default_factory=Counter)
    bytes_in: int = 0
    #: sink name -> bytes written
    bytes_out: Counter[str] = field(default_factory=Counter)
    #: "<stage>:<figure>" -> what stages report beyond drops (aggregate:events_in/tcp,
    #: enrich:dns_evicted …), updated per batch by the stage itself
    stages: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_dropped(self, reason: str, counts: Counter[str]) -> None:
        with self._lock:
            for gadget, n in counts.items():
                self.dropped[(reason, gadget)] += n

    def snapshot(self) -> dict[str, Any]:
        """A consistent, JSON-friendly copy."""
        with self._lock:
            return {
                "lines_in": self.lines_in,
                "bytes_in": self.bytes_in,
                "events_in": dict(self.events_in),
                "events_out": {f"{s}/{g}": n for (s, g), n in self.events_out.items()},
                "dropped": {f"{r}/{g}": n for (r, g), n in self.dropped.items()},
                "rejected": dict(self.rejected),
                "skipped": dict(self.skipped),
                "bytes_out": dict(self.bytes_out),
                "stages": dict(self.stages),
            }

    @property
    def total_in(self) -> int:
        return sum(self.events_in.values())

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def total_rejected(self) -> int:
        return sum(self.rejected.values())
