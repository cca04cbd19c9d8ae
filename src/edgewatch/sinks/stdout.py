"""NDJSON on stdout: the seed's Container Insights path, with edgewatch's filters in front.

In ``ig`` format each line is the IG JSON object exactly as IG printed it, so the seed's
``ContainerLogV2`` hunting queries keep working unchanged; only the noise is gone.
"""

from __future__ import annotations

import contextlib
import sys
from typing import BinaryIO

from edgewatch.pipeline.batch import EventBatch
from edgewatch.sinks.base import OutputFormat, SinkClosedError
from edgewatch.sinks.encode import encode_batch


class StdoutSink:
    def __init__(
        self, fmt: OutputFormat = "ig", stream: BinaryIO | None = None, name: str = "stdout"
    ) -> None:
        self.name = name
        self.format: OutputFormat = fmt
        self.columns: frozenset[str] | None = frozenset() if fmt == "ig" else None
        self._out = stream if stream is not None else sys.stdout.buffer

    def write(self, batch: EventBatch) -> int:
        data = encode_batch(batch, self.format)
        if not data:
            return 0
        try:
            self._out.write(data)
        except BrokenPipeError as exc:  # `edgewatch ... | head`
            raise SinkClosedError("stdout was closed by its reader") from exc
        return len(data)

    def flush(self) -> None:
        try:
            self._out.flush()
        except BrokenPipeError as exc:
            raise SinkClosedError("stdout was closed by its reader") from exc

    def close(self) -> None:
        with contextlib.suppress(SinkClosedError):
            self.flush()
