"""What every sink promises the pipeline."""

from __future__ import annotations

from typing import Literal, Protocol

from edgewatch.pipeline.batch import EventBatch

#: ``ig``: the IG JSON each event arrived as, unchanged (only filtered) — what the seed's
#: ``ContainerLogV2`` queries read. ``normalized``: edgewatch's typed event columns.
OutputFormat = Literal["ig", "normalized"]


class SinkClosedError(Exception):
    """The sink cannot take more (e.g. the reader of stdout went away)."""


class Sink(Protocol):
    name: str
    #: Columns the sink reads from events; ``None`` = all. Raw-forwarding sinks read none,
    #: which lets the decoder skip every column no filter needs.
    columns: frozenset[str] | None

    def write(self, batch: EventBatch) -> int:
        """Write a batch; return bytes written. Raise SinkClosedError when done for good."""
        ...

    def flush(self) -> None: ...

    def close(self) -> None: ...
