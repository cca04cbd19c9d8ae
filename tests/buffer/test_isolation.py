"""One destination that is down, full or on a slow disk never holds up another."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from edgewatch.buffer import BufferClosedError, BufferSet
from edgewatch.buffer import disk as disk_module

from .util import items_for


def test_a_full_blocked_tenant_does_not_stall_another(tmp_path: Path) -> None:
    with BufferSet(tmp_path, max_bytes=64 * 1024, segment_bytes=8 * 1024, fsync="never") as bufs:
        stuck = bufs.get("tenant-a", overflow="block")
        healthy = bufs.get("tenant-b")
        # tenant-a's destination is down: its reader holds one batch and never acks
        stuck.append(items_for(0, 4))
        assert stuck.read() is not None
        outcome: list[BaseException | None] = []

        def keep_appending() -> None:
            try:
                for tag in range(1, 10_000):
                    stuck.append(items_for(tag, 4, size=300))
            except BaseException as exc:
                outcome.append(exc)

        writer = threading.Thread(target=keep_appending)
        writer.start()
        while stuck.stats().blocked_appends == 0:
            time.sleep(0.01)

        received = 0
        for tag in range(2000):  # tenant-b works normally meanwhile
            healthy.append(items_for(tag, 10))
            batch = healthy.read(timeout=1)
            assert batch is not None
            received += len(batch)
            healthy.ack(batch.seq)
        assert received == 20_000
        assert writer.is_alive()  # tenant-a was blocked the whole time
        assert healthy.stats().queued_events == 0
        assert stuck.stats().blocked_appends == 1
        assert set(bufs.stats()) == {"tenant-a", "tenant-b"}
    writer.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], BufferClosedError)


def test_a_tenant_on_a_slow_disk_does_not_slow_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = disk_module.fdatasync

    def slow_for_tenant_a(fd: int) -> None:
        if "/tenant-a/" in os.readlink(f"/proc/self/fd/{fd}"):
            time.sleep(0.2)
        real(fd)

    monkeypatch.setattr(disk_module, "fdatasync", slow_for_tenant_a)
    with BufferSet(tmp_path, max_bytes=4 << 20, fsync="batch") as bufs:
        slow, fast = bufs.get("tenant-a"), bufs.get("tenant-b")
        stop = threading.Event()
        slow_appends = [0]

        def append_slowly() -> None:
            while not stop.is_set():
                slow.append(items_for(slow_appends[0], 5))
                slow_appends[0] += 1

        writer = threading.Thread(target=append_slowly)
        writer.start()
        try:
            for tag in range(200):
                fast.append(items_for(tag, 5))
            done_while_a_did = slow_appends[0]
        finally:
            stop.set()
            writer.join(5)
        assert done_while_a_did < 20  # tenant-a's disk allowed only a few appends
        assert fast.stats().queued_batches == 200


def test_buffer_set_names_and_leftovers(tmp_path: Path) -> None:
    with BufferSet(tmp_path, max_bytes=1 << 20, fsync="never") as bufs:
        bufs.get("old-workspace").append([b"waiting"])
    with BufferSet(tmp_path, max_bytes=1 << 20, fsync="never") as bufs:
        assert bufs.get("sentinel.main") is bufs.get("sentinel.main")
        assert bufs.leftovers() == ["old-workspace"]
        for bad in ["", "../etc", ".hidden", "a/b", "x" * 200]:
            with pytest.raises(ValueError, match="destination name"):
                bufs.get(bad)
