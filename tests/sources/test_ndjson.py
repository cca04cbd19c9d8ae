"""NdjsonSource: files, gzip, stdin and pipes, chunk boundaries, oversized lines, stop."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.decode.decoder import LineDecoder
from edgewatch.events.registry import resolve
from edgewatch.sources.ndjson import NdjsonSource
from tests.sources.util import Collector, Running, ig_records, wait_until


def run_to_end(source: NdjsonSource) -> Collector:
    out = Collector()
    source.run(out, threading.Event())
    return out


def test_files_are_read_in_order_one_stream_each(tmp_path: Path) -> None:
    first = ig_records(7)
    second = ig_records(5, "trace_dns")
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    a.write_bytes(b"\n".join(first) + b"\n")
    b.write_bytes(b"\n".join(second))  # no newline at the end: the last line still counts
    out = run_to_end(NdjsonSource([str(a), str(b)], batch_lines=3))

    assert out.lines() == first + second
    assert [x.stream for x in out.batches if x.end_of_stream] == [str(a), str(b)]
    assert all(len(x.lines) <= 3 for x in out.batches)
    decoder = LineDecoder()
    assert len(decoder.decode(out.lines()).events) == len(first) + len(second)


def test_gadget_is_passed_on(tmp_path: Path) -> None:
    path = tmp_path / "dns.jsonl"
    path.write_bytes(b"\n".join(ig_records(4, "trace_dns")) + b"\n")
    dns = resolve("trace_dns")
    out = run_to_end(NdjsonSource([str(path)], gadget=dns))
    assert {x.gadget for x in out.batches} == {dns}
    events = [e for x in out.batches for e in LineDecoder(gadget=x.gadget).decode(x.lines).events]
    assert len(events) == 4


def test_gzip_is_read_transparently(tmp_path: Path) -> None:
    lines = ig_records(40)
    path = tmp_path / "capture.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    progress: list[tuple[int, int | None]] = []
    source = NdjsonSource(
        [str(path)], chunk_size=512, on_progress=lambda d, t: progress.append((d, t))
    )
    out = run_to_end(source)
    assert out.lines() == lines
    size = path.stat().st_size
    assert progress[-1] == (size, size)
    assert source.bytes_done == source.bytes_total == size


def test_gzip_is_recognized_by_content_not_name(tmp_path: Path) -> None:
    path = tmp_path / "capture.jsonl"
    path.write_bytes(gzip.compress(b"x\ny\n"))
    assert run_to_end(NdjsonSource([str(path)])).lines() == [b"x", b"y"]


def test_corrupt_gzip_is_reported_and_lines_before_it_kept(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(b"line %d\n" % i for i in range(5000)))
    bad = tmp_path / "bad.gz"
    bad.write_bytes(data[: len(data) // 2])
    good = tmp_path / "good.jsonl"
    good.write_bytes(b"ok\n")
    source = NdjsonSource([str(bad), str(good)], chunk_size=1024)
    out = run_to_end(source)
    assert [path for path, _ in source.failed] == [str(bad)]
    lines = out.lines()
    assert lines[-1] == b"ok"
    assert lines[:-1] == [b"line %d" % i for i in range(len(lines) - 1)]


def test_missing_file_is_reported_and_the_others_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = tmp_path / "good.jsonl"
    good.write_bytes(b"a\nb\n")
    missing = tmp_path / "missing.jsonl"
    source = NdjsonSource([str(missing), str(good)])
    out = run_to_end(source)
    assert out.lines() == [b"a", b"b"]
    assert source.failed and source.failed[0][0] == str(missing)
    assert "missing.jsonl" in caplog.text


def test_stdin_from_a_file_object() -> None:
    lines = ig_records(10)
    source = NdjsonSource(["-"], stdin=io.BytesIO(b"\n".join(lines) + b"\n"), chunk_size=100)
    out = run_to_end(source)
    assert out.lines() == lines
    assert out.batches[-1].stream == "stdin"
    assert out.batches[-1].end_of_stream


def test_real_stdin_in_a_subprocess() -> None:
    script = (
        "import sys, threading\n"
        "from edgewatch.sources.ndjson import NdjsonSource\n"
        "batches = []\n"
        "NdjsonSource(['-']).run(batches.append, threading.Event())\n"
        "print(sum(len(b.lines) for b in batches), batches[-1].end_of_stream)\n"
    )
    data = b"\n".join(ig_records(25)) + b"\n"
    proc = subprocess.run(
        [sys.executable, "-c", script], input=data, capture_output=True, timeout=60, check=True
    )
    assert proc.stdout.split() == [b"25", b"True"]


def test_stdin_from_a_pipe_hands_on_lines_before_the_pipe_closes() -> None:
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "rb") as reader, os.fdopen(write_fd, "wb") as writer:
        source = NdjsonSource(["-"], stdin=reader)
        with Running(source) as running:
            writer.write(b"one\ntwo\nthr")
            writer.flush()
            # "thr" has no newline yet; the complete lines must not wait for more input.
            assert wait_until(lambda: running.out.lines() == [b"one", b"two"])
            writer.write(b"ee\n")
            writer.close()
            assert wait_until(
                lambda: bool(running.out.batches) and running.out.batches[-1].end_of_stream
            )
        assert running.out.lines() == [b"one", b"two", b"three"]
        assert source.bytes_total is None  # a pipe has no known size
        assert source.bytes_done == len(b"one\ntwo\nthree\n")


def test_stop_returns_promptly_while_a_pipe_is_silent() -> None:
    read_fd, write_fd = os.pipe()
    try:
        with os.fdopen(read_fd, "rb") as reader:
            with Running(NdjsonSource(["-"], stdin=reader)) as running:
                assert wait_until(running.thread.is_alive)
            # __exit__ asserts the thread returned after stop.
            assert not any(b.end_of_stream for b in running.out.batches)
    finally:
        os.close(write_fd)


def test_oversized_lines_are_cut_and_the_rest_skipped(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"short\n" + b"x" * 1000 + b"\nafter\n" + b"y" * 300)
    source = NdjsonSource([str(path)], chunk_size=64, max_line_bytes=100)
    out = run_to_end(source)
    assert out.lines() == [b"short", b"x" * 100, b"after", b"y" * 100]
    assert source.lines_cut == 2


def test_follow_reads_appended_lines_until_stop(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    path.write_bytes(b"a\n")
    source = NdjsonSource([str(path)], follow=True, poll_interval=0.01)
    with Running(source) as running, path.open("ab") as fh:
        assert wait_until(lambda: running.out.lines() == [b"a"])
        fh.write(b"b\nc")
        fh.flush()
        assert wait_until(lambda: running.out.lines() == [b"a", b"b"])
        fh.write(b"\n")
        fh.flush()
        assert wait_until(lambda: running.out.lines() == [b"a", b"b", b"c"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"paths": []}, "at least one path"),
        ({"paths": ["a", "b"], "follow": True}, "exactly one path"),
        ({"paths": ["a"], "chunk_size": 0}, "chunk_size"),
    ],
)
def test_bad_configuration_is_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NdjsonSource(**kwargs)  # type: ignore[arg-type]


def test_a_single_string_is_not_taken_for_a_list_of_paths() -> None:
    with pytest.raises(TypeError):
        NdjsonSource("capture.jsonl")


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=60),
    trailing_newline=st.booleans(),
    chunk_size=st.integers(1, 70),
    batch_lines=st.integers(1, 12),
    limit=st.integers(1, 40),
)
def test_every_line_exactly_once_for_any_chunking(
    lines: list[bytes], trailing_newline: bool, chunk_size: int, batch_lines: int, limit: int
) -> None:
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    source = NdjsonSource(
        ["-"],
        stdin=io.BytesIO(data),
        chunk_size=chunk_size,
        batch_lines=batch_lines,
        max_line_bytes=limit,
    )
    out = run_to_end(source)
    expected = data.split(b"\n")
    if expected[-1] == b"":
        expected.pop()
    assert out.lines() == [line[:limit] for line in expected]
    assert all(len(b.lines) <= batch_lines for b in out.batches)
    assert [b.end_of_stream for b in out.batches][-1:] == [True]
    assert sum(b.end_of_stream for b in out.batches) == 1
