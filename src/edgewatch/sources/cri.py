"""Tail kubelet's CRI container log files, the way ``tail -F`` would, and never lose a line.

This lets edgewatch sit beside an IG DaemonSet that already exists (one ``ig run … -o
json`` container per gadget, as the seed deploys it) and read what those containers
print, from the files the container runtime writes on the node:

* **Discovery.** The glob patterns are re-scanned at every poll, because files appear
  when pods start. ``/var/log/containers/*.log`` entries are symlinks; each file is
  known by its resolved real path, which is also the batch ``stream``, so the decoder
  keeps partial-line state per file. The gadget comes from the container name in the
  path (``ig-dns`` -> ``trace_dns``); an unknown container leaves it to the decoder.
* **Rotation.** Kubelet renames ``0.log`` to ``0.log.<timestamp>`` (and may gzip it
  later) and the runtime creates a new ``0.log``. A path whose inode changed is
  therefore not "the file changed" but "a new file follows": the old one is read to
  its end through the handle still open, rotated files in between (several rotations
  while edgewatch was stalled) are read next, then the new file from offset 0.
  A file that got smaller under the same inode was truncated in place (copytruncate)
  and is read again from 0.
* **Whole lines only.** Bytes after the last newline stay unread until their newline
  arrives: the runtime may be half-way through writing the line.
* **Restarts.** Offsets live in a checkpoint (:mod:`edgewatch.sources.checkpoint`)
  keyed by path and file identity. An offset is only committed once the runtime has
  delivered the batch (``RawBatch.commit``: at-least-once), and only at a *safe*
  position — never inside a run of ``P`` partial lines — so a restart never resumes in
  the middle of a record. If the file was rotated while edgewatch was down, the file
  with the stored inode is found among the rotated siblings and drained first.
* **Bounded.** Reads are chunked, a busy file gets a read budget per poll so it cannot
  starve the others, lines are cut at ``MAX_LINE_BYTES`` and a batch at
  ``BATCH_LINES`` lines or ``BATCH_BYTES`` bytes. ``stop`` is checked between chunks.

Not handled: a rotated file that was already compressed when we get to it (kubelet
compresses all but the newest rotated file) cannot be matched to an inode and is
skipped with a warning, as is a file truncated and refilled past our offset between two
polls (no size change is visible then).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import logging
import os
import re
import stat
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from edgewatch.decode import framing
from edgewatch.events.base import GadgetSpec
from edgewatch.events.registry import lookup
from edgewatch.sources.base import BATCH_LINES, MAX_LINE_BYTES, Emit, RawBatch
from edgewatch.sources.checkpoint import HEAD_BYTES, CheckpointStore, FileId, Position
from edgewatch.sources.splitter import LineSplitter

log = logging.getLogger("edgewatch.sources.cri")

#: The container names of the seed's IG DaemonSet and the gadget each one runs.
DEFAULT_CONTAINER_GADGETS: Mapping[str, str] = MappingProxyType(
    {
        "ig-tcp": "trace_tcp",
        "ig-dns": "trace_dns",
        "ig-sni": "trace_sni",
        "ig-exec": "trace_exec",
        "ig-seccomp": "audit_seccomp",
    }
)

#: Bytes per read.
CHUNK_BYTES = 256 * 1024
#: Bytes one file may read per poll before the others get their turn.
READ_BUDGET = 4 * 1024 * 1024
#: A batch is handed on at this many bytes even if it has fewer than BATCH_LINES lines.
BATCH_BYTES = 4 * 1024 * 1024
#: Seconds a file may be unmatched or missing before it is closed for good. Rotation
#: leaves a path missing for a moment; a deleted pod leaves it missing forever.
RETIRE_AFTER = 5.0
#: How far back from the end ``start_at="end"`` looks for the last line start.
_END_WINDOW = 64 * 1024

_ROTATED = re.compile(r"\.log\.[^/]+$|\.gz$")
_CONTAINERS_FORM = re.compile(
    r"(?:^|/)(?P<pod>[^/_]+)_(?P<namespace>[^/_]+)_(?P<container>[^/]+)-(?P<id>[0-9a-f]{64})\.log$"
)
_PODS_FORM = re.compile(
    r"(?:^|/)(?P<namespace>[^/_]+)_(?P<pod>[^/_]+)_(?P<uid>[^/_]+)"
    r"/(?P<container>[^/]+)/(?P<restart>\d+)\.log$"
)
# Cheap pre-check on a whole chunk: without these bytes no line in it is partial.
_PARTIAL_MARKERS = (b" stdout P", b" stderr P")


@dataclass(frozen=True, slots=True)
class ContainerLogPath:
    """What a kubelet log path says about the container that wrote it."""

    namespace: str
    pod: str
    container: str
    pod_uid: str = ""
    container_id: str = ""
    restart: int | None = None


def parse_container_log_path(path: str) -> ContainerLogPath | None:
    """Parse either kubelet path form; None for anything else.

    ``/var/log/containers/<pod>_<namespace>_<container>-<64 hex id>.log`` (the
    symlinks) and ``/var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log`` (the
    files). Namespace and pod names cannot contain ``_``, which makes both unambiguous.
    """
    m = _CONTAINERS_FORM.search(path)
    if m is not None:
        return ContainerLogPath(m["namespace"], m["pod"], m["container"], container_id=m["id"])
    m = _PODS_FORM.search(path)
    if m is not None:
        return ContainerLogPath(
            m["namespace"], m["pod"], m["container"], pod_uid=m["uid"], restart=int(m["restart"])
        )
    return None


def cri_partial(line: bytes) -> tuple[str, bool] | None:
    """``(stream, is_partial)`` of a CRI line, None for a line the decoder would not join.

    Uses the decoder's own parser so that our idea of an open ``P`` run is its idea.
    """
    if not framing.looks_like_cri(line):
        return None
    try:
        cri = framing.parse_cri(line)
    except framing.CriFormatError:
        return None
    return cri.stream, cri.partial


class _File:
    """One open file of a tail: its handle, identity and how far it was read."""

    __slots__ = ("fd", "head", "ident", "path", "splitter")

    def __init__(self, fd: int, ident: FileId, path: str, splitter: LineSplitter) -> None:
        self.fd = fd
        self.ident = ident
        self.path = path
        self.splitter = splitter
        self.head = b""

    def position(self, offset: int) -> Position:
        """A checkpoint position ``offset`` bytes into this file."""
        want = min(offset, HEAD_BYTES)
        if len(self.head) < want:
            try:
                self.head = os.pread(self.fd, want, 0)
            except OSError:
                self.head = b""
        return Position(self.path, self.ident, offset, self.head[:want])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


@dataclass(slots=True)
class _Tail:
    """Everything known about one tailed path (a real path: the batch ``stream``).

    ``files`` is the read queue: rotated files still to finish, then the live file at
    ``key`` last. ``seen`` holds the identities of rotated files that are already read
    or queued (or were old when we started), so that a rotated file *not* in it can only
    be one we missed between two polls. ``open_streams`` are the CRI streams inside a
    ``P`` run.
    """

    key: str
    gadget: GadgetSpec | None
    meta: dict[str, str]
    files: deque[_File]
    seen: set[FileId] = field(default_factory=set)
    open_streams: set[str] = field(default_factory=set)
    lines: list[bytes] = field(default_factory=list)
    size: int = 0
    safe: Position | None = None
    missing_since: float | None = None

    @property
    def live(self) -> _File:
        return self.files[-1]

    def close(self) -> None:
        while self.files:
            self.files.popleft().close()


class CriTailSource:
    """Follows kubelet CRI log files matching ``paths`` (glob patterns), like ``tail -F``.

    ``checkpoint`` is the JSON file that keeps read offsets across restarts (None: keep
    none). ``container_gadgets`` maps container names to gadget names (IG's or
    edgewatch's: ``trace_dns``, ``dns``); a name no gadget answers to is a
    configuration error raised here. ``start_at`` applies to files present at start
    that the checkpoint does not know: ``"beginning"`` reads them whole, ``"end"``
    only what is written from now on. Files that appear later are always read whole.
    """

    def __init__(
        self,
        paths: Sequence[str],
        checkpoint: Path | None = None,
        container_gadgets: Mapping[str, str] = DEFAULT_CONTAINER_GADGETS,
        *,
        poll_interval: float = 0.25,
        start_at: Literal["beginning", "end"] = "beginning",
        name: str = "cri",
        max_line_bytes: int = MAX_LINE_BYTES,
        batch_lines: int = BATCH_LINES,
        chunk_size: int = CHUNK_BYTES,
        checkpoint_interval: float = 1.0,
        retire_after: float = RETIRE_AFTER,
    ) -> None:
        if isinstance(paths, str):
            raise TypeError("paths must be a sequence of glob patterns, not one string")
        if not paths:
            raise ValueError("CriTailSource needs at least one glob pattern")
        if start_at not in ("beginning", "end"):
            raise ValueError(f"start_at must be 'beginning' or 'end', got {start_at!r}")
        for label, value in (
            ("poll_interval", poll_interval),
            ("max_line_bytes", max_line_bytes),
            ("batch_lines", batch_lines),
            ("chunk_size", chunk_size),
        ):
            if value <= 0:
                raise ValueError(f"{label} must be positive, got {value}")
        self.patterns = [os.path.expanduser(p) for p in paths]
        self.name = name
        self.poll_interval = poll_interval
        self.start_at = start_at
        self.max_line_bytes = max_line_bytes
        self.batch_lines = batch_lines
        self.chunk_size = chunk_size
        self.retire_after = retire_after
        self.gadgets = _resolve_gadgets(container_gadgets)
        self.store = CheckpointStore(checkpoint, interval=checkpoint_interval)
        self._tails: dict[str, _Tail] = {}
        self._seq = itertools.count(1)
        self._warned: set[str] = set()
        self._first = True

    # -- Source -----------------------------------------------------------------------

    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Tail until ``stop``; the checkpoint is saved on the way out."""
        self.open()
        try:
            while not stop.is_set():
                busy = self.poll(emit, stop)
                self.store.save_if_due()
                if not busy:
                    stop.wait(self.poll_interval)
        finally:
            self.close()

    # -- the steps of run(), public so a test or another loop can drive them ------------

    def open(self) -> None:
        """Load the checkpoint; the next poll is the first (``start_at`` applies)."""
        self.store.load()
        self._first = True

    def poll(self, emit: Emit, stop: threading.Event | None = None) -> bool:
        """One round: discover, follow rotations, read. True if a file has more to read."""
        stop = stop if stop is not None else threading.Event()
        busy = self._poll(emit, stop, self._first)
        if self._first:
            self._first = False
            self._prune_checkpoint()
        return busy

    def close(self) -> None:
        """Close every file and save the checkpoint (later commits are saved as they come)."""
        for tail in self._tails.values():
            tail.close()
        self._tails.clear()
        self.store.close()

    # -- one poll -----------------------------------------------------------------------

    def _poll(self, emit: Emit, stop: threading.Event, first: bool) -> bool:
        found = self._discover()
        for key, matched in found.items():
            if key not in self._tails:
                tail = self._open_tail(key, matched, first)
                if tail is not None:
                    self._tails[key] = tail
        busy = False
        now = time.monotonic()
        for key, tail in list(self._tails.items()):
            if stop.is_set():
                break
            present = key in found and self._follow(tail)
            more = self._pump(tail, emit, stop)
            busy = busy or more
            if present:
                tail.missing_since = None
            elif tail.missing_since is None:
                tail.missing_since = now
            elif not more and now - tail.missing_since >= self.retire_after:
                self._retire(tail, emit)
        return busy

    def _discover(self) -> dict[str, str]:
        """Real path -> the first matching path, for every current (unrotated) match."""
        found: dict[str, str] = {}
        for pattern in self.patterns:
            for match in sorted(glob.glob(pattern)):
                if _ROTATED.search(match):
                    continue
                real = os.path.realpath(match)
                if not _ROTATED.search(real):
                    found.setdefault(real, match)
        return found

    def _prune_checkpoint(self) -> None:
        """Forget checkpoint entries of files that no longer exist (deleted pods)."""
        for key in self.store.snapshot():
            if key not in self._tails and not os.path.lexists(key):
                self.store.forget(key)

    # -- opening ----------------------------------------------------------------------

    def _open_tail(self, key: str, matched: str, first: bool) -> _Tail | None:
        opened = self._open(key)
        if opened is None:
            return None
        fd, st = opened
        position = self.store.get(key)
        if position is not None:
            files = self._resume(key, fd, st, position)
        elif first and self.start_at == "end":
            files = [self._at_end(key, fd, st)]
        else:
            files = [self._file(fd, st, key, 0)]
        info = parse_container_log_path(matched) or parse_container_log_path(key)
        gadget = self.gadgets.get(info.container) if info is not None else None
        meta = {"path": key}
        if info is not None:
            meta.update(namespace=info.namespace, pod=info.pod, container=info.container)
        tail = _Tail(key, gadget, meta, deque(files))
        tail.seen = {FileId.of(st) for _, st in _rotated_siblings(key)}
        head = tail.files[0]
        self.store.track(key, next(self._seq), head.position(head.splitter.fed))
        log.info(
            "tailing %s (gadget %s) from %s offset %d",
            key,
            gadget.gadget if gadget else "inferred",
            head.path,
            head.splitter.fed,
        )
        return tail

    def _open(self, path: str) -> tuple[int, os.stat_result] | None:
        """Open a regular file for reading; None (warned once) if that is not possible."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._warn_once(path, f"cannot open {path}: {exc.strerror or exc}")
            return None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            self._warn_once(path, f"{path} is not a regular file; not tailed")
            return None
        self._warned.discard(path)
        return fd, st

    def _file(self, fd: int, st: os.stat_result, path: str, offset: int) -> _File:
        if offset > st.st_size:
            log.warning("%s is shorter than offset %d; reading it from the start", path, offset)
            offset = 0
        return _File(fd, FileId.of(st), path, LineSplitter(self.max_line_bytes, offset))

    def _at_end(self, path: str, fd: int, st: os.stat_result) -> _File:
        """The live file, positioned after its last complete line (``start_at="end"``)."""
        size = st.st_size
        window = min(size, _END_WINDOW)
        data = os.pread(fd, window, size - window) if window else b""
        nl = data.rfind(b"\n")
        if nl >= 0:
            offset, skip = size - window + nl + 1, False
        else:
            # No newline: the whole file is one unfinished line (read it), or the
            # last 64 KiB are (skip to the next newline).
            offset, skip = (0, False) if window == size else (size, True)
        splitter = LineSplitter(self.max_line_bytes, offset, skip_first=skip)
        return _File(fd, FileId.of(st), path, splitter)

    def _resume(self, key: str, fd: int, st: os.stat_result, position: Position) -> list[_File]:
        """The files to read after a restart, oldest first, ending with the live one."""
        ident = FileId.of(st)
        if position.matches(fd, ident):
            return [self._file(fd, st, key, position.offset)]
        files: list[_File] = []
        if position.file != ident:
            files = self._rotated_since(key, position)
        if not files:
            log.warning(
                "%s: the file read before the restart (inode %d) is gone (compressed, deleted "
                "or replaced); lines after its offset %d were not read",
                key,
                position.file.ino,
                position.offset,
            )
        files.append(self._file(fd, st, key, 0))
        return files

    def _rotated_since(self, key: str, position: Position) -> list[_File]:
        """The rotated file ``position`` names (from its offset) and every later rotation."""
        siblings = _rotated_siblings(key)
        for index, (path, sibling) in enumerate(siblings):
            if FileId.of(sibling) != position.file:
                continue
            opened = self._open(path)
            if opened is None:
                return []
            fd, st = opened
            if not position.matches(fd, FileId.of(st)):
                os.close(fd)
                return []
            log.info("%s: draining %s, rotated while edgewatch was down", key, path)
            files = [self._file(fd, st, path, position.offset)]
            files.extend(self._open_all(siblings[index + 1 :]))
            return files
        return []

    def _open_all(self, siblings: list[tuple[str, os.stat_result]]) -> list[_File]:
        files: list[_File] = []
        for path, _ in siblings:
            opened = self._open(path)
            if opened is not None:
                files.append(self._file(opened[0], opened[1], path, 0))
        return files

    # -- following ----------------------------------------------------------------------

    def _follow(self, tail: _Tail) -> bool:
        """Queue the new file if the path was rotated; False if the path is missing."""
        try:
            st = os.stat(tail.key)
        except OSError:
            return False
        if FileId.of(st) == tail.live.ident:
            return True
        opened = self._open(tail.key)
        if opened is None:
            return False
        fd, st = opened
        new = self._file(fd, st, tail.key, 0)
        siblings = _rotated_siblings(tail.key)
        known = tail.seen | {f.ident for f in tail.files} | {new.ident}
        # Rotations between two polls: rotated files that we have never seen.
        between = [(path, sst) for path, sst in siblings if FileId.of(sst) not in known]
        if between:
            log.info("%s rotated %d times since the last poll", tail.key, len(between) + 1)
        tail.files.extend(self._open_all(between))
        tail.files.append(new)
        # Only what still exists can be met again: keeps ``seen`` as small as the directory.
        tail.seen = {FileId.of(sst) for _, sst in siblings} | {f.ident for f in tail.files}
        log.info("%s rotated; finishing the old file, then reading the new one", tail.key)
        return True

    def _truncated(self, tail: _Tail, f: _File) -> None:
        """copytruncate: the live file is shorter than what we read; start it over."""
        try:
            size = os.fstat(f.fd).st_size
        except OSError:
            return
        if size < f.splitter.fed:
            log.warning(
                "%s was truncated (size %d < offset %d); reading from 0",
                tail.key,
                size,
                f.splitter.fed,
            )
            f.splitter.reset(0)
            f.head = b""

    # -- reading ----------------------------------------------------------------------

    def _pump(self, tail: _Tail, emit: Emit, stop: threading.Event) -> bool:
        """Read the tail's files in order; True if the read budget ran out first."""
        budget = READ_BUDGET
        if len(tail.files) == 1:
            self._truncated(tail, tail.live)
        while not stop.is_set():
            f = tail.files[0]
            data = self._read(tail, f)
            if data:
                self._take(tail, f, data)
                if len(tail.lines) >= self.batch_lines or tail.size >= BATCH_BYTES:
                    self._flush(tail, emit)
                budget -= len(data)
                if budget <= 0:
                    self._flush(tail, emit)
                    return True
                continue
            if len(tail.files) == 1:
                break
            self._finish(tail, f)
        if not stop.is_set():
            self._flush(tail, emit)
        return False

    def _read(self, tail: _Tail, f: _File) -> bytes:
        try:
            return os.pread(f.fd, self.chunk_size, f.splitter.fed)
        except OSError as exc:
            self._warn_once(f.path, f"cannot read {f.path}: {exc.strerror or exc}")
            return b""

    def _take(self, tail: _Tail, f: _File, data: bytes) -> None:
        """Add the lines ``data`` completes and move the safe point past them if it can."""
        splitter = f.splitter
        cuts = splitter.cuts
        lines = splitter.feed(data)
        if not lines:
            return
        tail.lines.extend(lines)
        tail.size += len(data)
        if not tail.open_streams and not _may_be_partial(data, lines[0]):
            safe: int | None = splitter.line_end  # the common case: no P line at all
        elif splitter.cuts != cuts:
            safe = _track(tail.open_streams, lines, None)
            safe = splitter.line_end if safe is not None else None
        else:
            start = splitter.line_end - sum(map(len, lines)) - len(lines)
            safe = _track(tail.open_streams, lines, start)
        if safe is not None:
            tail.safe = f.position(safe)

    def _finish(self, tail: _Tail, f: _File) -> None:
        """A rotated file is read to its end: hand on a last unterminated line, close it."""
        last = f.splitter.finish()
        if last:
            tail.lines.append(last)
            tail.size += len(last)
            if _track(tail.open_streams, [last], None) is not None:
                tail.safe = f.position(f.splitter.fed)
        f.close()
        tail.files.popleft()

    def _flush(self, tail: _Tail, emit: Emit, end: bool = False) -> None:
        if not tail.lines and not end:
            return
        commit = None
        if tail.safe is not None:
            commit = partial(self.store.commit, tail.key, next(self._seq), tail.safe)
        batch = RawBatch(
            tail.lines,
            stream=tail.key,
            gadget=tail.gadget,
            commit=commit,
            end_of_stream=end,
            meta=dict(tail.meta),
        )
        tail.lines, tail.size, tail.safe = [], 0, None
        emit(batch)

    def _retire(self, tail: _Tail, emit: Emit) -> None:
        """The path is gone for good (pod deleted, container replaced): close it."""
        f = tail.live
        last = f.splitter.finish()
        if last:
            tail.lines.append(last)
        log.info("%s is gone; stopped tailing it", tail.key)
        self._flush(tail, emit, end=True)
        tail.close()
        del self._tails[tail.key]
        if not os.path.lexists(tail.key):
            self.store.forget(tail.key)

    def _warn_once(self, path: str, message: str) -> None:
        if path not in self._warned:
            self._warned.add(path)
            log.warning("%s", message)


def _resolve_gadgets(mapping: Mapping[str, str]) -> dict[str, GadgetSpec]:
    """Container name -> gadget; an unknown gadget name is a configuration error."""
    out: dict[str, GadgetSpec] = {}
    for container, gadget in mapping.items():
        spec = lookup(gadget)
        if spec is None:
            raise ValueError(
                f"container_gadgets: container {container!r} maps to unknown gadget {gadget!r}"
            )
        out[container] = spec
    return out


def _rotated_siblings(path: str) -> list[tuple[str, os.stat_result]]:
    """Uncompressed rotations of ``path`` (``<name>.<suffix>``), oldest write first.

    Kubelet names them ``<name>.<YYYYmmdd-HHMMSS>``, so ties in the (coarse) mtime fall
    back to name order, which is time order too.
    """
    directory, name = os.path.split(path)
    prefix = name + "."
    out: list[tuple[str, os.stat_result]] = []
    try:
        entries = list(os.scandir(directory or "."))
    except OSError:
        return out
    for entry in entries:
        suffix = entry.name[len(prefix) :]
        if not entry.name.startswith(prefix) or ".gz" in suffix or suffix.endswith(".tmp"):
            continue  # compressed, or kubelet's temporary file while compressing
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            out.append((entry.path, st))
    out.sort(key=lambda item: (item[1].st_mtime_ns, item[0]))
    return out


def _may_be_partial(data: bytes, first: bytes) -> bool:
    """Whether any line completed by ``data`` could be a ``P`` line.

    Every line but the first lies wholly inside ``data``, so a byte search there
    covers them; the first may have begun in an earlier chunk and is parsed.
    """
    if any(marker in data for marker in _PARTIAL_MARKERS):
        return True
    state = cri_partial(first)
    return state is not None and state[1]


def _track(open_streams: set[str], lines: list[bytes], start: int | None) -> int | None:
    """Update the open ``P`` runs over ``lines``; the last safe offset after a line.

    ``start`` is the offset of the first line; None when offsets are unknown (a line
    was cut), then the result only says whether the end is safe (0) or not (None).
    """
    safe: int | None = None
    end = start if start is not None else 0
    for line in lines:
        end += len(line) + 1
        state = cri_partial(line)
        if state is not None:
            stream, partial_line = state
            if partial_line:
                open_streams.add(stream)
            else:
                open_streams.discard(stream)
        if not open_streams:
            safe = end
    if start is None:
        return 0 if not open_streams else None
    return safe
