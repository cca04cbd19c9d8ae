"""What ``edgewatch ingest`` stores is exactly what the decoder made of the input.

The store builds its Arrow columns without reading the events one column at a time
(rows are transposed in slices, the container context is taken once per container and
repeated by Arrow). These tests hold that machinery to the plain definition: every
stored row equals the decoded event's fields, read one by one, for a mix of every IG
shape the decoder takes (both layouts, envelope, CRI with partial lines, simulated
traffic across many containers) and the lines it must refuse, which are counted and
not stored.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from edgewatch import simulate
from edgewatch.cli import app
from edgewatch.decode.decoder import LineDecoder
from edgewatch.decode.plan import clear_context_caches
from edgewatch.events.base import Event
from edgewatch.events.tcp import TcpEvent
from edgewatch.store import columns as store_columns
from edgewatch.store.columns import ColumnBuilder
from edgewatch.store.database import open_store
from edgewatch.store.schema import all_schemas, schema_for
from tests.store.conftest import fill_store

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ig"
NODE = "edge-7"
_INT64 = range(-(2**63), 2**63)


def _envelope(line: bytes) -> bytes:
    obj = json.loads(line)
    return json.dumps(
        {"type": "gadget-data", "gadget": "trace_dns", "data": [obj, obj]}, separators=(",", ":")
    ).encode()


def _mixed_input() -> list[bytes]:
    lines: list[bytes] = []
    for path in sorted(FIXTURES.glob("*.jsonl")):
        lines.extend(path.read_bytes().splitlines())
    dns = (FIXTURES / "trace_dns.jsonl").read_bytes().splitlines()[0]
    tcp = (FIXTURES / "trace_tcp.jsonl").read_bytes().splitlines()[0]
    lines.append(_envelope(dns))
    # CRI framing, one line split into a partial and a final chunk
    half = len(tcp) // 2
    lines.append(b"2025-06-18T09:00:00.000000001Z stdout P " + tcp[:half])
    lines.append(b"2025-06-18T09:00:00.000000002Z stdout F " + tcp[half:])
    lines.append(b"2025-06-18T09:00:00.000000003Z stderr F ig warning, not an event")
    # an integer no 64-bit column holds: stored as NULL and counted
    big = json.loads(tcp)
    big["netns_id"] = 2**64 - 1
    lines.append(json.dumps(big, separators=(",", ":")).encode())
    # what must be refused or skipped, not stored
    lines += [b"{not json", b"[1, 2]", b'{"hello": "world"}', b"", b'"a string"']
    # many containers and more rows than one transpose slice, in both IG layouts
    for layout in ("current", "flat"):
        buf = _Buffer()
        simulate.write(simulate.generate(700, seed=5, scenarios=["all"]), buf, layout)
        lines.extend(buf.data.splitlines())
    return lines


class _Buffer:
    def __init__(self) -> None:
        self.data = b""

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        return len(chunk)


def _row(event: Event, names: list[str]) -> tuple[Any, ...]:
    values = []
    for name in names:
        v = getattr(event, name)
        if isinstance(v, int) and not isinstance(v, bool) and v not in _INT64:
            v = None
        values.append(v)
    return tuple(values)


def _canonical(rows: list[tuple[Any, ...]]) -> list[str]:
    return sorted(json.dumps(list(r), default=list) for r in rows)


@pytest.fixture()
def ingested(tmp_path: Path) -> tuple[list[bytes], Path, str]:
    clear_context_caches()
    lines = _mixed_input()
    src = tmp_path / "capture.log"
    src.write_bytes(b"\n".join(lines) + b"\n")
    db = tmp_path / "store.duckdb"
    result = CliRunner().invoke(
        app, ["ingest", str(src), "--db", str(db), "--node", NODE, "--max-age", "100000d"]
    )
    assert result.exit_code == 0, result.output
    return lines, db, result.output


def test_every_stored_row_is_the_decoded_event(ingested: tuple[list[bytes], Path, str]) -> None:
    lines, db, _ = ingested
    clear_context_caches()
    decoder = LineDecoder(node=NODE)
    decoded = decoder.decode(lines)
    decoded.extend(decoder.flush())
    assert len(decoded.events) > 1400
    con = open_store(db, read_only=True)
    try:
        for schema in all_schemas():
            names = [c.name for c in schema.columns]
            expected = [_row(e, names) for e in decoded.events if e.gadget_family == schema.family]
            stored = con.execute(
                "SELECT " + ", ".join(f'"{n}"' for n in names) + f' FROM "{schema.name}"'
            ).fetchall()
            assert _canonical(stored) == _canonical(expected), schema.family
    finally:
        con.close()


def test_refused_lines_are_counted_and_the_big_integer_is_null(
    ingested: tuple[list[bytes], Path, str],
) -> None:
    lines, db, output = ingested
    decoder = LineDecoder(node=NODE)
    decoded = decoder.decode(lines)
    decoded.extend(decoder.flush())
    reasons = Counter(r.reason for r in decoded.rejects)
    assert reasons["invalid_json"] >= 1 and reasons["not_an_object"] >= 1
    for reason in reasons:
        assert reason in output
    con = open_store(db, read_only=True)
    try:
        nulls = con.execute("SELECT count(*) FROM events_tcp WHERE netns_id IS NULL").fetchall()
    finally:
        con.close()
    assert nulls == [(1,)]


def _tcp(i: int, container: str, pod: str) -> TcpEvent:
    return TcpEvent(
        time_ns=i, container_id=container, pod=pod, namespace="ns", node=NODE, pid=i, comm=f"c{i}"
    )


def test_builder_matches_reading_each_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices that do not divide the batch, containers interleaved, a context that
    changes between batches: the table is the events' fields in arrival order."""
    monkeypatch.setattr(store_columns, "TRANSPOSE_ROWS", 7)
    schema = schema_for("tcp")
    names = [c.name for c in schema.columns]
    builder = ColumnBuilder(schema)
    first = [_tcp(i, f"c{i % 5}", f"pod-{i % 5}") for i in range(53)]
    table = builder.build(first).table
    assert [tuple(r.values()) for r in table.to_pylist()] == [_row(e, names) for e in first]
    # container c1's pod is relabelled: the next batch stores the new context
    second = [_tcp(i, f"c{i % 3}", "renamed" if i % 3 == 1 else f"pod-{i % 3}") for i in range(9)]
    table = builder.build(second).table
    assert [tuple(r.values()) for r in table.to_pylist()] == [_row(e, names) for e in second]
    # relabelled within a batch: the container's rows share its latest context
    third = [_tcp(i, "c1", "old" if i < 4 else "new") for i in range(6)]
    pods = builder.build(third).table.column("pod").to_pylist()
    assert pods == ["new"] * 6


def test_builder_forgets_contexts_past_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_columns, "MAX_CONTEXTS", 4)
    schema = schema_for("tcp")
    names = [c.name for c in schema.columns]
    builder = ColumnBuilder(schema)
    for start in range(0, 30, 3):
        batch = [_tcp(i, f"c{i}", f"pod-{i}") for i in range(start, start + 3)]
        rows = [tuple(r.values()) for r in builder.build(batch).table.to_pylist()]
        assert rows == [_row(e, names) for e in batch]
        assert len(builder._rows) <= 4 + 3


def test_a_store_upgraded_from_an_older_layout_takes_rows_by_column_name(
    tmp_path: Path,
) -> None:
    """An older store gains its new columns at the end of the table; inserts must still
    put every value in its own column."""
    path = tmp_path / "old.duckdb"
    tcp = schema_for("tcp")
    kept = [c for c in tcp.columns if c.name != "event_count"]
    old = duckdb.connect(str(path))
    old.execute(
        f'CREATE TABLE "{tcp.name}" (' + ", ".join(f'"{c.name}" {c.sql_type}' for c in kept) + ")"
    )
    old.close()
    event = TcpEvent(time_ns=5, container_id="c", pod="p", pid=42, comm="curl", event_count=3)
    fill_store(path, [event]).close()
    con = open_store(path, read_only=True)
    try:
        got = con.execute(f'SELECT pid, comm, event_count, pod FROM "{tcp.name}"').fetchall()
    finally:
        con.close()
    assert got == [(42, "curl", 3, "p")]
