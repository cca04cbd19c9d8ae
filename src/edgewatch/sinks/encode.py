"""Batch encoders shared by the NDJSON sinks."""

from __future__ import annotations

import msgspec

from edgewatch.pipeline.batch import EventBatch
from edgewatch.sinks.base import OutputFormat

_encoder = msgspec.json.Encoder()


def encode_batch(batch: EventBatch, fmt: OutputFormat) -> bytes:
    """NDJSON bytes for a batch, one line per event, newline-terminated."""
    if not batch.events:
        return b""
    if fmt == "ig":
        raws = batch.raws
        raws.append(b"")  # a trailing newline without copying the joined buffer again
        try:
            return b"\n".join(raws)
        finally:
            raws.pop()
    return _encoder.encode_lines(batch.events)
