"""Helpers shared by the source tests: a threaded runner and CRI line builders."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from edgewatch.sources.base import RawBatch, Source
from tests.conftest import all_ig_lines, ig_lines

#: How long a test waits for a background source before it fails (never reached when
#: the code works; the tests poll in small steps).
WAIT = 10.0


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


class Collector:
    """An ``emit`` that keeps every batch and, like the runtime, confirms delivery."""

    def __init__(self, commit: bool = True) -> None:
        self.batches: list[RawBatch] = []
        self.commit = commit
        self._lock = threading.Lock()

    def __call__(self, batch: RawBatch) -> None:
        with self._lock:
            self.batches.append(batch)
        if self.commit and batch.commit is not None:
            batch.commit()

    def lines(self) -> list[bytes]:
        with self._lock:
            return [line for batch in self.batches for line in batch.lines]

    def count(self) -> int:
        with self._lock:
            return sum(len(b.lines) for b in self.batches)


class Running:
    """Runs a source on a thread for the duration of a ``with`` block."""

    def __init__(self, source: Source, collector: Collector | None = None) -> None:
        self.source = source
        self.out = collector if collector is not None else Collector()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=source.run, args=(self.out, self.stop), daemon=True)

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "source did not return after stop"


def cri(index: int, content: bytes, tag: str = "F", stream: str = "stdout") -> bytes:
    """One CRI log line (with its newline); ``index`` makes the timestamp unique."""
    seconds, nanos = divmod(index, 1_000_000_000)
    ts = f"2025-06-18T09:{12 + seconds // 60:02d}:{seconds % 60:02d}.{nanos:09d}Z"
    return f"{ts} {stream} {tag} ".encode() + content + b"\n"


def cri_record(index: int, content: bytes, parts: int = 1) -> list[bytes]:
    """A record as the runtime writes it: ``parts - 1`` P chunks and a final F chunk."""
    if parts <= 1:
        return [cri(index, content)]
    size = -(-len(content) // parts)
    chunks = [content[i : i + size] for i in range(0, len(content), size)]
    return [cri(index, c, "P") for c in chunks[:-1]] + [cri(index, chunks[-1], "F")]


def ig_records(count: int, gadget: str | None = None) -> list[bytes]:
    """``count`` real IG JSON lines, cycling through one fixture file or all of them."""
    pool = ig_lines(gadget) if gadget else [line for _, line in all_ig_lines()]
    return [pool[i % len(pool)] for i in range(count)]
