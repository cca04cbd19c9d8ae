"""What one delivery attempt came to, in terms the delivery loop can act on.

A call may deliver part of its records, dead-letter a few, and leave the rest for later
(a throttled request in the middle of a batch). The outcome therefore carries all three,
and names exactly which records are still owed, so the caller can resend those and only
those: resending a whole batch after a partial success would duplicate rows in the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: A record as a mapping, or already encoded as its compact JSON: the delivery path
#: keeps records encoded from the disk buffer to the request body and the dead-letter file.
Record = Mapping[str, Any] | bytes

#: Reasons a record is given up on (it goes to the dead-letter file, never dropped silently).
RECORD_TOO_LARGE = "record_too_large"
INVALID_RECORD = "invalid_record"
UNENCODABLE = "unencodable"


@dataclass(frozen=True, slots=True)
class Rejected:
    """Records the service will never accept as they are; they belong in the dead-letter file."""

    # repr=False: records can be large and carry data that has no place in a log line
    records: Sequence[Record] = field(repr=False)
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Retry:
    """Nothing is wrong with ``records``; try them again after ``after_seconds``.

    ``reason`` is a short stable token for counters (``throttled``, ``unavailable``,
    ``forbidden``, ...); ``message`` is the sentence an operator needs to fix the cause.
    """

    after_seconds: float
    reason: str
    records: Sequence[Record] = field(default=(), repr=False)
    message: str = ""
    status: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one ``send``: delivered count, dead-letter groups, and what is owed.

    When ``retry`` is set, ``retry.records`` are the records that were *not* delivered
    or rejected; everything else in the call is settled.
    """

    delivered: int = 0
    bytes_sent: int = 0
    requests: int = 0
    rejected: tuple[Rejected, ...] = ()
    retry: Retry | None = None

    @property
    def complete(self) -> bool:
        """True when every record of the call is either delivered or rejected."""
        return self.retry is None

    @property
    def rejected_records(self) -> int:
        return sum(len(r.records) for r in self.rejected)
