"""The size cap: drop_oldest counts exactly what it drops, block waits for acks."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from edgewatch.buffer import BufferClosedError, BufferFullError, DiskBuffer

from .util import dir_bytes, drain, items_for, open_buffer

CAP = 32 * 1024
SEGMENT = 4 * 1024


def test_drop_oldest_keeps_the_cap_and_counts_every_dropped_event(tmp_path: Path) -> None:
    path = tmp_path / "d"
    appended: list[tuple[int, list[bytes]]] = []
    with open_buffer(path, max_bytes=CAP, segment_bytes=SEGMENT) as buf:
        for tag in range(300):
            items = items_for(tag, 1 + tag % 6, size=120)
            appended.append((buf.append(items), items))
            assert dir_bytes(path) <= CAP
            assert buf.stats().bytes_on_disk <= CAP
        stats = buf.stats()
        got = drain(buf)
        final = buf.stats()
    total = sum(len(items) for _, items in appended)
    dropped = stats.dropped_events["overflow"]
    assert dropped > 0
    assert stats.queued_events + dropped == total
    assert stats.dropped_batches["overflow"] + stats.queued_batches == len(appended)
    # what is left is the newest records, whole and in order
    seqs = [b.seq for b in got]
    assert seqs == [seq for seq, _ in appended[-len(seqs) :]]
    assert [b.items for b in got] == [items for _, items in appended[-len(seqs) :]]
    assert sum(len(b) for b in got) + dropped == total
    assert final.dropped_events == stats.dropped_events  # delivery drops nothing


def test_records_in_flight_when_dropped_count_once_by_their_fate(tmp_path: Path) -> None:
    with open_buffer(tmp_path / "d", max_bytes=CAP, segment_bytes=SEGMENT) as buf:
        buf.append(items_for(0, 3))
        buf.append(items_for(1, 2))
        delivered = buf.read(max_items=3)  # record 1: will be acked after the drop
        given_up = buf.read(max_items=2)  # record 2: will be given back after the drop
        assert delivered is not None and given_up is not None
        tag = 2
        while buf.stats().dropped_events.get("overflow", 0) == 0 or tag < 60:
            buf.append(items_for(tag, 4, size=200))
            tag += 1
        dropped_unsent = buf.stats().dropped_events["overflow"]
        assert buf.stats().in_flight_events == 5  # still held by the delivery thread
        buf.ack(delivered.seq)  # it made it: delivered, not dropped
        assert buf.stats().dropped_events["overflow"] == dropped_unsent
        buf.nack()  # gone from disk, so it cannot be handed out again: now it is dropped
        stats = buf.stats()
        assert stats.dropped_events["overflow"] == dropped_unsent + 2
        assert stats.in_flight_events == 0
        rest = drain(buf)
        assert rest[0].seq > given_up.seq
        total = 5 + 4 * (tag - 2)
        assert 3 + stats.dropped_events["overflow"] + sum(len(b) for b in rest) == total
        assert buf.stats().queued_events == 0


def test_block_waits_for_acks_then_resumes(tmp_path: Path) -> None:
    path = tmp_path / "d"
    with open_buffer(path, max_bytes=CAP, segment_bytes=SEGMENT, overflow="block") as buf:
        tag = 0
        with pytest.raises(BufferFullError):
            while True:
                buf.append(items_for(tag, 4, size=200), timeout=0.05)
                tag += 1
        assert buf.stats().full_errors == 1
        assert dir_bytes(path) <= CAP
        done = threading.Event()

        def append_more() -> None:
            buf.append(items_for(tag, 4, size=200))
            done.set()

        writer = threading.Thread(target=append_more)
        writer.start()
        assert not done.wait(0.3)  # blocked: nothing was acked
        assert buf.stats().blocked_appends >= 1
        got = drain(buf)  # delivery frees whole segments
        assert done.wait(5)
        writer.join()
        got += drain(buf)
        assert [b.items for b in got] == [items_for(t, 4, size=200) for t in range(tag + 1)]
        stats = buf.stats()
        assert stats.dropped_events == {}
        assert stats.queued_events == 0


def test_block_is_released_by_close(tmp_path: Path) -> None:
    buf = open_buffer(tmp_path / "d", max_bytes=CAP, segment_bytes=SEGMENT, overflow="block")
    errors: list[BaseException] = []

    def fill() -> None:
        try:
            for tag in range(1000):
                buf.append(items_for(tag, 4, size=200))
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=fill)
    writer.start()
    deadline = time.monotonic() + 5
    while buf.stats().blocked_appends == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    buf.close()
    writer.join(5)
    assert not writer.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], BufferClosedError)


def test_block_frees_an_all_acked_active_segment(tmp_path: Path) -> None:
    # everything delivered but the segment being appended to is what fills the cap
    with DiskBuffer(
        tmp_path / "d", 8 * 1024, segment_bytes=3 * 1024, overflow="block", fsync="never"
    ) as buf:
        for tag in range(200):
            buf.append(items_for(tag, 2, size=300), timeout=1)
            drain(buf)
        assert buf.stats().full_errors == 0


@pytest.mark.parametrize("nack_every", [0, 7])
def test_racing_writer_and_reader_account_for_every_event(tmp_path: Path, nack_every: int) -> None:
    """Overflow drops while the reader holds and acks batches: each event ends up
    delivered or dropped, exactly once, and delivery stays in order."""
    n = 3000
    with open_buffer(tmp_path / "d", max_bytes=CAP, segment_bytes=SEGMENT) as buf:
        delivered: list[int] = []
        finished = threading.Event()

        def deliver() -> None:
            reads = 0
            while not (finished.is_set() and buf.stats().queued_events == 0):
                batch = buf.read(max_items=7, timeout=0.01)
                if batch is None:
                    continue
                reads += 1
                if nack_every and reads % nack_every == 0:
                    buf.nack()
                    continue
                delivered.extend(int(item.split(b":")[0]) for item in batch.items)
                buf.ack(batch.seq)

        reader = threading.Thread(target=deliver)
        reader.start()
        for tag in range(n):
            buf.append(items_for(tag, 1, size=300))
        finished.set()
        reader.join(20)
        assert not reader.is_alive()
        stats = buf.stats()
    dropped = stats.dropped_events.get("overflow", 0)
    assert delivered == sorted(set(delivered))  # in order, no duplicates
    assert len(delivered) + dropped == n
    assert stats.acked_events == len(delivered)
    assert (stats.queued_events, stats.in_flight_events) == (0, 0)
