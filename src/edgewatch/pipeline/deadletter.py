"""The dead-letter file: every input line that could not become an event, with why.

A malformed line must never crash the agent or vanish: it is counted by reason and, when
a path is configured, appended here as one JSON object per line. The file rotates at a
size bound so a flood of garbage cannot fill the node's disk.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import msgspec

from edgewatch.decode.decoder import Reject
from edgewatch.sinks.rotating import RotatingFile

log = logging.getLogger("edgewatch.deadletter")

#: Longer lines are cut in the record (the reason and length are kept).
MAX_RECORD_LINE = 64 * 1024


class DeadLetterRecord(msgspec.Struct, omit_defaults=True):
    time: str
    source: str
    reason: str
    detail: str
    length: int
    line: str = ""
    line_base64: str = ""
    truncated: bool = False


def _record(reject: Reject, source: str) -> DeadLetterRecord:
    raw = reject.line
    truncated = len(raw) > MAX_RECORD_LINE
    cut = raw[:MAX_RECORD_LINE]
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
    try:
        text = cut.decode("utf-8")
        return DeadLetterRecord(
            stamp, source, reject.reason, reject.detail, len(raw), line=text, truncated=truncated
        )
    except UnicodeDecodeError:
        return DeadLetterRecord(
            stamp,
            source,
            reject.reason,
            reject.detail,
            len(raw),
            line_base64=base64.b64encode(cut).decode(),
            truncated=truncated,
        )


class DeadLetter:
    """Writes rejected lines; safe to call from the pipeline thread only (one writer)."""

    def __init__(
        self,
        path: Path | None,
        max_bytes: int = 16 * 1024 * 1024,
        max_files: int = 2,
    ) -> None:
        self.path = path
        self._file = RotatingFile(path, max_bytes=max_bytes, max_files=max_files) if path else None
        self._encoder = msgspec.json.Encoder()
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self.written = 0

    def write(self, rejects: Iterable[Reject], source: str) -> None:
        rejects = list(rejects)
        if not rejects:
            return
        for r in rejects:
            if r.reason not in self._warned:
                self._warned.add(r.reason)
                where = f"; kept in {self.path}" if self.path else ""
                log.warning(
                    "rejected input from %s: %s (%s)%s; further %s rejects are only counted",
                    source,
                    r.reason,
                    r.detail[:200],
                    where,
                    r.reason,
                )
        if self._file is None:
            return
        payload = self._encoder.encode_lines([_record(r, source) for r in rejects])
        with self._lock:
            self._file.write(payload)
            self._file.flush()
            self.written += len(rejects)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def default_path(state_dir: Path) -> Path:
    return Path(os.path.join(state_dir, "dead-letter.ndjson"))
