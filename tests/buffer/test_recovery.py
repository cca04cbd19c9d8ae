"""Opening after a power cut or bit rot: never raises, never hands out damaged data,
and counts what was lost."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.buffer import DiskBuffer
from edgewatch.buffer.cursor import CURSOR_NAME
from edgewatch.buffer.record import parse_header

from .util import drain, items_for, open_buffer, segment_files

SEGMENT = 2048
Record = tuple[int, list[bytes]]


@functools.cache
def template() -> tuple[dict[str, bytes], tuple[Record, ...]]:
    """A closed buffer of several segments: file name -> content, and what went in."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d"
        records = []
        with open_buffer(path, segment_bytes=SEGMENT, max_bytes=256 * 1024) as buf:
            for tag in range(30):
                items = items_for(tag, 1 + tag % 5, size=150)
                records.append((buf.append(items), items))
        files = {p.name: p.read_bytes() for p in segment_files(path)}
    assert len(files) >= 4
    return files, tuple(records)


def record_offsets(data: bytes) -> list[int]:
    offsets, pos = [], 0
    while pos < len(data):
        header = parse_header(data, pos)
        assert header is not None
        offsets.append(pos)
        pos += header.size
    return offsets


def reopen_and_drain(path: Path) -> tuple[list[Record], DiskBuffer]:
    buf = open_buffer(path, segment_bytes=SEGMENT, max_bytes=256 * 1024)
    got = [(b.seq, b.items) for b in drain(buf)]
    return got, buf


def check_intact_and_in_order(got: list[Record], records: tuple[Record, ...]) -> None:
    by_seq = dict(records)
    assert [seq for seq, _ in got] == sorted({seq for seq, _ in got})
    for seq, items in got:
        assert by_seq[seq] == items  # never damaged, never from another record


def write_files(path: Path, files: dict[str, bytes]) -> None:
    path.mkdir()
    for name, data in files.items():
        (path / name).write_bytes(data)


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_a_torn_or_garbled_tail_is_cut_off_and_counted(data: st.DataObject) -> None:
    files, records = template()
    last_name = max(files)
    last = files[last_name]
    cut = data.draw(st.integers(0, len(last)), label="cut")
    flips = data.draw(
        st.lists(
            st.tuples(st.integers(0, max(cut - 1, 0)), st.integers(1, 255)),
            max_size=3,
            unique_by=lambda t: t[0],
        ),
        label="flips",
    )
    damaged = bytearray(last[:cut])
    for pos, xor in flips:
        if pos < cut:
            damaged[pos] ^= xor
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d"
        write_files(path, {**files, last_name: bytes(damaged)})
        got, buf = reopen_and_drain(path)
        try:
            check_intact_and_in_order(got, records)
            first_in_last = int(last_name.split(".")[0])
            intact_until = min([cut] + [p for p, _ in flips if p < cut])
            kept = {seq for seq, _ in got}
            for seq, off in enumerate(record_offsets(last), first_in_last):
                end = off + parse_header(last, off).size  # type: ignore[union-attr]
                if end <= intact_until:
                    assert seq in kept
            assert set(range(1, first_in_last)) <= kept  # other segments untouched
            stats = buf.stats()
            total = sum(len(items) for _, items in records)
            delivered = sum(len(items) for _, items in got)
            assert stats.queued_events == 0
            assert delivered + stats.total_dropped <= total
            assert delivered < total or not flips
            boundaries = {*record_offsets(last), len(last)}
            if cut in boundaries and not any(p < cut for p, _ in flips):
                # Whole records gone without a trace: indistinguishable from appends that
                # never happened (with fsync="batch" they never returned).
                assert stats.total_dropped == 0
            else:
                assert sum(stats.dropped_bytes.values()) > 0
            fresh = buf.append([b"after the repair"])
        finally:
            buf.close()
        again, buf = reopen_and_drain(path)
        with buf:
            assert again == [(fresh, [b"after the repair"])]
            assert buf.stats().dropped_events == {}


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_damage_before_the_tail_is_skipped_and_counted_exactly(data: st.DataObject) -> None:
    files, records = template()
    names = sorted(files)
    last = names[-1]
    final_record = record_offsets(files[last])[-1]
    targets = st.sampled_from(names).flatmap(
        lambda name: st.tuples(
            st.just(name),
            st.integers(0, (final_record if name == last else len(files[name])) - 1),
            st.integers(1, 255),
        )
    )
    flips = data.draw(
        st.lists(targets, min_size=1, max_size=4, unique_by=lambda t: (t[0], t[1])),
        label="flips",
    )
    while_open = data.draw(st.booleans(), label="damage while open")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d"
        write_files(path, files)
        if while_open:  # found by the reader rather than by recovery
            buf = open_buffer(path, segment_bytes=SEGMENT, max_bytes=256 * 1024)
        for name, pos, xor in flips:
            with (path / name).open("r+b") as fh:
                fh.seek(pos)
                byte = fh.read(1)[0]
                fh.seek(pos)
                fh.write(bytes([byte ^ xor]))
        if while_open:
            got = [(b.seq, b.items) for b in drain(buf)]
        else:
            got, buf = reopen_and_drain(path)
        with buf:
            check_intact_and_in_order(got, records)
            assert got[-1][0] == records[-1][0]
            stats = buf.stats()
            assert (stats.queued_events, stats.queued_batches) == (0, 0)
            lost = len(records) - len(got)
            assert lost >= 1
            assert stats.dropped_batches == {"corrupt": lost}
            assert stats.dropped_events == {
                "corrupt": sum(len(i) for _, i in records) - sum(len(i) for _, i in got)
            }
            assert stats.last_error
            buf.nack()  # reading the damaged stretch again counts nothing twice
            assert drain(buf) == []
            assert buf.stats().dropped_batches == {"corrupt": lost}


def test_damage_found_while_running_is_skipped_once(tmp_path: Path) -> None:
    path = tmp_path / "d"
    with open_buffer(path, segment_bytes=SEGMENT, max_bytes=256 * 1024) as buf:
        for tag in range(6):
            buf.append(items_for(tag, 3))
        seg = segment_files(path)[0]
        offsets = record_offsets(seg.read_bytes())
        with seg.open("r+b") as fh:  # rot in record 3's body and record 5's header
            fh.seek(offsets[2] + 60)
            fh.write(b"\xff")
            fh.seek(offsets[4] + 10)
            fh.write(b"\xff")
        assert [b.seq for b in drain(buf, ack=False)] == [1, 2, 4, 6]
        buf.nack()
        assert [b.seq for b in drain(buf, ack=False)] == [1, 2, 4, 6]
        stats = buf.stats()
        assert stats.dropped_batches == {"corrupt": 2}
        assert stats.dropped_events == {"corrupt": 6}
        assert (stats.queued_events, stats.in_flight_events) == (12, 12)
        assert stats.last_error and "damaged" in stats.last_error


def test_a_damaged_end_of_a_segment_is_counted_when_the_reader_moves_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "d"
    with open_buffer(path, segment_bytes=SEGMENT, max_bytes=256 * 1024) as buf:
        appended = [buf.append(items_for(tag, 4, size=150)) for tag in range(20)]
        first = segment_files(path)[0]
        content = first.read_bytes()
        last_offset = record_offsets(content)[-1]
        lost = parse_header(content, last_offset)
        assert lost is not None
        with first.open("r+b") as fh:
            fh.seek(last_offset + 20)  # destroys the header of its last record
            fh.write(b"\xff\xff")
        got = [b.seq for b in drain(buf)]
        assert got == [seq for seq in appended if seq != lost.seq]
        stats = buf.stats()
        assert stats.dropped_batches == {"corrupt": 1}
        assert stats.dropped_events == {"corrupt": lost.count}
        assert (stats.queued_events, stats.queued_batches) == (0, 0)


def test_a_stale_cursor_redelivers_and_counts_no_loss(tmp_path: Path) -> None:
    path = tmp_path / "d"
    with open_buffer(path, segment_bytes=SEGMENT, max_bytes=256 * 1024) as buf:
        for tag in range(40):
            buf.append(items_for(tag, 4, size=100))
        batches = [buf.read(max_items=1) for _ in range(35)]
        buf.ack(5)
        buf.sync()
        stale = (path / CURSOR_NAME).read_bytes()
        buf.ack(35)  # deletes the segments holding 1..~30
    assert batches[-1] is not None
    first_on_disk = int(segment_files(path)[0].stem)
    assert 6 < first_on_disk <= 36
    (path / CURSOR_NAME).write_bytes(stale)
    got, buf = reopen_and_drain(path)
    with buf:
        # duplicates of some acked records, nothing lost, no loss reported
        assert [seq for seq, _ in got] == list(range(first_on_disk, 41))
        assert buf.stats().dropped_events == {}


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"version": 9, "seq": 1, "event": 1}'])
def test_an_unreadable_cursor_means_everything_is_delivered_again(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "d"
    with open_buffer(path) as buf:
        for tag in range(5):
            buf.append(items_for(tag, 2))
        drain(buf)
    (path / CURSOR_NAME).write_bytes(content)
    got, buf = reopen_and_drain(path)
    with buf:
        assert [seq for seq, _ in got] == [1, 2, 3, 4, 5]
        assert "delivering everything again" in caplog.text
        assert buf.append([b"x"]) == 6


def test_leftovers_of_a_crash_are_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "d"
    with open_buffer(path, segment_bytes=SEGMENT, max_bytes=256 * 1024) as buf:
        buf.append([b"one"])
    (path / f".{CURSOR_NAME}.tmp").write_bytes(b"half")
    (path / "00000000000000000099.seg").write_bytes(b"")  # created, then the power went
    got, buf = reopen_and_drain(path)
    with buf:
        assert got == [(1, [b"one"])]
        assert not (path / f".{CURSOR_NAME}.tmp").exists()
        assert not (path / "00000000000000000099.seg").exists()


def test_a_segment_removed_by_hand_is_counted_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "d"
    with open_buffer(path, segment_bytes=SEGMENT, max_bytes=256 * 1024) as buf:
        for tag in range(30):
            buf.append(items_for(tag, 4, size=150))
        victim = segment_files(path)[1]
        content = victim.read_bytes()
        records = len(record_offsets(content))
        victim.unlink()
        got = drain(buf)
        stats = buf.stats()
    assert stats.dropped_batches == {"missing": records}
    assert stats.dropped_events == {"missing": 4 * records}
    assert len(got) + records == 30
    assert (stats.queued_events, stats.queued_batches) == (0, 0)
    assert stats.last_error and "disappeared" in stats.last_error
