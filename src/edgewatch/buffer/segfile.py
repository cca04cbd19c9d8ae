"""Reading the records of one segment file by offset, for the reader and for recovery.

Reads are positional (``os.pread``), so the file needs no shared seek position and the
writer can keep appending to the same file meanwhile. They go through a read-ahead
window: a run of small records costs one system call per window instead of two per
record. Once records turn out to be large the window shrinks to a header, so a large
body is read once, on its own, rather than partly twice.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from edgewatch.buffer.record import HEADER_SIZE, Header, find_header, parse_header

#: Read-ahead for runs of small records.
WINDOW = 256 * 1024
#: How far a damaged stretch is searched in one read when looking for the next record.
_RESYNC_CHUNK = 1024 * 1024


class SegmentFile:
    """A read-only handle on one segment file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._buf = b""
        self._at = 0
        self._ahead = WINDOW

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> SegmentFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _read(self, off: int, n: int, limit: int, ahead: int) -> bytes:
        """Bytes ``off .. off+n`` (fewer if the file is shorter); never past ``limit``."""
        rel = off - self._at
        buf = self._buf
        if rel >= 0 and rel + n <= len(buf):
            return buf[rel : rel + n]
        data = os.pread(self.fd, min(max(n, ahead), limit - off), off)
        self._buf, self._at = data, off
        return data[:n] if len(data) > n else data

    def header(self, off: int, limit: int) -> Header | None:
        """The record header at ``off``, or None if there is none intact before ``limit``."""
        if limit - off < HEADER_SIZE:
            return None
        header = parse_header(self._read(off, HEADER_SIZE, limit, self._ahead))
        if header is not None:
            self._ahead = WINDOW if header.size * 4 <= WINDOW else HEADER_SIZE
        return header

    def body(self, off: int, header: Header, limit: int) -> bytes:
        """The body of the record at ``off`` (short if the file ends first)."""
        return self._read(off + HEADER_SIZE, header.body_len, limit, 0)

    def resync(self, start: int, limit: int) -> int:
        """Offset of the next intact header at or after ``start``, or ``limit`` if none."""
        pos = start
        while pos < limit:
            want = min(_RESYNC_CHUNK + HEADER_SIZE, limit - pos)
            data = os.pread(self.fd, want, pos)
            found = find_header(data)
            if found >= 0:
                return pos + found
            if len(data) < want or pos + len(data) >= limit:
                break
            pos += _RESYNC_CHUNK
        return limit
