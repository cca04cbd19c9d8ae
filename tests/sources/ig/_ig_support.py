"""Helpers for the IG supervisor tests: the fake ig, an emit sink, a runner."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from edgewatch.sources.base import RawBatch
from edgewatch.sources.ig.supervisor import IgSupervisor

FAKE_DIR = Path(__file__).resolve().parents[2] / "fake_ig"
FAKE_IG = str(FAKE_DIR / "ig")
FAKE_GADGETCTL = str(FAKE_DIR / "gadgetctl")


def make_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for the fake: this venv's python first (fast start), argv recorded."""
    return {
        "PATH": os.pathsep.join(
            [str(FAKE_DIR), os.path.dirname(sys.executable), os.environ["PATH"]]
        ),
        "FAKE_IG_ARGV_FILE": str(tmp_path / "argv.jsonl"),
        "FAKE_IG_RATE": "200",
        "FAKE_IG_VERSION": "0.55.1",
        **extra,
    }


def recorded(tmp_path: Path) -> list[list[str]]:
    """Every argv the fake recorded, in order, as [prog, *args]."""
    path = tmp_path / "argv.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


class Collector:
    """An ``emit`` that keeps every batch and lets a test wait for a condition."""

    def __init__(self) -> None:
        self.batches: list[RawBatch] = []
        self._cond = threading.Condition()

    def __call__(self, batch: RawBatch) -> None:
        with self._cond:
            self.batches.append(batch)
            self._cond.notify_all()

    def snapshot(self) -> list[RawBatch]:
        with self._cond:
            return list(self.batches)

    def lines(self, stream: str | None = None) -> list[bytes]:
        return [
            line
            for b in self.snapshot()
            if stream is None or b.stream == stream
            for line in b.lines
        ]

    def wait_for(self, predicate: Callable[[Collector], bool], timeout: float = 15.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll ``predicate``; the timeout only keeps a broken test from hanging."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@contextmanager
def running(sup: IgSupervisor, emit: Callable[[RawBatch], None]) -> Iterator[threading.Event]:
    """Run ``sup`` on a thread; stop it and insist that it returned on the way out."""
    stop = threading.Event()
    thread = threading.Thread(target=sup.run, args=(emit, stop), name="test-ig", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive(), "supervisor did not return after stop"


def process_gone(pid: int) -> bool:
    """True when ``pid`` neither runs nor lingers as a zombie."""
    return not Path(f"/proc/{pid}").exists()


def group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid`` (orphans a child left behind)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members
