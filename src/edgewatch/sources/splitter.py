"""Bytes in, complete lines out: the one line splitter both file sources share.

Reading happens in large chunks because one ``bytes.split`` over a megabyte costs far
less than a million ``readline`` calls. What is left after the last newline of a chunk is
kept (as a list of parts, so a long line arriving in many small pipe reads is joined
once, not copied again at every read) until its newline arrives. A line that grows past
``max_line`` is cut: its prefix is handed on (the decoder rejects it with a reason, so
nothing vanishes silently) and the rest is skipped up to the next newline, which keeps
memory bounded whatever the input.

The splitter also counts absolute byte offsets, which is what a tailing source needs to
persist "how far have I read" without any per-line bookkeeping.
"""

from __future__ import annotations


class LineSplitter:
    """Splits a byte stream fed in arbitrary chunks into lines without their newline.

    ``fed`` is the absolute offset just after the last byte fed; ``line_end`` the
    absolute offset just after the last newline seen (where the next line begins).
    ``cuts`` counts oversized lines cut to ``max_line`` bytes.
    """

    __slots__ = ("_parts", "_size", "_skipping", "cuts", "fed", "line_end", "max_line")

    def __init__(self, max_line: int, start: int = 0, skip_first: bool = False) -> None:
        if max_line <= 0:
            raise ValueError("max_line must be positive")
        self.max_line = max_line
        self.fed = start
        self.line_end = start
        self.cuts = 0
        self._parts: list[bytes] = []
        self._size = 0
        # skip_first: ``start`` may be in the middle of a line; drop up to its newline.
        self._skipping = skip_first

    @property
    def pending(self) -> int:
        """Bytes held back because their line has no newline yet."""
        return self._size

    def reset(self, start: int = 0) -> None:
        """Forget held-back bytes and continue as if the stream began at ``start``."""
        self.fed = start
        self.line_end = start
        self._parts = []
        self._size = 0
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes]:
        """Return the lines completed by ``data``; keep the incomplete rest."""
        if not data:
            return []
        base = self.fed
        self.fed += len(data)
        if self._skipping:
            nl = data.find(b"\n")
            if nl < 0:
                return []
            self._skipping = False
            self.line_end = base + nl + 1
            data = data[nl + 1 :]
        held = self._size
        lines = data.split(b"\n")
        rest = lines.pop()
        if lines:
            self.line_end = self.fed - len(rest)
            if self._parts:
                self._parts.append(lines[0])
                lines[0] = b"".join(self._parts)
                self._parts = []
                self._size = 0
            if held + len(data) > self.max_line:
                lines = self._cut_complete(lines)
        if rest:
            self._parts.append(rest)
            self._size += len(rest)
            if self._size > self.max_line:
                lines.append(self._cut_pending())
        return lines

    def finish(self) -> bytes | None:
        """End of input: the held-back bytes of a last line that never got its newline."""
        skipping = self._skipping
        tail = b"".join(self._parts) if self._parts else None
        self.reset(self.fed)
        return None if skipping else tail

    # -- oversized lines ----------------------------------------------------------------

    def _cut_complete(self, lines: list[bytes]) -> list[bytes]:
        limit = self.max_line
        self.cuts += sum(1 for line in lines if len(line) > limit)
        return [line[:limit] if len(line) > limit else line for line in lines]

    def _cut_pending(self) -> bytes:
        prefix = b"".join(self._parts)[: self.max_line]
        self._parts = []
        self._size = 0
        self._skipping = True
        self.cuts += 1
        return prefix
