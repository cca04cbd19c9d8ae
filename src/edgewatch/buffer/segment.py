"""Segments: the files a buffer's log is cut into, and what is kept in memory about each.

The log is cut into files so that space comes back a whole file at a time: deleting a
delivered (or, on overflow, the oldest) segment is one ``unlink``, with no compaction and
no rewriting of live data. A segment is named after the sequence number of its first
record, zero-padded so that names sort in log order and a new segment never takes the
name of an old one. The suffix names the format: a later format must use a new one, so
that an older agent (after a downgrade) leaves files it cannot read alone instead of
deleting them as damaged.

Memory per segment is a handful of integers, never per record, so a buffer holding
millions of small batches costs no more memory than one holding a few large ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SUFFIX = ".seg"
_NAME = re.compile(r"^(\d{20})\.seg$")

#: (sequence number, running event total) up to which losses are accounted for; the
#: event total is None when it cannot be known.
Mark = tuple[int, int | None]


def segment_path(directory: Path, first_seq: int) -> Path:
    return directory / f"{first_seq:020d}{SUFFIX}"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """(first sequence number, path) of every segment file, in log order."""
    found = []
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path))
    found.sort()
    return found


@dataclass(eq=False, slots=True)
class Segment:
    """One segment file as the buffer sees it.

    ``size`` is what the file occupies (for the size cap); ``end`` is where its last
    complete record ends, which is as far as the reader may go. The two differ while a
    record is being written, and in a closed segment whose tail is unreadable.
    """

    first_seq: int
    path: Path
    size: int = 0
    end: int = 0
    #: Sequence number of the last record (``first_seq - 1`` while there is none).
    last_seq: int = 0
    #: The running event total after the last record; None if not known.
    end_event: int | None = None
    #: Records appended but not yet handed to the reader: what an overflow drop loses.
    pending_events: int = 0
    pending_batches: int = 0
    pending_bytes: int = 0
    #: Offset of an unreadable stretch -> offset just after it, as found by the reader.
    holes: dict[int, int] = field(default_factory=dict)
    deleted: bool = False
    #: Why it was deleted before all of it was delivered (a drop reason), if it was.
    dropped_as: str = ""

    def add_pending(self, events: int, batches: int, nbytes: int) -> None:
        self.pending_events += events
        self.pending_batches += batches
        self.pending_bytes += nbytes
