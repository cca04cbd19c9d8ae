"""The ack cursor: how far a destination has confirmed delivery, kept across restarts.

It is a small JSON file replaced atomically (temporary file, fsync, rename, fsync of the
directory), so a crash leaves the old cursor or the new one, never a mix. Only the
sequence number is load-bearing: recovery skips every record up to ``seq`` and hands out
the rest again. ``segment`` and ``offset`` say where the next record starts, for a person
looking at the directory.

A cursor that is older than the truth is harmless: records after it are delivered again
(at-least-once). That is why it is saved on a timer rather than on every ack, and why a
cursor that cannot be read is reported and treated as "nothing acked" instead of
stopping the agent.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import msgspec

from edgewatch.buffer.sync import fsync_dir

log = logging.getLogger("edgewatch.buffer.cursor")

CURSOR_NAME = "cursor.json"
FORMAT_VERSION = 1
#: Room the size cap keeps for the cursor and its temporary copy during a save.
CURSOR_RESERVE = 512


@dataclass(frozen=True, slots=True)
class Cursor:
    """Every record up to and including ``seq`` needs no delivery.

    ``event`` is the running event total after record ``seq``: the baseline from which
    events lost to a damaged header just after it are counted.
    """

    seq: int = 0
    event: int = 0
    segment: int = 0
    offset: int = 0


class _Document(msgspec.Struct, forbid_unknown_fields=False):
    version: int
    seq: int
    event: int
    segment: int = 0
    offset: int = 0


_DECODER = msgspec.json.Decoder(_Document)
_ENCODER = msgspec.json.Encoder()


def load_cursor(directory: Path) -> Cursor:
    """The saved cursor; the empty one if there is none or it is unreadable (reported)."""
    path = directory / CURSOR_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Cursor()
    except OSError as exc:
        log.error("ack cursor %s cannot be read (%s); delivering everything again", path, exc)
        return Cursor()
    try:
        doc = _DECODER.decode(data)
        if doc.version != FORMAT_VERSION:
            raise ValueError(f"version {doc.version}, expected {FORMAT_VERSION}")
        if min(doc.seq, doc.event, doc.segment, doc.offset) < 0:
            raise ValueError("negative position")
    except (msgspec.DecodeError, ValueError) as exc:
        log.error("ack cursor %s is not valid (%s); delivering everything again", path, exc)
        return Cursor()
    return Cursor(doc.seq, doc.event, doc.segment, doc.offset)


def save_cursor(directory: Path, cursor: Cursor, *, durable: bool) -> None:
    """Replace the cursor file atomically; fsync file and directory if ``durable``."""
    path = directory / CURSOR_NAME
    tmp = directory / f".{CURSOR_NAME}.tmp"
    doc = _Document(FORMAT_VERSION, cursor.seq, cursor.event, cursor.segment, cursor.offset)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        try:
            os.write(fd, _ENCODER.encode(doc) + b"\n")
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(directory)


def remove_stale_temporary(directory: Path) -> None:
    """A temporary cursor left by a crash mid-save: the real one is still in place."""
    (directory / f".{CURSOR_NAME}.tmp").unlink(missing_ok=True)
