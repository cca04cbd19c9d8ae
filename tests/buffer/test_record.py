"""Record framing: items survive any content; any damage to a header or body is seen."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.buffer.record import (
    HEADER_SIZE,
    decode_items,
    encode_body,
    find_header,
    pack_header,
    parse_header,
)

item_lists = st.lists(st.binary(max_size=64), min_size=1, max_size=20)


def record(items: list[bytes], seq: int = 7, first_event: int = 100) -> bytes:
    body = encode_body(items)
    return pack_header(len(items), seq, first_event, 123_456_789, body) + body


@given(item_lists)
def test_items_round_trip_whatever_they_contain(items: list[bytes]) -> None:
    rec = record(items)
    header = parse_header(rec)
    assert header is not None
    assert (header.count, header.seq, header.first_event, header.time_ns) == (
        len(items),
        7,
        100,
        123_456_789,
    )
    assert header.size == len(rec)
    assert header.next_event == 100 + len(items)
    assert decode_items(header, rec[HEADER_SIZE:]) == items


@settings(max_examples=200)
@given(item_lists, st.data())
def test_a_flipped_bit_anywhere_is_detected(items: list[bytes], data: st.DataObject) -> None:
    rec = bytearray(record(items))
    bit = data.draw(st.integers(0, len(rec) * 8 - 1))
    rec[bit // 8] ^= 1 << (bit % 8)
    header = parse_header(bytes(rec))
    if bit < HEADER_SIZE * 8:
        assert header is None
    else:
        assert header is not None
        assert decode_items(header, bytes(rec[HEADER_SIZE:])) is None


def test_a_short_body_is_rejected() -> None:
    rec = record([b"abc", b"de"])
    header = parse_header(rec)
    assert header is not None
    assert decode_items(header, rec[HEADER_SIZE:-1]) is None
    assert parse_header(rec[: HEADER_SIZE - 1]) is None


def test_find_header_skips_junk_and_false_magic() -> None:
    rec = record([b"payload"])
    junk = b"\x00" * 10 + b"EWb1" + b"\xff" * 60  # a magic without a valid header after it
    buf = junk + rec
    assert find_header(buf) == len(junk)
    assert find_header(buf, len(junk) + 1) == -1
    assert find_header(b"nothing here") == -1
