"""The on-disk record: one appended batch, framed so that a reader can prove it whole.

Layout, little-endian; a 48-byte header, then the body::

    offset size  field
     0      4    magic        b"EWb1" (the last byte is the format version)
     4      2    flags        0 (room for body encodings such as compression)
     6      2    reserved     0
     8      4    count        items in the batch (at least 1)
    12      8    seq          record number: +1 per record, never reused while on disk
    20      8    first_event  items appended before this record, a running total
    28      8    time_ns      wall-clock time of the append, ns since the epoch (UTC)
    36      4    body_len
    40      4    body_crc     zlib.crc32 of the body
    44      4    header_crc   zlib.crc32 of bytes 0..43
    48      ...  body         count uint32 item lengths, then the items back to back

The header has a CRC of its own because its length field decides where the next record
starts: a garbled length trusted once would misframe everything after it. With its own
CRC a damaged header is recognised without reading the body, and a scanner can look for
the next magic whose header checks out instead of giving up on the rest of the file.

``first_event`` makes losses countable even when a header is destroyed: the events
between two intact neighbours are the difference of their running totals.

Body CRCs are computed with ISA-L's ``crc32`` (``isal``): the same CRC-32 as
``zlib.crc32``, so files stay readable either way, at several times the speed; every
buffered byte is checksummed twice (append and read), so this is on the hot path.

The body is a length table rather than separator-joined items so payloads stay opaque
(any byte may occur in an item); building and splitting it are C-level operations, so
the per-item Python cost stays at one slice.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from collections.abc import Sequence
from itertools import accumulate, islice
from typing import NamedTuple

from isal.isal_zlib import crc32 as _body_crc

MAGIC = b"EWb1"
_HEAD = struct.Struct("<4sHHIQQqII")
_CRC = struct.Struct("<I")
HEADER_SIZE = _HEAD.size + _CRC.size
#: Largest body the 32-bit length field can describe.
MAX_BODY = 0xFFFFFFFF

#: array type code of the length table: "I" is 4 bytes on every platform CPython runs on.
_LENGTHS = "I"
_SWAP = sys.byteorder != "little"


class Header(NamedTuple):
    """A record header that passed its CRC (see the module docstring for the fields)."""

    count: int
    seq: int
    first_event: int
    time_ns: int
    body_len: int
    body_crc: int

    @property
    def size(self) -> int:
        """Bytes the whole record takes on disk."""
        return HEADER_SIZE + self.body_len

    @property
    def next_event(self) -> int:
        """The running event total after this record."""
        return self.first_event + self.count


def encode_body(items: Sequence[bytes]) -> bytes:
    """The body for ``items``: their lengths as uint32, then the items themselves."""
    lengths = array(_LENGTHS, map(len, items))  # OverflowError for an item of 4 GiB or more
    if _SWAP:  # pragma: no cover - big-endian hosts
        lengths.byteswap()
    return b"".join([lengths.tobytes(), *items])


def pack_header(count: int, seq: int, first_event: int, time_ns: int, body: bytes) -> bytes:
    head = _HEAD.pack(MAGIC, 0, 0, count, seq, first_event, time_ns, len(body), _body_crc(body))
    return head + _CRC.pack(zlib.crc32(head))


def parse_header(buf: bytes, off: int = 0) -> Header | None:
    """The header at ``buf[off:]``, or None if it is cut short or does not check out."""
    if len(buf) - off < HEADER_SIZE or buf[off : off + 4] != MAGIC:
        return None
    _, flags, reserved, count, seq, first_event, time_ns, body_len, body_crc = _HEAD.unpack_from(
        buf, off
    )
    (crc,) = _CRC.unpack_from(buf, off + _HEAD.size)
    if zlib.crc32(memoryview(buf)[off : off + _HEAD.size]) != crc:
        return None
    if flags or reserved or count == 0 or seq == 0 or body_len < 4 * count:
        return None  # a header this version never writes
    return Header(count, seq, first_event, time_ns, body_len, body_crc)


def decode_items(header: Header, body: bytes) -> list[bytes] | None:
    """The items of a record, or None if the body is not the one its header describes."""
    if len(body) != header.body_len or _body_crc(body) != header.body_crc:
        return None
    table = 4 * header.count
    lengths = array(_LENGTHS)
    lengths.frombytes(memoryview(body)[:table])
    if _SWAP:  # pragma: no cover - big-endian hosts
        lengths.byteswap()
    bounds = list(accumulate(lengths, initial=table))
    if bounds[-1] != len(body):
        return None
    return list(map(body.__getitem__, map(slice, bounds, islice(bounds, 1, None))))


def find_header(buf: bytes, start: int = 0) -> int:
    """Offset of the first intact header at or after ``start`` in ``buf``, or -1."""
    pos = buf.find(MAGIC, start)
    while pos >= 0:
        if parse_header(buf, pos) is not None:
            return pos
        pos = buf.find(MAGIC, pos + 1)
    return -1
