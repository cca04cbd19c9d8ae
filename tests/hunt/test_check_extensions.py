"""The KQL the engine adds for published content, against Kusto's documented results.

Each case quotes a Kusto documentation example (learn.microsoft.com/kusto/query/…) or
states the documented rule it pins, and runs through the hunting engine itself, on a
prepared connection, as a hunt would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from edgewatch.hunt import engine
from tests.store.conftest import fill_store, hunting_connection


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    path = tmp_path_factory.mktemp("ext") / "store.duckdb"
    fill_store(path, []).close()
    connection = hunting_connection(path)
    yield connection
    connection.close()


def run(con: duckdb.DuckDBPyConnection, kql: str) -> list[dict[str, Any]]:
    return engine.execute(con, kql).table.to_pylist()


def value(con: duckdb.DuckDBPyConnection, kql: str) -> Any:
    (row,) = run(con, kql)
    (result,) = row.values()
    return result


# -- named arguments (user-defined functions) -------------------------------------------


def test_named_arguments_of_a_let_function(con: duckdb.DuckDBPyConnection) -> None:
    # Kusto docs, "User-defined functions": f(c=7, a=12) is "12-b.default-7".
    kql = (
        'let f=(a:long, b:string = "b.default", c:long = 0) { strcat(a, "-", b, "-", c) }; '
        "print x=f(c=7, a=12)"
    )
    assert value(con, kql) == "12-b.default-7"
    assert value(con, kql.replace("f(c=7, a=12)", "f(12, c=7)")) == "12-b.default-7"
    assert value(con, kql.replace("f(c=7, a=12)", "f(12)")) == "12-b.default-0"


def test_named_arguments_of_a_tabular_let_function(con: duckdb.DuckDBPyConnection) -> None:
    kql = (
        "let Events = (lo:long, hi:long = 10) { range x from lo to hi step 1 }; "
        "Events(hi=3, lo=2) | summarize make_list(x)"
    )
    assert json.loads(json.dumps(value(con, kql))) == [2, 3]


# -- has_ipv4_prefix / has_any_ipv4_prefix ------------------------------------------------------


_LOG = "'05:04:54 {} GET /favicon.ico 404'"
_THREE = "dynamic(['127.0.', '10.0.', '192.168.'])"


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        # Kusto docs, has_ipv4_prefix()
        ("has_ipv4_prefix('127.0.0.1', '127.0.')", True),
        ("has_ipv4_prefix('05:04:54 127.0.0.1 GET /favicon.ico 404', '127.0.')", True),
        ("has_ipv4_prefix('05:04:54 127.0.0.256 GET /favicon.ico 404', '127.0.')", False),
        ("has_ipv4_prefix('05:04:54127.0.0.1 GET /favicon.ico 404', '127.0.')", False),
        ("has_ipv4_prefix('05:04:54 127.0.0.1 GET /favicon.ico 404', '127.0')", False),
        # Kusto docs, has_any_ipv4_prefix()
        (
            f"has_any_ipv4_prefix({_LOG.format('127.0.0.1')}, {_THREE})",
            True,
        ),
        (
            f"has_any_ipv4_prefix({_LOG.format('10.0.0.255')}, {_THREE})",
            True,
        ),
        (
            f"has_any_ipv4_prefix({_LOG.format('192.168.1.1')}, '127.0.', '10.0.', '192.168.')",
            True,
        ),
        (
            f"has_any_ipv4_prefix({_LOG.format('172.24.0.1')}, {_THREE})",
            False,
        ),
        ("has_any_ipv4_prefix('127.0.0.1', dynamic([]))", False),
    ],
)
def test_ipv4_prefix_functions(con: duckdb.DuckDBPyConnection, call: str, expected: bool) -> None:
    assert value(con, f"print r = {call}") is expected


def test_ipv4_is_in_any_range(con: duckdb.DuckDBPyConnection) -> None:
    # Kusto docs, ipv4_is_in_any_range(): 192.168.1.6 is in the second range.
    kql = (
        "print r = ipv4_is_in_any_range('192.168.1.6', "
        "'192.168.1.1/24', '10.0.0.1/8', '127.1.0.1/16')"
    )
    assert value(con, kql) is True
    assert (
        value(con, "print r = ipv4_is_in_any_range('11.1.1.1', dynamic(['10.0.0.0/8']))") is False
    )


# -- set_union, deprecated and conditional aggregates --------------------------------------------


def test_set_union(con: duckdb.DuckDBPyConnection) -> None:
    # Kusto docs, set_union(): [1,2,4,8], [2,4,8,16], [3,6,12,24]
    kql = (
        "range x from 1 to 3 step 1 | extend y = x * 2 | extend z = y * 2 | extend w = z * 2 "
        "| extend a1 = pack_array(x,y,x,z), a2 = pack_array(x, y), a3 = pack_array(w) "
        "| project s = set_union(a1, a2, a3)"
    )
    assert [json.loads(r["s"]) for r in run(con, kql)] == [
        [1, 2, 4, 8],
        [2, 4, 8, 16],
        [3, 6, 12, 24],
    ]


def test_deprecated_aggregates(con: duckdb.DuckDBPyConnection) -> None:
    (row,) = run(
        con, "range x from 1 to 4 step 1 | extend y = x % 2 | summarize makelist(y), makeset(y)"
    )
    assert row["list_y"] == [1, 0, 1, 0]
    assert sorted(json.loads(row["set_y"])) == [0, 1]  # the same column names as Kusto's
    (row,) = run(
        con, "range x from 1 to 5 step 1 | summarize make_list_if(x, x > 3), make_set_if(x, x < 3)"
    )
    assert row["list_x"] == [4, 5]
    assert sorted(json.loads(row["set_x"])) == [1, 2]


def test_percentiles_with_one_percentage(con: duckdb.DuckDBPyConnection) -> None:
    (row,) = run(con, "range x from 1 to 100 step 1 | summarize percentiles(x, 5)")
    assert row == {"percentile_x_5": 5}


def test_json_spellings(con: duckdb.DuckDBPyConnection) -> None:
    doc = '{"hosts": [{"AvailableMB": 5}, {"AvailableMB": 7}]}'
    assert value(con, f"print r = extractjson('$.hosts[1].AvailableMB', '{doc}')") == "7"
    assert value(con, f"print r = extract_json('$.hosts[0].AvailableMB', '{doc}')") == "5"
    assert json.loads(value(con, "print r = parsejson('{\"a\": 1}')")) == {"a": 1}


# -- serialize, next(), prev(), row_number() ------------------------------------------------------


def test_row_number(con: duckdb.DuckDBPyConnection) -> None:
    # Kusto docs, row_number(): after sort by a desc, rn is 1..10 for a = 10..1
    got = run(con, "range a from 1 to 10 step 1 | sort by a desc | extend rn = row_number()")
    assert [(r["a"], r["rn"]) for r in got] == [(10 - i, i + 1) for i in range(10)]
    got = run(con, "range a from 1 to 10 step 1 | sort by a desc | extend rn = row_number(7)")
    assert [r["rn"] for r in got] == list(range(7, 17))


def test_next_and_prev(con: duckdb.DuckDBPyConnection) -> None:
    got = run(
        con,
        "range a from 1 to 5 step 1 | sort by a asc | serialize "
        "| extend n = next(a), p = prev(a), p2 = prev(a, 2, -1), n2 = next(a, 2)",
    )
    assert [(r["a"], r["n"], r["p"], r["p2"], r["n2"]) for r in got] == [
        (1, 2, None, -1, 3),
        (2, 3, 1, -1, 4),
        (3, 4, 2, 1, 5),
        (4, 5, 3, 2, None),
        (5, None, 4, 3, None),
    ]


def test_serialize_with_columns_is_extend_in_order(con: duckdb.DuckDBPyConnection) -> None:
    got = run(
        con,
        "range a from 1 to 3 step 1 | sort by a desc "
        "| serialize rn = row_number(), prior = prev(a)",
    )
    assert [(r["a"], r["rn"], r["prior"]) for r in got] == [(3, 1, None), (2, 2, 3), (1, 3, 2)]


def test_order_survives_where_and_extend(con: duckdb.DuckDBPyConnection) -> None:
    got = run(
        con,
        "range a from 1 to 6 step 1 | sort by a desc | where a % 2 == 0 | extend b = a * 10 "
        "| serialize | extend before = next(b)",
    )
    assert [(r["a"], r["before"]) for r in got] == [(6, 40), (4, 20), (2, None)]


# -- top-nested, tabular let functions ------------------------------------------------------------


def test_one_level_top_nested(con: duckdb.DuckDBPyConnection) -> None:
    kql = (
        "range x from 1 to 10 step 1 | extend k = iff(x <= 6, 'big', iff(x <= 9, 'mid', 'small')) "
        "| top-nested 2 of k by count()"
    )
    got = run(con, kql)
    assert [(r["k"], r["aggregated_k"]) for r in got] == [("big", 6), ("mid", 3)]
    asc = run(con, kql.replace("count()", "count() asc"))
    assert [(r["k"], r["aggregated_k"]) for r in asc] == [("small", 1), ("mid", 3)]


def test_tabular_let_function_with_local_lets(con: duckdb.DuckDBPyConnection) -> None:
    kql = (
        "let threshold = 3; "
        "let Big = (n:long) { let r = range x from 1 to n step 1; r | where x > threshold }; "
        "Big(5) | summarize make_list(x)"
    )
    assert value(con, kql) == [4, 5]


def test_corpus_beaconing_rule_translates(con: duckdb.DuckDBPyConnection) -> None:
    """The published rule needs named arguments, ipv4_is_in_any_range, serialize, next()."""
    import yaml

    path = Path(__file__).parent / "corpus" / "sentinel" / "PossibleBeaconingActivity.yaml"
    kql = yaml.safe_load(path.read_text())["query"]
    translated = engine.translate_for(con, kql)
    assert "lead(" in translated.sql and "ORDER BY" in translated.sql


# -- has_any over many needles: the folded patterns answer as the per-needle ones ---------------

_ALPHABET = "aAbB1. -_é/"


@pytest.fixture(scope="module")
def plain() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def test_folded_has_any_matches_the_per_needle_form(plain: duckdb.DuckDBPyConnection) -> None:
    from duckdb_kql import ir
    from duckdb_kql.translate import quote_string
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from edgewatch.hunt.extensions import hasany

    text = st.text(alphabet=_ALPHABET, max_size=12)
    needle = st.text(alphabet=_ALPHABET, min_size=1, max_size=4).filter(
        lambda n: n[0].isascii() and n[-1].isascii()
    )

    @settings(max_examples=120, deadline=None)
    @given(hay=text, needles=st.lists(needle, min_size=hasany.MIN_NEEDLES, max_size=6))
    def agree(hay: str, needles: list[str]) -> None:
        node = ir.HasList(
            ir.Literal(hay, "string"), tuple(ir.Literal(n, "string") for n in needles)
        )
        value = quote_string(hay)
        folded = hasany.render_has_list(node, value)
        per_needle = hasany.original(node, value)
        assert "||" not in folded  # really the folded form
        got, want = plain.execute(f"SELECT {folded}, {per_needle}").fetchone()
        assert got == want, (hay, needles)

    agree()


def test_published_needle_list_is_folded(con: duckdb.DuckDBPyConnection) -> None:
    import yaml

    path = Path(__file__).parent / "corpus" / "sentinel" / "imDNS_Miners.yaml"
    sql = engine.translate_for(con, yaml.safe_load(path.read_text())["query"]).sql
    assert sql.count("regexp_matches") <= 8  # (four edge kinds) x (text or dynamic input)


# -- project-reorder -------------------------------------------------------------------------------


def test_project_reorder(con: duckdb.DuckDBPyConnection) -> None:
    # Kusto docs, project-reorder: b first, then the rest in their order
    (row,) = run(con, "print a='a', b='b', c='c' | project-reorder b")
    assert list(row) == ["b", "a", "c"]
    # Kusto docs: the columns matching a* sorted ascending, before the others
    (row,) = run(con, "print b = 'b', a2='a2', a3='a3', a1='a1' | project-reorder a* asc")
    assert list(row) == ["a1", "a2", "a3", "b"]
    (row,) = run(con, "print x=1, y=2, z=3 | project-reorder z, y | extend w = x + z")
    assert row == {"z": 3, "y": 2, "x": 1, "w": 4}
