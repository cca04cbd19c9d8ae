"""NDJSON from files and stdin: recorded IG output, ``ig run … -o json | edgewatch``.

This is the source behind replaying a capture, benchmarking the pipeline and piping a
live ``ig`` into edgewatch, so it is built for throughput: it reads megabyte chunks and
splits them with one ``bytes.split`` (see :mod:`edgewatch.sources.splitter`), and hands
on batches of about :data:`~edgewatch.sources.base.BATCH_LINES` lines. Gzip files are
recognized by their magic bytes and decompressed on the fly, because captures are kept
compressed. A pipe is read with ``select`` and ``os.read`` so that a quiet ``ig`` neither
delays the lines already read nor keeps the source from stopping.
"""

from __future__ import annotations

import gzip
import logging
import os
import select
import stat
import sys
import threading
import zlib
from collections.abc import Callable, Sequence
from typing import BinaryIO, Protocol

from edgewatch.events.base import GadgetSpec
from edgewatch.sources.base import BATCH_LINES, MAX_LINE_BYTES, Emit, RawBatch
from edgewatch.sources.splitter import LineSplitter

log = logging.getLogger("edgewatch.sources.ndjson")

#: Bytes per read: large enough that the split, not the syscall, dominates.
CHUNK_BYTES = 1024 * 1024
#: A batch is handed on once it holds this many bytes, whatever its line count, so a
#: thousand huge lines cannot pile up in memory.
BATCH_BYTES = 4 * 1024 * 1024
#: The ``paths`` entry that means standard input.
STDIN = "-"

_GZIP_MAGIC = b"\x1f\x8b"
_PIPE_WAIT = 0.1  # seconds a pipe read waits before looking at ``stop`` again

#: ``on_progress(done_bytes, total_bytes)``; total is None when unknown (a pipe).
ProgressHook = Callable[[int, int | None], None]


class _Reader(Protocol):
    def read(self, size: int) -> bytes | None:
        """Up to ``size`` bytes; ``b""`` at the end, None when nothing is ready yet."""
        ...

    def position(self) -> int:
        """Bytes of the underlying file consumed so far (compressed bytes for gzip)."""
        ...

    def close(self) -> None: ...


class _FileReader:
    """A regular file, or any object with ``read``: reads block only briefly."""

    def __init__(self, fh: BinaryIO, owned: bool) -> None:
        self._fh = fh
        self._owned = owned
        self._read = getattr(fh, "read1", fh.read)
        self._done = 0

    def read(self, size: int) -> bytes | None:
        data: bytes = self._read(size)
        self._done += len(data)
        return data

    def position(self) -> int:
        return self._done

    def close(self) -> None:
        if self._owned:
            self._fh.close()


class _GzipReader:
    """A gzip file; progress counts the compressed bytes, which is what the size says."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._gz = gzip.GzipFile(fileobj=raw, mode="rb")

    def read(self, size: int) -> bytes | None:
        return self._gz.read(size)

    def position(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._gz.close()
        self._raw.close()


class _PipeReader:
    """A pipe, tty or socket: wait with ``select`` so that ``stop`` is seen promptly."""

    def __init__(self, fd: int, owner: BinaryIO | None = None) -> None:
        self._fd = fd
        self._owner = owner  # closed with the reader; None for stdin, which is not ours
        self._done = 0

    def read(self, size: int) -> bytes | None:
        ready, _, _ = select.select([self._fd], [], [], _PIPE_WAIT)
        if not ready:
            return None
        data = os.read(self._fd, size)
        self._done += len(data)
        return data

    def position(self) -> int:
        return self._done

    def close(self) -> None:
        if self._owner is not None:
            self._owner.close()


class NdjsonSource:
    """Reads newline-delimited lines from files (plain or gzip) and/or stdin (``"-"``).

    Each path is its own stream (``stream`` is the path, ``"stdin"`` for ``-``) and ends
    with a batch marked ``end_of_stream`` (possibly without lines), so the runtime can
    flush per-stream decoder state. ``gadget`` is the gadget the user says produced the
    lines (``--gadget``); None lets the decoder infer it per line.

    ``follow=True`` keeps reading a single file at its end like ``tail -f`` (no rotation
    handling: that is :class:`~edgewatch.sources.cri.CriTailSource`'s job) until
    ``stop``; an incomplete last line then waits for its newline.

    ``stdin`` replaces ``sys.stdin.buffer`` for ``"-"`` (tests, embedding). Progress for a
    progress bar is in ``bytes_done``/``bytes_total`` (None when a pipe makes the total
    unknown) and is pushed to ``on_progress`` after every chunk. Files that could not be
    read are logged and listed in ``failed`` as ``(path, reason)``; the others are read.
    """

    def __init__(
        self,
        paths: Sequence[str],
        gadget: GadgetSpec | None = None,
        name: str = "file",
        follow: bool = False,
        *,
        stdin: BinaryIO | None = None,
        on_progress: ProgressHook | None = None,
        chunk_size: int = CHUNK_BYTES,
        batch_lines: int = BATCH_LINES,
        max_line_bytes: int = MAX_LINE_BYTES,
        poll_interval: float = 0.2,
    ) -> None:
        if isinstance(paths, str):
            raise TypeError("paths must be a sequence of paths, not one string")
        if not paths:
            raise ValueError("NdjsonSource needs at least one path ('-' for stdin)")
        if follow and len(paths) != 1:
            raise ValueError("follow=True follows exactly one path; use CriTailSource for many")
        for label, value in (
            ("chunk_size", chunk_size),
            ("batch_lines", batch_lines),
            ("max_line_bytes", max_line_bytes),
        ):
            if value <= 0:
                raise ValueError(f"{label} must be positive, got {value}")
        self.paths = list(paths)
        self.gadget = gadget
        self.name = name
        self.follow = follow
        self.on_progress = on_progress
        self.chunk_size = chunk_size
        self.batch_lines = batch_lines
        self.max_line_bytes = max_line_bytes
        self.poll_interval = poll_interval
        self.bytes_done = 0
        self.bytes_total: int | None = None
        self.lines_cut = 0
        self.failed: list[tuple[str, str]] = []
        self._stdin = stdin

    # -- Source -----------------------------------------------------------------------

    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Read every path in order; return at the end of the last one or on ``stop``."""
        self.bytes_done = 0
        self.bytes_total = self._total_bytes()
        for path in self.paths:
            if stop.is_set():
                return
            self._read_path(path, emit, stop)

    # -- one path ---------------------------------------------------------------------

    def _read_path(self, path: str, emit: Emit, stop: threading.Event) -> None:
        stream = "stdin" if path == STDIN else path
        base = self.bytes_done
        try:
            reader = self._open(path)
        except OSError as exc:
            self._fail(path, f"cannot open: {exc.strerror or exc}")
            return
        try:
            self._pump(reader, stream, base, emit, stop)
        except (OSError, EOFError, zlib.error) as exc:
            # A corrupt or truncated gzip, an I/O error: the lines before it are out.
            self._fail(path, f"read failed: {exc}")
        finally:
            reader.close()

    def _pump(
        self, reader: _Reader, stream: str, base: int, emit: Emit, stop: threading.Event
    ) -> None:
        splitter = LineSplitter(self.max_line_bytes)
        batch = _Pending()
        follow = self.follow and stream != "stdin"
        while not stop.is_set():
            data = reader.read(self.chunk_size)
            if data is None or (not data and follow):
                # Nothing to read right now: hand on what we have instead of sitting on it.
                self._emit(batch.take(), stream, emit)
                if data is not None:
                    stop.wait(self.poll_interval)
                continue
            if not data:
                break
            lines = splitter.feed(data)
            self._progress(base + reader.position())
            if lines:
                batch.add(lines, len(data))
                self._emit_full(batch, stream, emit)
        self.lines_cut += splitter.cuts
        if stop.is_set():
            return
        last = splitter.finish()
        if last:
            batch.add([last], len(last))
        self._emit_full(batch, stream, emit)
        self._emit(batch.take(), stream, emit, end=True)

    def _emit_full(self, batch: _Pending, stream: str, emit: Emit) -> None:
        """Hand on whole batches; keep the remainder for the next chunk."""
        step = self.batch_lines
        lines = batch.lines
        full = len(lines) - len(lines) % step
        if full:
            for i in range(0, full, step):
                self._emit(lines[i : i + step], stream, emit)
            batch.keep(lines[full:])
        if batch.size >= BATCH_BYTES:
            self._emit(batch.take(), stream, emit)

    def _emit(self, lines: list[bytes], stream: str, emit: Emit, end: bool = False) -> None:
        if lines or end:
            emit(RawBatch(lines, stream=stream, gadget=self.gadget, end_of_stream=end))

    # -- opening and progress -----------------------------------------------------------

    def _open(self, path: str) -> _Reader:
        if path == STDIN:
            return self._stdin_reader()
        raw = open(path, "rb")  # noqa: SIM115 - owned by the returned reader
        try:
            if not stat.S_ISREG(os.fstat(raw.fileno()).st_mode):
                return _PipeReader(raw.fileno(), owner=raw)  # a FIFO, /dev/stdin, <(ig …)
            if raw.peek(2)[:2] == _GZIP_MAGIC:
                if self.follow:
                    raise OSError(f"{path} is gzip-compressed; it cannot be followed")
                return _GzipReader(raw)
        except BaseException:
            raw.close()
            raise
        return _FileReader(raw, owned=True)

    def _stdin_reader(self) -> _Reader:
        fh = self._stdin if self._stdin is not None else sys.stdin.buffer
        try:
            fd = fh.fileno()
        except (AttributeError, OSError, ValueError):
            return _FileReader(fh, owned=False)  # an in-memory stream
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return _FileReader(fh, owned=False)
        return _PipeReader(fd)

    def _total_bytes(self) -> int | None:
        total = 0
        for path in self.paths:
            try:
                if path == STDIN:
                    fh = self._stdin if self._stdin is not None else sys.stdin.buffer
                    st = os.fstat(fh.fileno())
                else:
                    st = os.stat(path)
            except (AttributeError, OSError, ValueError):
                if path == STDIN:
                    return None
                continue  # reported when it is opened
            if not stat.S_ISREG(st.st_mode):
                return None
            total += st.st_size
        return total

    def _progress(self, done: int) -> None:
        self.bytes_done = done
        if self.on_progress is not None:
            self.on_progress(done, self.bytes_total)

    def _fail(self, path: str, reason: str) -> None:
        log.error("%s: %s", path, reason)
        self.failed.append((path, reason))


class _Pending:
    """Lines waiting to become a batch, and roughly how many bytes they hold."""

    __slots__ = ("lines", "size")

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.size = 0

    def add(self, lines: list[bytes], size: int) -> None:
        if self.lines:
            self.lines.extend(lines)
        else:
            self.lines = lines
        self.size += size

    def take(self) -> list[bytes]:
        out, self.lines, self.size = self.lines, [], 0
        return out

    def keep(self, lines: list[bytes]) -> None:
        self.lines = lines
        self.size = sum(map(len, lines))
