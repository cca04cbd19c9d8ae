"""SIGKILL in the middle of appending and acking: nothing ``append`` returned for is lost,
and nothing damaged is ever handed out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edgewatch.buffer import DiskBuffer

from .util import drain

# Appends batches of recognisable items as fast as it can and reports each returned
# append ("a <tag> <seq>"); a delivery thread reads, acks and reports acks ("k <seq>").
# Every seventh batch is large, so that the kill often lands inside a write.
CHILD = r"""
import sys, threading
from edgewatch.buffer import DiskBuffer

path, fsync, tag = sys.argv[1], sys.argv[2], int(sys.argv[3])
buf = DiskBuffer(path, 64 << 20, segment_bytes=1 << 20, fsync=fsync, fsync_interval=0.05)
out = threading.Lock()

def say(line):
    with out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

def deliver():
    while True:
        batch = buf.read(max_items=2000, timeout=1)
        if batch is not None:
            say(f"k {batch.seq}")  # before the ack, so the parent never sees less
            buf.ack(batch.seq)

threading.Thread(target=deliver, daemon=True).start()
while True:
    n = 3000 if tag % 7 == 0 else 1 + tag % 40
    items = [b"%d:%d:" % (tag, i) + b"p" * ((tag + i) % 200) for i in range(n)]
    seq = buf.append(items)
    say(f"a {tag} {seq}")
    tag += 1
"""


def run_and_kill(
    path: Path, fsync: str, first_tag: int, appends: int
) -> tuple[dict[int, int], int]:
    """Start the child, SIGKILL it after ``appends`` reported appends; return
    {tag: seq} of the appends it reported and the highest seq it reported acked."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), fsync, str(first_tag)],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    returned: dict[int, int] = {}
    acked = 0
    try:
        for line in child.stdout:
            kind, *rest = line.split()
            if kind == b"a":
                returned[int(rest[0])] = int(rest[1])
                if len(returned) >= appends:
                    break
            else:
                acked = max(acked, int(rest[0]))
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        # acks reported after we stopped listening may already be in the saved cursor:
        # the child reports each one before making it, so they are all in the pipe
        for line in child.stdout:
            kind, *rest = line.split()
            if kind == b"k":
                acked = max(acked, int(rest[0]))
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert len(returned) == appends, "the child stopped early"
    return returned, acked


@pytest.mark.parametrize("fsync", ["never", "interval", "batch"])
def test_sigkill_mid_stream_loses_nothing_that_was_acknowledged(tmp_path: Path, fsync: str) -> None:
    path = tmp_path / "dest"
    next_tag = 0
    for _ in range(2):  # a second kill on a directory that was already recovered once
        returned, acked = run_and_kill(path, fsync, next_tag, appends=120)
        with DiskBuffer(path, 64 << 20, segment_bytes=1 << 20, fsync="never") as buf:
            batches = drain(buf, max_items=1)
            stats = buf.stats()
        assert "corrupt" not in stats.dropped_events
        delivered: dict[int, int] = {}
        for batch in batches:
            tags = {int(item.split(b":")[0]) for item in batch.items}
            assert len(tags) == 1  # one record, one appended batch
            (tag,) = tags
            n = 3000 if tag % 7 == 0 else 1 + tag % 40
            assert batch.items == [
                b"%d:%d:" % (tag, i) + b"p" * ((tag + i) % 200) for i in range(n)
            ]
            delivered[tag] = batch.seq
        # redelivered from the last saved ack on, in order, each exactly as appended
        assert list(delivered) == sorted(delivered)
        for tag, seq in returned.items():
            if seq > acked:
                assert delivered.get(tag) == seq, f"batch {tag} (record {seq}) was lost"
        # no gaps: appends that returned after the parent stopped listening, and perhaps
        # the one in progress at the kill, may follow, but nothing is skipped
        assert list(delivered) == list(range(min(delivered), max(delivered) + 1))
        next_tag = max([*returned, *delivered]) + 1
