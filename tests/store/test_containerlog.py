"""The ContainerLogV2 view: LogMessage is IG's current JSON, whatever the input shape."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgewatch.decode.decoder import LineDecoder
from edgewatch.events.base import Event, Layout
from edgewatch.events.render import to_ig, to_ig_json
from edgewatch.simulate import ALL_GADGETS, generate
from edgewatch.store.containerlog import COLUMNS, ContainerLogSettings, hidden_paths, view_sql
from edgewatch.store.schema import CONTEXT_COLUMNS
from tests.conftest import all_ig_lines
from tests.decode.test_properties import events as event_strategy
from tests.store.conftest import fill_store, hunting_connection


def _canonical(obj: object) -> str:
    return json.dumps(obj, sort_keys=True)


def _log_messages(path: Path) -> list[str]:
    con = hunting_connection(path)
    rows = con.execute('SELECT LogMessage FROM "ContainerLogV2"').fetchall()
    con.close()
    return sorted(_canonical(json.loads(r[0])) for r in rows)


def test_log_message_is_igs_current_json_for_every_fixture(tmp_path: Path) -> None:
    events = LineDecoder().decode([line for _, line in all_ig_lines()]).events
    assert {e.gadget_family for e in events} >= {"tcp", "dns", "sni", "exec", "seccomp"}
    fill_store(tmp_path / "s.duckdb", events).close()
    expected = sorted(_canonical(to_ig(e)) for e in events)
    assert _log_messages(tmp_path / "s.duckdb") == expected


def test_flat_layout_input_is_shown_in_the_current_shape(tmp_path: Path) -> None:
    events = list(generate(300, seed=3, gadgets=ALL_GADGETS))
    flat_lines = [to_ig_json(e, Layout.FLAT) for e in events]
    decoded = LineDecoder().decode(flat_lines).events
    fill_store(tmp_path / "s.duckdb", decoded).close()
    current = sorted(_canonical(to_ig(e)) for e in decoded)
    got = _log_messages(tmp_path / "s.duckdb")
    assert got == current
    assert all('"proc":' in g for g in got if '"fprocess"' not in g)


_int64 = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(event_strategy(), min_size=1, max_size=30), st.data())
def test_any_event_round_trips_through_the_store(evs: list[Event], data: st.DataObject) -> None:
    # Integers beyond 64 bits are stored as NULL (counted); keep them in range here. And
    # IG's contract, which the store relies on: one container id, one context.
    fixed = []
    for drawn in evs:
        context = tuple(getattr(drawn, c) for c in CONTEXT_COLUMNS)
        ev = msgspec.structs.replace(
            drawn,
            container_id=f"{hash(context) & 0xFFFFFFFF:x}",
            time_ns=min(drawn.time_ns, 2**63 - 2),  # 2**63 - 1 is DuckDB's infinity
        )
        changes = {
            f: data.draw(_int64)
            for f in ev.__struct_fields__
            if isinstance(getattr(ev, f), int)
            and not isinstance(getattr(ev, f), bool)
            and not -(2**63) <= getattr(ev, f) < 2**63
        }
        fixed.append(msgspec.structs.replace(ev, **changes) if changes else ev)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.duckdb"
        fill_store(path, fixed, max_age_ns=None).close()
        assert _log_messages(path) == sorted(_canonical(to_ig(e)) for e in fixed)


def test_typed_path_columns_agree_with_the_json(tmp_path: Path) -> None:
    """Every hidden column must hold what LogMessage's JSON holds at that path."""
    events = list(generate(400, seed=5, gadgets=ALL_GADGETS, scenarios=["all"]))
    fill_store(tmp_path / "s.duckdb", events).close()
    con = hunting_connection(tmp_path / "s.duckdb")
    checked = 0
    for path in sorted(hidden_paths()):
        rows = con.execute(
            f'SELECT CAST("LogMessage.{path}" AS VARCHAR), '
            f"json_extract_string(LogMessage, '$.{path}') "
            f'FROM "ContainerLogV2" WHERE "LogMessage.{path}" IS NOT NULL'
        ).fetchall()
        for typed, from_json in rows:
            if path == "ustack" or (isinstance(from_json, str) and from_json.startswith("{")):
                continue
            assert typed.strip('"') == from_json, path
            checked += 1
    assert checked > 5000


def test_view_columns_are_azures(tmp_path: Path) -> None:
    fill_store(tmp_path / "s.duckdb", generate(50, seed=1)).close()
    con = hunting_connection(tmp_path / "s.duckdb")
    names = [d[0] for d in con.execute('SELECT * FROM "ContainerLogV2" LIMIT 1').description]
    assert names[: len(COLUMNS)] == list(COLUMNS)
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'ContainerLogV2'"
        ).fetchall()
    )
    assert types["TimeGenerated"] == "TIMESTAMP"
    assert types["LogMessage"] == "JSON"


def test_container_names_time_and_computer(tmp_path: Path) -> None:
    events = list(generate(200, seed=2, gadgets=ALL_GADGETS))
    writer = fill_store(tmp_path / "s.duckdb", events, node="edge-7")
    writer.close()
    con = hunting_connection(tmp_path / "s.duckdb")
    rows = con.execute(
        'SELECT ContainerName, epoch_us(TimeGenerated), Computer FROM "ContainerLogV2"'
    ).fetchall()
    expected = sorted((f"ig-{e.gadget_family}", e.time_ns // 1000, "edge-7") for e in events)
    assert sorted(rows) == expected


def test_container_names_are_configurable(tmp_path: Path) -> None:
    settings_ = ContainerLogSettings(container_names={"tcp": "gadget-tcp"})
    fill_store(tmp_path / "s.duckdb", generate(100, seed=2), container_log=settings_).close()
    con = hunting_connection(tmp_path / "s.duckdb")
    names = {
        r[0] for r in con.execute('SELECT DISTINCT ContainerName FROM "ContainerLogV2"').fetchall()
    }
    assert "gadget-tcp" in names and "ig-tcp" not in names and "ig-dns" in names


def test_since_limits_the_view(tmp_path: Path) -> None:
    events = list(generate(300, seed=4))
    fill_store(tmp_path / "s.duckdb", events).close()
    from edgewatch.store.database import open_store

    con = open_store(tmp_path / "s.duckdb", read_only=True)
    cutoff = sorted(e.time_ns for e in events)[150]
    con.execute(view_sql(ContainerLogSettings(), since_ns=cutoff)).fetchall()
    (n,) = con.execute('SELECT count(*) FROM "ContainerLogV2"').fetchone()
    assert n == sum(e.time_ns >= cutoff for e in events)


@pytest.mark.parametrize("family", ["tcp", "dns"])
def test_a_container_filter_reads_one_table(tmp_path: Path, family: str) -> None:
    """ContainerName is a constant per branch: DuckDB must prune the other tables."""
    fill_store(tmp_path / "s.duckdb", generate(100, seed=2)).close()
    con = hunting_connection(tmp_path / "s.duckdb")
    plan = "\n".join(
        r[1]
        for r in con.execute(
            f"EXPLAIN SELECT count(*) FROM \"ContainerLogV2\" WHERE ContainerName = 'ig-{family}'"
        ).fetchall()
    )
    assert f"events_{family}" in plan
    others = {"tcp", "dns", "sni", "exec", "seccomp"} - {family}
    assert not any(f"events_{o}\n" in plan or f"events_{o} " in plan for o in others), plan
