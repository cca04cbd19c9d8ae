"""Getting bytes from the page cache onto the device, and the timer that does it lazily.

``fdatasync`` rather than ``fsync``: it still writes the file size when an append grew
the file (without which the new bytes could not be found after a power cut) but skips
timestamps, which nothing here reads. Creating, renaming or deleting a file changes the
directory, which needs its own fsync for the change to survive a power cut.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Literal

#: See the fsync policy in edgewatch.buffer.disk.
FsyncPolicy = Literal["batch", "interval", "never"]
FSYNC_POLICIES: tuple[str, ...] = ("batch", "interval", "never")

fdatasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


def fsync_dir(directory: Path) -> None:
    """Make creations, renames and deletions in ``directory`` durable, where supported."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return  # some filesystems cannot open a directory; nothing more can be done
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Ticker:
    """Calls ``action`` every ``interval`` seconds on a daemon thread until stopped.

    One per buffer, so a destination whose disk is slow to sync delays only itself.
    """

    def __init__(self, interval: float, action: Callable[[], None], name: str) -> None:
        self._interval = interval
        self._action = action
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._action()
