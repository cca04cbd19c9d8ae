"""Sinks and the dead-letter file: formats, rotation bounds, closed readers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import msgspec
import pytest

from edgewatch.decode.decoder import LineDecoder, Reject
from edgewatch.pipeline.batch import EventBatch
from edgewatch.pipeline.deadletter import DeadLetter
from edgewatch.sinks.base import SinkClosedError
from edgewatch.sinks.file import FileSink
from edgewatch.sinks.rotating import RotatingFile
from edgewatch.sinks.stdout import StdoutSink
from tests.conftest import all_ig_lines

LINES = [line for _, line in all_ig_lines()]


def batch() -> EventBatch:
    decoded = LineDecoder().decode(LINES)
    return EventBatch(decoded.events, decoded.raws)


def test_stdout_ig_format_forwards_igs_bytes_unchanged() -> None:
    out = io.BytesIO()
    StdoutSink("ig", stream=out).write(batch())
    assert out.getvalue() == b"\n".join(LINES) + b"\n"


def test_stdout_normalized_format_is_typed_columns() -> None:
    out = io.BytesIO()
    StdoutSink("normalized", stream=out).write(batch())
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == len(LINES)
    assert rows[0]["gadget"] == "tcp" and rows[0]["namespace"] == "shop"
    assert rows[0]["time_ns"] == 1750237964123456789


class BrokenPipe(io.BytesIO):
    def write(self, data: bytes) -> int:  # type: ignore[override]
        raise BrokenPipeError


def test_stdout_reader_going_away_closes_the_sink() -> None:
    with pytest.raises(SinkClosedError):
        StdoutSink("ig", stream=BrokenPipe()).write(batch())


def test_file_sink_rotates_within_its_bound(tmp_path: Path) -> None:
    path = tmp_path / "out" / "events.ndjson"
    sink = FileSink(path, "normalized", max_bytes=64 * 1024, max_files=3)
    b = batch()
    for _ in range(40):
        sink.write(b)
    sink.close()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["events.ndjson", "events.ndjson.1", "events.ndjson.2"]
    for p in path.parent.iterdir():
        # a file may exceed the bound only by the one batch that crossed it
        assert p.stat().st_size <= 64 * 1024 + len(msgspec.json.Encoder().encode_lines(b.events))
        for line in p.read_bytes().splitlines():
            json.loads(line)


def test_rotating_file_validates_its_bounds(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        RotatingFile(tmp_path / "x", max_bytes=0, max_files=1)
    with pytest.raises(ValueError):
        RotatingFile(tmp_path / "x", max_bytes=10, max_files=0)


def test_dead_letter_keeps_reason_source_and_line(tmp_path: Path) -> None:
    path = tmp_path / "dl.ndjson"
    dl = DeadLetter(path)
    dl.write(
        [
            Reject("invalid_json", "JSON is malformed", b"not json"),
            Reject("invalid_json", "bad bytes", b"\xff\xfe"),
            Reject("oversized_line", "too long", b"x" * 200_000),
        ],
        "cri:/var/log/pods/a/0.log",
    )
    dl.close()
    rows = [json.loads(line) for line in path.read_bytes().splitlines()]
    assert [r["reason"] for r in rows] == ["invalid_json", "invalid_json", "oversized_line"]
    assert rows[0]["line"] == "not json" and rows[0]["source"] == "cri:/var/log/pods/a/0.log"
    assert rows[1]["line_base64"] == "//4="  # not UTF-8: kept exactly, base64
    assert rows[2]["truncated"] is True and rows[2]["length"] == 200_000


def test_dead_letter_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "dl.ndjson"
    dl = DeadLetter(path, max_bytes=10_000, max_files=2)
    for _ in range(200):
        dl.write([Reject("invalid_json", "x", b"y" * 300)], "s")
    dl.close()
    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert total <= 2 * 10_000 + 1000
