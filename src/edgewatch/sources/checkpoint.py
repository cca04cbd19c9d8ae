"""Read offsets that survive a restart: where a tailing source resumes each file.

A position names the file by identity (device and inode), not only by path, because
kubelet rotates by renaming: after a restart ``0.log`` may be a new file while the one
we were reading lives on as ``0.log.20250618-091244``. It also keeps the first bytes of
the file (``head``), so a recycled inode — the old file deleted, a new one created with
the same number — is recognized as a different file instead of being resumed mid-way.

Positions move forward only when the runtime confirms delivery (``commit``), which is
what makes delivery at-least-once: a crash re-reads what was not yet confirmed, never
skips it. Commits may arrive on another thread and out of order; each carries a
sequence number and an older one never overwrites a newer one.

The file is JSON, written atomically (temporary file, fsync, rename, fsync of the
directory), so a crash leaves either the old or the new checkpoint, never half of one.
Writes are rate-limited (``interval``) because commits arrive many times a second. A
checkpoint that cannot be read is reported and ignored: losing the resume point means
re-reading or skipping some lines, refusing to start would lose all of them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec

log = logging.getLogger("edgewatch.sources.checkpoint")

#: How many leading bytes of a file identify it beside its inode.
HEAD_BYTES = 64
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class FileId:
    """A file's identity, stable across renames: (device, inode)."""

    dev: int
    ino: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileId:
        return cls(st.st_dev, st.st_ino)


@dataclass(frozen=True, slots=True)
class Position:
    """Resume ``offset`` bytes into ``file``, which was at ``path`` when it was read.

    ``head`` is the file's first ``min(offset, HEAD_BYTES)`` bytes, or fewer.
    """

    path: str
    file: FileId
    offset: int
    head: bytes = b""

    def matches(self, fd: int, ident: FileId) -> bool:
        """Whether the open file ``fd`` (identity ``ident``) is the file this names."""
        if ident != self.file:
            return False
        if not self.head:
            return True
        try:
            return os.pread(fd, len(self.head), 0) == self.head
        except OSError:
            return False


class _Entry(msgspec.Struct, forbid_unknown_fields=False):
    path: str
    dev: int
    ino: int
    offset: int
    head: str = ""


class _Document(msgspec.Struct, forbid_unknown_fields=False):
    version: int
    files: dict[str, _Entry]


_DECODER = msgspec.json.Decoder(_Document)


class CheckpointStore:
    """Thread-safe positions per key (a tailed path), persisted to ``path`` if given.

    ``path=None`` keeps positions in memory only (nothing survives a restart).
    """

    def __init__(
        self,
        path: Path | None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._positions: dict[str, Position] = {}
        self._seq: dict[str, int] = {}
        self._dirty = False
        self._closed = False
        self._last_save = float("-inf")
        self._save_failing = False

    # -- reading ----------------------------------------------------------------------

    def load(self) -> dict[str, Position]:
        """Read the checkpoint file; report and ignore one that is unreadable or invalid."""
        with self._lock:
            self._positions = self._read()
            self._seq = dict.fromkeys(self._positions, 0)
            self._dirty = False
            self._closed = False
            return dict(self._positions)

    def _read(self) -> dict[str, Position]:
        if self.path is None:
            return {}
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.error("checkpoint %s cannot be read (%s); starting without it", self.path, exc)
            return {}
        try:
            doc = _DECODER.decode(data)
            if doc.version != FORMAT_VERSION:
                raise ValueError(f"version {doc.version}, expected {FORMAT_VERSION}")
            return {key: _position(entry) for key, entry in doc.files.items()}
        except (msgspec.DecodeError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
            log.error("checkpoint %s is not valid (%s); starting without it", self.path, exc)
            return {}

    def get(self, key: str) -> Position | None:
        with self._lock:
            return self._positions.get(key)

    def snapshot(self) -> dict[str, Position]:
        with self._lock:
            return dict(self._positions)

    # -- updating ---------------------------------------------------------------------

    def track(self, key: str, seq: int, position: Position) -> None:
        """Start (or restart) ``key`` at ``position``: where a newly opened file begins."""
        with self._lock:
            self._seq[key] = seq
            if self._positions.get(key) != position:
                self._positions[key] = position
                self._dirty = True

    def commit(self, key: str, seq: int, position: Position) -> None:
        """Record ``position`` for ``key`` unless a later sequence number already did."""
        with self._lock:
            current = self._seq.get(key)
            if current is None or seq < current:
                return  # an untracked (retired) key, or overtaken by a later batch
            self._seq[key] = seq
            if self._positions.get(key) != position:
                self._positions[key] = position
                self._dirty = True
            closed = self._closed
        if closed:
            # A confirmation after the source stopped: nothing else will save it.
            self.save()

    def forget(self, key: str) -> None:
        """Drop ``key`` (its file is gone for good), so the checkpoint does not grow.

        Commits still on their way for it are then void; a file that reappears under
        the same path is tracked afresh.
        """
        with self._lock:
            if self._positions.pop(key, None) is not None:
                self._dirty = True
            self._seq.pop(key, None)

    # -- persisting -------------------------------------------------------------------

    def save_if_due(self) -> None:
        """Save if something changed and the last save is ``interval`` seconds old."""
        if self._dirty and self._clock() - self._last_save >= self.interval:
            self.save()

    def close(self) -> None:
        """Final save; later commits are saved as they come."""
        with self._lock:
            self._closed = True
        self.save()

    def save(self) -> bool:
        """Write the checkpoint now (if there is a file and a change); False on failure."""
        if self.path is None:
            return True
        with self._save_lock:
            with self._lock:
                if not self._dirty:
                    return True
                positions = dict(self._positions)
                self._dirty = False
            self._last_save = self._clock()
            try:
                _write_atomically(self.path, _encode(positions))
            except OSError as exc:
                with self._lock:
                    self._dirty = True
                if not self._save_failing:
                    log.error("checkpoint %s cannot be written: %s", self.path, exc)
                self._save_failing = True
                return False
            if self._save_failing:
                log.info("checkpoint %s written again", self.path)
            self._save_failing = False
            return True


def _position(entry: _Entry) -> Position:
    if entry.offset < 0:
        raise ValueError(f"negative offset for {entry.path!r}")
    head = bytes.fromhex(entry.head)
    return Position(entry.path, FileId(entry.dev, entry.ino), entry.offset, head)


def _encode(positions: dict[str, Position]) -> bytes:
    files = {
        key: _Entry(p.path, p.file.dev, p.file.ino, p.offset, p.head.hex())
        for key, p in sorted(positions.items())
    }
    return msgspec.json.format(msgspec.json.encode(_Document(FORMAT_VERSION, files)), indent=1)


def _write_atomically(path: Path, data: bytes) -> None:
    """Temporary file in the same directory, fsync, rename over, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return  # some filesystems do not open directories; the rename is done anyway
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
