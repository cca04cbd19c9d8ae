"""One buffer per destination under a common root: ``<root>/<destination>/``.

Destinations (tenants, workspaces) fail independently, so each gets a DiskBuffer of its
own -- own directory, own size cap, own locks, own sync thread. A destination that is
down fills and drops (or blocks) only its own buffer. The set is a registry and a
health roll-up; it holds no lock while a buffer works.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from edgewatch.buffer.disk import DiskBuffer
from edgewatch.buffer.segment import list_segments
from edgewatch.buffer.stats import BufferStats

#: Destination names become directory names: keep them to a portable, unambiguous set.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class BufferSet:
    """Opens ``<root>/<name>`` on first use with ``defaults`` plus per-name overrides."""

    def __init__(self, root: str | Path, **defaults: Any) -> None:
        self.root = Path(root)
        self.defaults = defaults
        self._buffers: dict[str, DiskBuffer] = {}
        self._lock = threading.Lock()

    def get(self, name: str, **overrides: Any) -> DiskBuffer:
        """The buffer for destination ``name``; options apply when it is first opened."""
        if not _NAME.match(name):
            raise ValueError(
                f"destination name {name!r} must be 1-128 letters, digits, '.', '_' or '-'"
                " and start with a letter or digit"
            )
        with self._lock:
            buf = self._buffers.get(name)
            if buf is None or buf.closed:
                options = {**self.defaults, **overrides}
                buf = DiskBuffer(self.root / name, name=name, **options)
                self._buffers[name] = buf
            return buf

    def __iter__(self) -> Iterator[DiskBuffer]:
        with self._lock:
            return iter(list(self._buffers.values()))

    def stats(self) -> dict[str, BufferStats]:
        return {buf.name: buf.stats() for buf in self}

    def leftovers(self) -> list[str]:
        """Directories under the root holding segments for a destination not opened here,
        e.g. one removed from the configuration with events still waiting."""
        if not self.root.is_dir():
            return []
        with self._lock:
            opened = set(self._buffers)
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and p.name not in opened and _NAME.match(p.name) and list_segments(p)
        )

    def close(self) -> None:
        with self._lock:
            buffers = list(self._buffers.values())
            self._buffers.clear()
        for buf in buffers:
            buf.close()

    def __enter__(self) -> BufferSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
