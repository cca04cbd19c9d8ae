"""Opening a buffer directory after any kind of stop: clean, ``kill -9`` or power cut.

Recovery never raises for what it finds on disk. It reads record headers (each carries
its own CRC) to learn what every segment holds, and makes one repair: the end of the
last segment, the only place a crash can leave a half-written record, is cut back to
the last record whose header *and* body check out. That segment is the only one whose
bodies are verified here, which keeps opening a large buffer to one header read per
record; damage anywhere else is found by the reader, which skips and counts it when it
gets there.

Segments holding nothing after the ack cursor are deleted: their records were
delivered, so a cursor older than those deletions costs duplicates, never losses.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from edgewatch.buffer.cursor import Cursor
from edgewatch.buffer.record import decode_items
from edgewatch.buffer.segfile import SegmentFile
from edgewatch.buffer.segment import Mark, Segment, list_segments
from edgewatch.buffer.sync import fdatasync, fsync_dir

log = logging.getLogger("edgewatch.buffer.recovery")


@dataclass(slots=True)
class Recovered:
    segments: list[Segment]
    #: The last segment can take further appends.
    writable: bool
    next_seq: int
    next_event: int
    #: Where reading resumes in the first segment.
    start: int
    #: The reader counts losses after this point (see reader.collect).
    high: Mark
    torn_events: int = 0
    torn_batches: int = 0
    torn_bytes: int = 0
    #: Unreadable bytes dropped with the segments recovery deleted or cut short.
    corrupt_bytes: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Scan:
    #: Where losses are counted from: the last record seen, carried across segments.
    base: Mark
    end: int = 0
    last_seq: int = 0
    end_event: int | None = None
    valid_bytes: int = 0
    #: End of the last record at or before the cursor, and its mark.
    acked_end: int = 0
    acked_mark: Mark | None = None
    pending_events: int = 0
    pending_batches: int = 0
    pending_bytes: int = 0
    #: Damaged records after ``end`` (only when bodies are verified).
    torn_events: int = 0
    torn_batches: int = 0


def _scan(file: SegmentFile, size: int, acked: int, verify: bool, base: Mark) -> _Scan:
    """What one segment holds.

    Records lost to destroyed headers (a gap in sequence numbers) count as pending in the
    segment of the next intact record: that is where the reader finds and drops them.
    With ``verify``, a record whose body fails its CRC ends the valid part unless an
    intact record follows it (then it is the reader's to skip).
    """
    s = _Scan(base)
    held_events = held_batches = held_bytes = 0  # damaged, not yet known to be the tail
    pos = 0
    while pos < size:
        h = file.header(pos, size)
        if h is None or pos + h.size > size:
            if h is not None and h.seq > acked:  # cut short: a crash mid-append
                held_events += h.count
                held_batches += 1
            pos = file.resync(pos + 1, size)
            continue
        rec_end = pos + h.size
        base_seq, base_event = s.base
        if h.seq > base_seq:
            s.base = (h.seq, h.next_event)
        if h.seq <= acked:
            s.acked_end = rec_end
            s.acked_mark = (h.seq, h.next_event)
        elif h.seq > base_seq + 1:  # the same count the reader will make (see reader)
            held_batches += h.seq - base_seq - 1
            if base_event is not None and h.first_event > base_event:
                held_events += h.first_event - base_event
        if verify and decode_items(h, file.body(pos, h, size)) is None:
            if h.seq > acked:
                held_events += h.count
                held_batches += 1
                held_bytes += h.body_len
            pos = rec_end
            continue
        if h.seq > acked:
            s.pending_events += held_events + h.count
            s.pending_batches += held_batches + 1
            s.pending_bytes += held_bytes + h.body_len
        held_events = held_batches = held_bytes = 0
        s.end = rec_end
        s.last_seq = h.seq
        s.end_event = h.next_event
        s.valid_bytes += h.size
        pos = rec_end
    s.torn_events, s.torn_batches = held_events, held_batches
    return s


def recover(directory: Path, cursor: Cursor, *, durable: bool, segment_bytes: int) -> Recovered:
    files = list_segments(directory)
    if files and cursor.seq + 1 < files[0][0]:
        # Segments after the cursor were delivered and deleted before it was saved: the
        # first record on disk is the baseline, and its event total is not known yet.
        high: Mark = (files[0][0] - 1, None)
    else:
        high = (cursor.seq, cursor.event)
    max_seq, max_event = cursor.seq, cursor.event
    out = Recovered([], False, 0, 0, 0, high)
    base = high
    changed = False
    for index, (first_seq, path) in enumerate(files):
        last = index == len(files) - 1
        size = path.stat().st_size
        with SegmentFile(path) as file:
            s = _scan(file, size, cursor.seq, last, base)
        base = s.base
        if s.end_event is not None:
            max_seq = max(max_seq, s.last_seq)
            max_event = max(max_event, s.end_event)
        if s.acked_mark is not None and s.acked_mark[0] > out.high[0]:
            out.high = s.acked_mark
        if last and s.end < size:
            out.torn_events += s.torn_events
            out.torn_batches += s.torn_batches
            out.torn_bytes += size - s.end
            out.notes.append(f"{path.name}: cut back from {size} to {s.end} bytes")
            _truncate(path, s.end, durable)
            size = s.end
            changed = True
        elif s.end < size:
            out.corrupt_bytes += size - s.end
            out.notes.append(f"{path.name}: {size - s.end} unreadable bytes at the end")
        if s.pending_batches == 0:
            out.corrupt_bytes += s.end - s.valid_bytes  # unreadable stretches between records
            path.unlink()
            changed = True
            continue
        if not out.segments:
            out.start = s.acked_end
        out.segments.append(
            Segment(
                first_seq=first_seq,
                path=path,
                size=size,
                end=s.end,
                last_seq=s.last_seq,
                end_event=s.end_event,
                pending_events=s.pending_events,
                pending_batches=s.pending_batches,
                pending_bytes=s.pending_bytes,
            )
        )
        out.writable = last and size < segment_bytes
    if changed and durable:
        fsync_dir(directory)
    out.next_seq = max_seq + 1
    out.next_event = max_event
    for note in out.notes:
        log.warning("buffer %s: %s", directory, note)
    return out


def _truncate(path: Path, length: int, durable: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.ftruncate(fd, length)
        if durable:
            fdatasync(fd)
    finally:
        os.close(fd)
