"""Health figures of one buffer, and the drop counters behind "nothing lost silently".

Every event appended is, at any moment, queued (on disk, maybe in flight), acked, or
counted in ``dropped_events`` under a reason:

- ``overflow``: deleted unsent to keep the size cap (``overflow="drop_oldest"``);
- ``corrupt``: unreadable on disk (bit rot, or a power cut with a lax fsync policy);
- ``torn_tail``: the end of the log cut short by a crash or power cut and truncated;
- ``missing``: a segment file that disappeared from under the buffer.

Events inside a stretch whose header is destroyed are counted from the running totals
of its intact neighbours; a stretch with no intact record after it can only be counted
in ``dropped_bytes``. Counters cover the life of one open buffer, like any metric.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

OVERFLOW = "overflow"
CORRUPT = "corrupt"
TORN_TAIL = "torn_tail"
MISSING = "missing"


class Drops:
    """Events, batches and bytes dropped, by reason. Guarded by the owner's lock."""

    __slots__ = ("batches", "bytes", "events")

    def __init__(self) -> None:
        self.events: Counter[str] = Counter()
        self.batches: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()

    def add(self, reason: str, events: int = 0, batches: int = 0, nbytes: int = 0) -> None:
        if events:
            self.events[reason] += events
        if batches:
            self.batches[reason] += batches
        if nbytes:
            self.bytes[reason] += nbytes


@dataclass(frozen=True, slots=True)
class BufferStats:
    """A consistent snapshot of one destination's buffer."""

    name: str
    #: Appended and not yet acked, including what the reader holds in flight.
    queued_events: int
    queued_batches: int
    in_flight_events: int
    in_flight_batches: int
    #: Every file in the buffer's directory (segments and cursor), by file size.
    bytes_on_disk: int
    max_bytes: int
    segments: int
    #: Append time of the oldest record not yet acked (ns since the epoch), None if none.
    oldest_unsent_ns: int | None
    #: Seconds since then; 0.0 when nothing is waiting.
    oldest_unsent_age: float
    appended_events: int
    acked_events: int
    dropped_events: dict[str, int]
    dropped_batches: dict[str, int]
    dropped_bytes: dict[str, int]
    #: ``overflow="block"``: appends that had to wait for room, and those that gave up.
    blocked_appends: int
    full_errors: int
    last_append_ns: int | None
    last_ack_ns: int | None
    #: The buffer's own last problem (a disk error, damage found on disk), if any.
    last_error: str | None
    last_error_ns: int | None

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped_events.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly copy, for the health endpoint."""
        return asdict(self)
