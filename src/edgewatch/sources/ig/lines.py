"""Turn a child's stdout pipe into batches of lines.

A batch is handed on when it holds :data:`~edgewatch.sources.base.BATCH_LINES` lines or
when its first line has waited ``max_delay`` seconds, whichever comes first: a busy
node gets large batches (cheap per line), a quiet one still sees each event within
about 100 ms. The pipe is read with ``select`` + ``os.read`` so the flush deadline is
kept even while IG is silent, and the loop ends at end of file, which the supervisor
guarantees by killing the child's whole process group.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from selectors import EVENT_READ, DefaultSelector  # stdlib, not .selectors

from edgewatch.sources.base import BATCH_LINES, MAX_LINE_BYTES

#: Longest a line waits in a partial batch before it is handed on.
MAX_BATCH_DELAY = 0.1
_CHUNK = 256 * 1024


class LineSplitter:
    """Cuts a byte stream into lines without their ``\\n``.

    A line longer than ``max_line`` is handed on cut to that length as soon as it is
    that long (the decoder rejects it and counts it); the rest of it, up to the next
    newline, is dropped. Memory stays bounded whatever IG prints.
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self.max_line = max_line
        self._partial = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        *complete, rest = data.split(b"\n")
        for part in complete:
            if self._skipping:
                # The newline that ends a line already handed on cut: drop its rest.
                self._skipping = False
                continue
            line = part
            if self._partial:
                line = bytes(self._partial) + part
                self._partial.clear()
            out.append(line[: self.max_line])
        if not self._skipping:
            self._partial += rest
            if len(self._partial) >= self.max_line:
                out.append(bytes(self._partial[: self.max_line]))
                self._partial.clear()
                self._skipping = True
        return out

    def finish(self) -> list[bytes]:
        """End of input: an unterminated last line is still a line."""
        tail = [] if self._skipping or not self._partial else [bytes(self._partial)]
        self._partial.clear()
        self._skipping = False
        return tail


def pump(
    fd: int,
    deliver: Callable[[list[bytes]], None],
    *,
    max_lines: int = BATCH_LINES,
    max_delay: float = MAX_BATCH_DELAY,
    splitter: LineSplitter | None = None,
) -> None:
    """Read ``fd`` to end of file, calling ``deliver`` with batches of lines.

    ``deliver`` may block (backpressure); the pipe then fills and the child blocks on
    its next write, which is exactly the intended effect.
    """
    split = splitter or LineSplitter()
    pending: list[bytes] = []
    deadline = 0.0
    with DefaultSelector() as sel:
        sel.register(fd, EVENT_READ)
        while True:
            timeout = None if not pending else max(0.0, deadline - time.monotonic())
            if sel.select(timeout):
                data = os.read(fd, _CHUNK)
                if not data:
                    break
                lines = split.feed(data)
                if lines:
                    if not pending:
                        deadline = time.monotonic() + max_delay
                    pending.extend(lines)
            if pending and (len(pending) >= max_lines or time.monotonic() >= deadline):
                _deliver_all(pending, deliver, max_lines)
                pending = []
    pending.extend(split.finish())
    if pending:
        _deliver_all(pending, deliver, max_lines)


def _deliver_all(lines: list[bytes], deliver: Callable[[list[bytes]], None], size: int) -> None:
    if len(lines) <= size:
        deliver(lines)
        return
    for start in range(0, len(lines), size):
        deliver(lines[start : start + size])
