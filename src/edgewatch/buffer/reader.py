"""Taking the next records out of a segment: intact ones handed out, damaged ones skipped.

This is the part of reading that needs no lock: it works on a private file handle and a
snapshot of the reader's position, and returns what it found for the buffer to apply
under its lock. Damage is skipped at the granularity the format allows: a record whose
body fails its CRC is skipped alone (its header still frames it), a stretch whose header
is destroyed up to the next header that checks out.

Losses are counted against ``high``, the furthest record ever seen: a gap in sequence
numbers past it is records lost to damage, and the gap in running event totals says how
many events they held. Comparing with the furthest point rather than the previous record
means a stretch read twice (after ``nack``) is never counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgewatch.buffer.record import Header, decode_items
from edgewatch.buffer.segfile import SegmentFile
from edgewatch.buffer.segment import Mark


@dataclass(slots=True)
class Collected:
    items: list[bytes] = field(default_factory=list)
    #: (header, offset) of each record handed out, in order.
    taken: list[tuple[Header, int]] = field(default_factory=list)
    nbytes: int = 0
    #: Where the next read starts.
    pos: int = 0
    high: Mark = (0, None)
    #: Damage found by this read: offset -> offset after it.
    new_holes: dict[int, int] = field(default_factory=dict)
    #: Bytes of stretches without an intact header.
    garbage_bytes: int = 0
    #: Records whose body failed its CRC.
    bad: list[Header] = field(default_factory=list)
    lost_batches: int = 0
    lost_events: int = 0


def collect(
    file: SegmentFile,
    holes: dict[int, int],
    pos: int,
    end: int,
    high: Mark,
    max_items: int,
    max_bytes: int,
) -> Collected:
    """Whole records from ``pos`` up to ``end``, at least one if any is intact, then as
    many as fit ``max_items`` and ``max_bytes`` (of bodies)."""
    out = Collected()
    items, taken, new_holes = out.items, out.taken, out.new_holes
    high_seq, high_event = high
    nbytes = 0
    while pos < end:
        skip = holes.get(pos)
        if skip is not None:
            pos = skip
            continue
        h = file.header(pos, end)
        if h is None or pos + h.size > end:
            nxt = file.resync(pos + 1, end)
            new_holes[pos] = nxt
            out.garbage_bytes += nxt - pos
            pos = nxt
            continue
        if taken and (len(items) + h.count > max_items or nbytes + h.body_len > max_bytes):
            break
        if h.seq > high_seq:
            if h.seq > high_seq + 1:
                out.lost_batches += h.seq - high_seq - 1
                if high_event is not None and h.first_event > high_event:
                    out.lost_events += h.first_event - high_event
            high_seq, high_event = h.seq, h.next_event
        decoded = decode_items(h, file.body(pos, h, end))
        if decoded is None:
            out.bad.append(h)
            new_holes[pos] = pos + h.size
        else:
            items += decoded
            taken.append((h, pos))
            nbytes += h.body_len
        pos += h.size
    out.nbytes = nbytes
    out.pos = pos
    out.high = (high_seq, high_event)
    return out
