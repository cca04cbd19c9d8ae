"""DiskBuffer: the durable, bounded, at-least-once queue in front of one remote destination.

An edge uplink drops for minutes or days; events must wait somewhere that survives the
agent being killed and the node losing power, without growing without bound. Each
destination gets a directory holding an append-only log cut into segment files (see
``record`` for the framing) and an ack cursor. ``append`` writes a batch with one
positional write and returns its sequence number: from then on the batch is the
buffer's responsibility and the caller may acknowledge its own input. A delivery
thread ``read``s batches in order, sends them, and ``ack``s; segments whose records are
all acked are deleted. After a restart everything after the saved ack cursor is handed
out again, so delivery is at-least-once and in order: after a crash a destination may
receive a batch twice, never miss one.

fsync policy (``fsync=``) -- what survives what:

- ``kill -9``, OOM kill, a crash of the interpreter: everything ``append`` returned for,
  under every policy. The write has reached the kernel's page cache when ``append``
  returns, and the kernel writes it back whether or not the process lives.
- power cut or kernel panic:

  ``batch`` (default): everything ``append`` returned for. Each append is followed by
  ``fdatasync`` before it returns (and a new segment file by an fsync of the directory),
  so the caller is only told "kept" once the device has it. Costs one device flush per
  batch, about 1-5 ms on SSDs and more on SD cards, so batches should be large.

  ``interval``: appends up to the last background sync, taken every ``fsync_interval``
  seconds when there is something to sync; at most about ``fsync_interval`` seconds of
  appends are lost. A segment is synced before the next one is started.

  ``never``: whatever the kernel had written back (Linux does so within about 30 s,
  ``vm.dirty_expire_centisecs``).

  A caller that acknowledges its own input only now and then (a checkpoint saved every
  second) gets the ``batch`` guarantee for one flush per checkpoint: use ``interval`` or
  ``never`` and call ``sync()`` before acknowledging.

Whatever a power cut leaves -- a record cut short, zeroed or garbled pages -- is found
by CRC when the buffer is opened or read, cut off (at the tail) or skipped (elsewhere),
and counted (see ``stats``); opening never fails because of the contents of the files.
Under ``interval`` and ``never`` a power cut can also remove whole records from the end
without leaving a trace; those cannot be counted.
The ack cursor is saved every ``fsync_interval`` seconds and on ``close`` (atomically,
and fsynced unless ``never``): a crash redelivers at most the batches acked since the
last save, and never loses one, because segments are deleted only once acked.

Size cap: ``max_bytes`` bounds every file in the directory. When an append does not fit,
``overflow="drop_oldest"`` deletes the oldest segments (their unsent events are counted
as dropped, reason ``overflow``), and ``overflow="block"`` makes ``append`` wait until
acks free room, raising ``BufferFullError`` after its timeout so that the caller can
stop reading its input. Memory does not grow with the backlog: a few integers per
segment, the batches in flight, and one read-ahead window.

Threads: one appending thread and one delivery thread (``read``, ``ack``, ``nack``) may
work at the same time; ``stats`` may be called from anywhere. Appends and reads share
one lock for bookkeeping; no record is written, read or synced under it (only the
creation and deletion of segment files, once per segment). Each buffer has its own
locks, files and sync thread, so one destination that is slow, down or on a slow disk
never holds up another.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from edgewatch.buffer.cursor import (
    CURSOR_NAME,
    CURSOR_RESERVE,
    Cursor,
    load_cursor,
    remove_stale_temporary,
    save_cursor,
)
from edgewatch.buffer.errors import (
    BufferClosedError,
    BufferFullError,
    BufferLockedError,
    RecordTooLargeError,
)
from edgewatch.buffer.reader import Collected, collect
from edgewatch.buffer.record import (
    HEADER_SIZE,
    MAX_BODY,
    encode_body,
    pack_header,
    parse_header,
)
from edgewatch.buffer.recovery import recover
from edgewatch.buffer.segfile import SegmentFile
from edgewatch.buffer.segment import Mark, Segment, segment_path
from edgewatch.buffer.stats import CORRUPT, MISSING, OVERFLOW, TORN_TAIL, BufferStats, Drops
from edgewatch.buffer.sync import FSYNC_POLICIES, FsyncPolicy, Ticker, fdatasync, fsync_dir

log = logging.getLogger("edgewatch.buffer")

Overflow = Literal["drop_oldest", "block"]
OVERFLOW_POLICIES: tuple[str, ...] = ("drop_oldest", "block")
LOCK_NAME = "lock"
#: Default segment size: a sixteenth of the cap (so an overflow drop loses a small part
#: of the backlog at a time) within these bounds.
MIN_SEGMENT = 64 * 1024
MAX_SEGMENT = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Batch:
    """Consecutive records handed out by ``read``; ``ack(batch.seq)`` confirms them all."""

    items: list[bytes]
    #: Sequence number of the last record in the batch.
    seq: int
    first_seq: int
    records: int
    #: Append time of the first record (ns since the epoch).
    time_ns: int
    #: Bytes of the records' bodies: the items plus 4 bytes of length each.
    nbytes: int

    def __len__(self) -> int:
        return len(self.items)


@dataclass(slots=True)
class _InFlight:
    """A record handed out and not yet acked: what ack, nack and the cursor need."""

    seq: int
    count: int
    nbytes: int
    time_ns: int
    next_event: int
    seg: Segment
    off: int
    end: int


class DiskBuffer:
    """A durable queue of batches of opaque items for one destination; see the module."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_bytes: int,
        *,
        segment_bytes: int | None = None,
        overflow: Overflow = "drop_oldest",
        fsync: FsyncPolicy = "batch",
        fsync_interval: float = 1.0,
        name: str | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"overflow must be one of {OVERFLOW_POLICIES}, not {overflow!r}")
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {FSYNC_POLICIES}, not {fsync!r}")
        if not fsync_interval > 0:
            raise ValueError("fsync_interval must be positive")
        room = max_bytes - CURSOR_RESERVE
        if segment_bytes is None:
            segment_bytes = min(max(MIN_SEGMENT, min(MAX_SEGMENT, room // 16)), room // 2)
        if segment_bytes < HEADER_SIZE + 8 or 2 * segment_bytes > room:
            raise ValueError(
                f"max_bytes ({max_bytes}) must hold two segments ({segment_bytes} bytes each)"
                f" and {CURSOR_RESERVE} bytes for the ack cursor"
            )
        self.path = Path(path)
        self.name = name or self.path.name
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.overflow: Overflow = overflow
        self.fsync: FsyncPolicy = fsync
        self.fsync_interval = fsync_interval
        self._clock = clock
        self._durable = fsync != "never"

        # Lock order: _append_lock, then _read_lock, then _lock.
        self._lock = threading.Lock()
        self._data = threading.Condition(self._lock)  # new records to read, or closed
        self._space = threading.Condition(self._lock)  # room freed, or closed
        self._append_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._cursor_lock = threading.Lock()

        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock_directory(self.path)
        try:
            self._open()
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._ticker = Ticker(fsync_interval, self._tick, f"edgewatch-buffer-{self.name}")
        self._ticker.start()

    def _open(self) -> None:
        remove_stale_temporary(self.path)
        cursor = load_cursor(self.path)
        rec = recover(self.path, cursor, durable=self._durable, segment_bytes=self.segment_bytes)
        self._segments: deque[Segment] = deque(rec.segments)
        self._active: Segment | None = None
        self._fd: int | None = None
        if rec.writable:
            self._active = rec.segments[-1]
            self._fd = os.open(self._active.path, os.O_WRONLY | os.O_CLOEXEC)
        self._next_seq = rec.next_seq
        self._next_event = rec.next_event
        self._bytes = CURSOR_RESERVE + sum(s.size for s in rec.segments)
        self._cursor = cursor
        self._cursor_dirty = False
        self._closed = False
        self._unsynced = False

        self._rseg: Segment | None = rec.segments[0] if rec.segments else None
        self._rpos = rec.start
        self._rfile: SegmentFile | None = None
        self._high: Mark = rec.high
        self._handed_seq = cursor.seq
        self._inflight: deque[_InFlight] = deque()
        self._inflight_events = 0

        self._queued_events = sum(s.pending_events for s in rec.segments)
        self._queued_batches = sum(s.pending_batches for s in rec.segments)
        self._drops = Drops()
        self._drops.add(TORN_TAIL, rec.torn_events, rec.torn_batches, rec.torn_bytes)
        self._drops.add(CORRUPT, nbytes=rec.corrupt_bytes)
        self._appended_events = 0
        self._acked_events = 0
        self._blocked_appends = 0
        self._full_errors = 0
        self._last_append_ns: int | None = None
        self._last_ack_ns: int | None = None
        self._last_error: str | None = None
        self._last_error_ns: int | None = None
        if rec.notes:
            self._note_error("; ".join(rec.notes))

    # -- writing ----------------------------------------------------------------------

    def append(self, items: Sequence[bytes], timeout: float | None = None) -> int:
        """Keep ``items`` as one record; return its sequence number once it is written.

        Under ``overflow="block"``, wait for room at most ``timeout`` seconds (None:
        as long as it takes), then raise ``BufferFullError``. Raises ``OSError`` if
        the disk refuses the write; nothing of the batch is kept then.
        """
        count = len(items)
        if not count:
            raise ValueError("an empty batch has nothing to keep")
        body = encode_body(items)
        size = HEADER_SIZE + len(body)
        if len(body) > MAX_BODY or size > self.max_bytes - CURSOR_RESERVE:
            raise RecordTooLargeError(
                f"a batch of {size} bytes does not fit in a buffer of {self.max_bytes}"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        now = self._clock()
        with self._append_lock:
            with self._lock:
                seg = self._place(size, deadline)
                fd = self._fd
                assert fd is not None
                seq, first_event, off = self._next_seq, self._next_event, seg.size
                self._next_seq, self._next_event = seq + 1, first_event + count
                seg.size += size  # room taken now, so the cap holds while writing
                self._bytes += size
            try:
                _write_at(fd, pack_header(count, seq, first_event, now, body), body, off)
            except OSError as exc:
                with self._lock:
                    seg.size -= size
                    if not seg.deleted:
                        self._bytes -= size
                    self._next_seq, self._next_event = seq, first_event
                    self._note_error(f"write to {seg.path.name} failed: {exc}")
                raise
            with self._lock:
                if seg.deleted:  # its file was removed from under us (see _lost_segment)
                    self._drops.add(MISSING, count, 1, len(body))
                    self._appended_events += count
                    return seq
                seg.end = off + size
                seg.last_seq = seq
                seg.end_event = first_event + count
                seg.add_pending(count, 1, len(body))
                self._queued_events += count
                self._queued_batches += 1
                self._appended_events += count
                self._last_append_ns = now
                self._unsynced = True
                self._data.notify()
            if self.fsync == "batch":
                try:
                    fdatasync(fd)
                except OSError as exc:
                    with self._lock:
                        self._note_error(f"fsync of {seg.path.name} failed: {exc}")
                    raise
        return seq

    def _place(self, size: int, deadline: float | None) -> Segment:
        """The segment the next record goes to, with room for it under the cap.

        Runs under ``_lock`` on the appending thread, which alone creates segments.
        """
        waited = False
        while True:
            if self._closed:
                raise BufferClosedError(f"buffer {self.name} is closed")
            active = self._active
            if active is None or (active.size and active.size + size > self.segment_bytes):
                active = self._roll()
            self._delete_acked()
            if self._bytes + size <= self.max_bytes:
                return active
            if self.overflow == "drop_oldest":
                head = self._segments[0]
                if head is active:
                    if not active.size:  # room was lost to files that could not be deleted
                        raise BufferFullError(f"buffer {self.name} cannot free room")
                    self._roll()  # only the active segment is left: start anew so it can go
                else:
                    self._drop(head)
                continue
            if active.size and active.last_seq <= self._cursor.seq:
                self._roll()  # all of it delivered: a new segment lets it be deleted
                continue
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                self._full_errors += 1
                raise BufferFullError(
                    f"buffer {self.name} is full ({self._bytes} of {self.max_bytes} bytes)"
                    " and nothing was acked in time"
                )
            if not waited:
                self._blocked_appends += 1
                waited = True
            self._space.wait(remaining)

    def _roll(self) -> Segment:
        """Start a new segment (under ``_lock``, appending thread only)."""
        old = self._fd
        self._fd = None
        self._active = None
        if old is not None:
            try:
                if self.fsync == "interval" and self._unsynced:
                    fdatasync(old)
                    self._unsynced = False
            finally:
                os.close(old)
        seq = self._next_seq
        seg = Segment(seq, segment_path(self.path, seq), last_seq=seq - 1)
        seg.end_event = self._next_event
        fd = os.open(seg.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        if self._durable:
            fsync_dir(self.path)
        self._fd = fd
        self._active = seg
        self._segments.append(seg)
        return seg

    def _drop(self, seg: Segment) -> None:
        """Delete the oldest segment to make room; count what it held unsent."""
        self._drops.add(OVERFLOW, seg.pending_events, seg.pending_batches, seg.pending_bytes)
        self._queued_events -= seg.pending_events
        self._queued_batches -= seg.pending_batches
        # Its records are accounted for: the reader must not count them as lost, and
        # there is nothing in it left to deliver after a restart.
        if seg.end_event is not None and seg.last_seq > self._high[0]:
            self._high = (seg.last_seq, seg.end_event)
        if seg.last_seq > self._cursor.seq and seg.end_event is not None:
            self._cursor = Cursor(seg.last_seq, seg.end_event, seg.first_seq, seg.end)
            self._cursor_dirty = True
        log.warning(
            "buffer %s over its cap: dropped %d unsent events (%s)",
            self.name,
            seg.pending_events,
            seg.path.name,
        )
        seg.dropped_as = OVERFLOW
        self._remove(seg)

    def _delete_acked(self) -> None:
        segs = self._segments
        while segs and segs[0] is not self._active and segs[0].last_seq <= self._cursor.seq:
            self._remove(segs[0])

    def _remove(self, seg: Segment) -> None:
        """Forget the head segment and delete its file (under ``_lock``)."""
        self._segments.popleft()
        seg.deleted = True
        seg.pending_events = seg.pending_batches = seg.pending_bytes = 0
        try:
            os.unlink(seg.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._note_error(f"cannot delete {seg.path.name}: {exc}")
            return  # still on disk, so still counted against the cap
        self._bytes -= seg.size
        self._space.notify_all()

    # -- reading ----------------------------------------------------------------------

    def read(
        self,
        max_items: int = 10_000,
        max_bytes: int = 4 * 1024 * 1024,
        timeout: float | None = None,
    ) -> Batch | None:
        """The oldest records not yet handed out, as one batch; None after ``timeout``
        seconds without any (None: wait as long as it takes) or once closed.

        Records are never split: a batch holds at least one whole record, then as many
        more as fit ``max_items`` items and ``max_bytes`` bytes. Batches handed out stay
        in flight until acked; several may be in flight at once.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._read_lock:
            while True:
                with self._lock:
                    while True:
                        if self._closed:
                            return None
                        seg, pos = self._reader_position()
                        if seg is not None and pos < seg.end:
                            break
                        remaining = None if deadline is None else deadline - time.monotonic()
                        if remaining is not None and remaining <= 0:
                            return None
                        self._data.wait(remaining)
                    end, high = seg.end, self._high
                try:
                    file = self._file_for(seg)
                    got = collect(file, seg.holes, pos, end, high, max_items, max_bytes)
                except FileNotFoundError:
                    with self._lock:
                        if not seg.deleted:
                            self._lost_segment(seg)
                    continue
                with self._lock:
                    if seg.deleted:
                        continue  # dropped meanwhile; its unsent records are counted
                    batch = self._apply(seg, got)
                if batch is not None:
                    return batch

    def _reader_position(self) -> tuple[Segment | None, int]:
        """Where the next record to hand out is (under ``_lock``, reading thread): moves
        the reader past finished and deleted segments."""
        seg, pos = self._rseg, self._rpos
        segs = self._segments
        if seg is None or seg.deleted:
            if not segs:
                return None, 0
            seg, pos = segs[0], 0
        while pos >= seg.end and seg is not segs[-1]:
            if seg.pending_batches:
                self._lose_rest(seg)
            seg, pos = segs[segs.index(seg) + 1], 0
        self._rseg, self._rpos = seg, pos
        return seg, pos

    def _peek_position(self) -> tuple[Segment | None, int]:
        """Like ``_reader_position`` but changing nothing, for ``stats``."""
        seg, pos = self._rseg, self._rpos
        segs = self._segments
        if seg is None or seg.deleted:
            if not segs:
                return None, 0
            seg, pos = segs[0], 0
        while pos >= seg.end and seg is not segs[-1]:
            seg, pos = segs[segs.index(seg) + 1], 0
        return seg, pos

    def _lose_rest(self, seg: Segment) -> None:
        """The reader left ``seg`` with records of it never found: its end is damaged."""
        self._drops.add(CORRUPT, seg.pending_events, seg.pending_batches, seg.pending_bytes)
        self._queued_events -= seg.pending_events
        self._queued_batches -= seg.pending_batches
        self._note_error(f"{seg.path.name}: {seg.pending_events} events unreadable at the end")
        log.warning("buffer %s: %s", self.name, self._last_error)
        seg.add_pending(-seg.pending_events, -seg.pending_batches, -seg.pending_bytes)
        if seg.end_event is not None and seg.last_seq > self._high[0]:
            self._high = (seg.last_seq, seg.end_event)

    def _file_for(self, seg: Segment) -> SegmentFile:
        """The reader's own handle on ``seg`` (reading thread only)."""
        if self._rfile is not None and self._rfile.path != seg.path:
            self._rfile.close()
            self._rfile = None
        if self._rfile is None:
            self._rfile = SegmentFile(seg.path)
        return self._rfile

    def _apply(self, seg: Segment, got: Collected) -> Batch | None:
        """Book what ``collect`` found (under ``_lock``); the batch to hand out, if any."""
        if got.new_holes or got.lost_batches:
            # Records lost to a destroyed header were counted as pending where the reader
            # finds the gap (see recovery); those with a bad body by their own header.
            seg.holes.update(got.new_holes)
            events = got.lost_events + sum(h.count for h in got.bad)
            batches = got.lost_batches + len(got.bad)
            seg.add_pending(-events, -batches, -sum(h.body_len for h in got.bad))
            self._queued_events -= events
            self._queued_batches -= batches
            self._drops.add(
                CORRUPT, events, batches, sum(h.size for h in got.bad) + got.garbage_bytes
            )
            self._note_error(f"{seg.path.name}: skipped damaged records, {events} events")
            log.warning("buffer %s: %s", self.name, self._last_error)
        if got.high[0] >= self._high[0]:
            self._high = got.high
        self._rseg, self._rpos = seg, got.pos
        if not got.taken:
            return None
        inflight = self._inflight
        events = 0
        for h, off in got.taken:
            inflight.append(
                _InFlight(
                    h.seq, h.count, h.body_len, h.time_ns, h.next_event, seg, off, off + h.size
                )
            )
            events += h.count
        seg.add_pending(-events, -len(got.taken), -got.nbytes)
        self._inflight_events += events
        first, last = got.taken[0][0], got.taken[-1][0]
        self._handed_seq = last.seq
        return Batch(got.items, last.seq, first.seq, len(got.taken), first.time_ns, got.nbytes)

    def _lost_segment(self, seg: Segment) -> None:
        """A segment file vanished (removed by hand): count it and go on without it."""
        self._drops.add(MISSING, seg.pending_events, seg.pending_batches, seg.pending_bytes)
        self._queued_events -= seg.pending_events
        self._queued_batches -= seg.pending_batches
        self._note_error(f"segment {seg.path.name} disappeared")
        if seg.end_event is not None and seg.last_seq > self._high[0]:
            self._high = (seg.last_seq, seg.end_event)
        self._segments.remove(seg)
        seg.deleted = True
        seg.dropped_as = MISSING
        self._bytes -= seg.size
        if seg is self._active:
            self._active = None  # the appending thread starts a new segment (and closes this)

    def ack(self, seq: int) -> None:
        """Confirm delivery of every record up to and including ``seq``.

        Acks are cumulative and must come in order; an ack for something already acked
        is ignored, one for a record never handed out is a ValueError.
        """
        with self._lock:
            if seq > self._handed_seq:
                raise ValueError(f"record {seq} was not handed out (last is {self._handed_seq})")
            inflight = self._inflight
            events = batches = 0
            last = None
            while inflight and inflight[0].seq <= seq:
                last = inflight.popleft()
                events += last.count
                batches += 1
            if last is None:
                return
            self._inflight_events -= events
            self._queued_events -= events
            self._queued_batches -= batches
            self._acked_events += events
            self._last_ack_ns = self._clock()
            if last.seq > self._cursor.seq:
                self._cursor = Cursor(last.seq, last.next_event, last.seg.first_seq, last.end)
                self._cursor_dirty = True
            if not self._closed:
                self._delete_acked()

    def nack(self) -> None:
        """Hand out again, from the oldest, every record read and not acked.

        For a delivery worker that gives up on what it holds without stopping the
        process; a restart does the same implicitly. Records whose segment an overflow
        deleted meanwhile can no longer be read: they are counted as dropped.
        """
        with self._read_lock, self._lock:
            self._release_inflight()
            if self._inflight:
                first = self._inflight[0]
                for r in self._inflight:
                    r.seg.add_pending(r.count, 1, r.nbytes)
                self._rseg, self._rpos = first.seg, first.off
                self._handed_seq = first.seq - 1
                self._inflight.clear()
                self._inflight_events = 0

    def _release_inflight(self) -> None:
        """Count the in-flight records whose segment is gone as dropped (under ``_lock``)."""
        inflight = self._inflight
        while inflight and inflight[0].seg.deleted:
            r = inflight.popleft()
            self._drops.add(r.seg.dropped_as, r.count, 1, r.nbytes)
            self._queued_events -= r.count
            self._queued_batches -= 1
            self._inflight_events -= r.count

    # -- upkeep, health, shutdown -----------------------------------------------------

    def sync(self) -> None:
        """Flush appended data to the device and save the ack cursor now."""
        with self._lock:
            fd = os.dup(self._fd) if self._fd is not None and self._durable else None
            self._unsynced = False
        if fd is not None:
            try:
                fdatasync(fd)
            finally:
                os.close(fd)
        self._save_cursor()

    def _tick(self) -> None:
        """Every ``fsync_interval``: the interval policy's sync, and the cursor save."""
        try:
            if self.fsync == "interval" and self._unsynced:
                self.sync()
            else:
                self._save_cursor()
        except OSError as exc:
            with self._lock:
                self._unsynced = True
                self._note_error(f"background sync failed: {exc}")
            log.error("buffer %s: background sync failed: %s", self.name, exc)

    def _save_cursor(self) -> None:
        with self._cursor_lock:
            with self._lock:
                if not self._cursor_dirty:
                    return
                cursor = self._cursor
                self._cursor_dirty = False
            try:
                save_cursor(self.path, cursor, durable=self._durable)
            except OSError:
                with self._lock:
                    self._cursor_dirty = True
                raise

    def stats(self) -> BufferStats:
        with self._lock:
            now = self._clock()
            oldest = self._oldest_unsent_ns()
            disk = self._bytes - CURSOR_RESERVE
            with contextlib.suppress(OSError):
                disk += os.stat(self.path / CURSOR_NAME).st_size
            drops = self._drops
            return BufferStats(
                name=self.name,
                queued_events=self._queued_events,
                queued_batches=self._queued_batches,
                in_flight_events=self._inflight_events,
                in_flight_batches=len(self._inflight),
                bytes_on_disk=disk,
                max_bytes=self.max_bytes,
                segments=len(self._segments),
                oldest_unsent_ns=oldest,
                oldest_unsent_age=0.0 if oldest is None else max(0, now - oldest) / 1e9,
                appended_events=self._appended_events,
                acked_events=self._acked_events,
                dropped_events=dict(drops.events),
                dropped_batches=dict(drops.batches),
                dropped_bytes=dict(drops.bytes),
                blocked_appends=self._blocked_appends,
                full_errors=self._full_errors,
                last_append_ns=self._last_append_ns,
                last_ack_ns=self._last_ack_ns,
                last_error=self._last_error,
                last_error_ns=self._last_error_ns,
            )

    def _oldest_unsent_ns(self) -> int | None:
        """Append time of the oldest record not acked: in flight, or the next to read."""
        if self._inflight:
            return self._inflight[0].time_ns
        seg, pos = self._peek_position()
        while seg is not None and pos in seg.holes:
            pos = seg.holes[pos]
        if seg is None or pos + HEADER_SIZE > seg.end:
            return None
        try:
            fd = os.open(seg.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            header = parse_header(os.pread(fd, HEADER_SIZE, pos))
        except OSError:
            return None
        finally:
            os.close(fd)
        return None if header is None else header.time_ns

    def _note_error(self, message: str) -> None:
        self._last_error = message
        self._last_error_ns = self._clock()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Sync, save the ack cursor and release the directory. What is not acked stays
        on disk and is handed out again by the next open."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._data.notify_all()
            self._space.notify_all()
        self._ticker.stop()
        with self._append_lock, self._read_lock:
            with self._lock:
                self._release_inflight()
                fd, self._fd = self._fd, None
                self._active = None
            try:
                if fd is not None:
                    try:
                        if self._durable:
                            fdatasync(fd)
                    finally:
                        os.close(fd)
                self._save_cursor()
            finally:
                if self._rfile is not None:
                    self._rfile.close()
                    self._rfile = None
                os.close(self._lock_fd)

    def __enter__(self) -> DiskBuffer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DiskBuffer({str(self.path)!r}, max_bytes={self.max_bytes})"


def _write_at(fd: int, header: bytes, body: bytes, off: int) -> None:
    """Header and body at ``off`` in one system call (a second only after a short write).

    Positional, so a write that failed half-way is simply overwritten by the next one.
    """
    total = len(header) + len(body)
    done = os.pwritev(fd, [header, body], off)
    if done < total:
        rest = memoryview(header + body)[done:]
        while rest:
            n = os.pwrite(fd, rest, off + done)
            if n <= 0:
                raise OSError(errno.EIO, "short write")
            done += n
            rest = rest[n:]


def _lock_directory(directory: Path) -> int:
    """Hold an exclusive lock on the directory for as long as the buffer is open: two
    writers on one log would corrupt it. The kernel releases it when the process dies."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise BufferLockedError(f"buffer {directory} is open in another process") from None
    except BaseException:
        os.close(fd)
        raise
    return fd
