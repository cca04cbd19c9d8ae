"""An append-only file that rotates at a size bound (``x`` -> ``x.1`` -> ``x.2`` ...).

Used by the NDJSON file sink and the dead-letter file: both must never grow without
limit on a small edge node.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO


class RotatingFile:
    def __init__(self, path: Path, max_bytes: int, max_files: int) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if max_files < 1:
            raise ValueError("max_files must be at least 1")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: BinaryIO = open(self.path, "ab")  # noqa: SIM115 - lives as long as the sink
        self._size = self._fh.tell()
        self.rotations = 0

    def write(self, data: bytes) -> None:
        if self._size and self._size + len(data) > self.max_bytes:
            self.rotate()
        self._fh.write(data)
        self._size += len(data)

    def rotate(self) -> None:
        self._fh.close()
        keep = self.max_files - 1
        if keep <= 0:
            self.path.unlink(missing_ok=True)
        else:
            oldest = self.path.with_name(f"{self.path.name}.{keep}")
            oldest.unlink(missing_ok=True)
            for i in range(keep - 1, 0, -1):
                src = self.path.with_name(f"{self.path.name}.{i}")
                if src.exists():
                    os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._fh = open(self.path, "ab")  # noqa: SIM115
        self._size = 0
        self.rotations += 1

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            self._fh.close()
