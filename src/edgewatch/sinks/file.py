"""Rotating NDJSON files: a local copy on the node that cannot fill its disk."""

from __future__ import annotations

from pathlib import Path

from edgewatch.pipeline.batch import EventBatch
from edgewatch.sinks.base import OutputFormat
from edgewatch.sinks.encode import encode_batch
from edgewatch.sinks.rotating import RotatingFile


class FileSink:
    def __init__(
        self,
        path: Path,
        fmt: OutputFormat = "normalized",
        max_bytes: int = 100 * 1024 * 1024,
        max_files: int = 5,
        name: str = "file",
    ) -> None:
        self.name = name
        self.format: OutputFormat = fmt
        self.columns: frozenset[str] | None = frozenset() if fmt == "ig" else None
        self._file = RotatingFile(path, max_bytes=max_bytes, max_files=max_files)

    @property
    def path(self) -> Path:
        return self._file.path

    def write(self, batch: EventBatch) -> int:
        data = encode_batch(batch, self.format)
        if data:
            self._file.write(data)
        return len(data)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()
