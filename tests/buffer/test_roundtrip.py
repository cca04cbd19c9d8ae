"""Append, read, ack, reopen: order, redelivery of what was not acked, segment lifecycle."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.buffer import (
    BufferClosedError,
    BufferLockedError,
    DiskBuffer,
    RecordTooLargeError,
)

from .util import drain, items_for, open_buffer, segment_files

batches = st.lists(st.lists(st.binary(max_size=300), min_size=1, max_size=12), max_size=40)


@settings(max_examples=40, deadline=None)
@given(batches, st.integers(1, 30))
def test_everything_comes_back_in_order(appended: list[list[bytes]], max_items: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with open_buffer(Path(tmp) / "d", segment_bytes=2048, max_bytes=64 * 1024) as buf:
            seqs = [buf.append(items) for items in appended]
            got = drain(buf, max_items=max_items)
        assert seqs == list(range(1, len(appended) + 1))
        assert [item for b in got for item in b.items] == [i for b in appended for i in b]
        if got:
            assert got[-1].seq == seqs[-1]
            assert sum(b.records for b in got) == len(appended)
            for batch in got:
                # a batch is whole records, and more than one only within max_items
                assert batch.records == 1 or len(batch) <= max_items


@pytest.mark.parametrize("fsync", ["batch", "interval", "never"])
def test_ack_and_reopen_redelivers_only_what_was_not_acked(tmp_path: Path, fsync: str) -> None:
    path = tmp_path / "dest"
    with DiskBuffer(path, 1 << 20, fsync=fsync) as buf:  # type: ignore[arg-type]
        for tag in range(10):
            buf.append(items_for(tag, 3))
        first = buf.read(max_items=6)  # records 1-2
        second = buf.read(max_items=3)  # record 3, stays in flight
        assert first is not None and second is not None
        assert (first.first_seq, first.seq, second.seq) == (1, 2, 3)
        buf.ack(first.seq)
    with DiskBuffer(path, 1 << 20, fsync=fsync) as buf:  # type: ignore[arg-type]
        again = drain(buf)
    assert [b.seq for b in again] == list(range(3, 11))
    assert again[0].items == items_for(2, 3)


def test_several_batches_in_flight_and_cumulative_acks(tmp_path: Path) -> None:
    with open_buffer(tmp_path / "d") as buf:
        for tag in range(5):
            buf.append(items_for(tag, 2))
        a, b, c = (buf.read(max_items=1) for _ in range(3))
        assert a is not None and b is not None and c is not None
        buf.ack(b.seq)  # acks a as well
        assert buf.stats().in_flight_batches == 1
        buf.ack(a.seq)  # already acked: ignored
        with pytest.raises(ValueError, match="not handed out"):
            buf.ack(5)
    with open_buffer(tmp_path / "d") as buf:
        assert [x.seq for x in drain(buf)] == [3, 4, 5]


def test_nack_hands_out_again_from_the_oldest_unacked(tmp_path: Path) -> None:
    with open_buffer(tmp_path / "d") as buf:
        for tag in range(4):
            buf.append(items_for(tag, 2))
        first = buf.read(max_items=2)
        assert first is not None
        buf.ack(first.seq)
        buf.read(max_items=2)
        buf.read(max_items=2)
        buf.nack()
        assert buf.stats().in_flight_batches == 0
        assert [b.seq for b in drain(buf)] == [2, 3, 4]


def test_segments_roll_over_and_are_deleted_once_acked(tmp_path: Path) -> None:
    path = tmp_path / "d"
    with open_buffer(path, segment_bytes=4096) as buf:
        for tag in range(60):
            buf.append(items_for(tag, 5, size=400))
        before = len(segment_files(path))
        assert before > 5
        half = [buf.read(max_items=1) for _ in range(30)]
        assert half[-1] is not None
        buf.ack(half[-1].seq)
        remaining = segment_files(path)
        assert 1 < len(remaining) < before
        assert len(remaining) == buf.stats().segments
        assert int(remaining[0].stem) <= 31 < int(remaining[1].stem)  # 31 is not acked
        drain(buf)
        assert len(segment_files(path)) == 1  # only the one being appended to
        assert buf.stats().segments == 1
    with open_buffer(path, segment_bytes=4096) as buf:
        assert drain(buf) == []
        assert buf.append([b"next"]) == 61  # numbering continues past what was deleted


def test_a_batch_larger_than_a_segment_gets_a_segment_of_its_own(tmp_path: Path) -> None:
    with open_buffer(tmp_path / "d", max_bytes=64 * 1024, segment_bytes=4096) as buf:
        buf.append([b"a"])
        big = [b"y" * 1000] * 10
        buf.append(big)
        buf.append([b"b"])
        assert [b.items for b in drain(buf)] == [[b"a"], big, [b"b"]]
        with pytest.raises(RecordTooLargeError):
            buf.append([b"z" * 70_000])


def test_reads_wait_for_appends_from_another_thread(tmp_path: Path) -> None:
    n = 3000
    received: list[bytes] = []
    with open_buffer(tmp_path / "d", segment_bytes=64 * 1024, max_bytes=4 << 20) as buf:

        def deliver() -> None:
            while len(received) < n:
                batch = buf.read(max_items=500, timeout=5)
                assert batch is not None
                received.extend(batch.items)
                buf.ack(batch.seq)

        reader = threading.Thread(target=deliver)
        reader.start()
        for tag in range(n // 10):
            buf.append(items_for(tag, 10))
        reader.join(10)
        assert not reader.is_alive()
        assert buf.stats().queued_events == 0
    assert received == [i for tag in range(n // 10) for i in items_for(tag, 10)]


def test_misuse_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "d"
    buf = open_buffer(path)
    with pytest.raises(BufferLockedError):
        open_buffer(path)
    with pytest.raises(ValueError, match="empty"):
        buf.append([])
    assert buf.read(timeout=0.01) is None
    buf.close()
    buf.close()
    with pytest.raises(BufferClosedError):
        buf.append([b"late"])
    assert buf.read(timeout=0) is None
    with pytest.raises(ValueError, match="overflow"):
        DiskBuffer(tmp_path / "e", 1 << 20, overflow="spill")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="two segments"):
        DiskBuffer(tmp_path / "e", 1 << 20, segment_bytes=1 << 20)
    open_buffer(path).close()  # the lock went with the first one
