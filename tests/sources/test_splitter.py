"""The shared line splitter: every line exactly once, whatever the chunk boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.sources.splitter import LineSplitter

lines_st = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=40)


def chunked(data: bytes, sizes: list[int]) -> list[bytes]:
    out: list[bytes] = []
    pos = 0
    i = 0
    while pos < len(data):
        size = sizes[i % len(sizes)] if sizes else len(data)
        out.append(data[pos : pos + size])
        pos += size
        i += 1
    return out


def expected_lines(data: bytes, limit: int) -> list[bytes]:
    parts = data.split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    return [p[:limit] for p in parts]


@settings(max_examples=200, deadline=None)
@given(
    lines=lines_st,
    trailing_newline=st.booleans(),
    sizes=st.lists(st.integers(1, 50), min_size=1, max_size=8),
    limit=st.integers(1, 60),
)
def test_lines_come_out_once_and_cut(
    lines: list[bytes], trailing_newline: bool, sizes: list[int], limit: int
) -> None:
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    splitter = LineSplitter(limit)
    out: list[bytes] = []
    for chunk in chunked(data, sizes):
        out.extend(splitter.feed(chunk))
        assert splitter.pending <= limit
    last = splitter.finish()
    if last:
        out.append(last)
    assert out == expected_lines(data, limit)
    assert splitter.cuts == sum(1 for line in expected_lines(data, 10**9) if len(line) > limit)


@settings(max_examples=100, deadline=None)
@given(lines=lines_st, sizes=st.lists(st.integers(1, 30), min_size=1, max_size=5))
def test_offsets_track_the_last_newline(lines: list[bytes], sizes: list[int]) -> None:
    data = b"".join(line + b"\n" for line in lines) + b"unterminated"
    splitter = LineSplitter(1000, start=100)
    seen = 0
    for chunk in chunked(data, sizes):
        seen += len(splitter.feed(chunk))
        complete = data[: splitter.fed - 100].rfind(b"\n") + 1
        assert splitter.line_end == 100 + complete
        assert seen == data[:complete].count(b"\n")
    assert splitter.fed == 100 + len(data)


def test_skip_first_drops_a_partial_first_line() -> None:
    splitter = LineSplitter(100, start=5, skip_first=True)
    assert splitter.feed(b"tail of a line\nnext\nrest") == [b"next"]
    assert splitter.finish() == b"rest"


def test_bad_limit_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_line"):
        LineSplitter(0)
