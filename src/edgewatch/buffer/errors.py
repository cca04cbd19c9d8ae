"""What a buffer can refuse, as types a caller can act on."""

from __future__ import annotations


class DiskBufferError(Exception):
    """Base of the buffer's own errors."""


class BufferFullError(DiskBufferError, TimeoutError):
    """``overflow="block"``: no room freed within the timeout. Nothing was written.

    The caller should stop reading its input (back-pressure) and try again later.
    """


class BufferClosedError(DiskBufferError):
    """The buffer was closed; nothing more can be appended."""


class BufferLockedError(DiskBufferError):
    """Another process has this buffer directory open."""


class RecordTooLargeError(DiskBufferError, ValueError):
    """A batch larger than the buffer's whole size cap can never be kept."""
