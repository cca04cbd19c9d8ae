"""Health figures: queued, in flight, bytes on disk, oldest unsent age, drops, errors."""

from __future__ import annotations

import json
from pathlib import Path

from edgewatch.buffer import DiskBuffer

from .util import dir_bytes, drain, items_for

SECOND = 1_000_000_000


def test_figures_follow_appends_reads_and_acks(tmp_path: Path) -> None:
    now = [10 * SECOND]
    path = tmp_path / "d"
    with DiskBuffer(path, 1 << 20, fsync="never", clock=lambda: now[0]) as buf:
        empty = buf.stats()
        assert (empty.queued_events, empty.oldest_unsent_ns, empty.oldest_unsent_age) == (
            0,
            None,
            0.0,
        )
        for tag in range(3):
            buf.append(items_for(tag, tag + 1))  # 1, 2 and 3 events
            now[0] += SECOND
        stats = buf.stats()
        assert (stats.queued_events, stats.queued_batches) == (6, 3)
        assert stats.oldest_unsent_ns == 10 * SECOND
        assert stats.oldest_unsent_age == 3.0
        assert stats.appended_events == 6
        assert stats.last_append_ns == 12 * SECOND
        assert stats.bytes_on_disk == dir_bytes(path)
        assert stats.segments == 1

        batch = buf.read(max_items=1)
        assert batch is not None and batch.time_ns == 10 * SECOND
        stats = buf.stats()
        assert (stats.in_flight_events, stats.in_flight_batches) == (1, 1)
        assert stats.queued_events == 6  # in flight is still not delivered
        assert stats.oldest_unsent_ns == 10 * SECOND

        buf.ack(batch.seq)
        stats = buf.stats()
        assert (stats.queued_events, stats.in_flight_events, stats.acked_events) == (5, 0, 1)
        assert stats.oldest_unsent_ns == 11 * SECOND  # read from the next record's header
        assert stats.last_ack_ns == 13 * SECOND

        drain(buf)
        buf.sync()
        stats = buf.stats()
        assert (stats.queued_events, stats.oldest_unsent_ns) == (0, None)
        assert stats.bytes_on_disk == dir_bytes(path)  # now including the cursor file
        assert stats.dropped_events == {} and stats.last_error is None
        snapshot = stats.as_dict()
        assert json.loads(json.dumps(snapshot)) == snapshot
        assert snapshot["name"] == "d"


def test_queued_figures_are_rebuilt_on_open(tmp_path: Path) -> None:
    path = tmp_path / "d"
    now = [5 * SECOND]
    with DiskBuffer(path, 1 << 20, fsync="never", clock=lambda: now[0]) as buf:
        for tag in range(4):
            buf.append(items_for(tag, 5))
            now[0] += SECOND
        batch = buf.read(max_items=5)
        assert batch is not None
        buf.ack(batch.seq)
    now[0] = 20 * SECOND
    with DiskBuffer(path, 1 << 20, fsync="never", clock=lambda: now[0]) as buf:
        stats = buf.stats()
        assert (stats.queued_events, stats.queued_batches) == (15, 3)
        assert stats.oldest_unsent_ns == 6 * SECOND
        assert stats.oldest_unsent_age == 14.0
        assert stats.appended_events == 0  # counters are per open buffer
