"""The unit of work between stages: events plus the IG JSON each came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import compress
from typing import Any

from edgewatch.events.base import Event


@dataclass(slots=True)
class EventBatch:
    """Parallel lists: ``raws[i]`` is the IG JSON object ``events[i]`` was decoded from.

    Keeping the original bytes lets sinks that forward IG's own shape (the stdout path
    Container Insights scrapes) write them unchanged instead of re-encoding.
    ``stream`` names where the batch came from, for logs and dead letters.

    ``types`` (the type of each event, computed once) is what counting and filtering
    look at: a list of type pointers is far cheaper to walk than the events themselves,
    which are large and no longer in the CPU cache by the time a stage runs.
    """

    events: list[Event]
    raws: list[bytes]
    stream: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    _types: list[type[Any]] | None = None

    def __len__(self) -> int:
        return len(self.events)

    @property
    def types(self) -> list[type[Any]]:
        if self._types is None:
            self._types = list(map(type, self.events))
        return self._types

    def keep_where(self, mask: list[bool]) -> EventBatch:
        """A batch with only the events whose mask entry is true (selected in C)."""
        return EventBatch(
            list(compress(self.events, mask)),
            list(compress(self.raws, mask)),
            self.stream,
            self.meta,
            list(compress(self.types, mask)),
        )
