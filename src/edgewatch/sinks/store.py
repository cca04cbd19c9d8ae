"""The store as a pipeline sink: batches of events into the local DuckDB store.

Sources interleave gadgets, so a pipeline batch holds a few hundred events of each;
building Arrow columns has a fixed cost per call, so events wait here per gadget until
there are ``build_rows`` of them (or the runtime's periodic flush, every half second).
"""

from __future__ import annotations

from collections import defaultdict

from edgewatch.events.base import Event
from edgewatch.pipeline.batch import EventBatch
from edgewatch.store.writer import StoreSettings, StoreWriter


class StoreSink:
    #: every column is stored, so the decoder must build whole events
    columns: frozenset[str] | None = None

    def __init__(self, settings: StoreSettings, name: str = "store", build_rows: int = 8192):
        self.name = name
        self.writer = StoreWriter(settings)
        self.build_rows = build_rows
        self._pending: dict[str, list[Event]] = defaultdict(list)

    def write(self, batch: EventBatch) -> int:
        types = batch.types
        if not types:
            return 0
        first = types[0]
        if types.count(first) == len(types):  # one gadget per source: the usual case
            self._add(first.gadget_family, batch.events)
            return 0
        groups: dict[str, list[Event]] = defaultdict(list)
        for event in batch.events:
            groups[event.gadget_family].append(event)
        for family, events in groups.items():
            self._add(family, events)
        return 0

    def _add(self, family: str, events: list[Event]) -> None:
        pending = self._pending[family]
        pending.extend(events)
        if len(pending) >= self.build_rows:
            self.writer.write(family, pending)
            self._pending[family] = []

    def _drain(self) -> None:
        for family, events in self._pending.items():
            if events:
                self.writer.write(family, events)
        self._pending.clear()

    def flush(self) -> None:
        """Hand everything to the writer thread; it inserts within its flush interval.

        Not waiting for the insert is what lets decoding (this thread) and inserting
        (DuckDB, GIL released) run on two cores at once.
        """
        self._drain()

    def close(self) -> None:
        self._drain()
        self.writer.close()
