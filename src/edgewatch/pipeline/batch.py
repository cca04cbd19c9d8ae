"""The unit of work between stages: events plus the IG JSON each came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgewatch.events.base import Event


@dataclass(slots=True)
class EventBatch:
    """Parallel lists: ``raws[i]`` is the IG JSON object ``events[i]`` was decoded from.

    Keeping the original bytes lets sinks that forward IG's own shape (the stdout path
    Container Insights scrapes) write them unchanged instead of re-encoding.
    ``stream`` names where the batch came from, for logs and dead letters.
    """

    events: list[Event]
    raws: list[bytes]
    stream: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.events)

    def select(self, keep: list[int]) -> EventBatch:
        """A batch with only the events at the given (ascending) indexes."""
        if len(keep) == len(self.events):
            return self
        events = self.events
        raws = self.raws
        return EventBatch(
            [events[i] for i in keep], [raws[i] for i in keep], self.stream, self.meta
        )
