"""The cheaper forms answer exactly what duckdb-kql's general forms answer."""

from __future__ import annotations

import datetime as dt
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import duckdb
import duckdb_kql
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.events.base import Event
from edgewatch.hunt import catalog, engine, fastforms, inline
from edgewatch.simulate import generate
from tests.store.conftest import fill_store, hunting_connection

OPERATORS = sorted(fastforms._STRING_OPERATORS)

# letters whose case matters, the LIKE metacharacters duckdb-kql escapes, non-ASCII
_ALPHABET = st.sampled_from(list("aAbBzZ.-_%\\ éÉßİıΣσ0"))
_TEXT = st.text(_ALPHABET, max_size=8)


def _kql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@pytest.fixture(scope="module")
def plain() -> duckdb.DuckDBPyConnection:
    fastforms.register()
    return duckdb.connect()


@settings(max_examples=150, deadline=None)
@given(x=_TEXT, needle=_TEXT, op=st.sampled_from(OPERATORS))
def test_string_operators_agree_with_duckdb_kql(
    plain: duckdb.DuckDBPyConnection, x: str, needle: str, op: str
) -> None:
    general = f"print r = {_kql_string(x)} {op} {_kql_string(needle)}"
    fast = f"print r = {fastforms._function_name(op)}({_kql_string(x)}, {_kql_string(needle)})"
    expected = plain.sql(str(duckdb_kql.to_sql(general))).fetchall()
    assert plain.sql(str(duckdb_kql.to_sql(fast))).fetchall() == expected


@settings(max_examples=60, deadline=None)
@given(
    micros=st.integers(-(10**15), 4 * 10**15),
    size=st.sampled_from(["1s", "90s", "1h", "1d", "7d", "100ms", "15m"]),
)
def test_bin_of_a_timestamp_agrees_with_duckdb_kql(
    plain: duckdb.DuckDBPyConnection, micros: int, size: str
) -> None:
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=micros)
    literal = f"datetime({moment.isoformat()})"
    general = plain.sql(str(duckdb_kql.to_sql(f"print r = bin({literal}, {size})"))).fetchall()
    fast = plain.sql(
        str(duckdb_kql.to_sql(f"print r = {fastforms.BIN_TIME}({literal}, {size})"))
    ).fetchall()
    assert fast == general


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return list(generate(3000, seed=5, scenarios=["all"]))


@pytest.fixture(scope="module")
def con(events: list[Event], tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    path: Path = tmp_path_factory.mktemp("store") / "s.duckdb"
    fill_store(path, events, node="n1").close()
    return hunting_connection(path)


def test_text_filters_use_the_fast_form_and_keep_their_answer(
    con: duckdb.DuckDBPyConnection, events: list[Event]
) -> None:
    kql = (
        'ContainerLogV2 | where ContainerName == "ig-dns" '
        "| extend q = tostring(LogMessage.name), rc = tostring(LogMessage.rcode) "
        '| where q !endswith ".CLUSTER.local." and rc !contains "error" '
        "| summarize n = count() by q | order by q asc"
    )
    translated = engine.translate_for(con, kql)
    assert "ends_with(lower(" in translated.sql and "ESCAPE" not in translated.sql
    got = {r["q"]: r["n"] for r in engine.run_translated(con, translated).table.to_pylist()}
    expected: dict[str, int] = {}
    for e in events:
        if e.gadget_family != "dns":
            continue
        name, rcode = e.name, e.rcode  # type: ignore[attr-defined]
        if name.lower().endswith(".cluster.local.") or "error" in rcode.lower():
            continue
        expected[name] = expected.get(name, 0) + 1
    assert got == expected


def test_a_column_that_may_be_dynamic_keeps_the_general_form(
    con: duckdb.DuckDBPyConnection,
) -> None:
    translated = engine.translate_for(
        con, 'ContainerLogV2 | where ContainerName == "ig-dns" | where LogMessage.name endswith "."'
    )
    assert "ends_with(lower(" not in translated.sql


def test_bin_after_time_generated_is_reassigned_keeps_the_general_form(
    con: duckdb.DuckDBPyConnection,
) -> None:
    kql = (
        "ContainerLogV2 | extend TimeGenerated = TimeGenerated + 30m "
        "| summarize count() by bin(TimeGenerated, 1h)"
    )
    assert "time_bucket" not in engine.translate_for(con, kql).sql
    plain_kql = "ContainerLogV2 | summarize count() by bin(TimeGenerated, 1h)"
    translated = engine.translate_for(con, plain_kql)
    assert "time_bucket" in translated.sql
    # the bucket keeps the name Kusto gives it
    assert engine.run_translated(con, translated).table.column_names == ["TimeGenerated", "count_"]


def test_a_narrowed_view_is_made_once_and_reused(con: duckdb.DuckDBPyConnection) -> None:
    kql = 'ContainerLogV2 | where ContainerName == "ig-sni" | count'
    translated = engine.translate_for(con, kql)
    assert translated.needs is not None
    first = engine.run_translated(con, translated).table.to_pylist()
    views = con.execute("SELECT count(*) FROM duckdb_views() WHERE temporary").fetchall()
    assert engine.run_translated(con, translated).table.to_pylist() == first
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE temporary").fetchall() == views


def test_narrowed_views_are_bounded(con: duckdb.DuckDBPyConnection) -> None:
    for n in range(engine.MAX_VIEWS + 5):
        # each query selects other containers, so each needs a view of its own
        engine.execute(con, f'ContainerLogV2 | where ContainerName in ("ig-tcp", "x{n}") | count')
    kept = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE temporary AND starts_with(view_name, ?)",
        [engine.NARROW_VIEW + "_"],
    ).fetchall()[0][0]
    assert 0 < kept <= engine.MAX_VIEWS


def test_a_leading_container_filter_still_narrows_the_view(
    con: duckdb.DuckDBPyConnection,
) -> None:
    translated = engine.translate_for(
        con, 'ContainerLogV2 | where ContainerName == "ig-seccomp" | count'
    )
    assert "edgewatch_op" not in translated.sql
    assert translated.needs is not None and translated.needs.containers == {"ig-seccomp"}


def _value(v: Any) -> str:
    """A set's order is not part of the answer (make_set promises none)."""
    if isinstance(v, str) and v.startswith("["):
        try:
            return repr(sorted(map(repr, json.loads(v))))
        except ValueError:
            pass
    return repr(v)


def _canonical(table: Any) -> list[tuple[str, ...]]:
    return sorted(tuple(map(_value, row.values())) for row in table.to_pylist())


@pytest.mark.parametrize("query", catalog.bundled(), ids=lambda q: q.name)
def test_nesting_the_cte_chain_keeps_every_bundled_querys_answer(
    con: duckdb.DuckDBPyConnection, query: catalog.HuntQuery, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixed = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    nested = engine.translate_for(con, query.text, now=fixed)
    monkeypatch.setattr(engine, "inline_ctes", lambda sql: sql)
    monkeypatch.setattr(engine, "_translations", OrderedDict())
    chained = engine.translate_for(con, query.text, now=fixed)
    assert "WITH" in chained.sql
    got = engine.run_translated(con, nested).table
    assert got.column_names == engine.run_translated(con, chained).table.column_names
    assert _canonical(got) == _canonical(engine.run_translated(con, chained).table)


def test_a_cte_read_twice_stays_a_cte() -> None:
    sql = "WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT * FROM a, b"
    out = inline.inline_ctes(sql)
    assert duckdb.sql(out).fetchall() == duckdb.sql(sql).fetchall() == [(1, 2)]
    assert "WITH" in out.upper()


def test_a_translation_is_reused_with_a_new_clock(con: duckdb.DuckDBPyConnection) -> None:
    kql = "ContainerLogV2 | where TimeGenerated > ago(1h) | count"
    first = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    later = first + dt.timedelta(days=1)
    a = engine.translate_for(con, kql, now=first)
    b = engine.translate_for(con, kql, now=later)
    assert a.sql == b.sql
    assert list(a.parameters.values()) == [first] and list(b.parameters.values()) == [later]


def test_a_clock_the_query_sets_itself_is_kept(con: duckdb.DuckDBPyConnection) -> None:
    kql = "set query_now = datetime(2001-02-03); print t = now()"
    a = engine.translate_for(con, kql, now=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    b = engine.translate_for(con, kql, now=dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
    assert a.parameters == b.parameters
    assert engine.run_translated(con, b).table.column("t")[0].as_py().year == 2001
