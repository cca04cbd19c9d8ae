"""Durable store-and-forward in front of every remote destination.

Events are written to local disk before they are acknowledged upstream, delivered at
least once and in order per destination, bounded in size with a declared overflow
policy whose drops are counted, and kept per destination so one slow tenant never
stalls another. ``disk`` describes the guarantees and the fsync policy; ``record`` the
on-disk format.

    buf = DiskBuffer("/var/lib/edgewatch/buffer/sentinel-a", max_bytes=2 << 30)
    seq = buf.append(encoded_events)         # kept: safe to commit the input
    batch = buf.read(max_items=5000, timeout=1.0)   # on the delivery thread
    if batch is not None:
        send(batch.items)
        buf.ack(batch.seq)
"""

from edgewatch.buffer.bufferset import BufferSet
from edgewatch.buffer.disk import Batch, DiskBuffer, Overflow
from edgewatch.buffer.errors import (
    BufferClosedError,
    BufferFullError,
    BufferLockedError,
    DiskBufferError,
    RecordTooLargeError,
)
from edgewatch.buffer.stats import BufferStats
from edgewatch.buffer.sync import FsyncPolicy

__all__ = [
    "Batch",
    "BufferClosedError",
    "BufferFullError",
    "BufferLockedError",
    "BufferSet",
    "BufferStats",
    "DiskBuffer",
    "DiskBufferError",
    "FsyncPolicy",
    "Overflow",
    "RecordTooLargeError",
]
