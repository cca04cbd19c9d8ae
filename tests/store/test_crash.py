"""The store after the agent writing it is killed: it opens, and a restart completes it.

DuckDB commits each insert through its write-ahead log, so a ``kill -9`` between two
inserts loses at most what the agent had not inserted yet; the file source's offsets
make the restart read that again (at least once: a line inserted but not yet
checkpointed in the offsets is stored twice, never lost).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from edgewatch import simulate
from edgewatch.hunt import engine
from edgewatch.store.database import open_store
from edgewatch.store.schema import all_schemas

EVENTS = 30_000


def _config(tmp_path: Path, events: Path, follow: bool) -> Path:
    cfg = tmp_path / ("follow.yaml" if follow else "once.yaml")
    cfg.write_text(
        f"""
node: edge-crash
state_dir: {tmp_path / "state"}
sources:
  - type: file
    path: {events}
    follow: {"true" if follow else "false"}
sinks:
  - type: store
    path: {tmp_path / "store.duckdb"}
    max_age: null
"""
    )
    return cfg


def _stored(path: Path) -> int:
    con = open_store(path, read_only=True)
    try:
        return sum(
            con.execute(f'SELECT count(*) FROM "{s.name}"').fetchall()[0][0] for s in all_schemas()
        )
    finally:
        con.close()


def test_a_killed_agents_store_opens_and_a_restart_completes_it(tmp_path: Path) -> None:
    buf = io.BytesIO()
    simulate.write(simulate.generate(EVENTS, seed=11), buf, "current")
    events = tmp_path / "events.ndjson"
    events.write_bytes(buf.getvalue())
    store = tmp_path / "store.duckdb"
    wal = Path(str(store) + ".wal")
    agent = subprocess.Popen(
        [sys.executable, "-m", "edgewatch", "run", "-c", str(_config(tmp_path, events, True))],
        stderr=subprocess.DEVNULL,
    )
    try:
        # the first insert commits within the store's flush interval: megabytes of rows
        # in the log or the file (creating the tables writes a few kilobytes)
        def written() -> int:
            return sum(p.stat().st_size for p in (store, wal) if p.exists())

        deadline = time.monotonic() + 30
        while written() < 2_000_000 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert written() >= 2_000_000, "the agent never inserted"
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
    finally:
        if agent.poll() is None:
            agent.kill()

    after_crash = _stored(store)
    assert 0 < after_crash <= EVENTS
    con = open_store(store, read_only=True)
    try:
        engine.prepare(con)
        table = engine.execute(con, "ContainerLogV2 | summarize n = count()").table
        assert table.column("n").to_pylist() == [after_crash]  # the recovered store answers
    finally:
        con.close()

    done = subprocess.run(
        [sys.executable, "-m", "edgewatch", "run", "-c", str(_config(tmp_path, events, False))],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    final = _stored(store)
    assert EVENTS <= final <= EVENTS + after_crash  # nothing lost; duplicates only re-read
