"""Helpers for the buffer tests: recognisable items, draining, what is on disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgewatch.buffer import Batch, DiskBuffer


def items_for(tag: int, n: int, size: int = 40) -> list[bytes]:
    """``n`` items that say which batch (``tag``) and position they belong to."""
    return [b"%d:%d:" % (tag, i) + b"x" * ((tag * 7 + i) % size) for i in range(n)]


def open_buffer(path: Path, max_bytes: int = 1 << 20, **options: Any) -> DiskBuffer:
    options.setdefault("fsync", "never")
    return DiskBuffer(path, max_bytes, **options)


def drain(buf: DiskBuffer, *, ack: bool = True, max_items: int = 1) -> list[Batch]:
    """Every batch available now; ``max_items=1`` gives one record per batch."""
    out = []
    while (batch := buf.read(max_items=max_items, timeout=0)) is not None:
        out.append(batch)
        if ack:
            buf.ack(batch.seq)
    return out


def dir_bytes(path: Path) -> int:
    return sum(os.stat(p).st_size for p in path.iterdir() if p.is_file())


def segment_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.seg"))
