"""The store writer: batching, retention by age and size, failures that surface."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from edgewatch.events.tcp import TcpEvent
from edgewatch.simulate import generate
from edgewatch.store import retention
from edgewatch.store.database import StoreBusyError, StoreError, open_store
from edgewatch.store.writer import StoreSettings, StoreWriter
from tests.store.conftest import fill_store

HOUR = 3600 * 1_000_000_000


def _count(path: Path, table: str = "events_tcp") -> int:
    con = open_store(path, read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    finally:
        con.close()


def test_every_event_written_is_stored_per_gadget(tmp_path: Path) -> None:
    events = list(generate(3000, seed=1))
    writer = fill_store(tmp_path / "s.duckdb", events)
    writer.close()
    for family in ("tcp", "dns", "sni", "exec", "seccomp"):
        expected = sum(e.gadget_family == family for e in events)
        assert _count(tmp_path / "s.duckdb", f"events_{family}") == expected
    assert sum(writer.stats.rows.values()) == len(events)


def test_age_retention_counts_back_from_the_newest_event(tmp_path: Path) -> None:
    base = 1_750_000_000 * 1_000_000_000
    events = [TcpEvent(time_ns=base + h * HOUR, container_id=f"c{h % 3}") for h in range(48)]
    writer = fill_store(tmp_path / "s.duckdb", events, max_age_ns=24 * HOUR)
    writer.close()
    # newest is hour 47: hours 23..47 are within 24 h of it
    assert _count(tmp_path / "s.duckdb") == 25
    assert writer.retention.deleted_by_age == 23


def test_alerts_age_out_with_the_events(tmp_path: Path) -> None:
    """The alerts table is under the same retention as the events it was raised on."""
    from edgewatch.detect.alert import Alert
    from edgewatch.detect.outputs import StoreAlerts

    base = 1_750_000_000 * 1_000_000_000
    path = tmp_path / "s.duckdb"
    writer = StoreWriter(StoreSettings(path=path, max_age_ns=24 * HOUR, retention_interval_s=0))
    StoreAlerts(writer).write(
        [
            Alert(
                alert_id=f"a{h}",
                time_ns=base + h * HOUR,
                rule="r",
                title="t",
                severity="high",
                tactic="Execution",
                technique="T1059",
            )
            for h in (0, 10, 30, 47)
        ]
    )
    writer.write("tcp", [TcpEvent(time_ns=base + h * HOUR, container_id="c") for h in range(48)])
    writer.flush()
    writer.close()
    con = open_store(path, read_only=True)
    try:
        kept = [r[0] for r in con.execute("SELECT alert_id FROM alerts ORDER BY 1").fetchall()]
    finally:
        con.close()
    assert kept == ["a30", "a47"]  # within 24 h of the newest event (hour 47)
    assert writer.retention.by_table["alerts"] == 2
    assert writer.retention.deleted_by_age == 23  # events only, as before


def test_alerts_count_against_the_size_cap(tmp_path: Path) -> None:
    """Retention by size also trims alerts, oldest first, so they cannot grow the store."""
    from edgewatch.detect.alert import Alert
    from edgewatch.detect.outputs import StoreAlerts

    base = 1_750_000_000 * 1_000_000_000
    path = tmp_path / "s.duckdb"
    cap = 24 * 1024 * 1024
    writer = StoreWriter(
        StoreSettings(path=path, max_bytes=cap, max_age_ns=None, retention_interval_s=0)
    )
    alerts = StoreAlerts(writer)
    peak = 0
    for i in range(12):
        start = base + i * HOUR
        alerts.write(
            [
                Alert(
                    alert_id=f"{i}-{n}",
                    time_ns=start + n,
                    rule="r",
                    title="t",
                    severity="low",
                    tactic="Discovery",
                    technique="T1046",
                    detail="x" * 200 + str(n),
                    evidence_ids=[f"{i}-{n}-{k}" for k in range(8)],
                )
                for n in range(20_000)
            ]
        )
        writer.write("tcp", [TcpEvent(time_ns=start, container_id="c")])
        writer.flush()
        peak = max(peak, retention.file_bytes(path))
    writer.close()
    assert peak <= cap, f"store reached {peak:,} bytes with a cap of {cap:,}"
    assert writer.retention.by_table.get("alerts", 0) > 0
    con = open_store(path, read_only=True)
    try:
        oldest, newest = con.execute("SELECT min(time_ns), max(time_ns) FROM alerts").fetchall()[0]
    finally:
        con.close()
    assert newest >= base + 11 * HOUR  # the newest alerts are kept
    assert oldest > base  # the oldest went first


def test_size_cap_holds_and_the_oldest_go_first(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    cap = 24 * 1024 * 1024
    writer = StoreWriter(
        StoreSettings(path=path, max_bytes=cap, max_age_ns=None, retention_interval_s=0)
    )
    peak = 0
    for i in range(14):
        batch = list(generate(20_000, seed=i, start_ns=1_750_000_000_000_000_000 + i * HOUR))
        by_family: dict[str, list] = {}
        for e in batch:
            by_family.setdefault(e.gadget_family, []).append(e)
        for family, evs in by_family.items():
            writer.write(family, evs)
        writer.flush()
        peak = max(peak, retention.file_bytes(path))
    writer.close()
    assert writer.retention.deleted_by_size > 0
    assert peak <= cap, f"store reached {peak:,} bytes with a cap of {cap:,}"
    con = open_store(path, read_only=True)
    oldest = con.execute("SELECT min(time_ns) FROM events_dns").fetchall()[0][0]
    newest = con.execute("SELECT max(time_ns) FROM events_dns").fetchall()[0][0]
    assert newest >= 1_750_000_000_000_000_000 + 13 * HOUR  # the newest batch is kept
    assert oldest > 1_750_000_000_000_000_000 + HOUR  # the oldest were deleted


def test_integers_beyond_64_bits_are_null_and_counted(tmp_path: Path) -> None:
    ev = TcpEvent(time_ns=1, netns_id=2**64 - 1, fd=3)
    writer = fill_store(tmp_path / "s.duckdb", [ev])
    writer.close()
    assert writer.stats.out_of_range == 1
    con = open_store(tmp_path / "s.duckdb", read_only=True)
    assert con.execute("SELECT netns_id, fd FROM events_tcp").fetchall() == [(None, 3)]


def test_a_containers_new_labels_apply_to_its_later_events(tmp_path: Path) -> None:
    first = TcpEvent(time_ns=1, container_id="abc", pod_labels="app=a", namespace="shop")
    later = msgspec.structs.replace(first, time_ns=2, pod_labels="app=b")
    writer = StoreWriter(StoreSettings(path=tmp_path / "s.duckdb"))
    writer.write("tcp", [first])
    writer.write("tcp", [later])
    writer.close()
    con = open_store(tmp_path / "s.duckdb", read_only=True)
    rows = con.execute("SELECT time_ns, pod_labels FROM events_tcp ORDER BY 1").fetchall()
    assert rows == [(1, "app=a"), (2, "app=b")]


def test_a_second_writer_is_told_who_holds_the_store(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "s.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); "
            "sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(StoreBusyError, match="in use"):
            open_store(path)
    finally:
        holder.communicate("")


def test_a_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="edgewatch ingest"):
        open_store(tmp_path / "nope.duckdb", read_only=True)


def test_a_cap_too_small_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least"):
        StoreWriter(StoreSettings(path=tmp_path / "s.duckdb", max_bytes=1024))


def test_writer_failure_reaches_the_caller(tmp_path: Path) -> None:
    writer = StoreWriter(StoreSettings(path=tmp_path / "s.duckdb"))
    writer.con.execute("DROP TABLE events_tcp").fetchall()  # sabotage
    writer.write("tcp", [TcpEvent(time_ns=1)])
    with pytest.raises(RuntimeError, match="store writer failed"):
        writer.flush()


def test_the_configured_memory_limit_bounds_the_stores_duckdb(tmp_path: Path) -> None:
    """DuckDB's default is 80% of the machine: the agent's store takes the configured cap."""
    from edgewatch.agent import build_sink
    from edgewatch.config import ConfigError, parse_config

    cfg = parse_config(
        f"sinks: [{{type: store, path: {tmp_path / 's.duckdb'}, memory_limit: 128MiB}}]\n"
    )
    sink = build_sink(cfg.sinks[0], "node-a")
    try:
        (limit,) = sink.writer.con.execute("SELECT current_setting('memory_limit')").fetchone()
        assert limit == "128.0 MiB"
    finally:
        sink.close()
    with pytest.raises(ConfigError, match="memory_limit"):
        parse_config(f"sinks: [{{type: store, path: {tmp_path}/t.duckdb, memory_limit: 1MiB}}]\n")
