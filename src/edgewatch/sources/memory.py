"""Lines from an in-process iterator: the simulator feeding the demo, tests, benchmarks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from edgewatch.events.base import GadgetSpec
from edgewatch.sources.base import BATCH_LINES, Emit, RawBatch


class IterableSource:
    def __init__(
        self,
        lines: Iterable[bytes],
        name: str = "memory",
        gadget: GadgetSpec | None = None,
        batch_lines: int = BATCH_LINES,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self._lines = lines
        self._gadget = gadget
        self._batch_lines = batch_lines
        self._on_progress = on_progress

    def run(self, emit: Emit, stop: threading.Event) -> None:
        batch: list[bytes] = []
        done = 0
        for line in self._lines:
            batch.append(line)
            if len(batch) >= self._batch_lines:
                emit(RawBatch(batch, self.name, self._gadget))
                done += len(batch)
                if self._on_progress is not None:
                    self._on_progress(done)
                batch = []
                if stop.is_set():
                    return
        emit(RawBatch(batch, self.name, self._gadget, end_of_stream=True))
        if self._on_progress is not None:
            self._on_progress(done + len(batch))
