"""What every source promises the runtime.

A source reads raw lines from somewhere (files, stdin, kubelet's CRI logs, IG children)
and hands them over in batches. It knows nothing about decoding, filters or sinks. The
runtime gives it an ``emit`` callable that blocks while the pipeline is full, which is
how backpressure reaches the reader instead of memory growing without bound.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from edgewatch.events.base import GadgetSpec


@dataclass(slots=True)
class RawBatch:
    """A batch of raw lines (without their newline) from one stream of one source.

    ``stream`` names the stream the lines belong to; lines of one stream share decoder
    state (partial CRI lines), so a source must never interleave two files or two
    children under one name. ``gadget`` is the gadget the source knows produced them
    (None when lines must be classified). ``commit``, when set, is called once every
    event of the batch has been handed to the sinks: that is when a tailing source may
    persist its read offset (at-least-once delivery across restarts).
    """

    lines: list[bytes]
    stream: str
    gadget: GadgetSpec | None = None
    commit: Callable[[], None] | None = None
    end_of_stream: bool = False
    meta: dict[str, str] = field(default_factory=dict)


Emit = Callable[[RawBatch], None]


class Source(Protocol):
    """A producer of raw line batches, run on its own thread by the runtime."""

    name: str

    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Read and emit until the input ends (return) or ``stop`` is set.

        Must return promptly (well within a second) once ``stop`` is set, and must not
        raise for bad input: malformed lines are the decoder's business.
        """
        ...


#: Lines per batch a source should aim for: large enough to amortize per-batch work,
#: small enough to keep latency and memory low.
BATCH_LINES = 1024

#: A single line longer than this is cut off and handed on as-is (the decoder rejects it).
MAX_LINE_BYTES = 4 * 1024 * 1024
