"""The unit of work between stages: events plus the IG JSON each came from."""

from __future__ import annotations

from dataclasses import dataclass, field
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

    def select(self, keep: list[int]) -> EventBatch:
        """A batch with only the events at the given (ascending) indexes."""
        if len(keep) == len(self.events):
            return self
        events, raws, types = self.events, self.raws, self.types
        return EventBatch(
            [events[i] for i in keep],
            [raws[i] for i in keep],
            self.stream,
            self.meta,
            [types[i] for i in keep],
        )
