"""Kusto functions published hunting content needs and duckdb-kql does not map.

Same two halves as ``hunt/functions.py`` (the IP functions): rows in duckdb-kql's
function registry that render a call as a call to an ``ew_*`` SQL macro, and the
macros themselves, created per connection by :func:`install`.

* ``has_ipv4_prefix(text, prefix)`` / ``has_any_ipv4_prefix(text, prefixes…)``: whether
  an IPv4 address in the text starts with the prefix. Addresses are runs of digits and
  dots delimited by anything but letters, digits and dots (a trailing full stop
  delimits too); a run that is not exactly a valid dotted quad is not an address. A
  prefix is a whole address or one to three complete octets ending in a dot
  (``10.``, ``192.168.``); anything else never matches (Kusto: ``'127.0'`` is not a
  prefix). The ASIM parsers filter on these. An empty prefix list is false.
* ``set_union(array1, array2, …)``: the distinct values of all the arrays, in order
  of first appearance.
* ``makelist``/``makeset`` (deprecated spellings of ``make_list``/``make_set``),
  ``make_list_if``, ``make_set_if``; ``parsejson`` (deprecated ``parse_json``);
  ``extract_json``/``extractjson(path, json)``, the value at a JSONPath as text.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import duckdb

PREFIX: Final = "ew_"
_OWNER: Final = "edgewatch.hunt.extensions"

_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_V4 = rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"
_V4_PREFIX = rf"(?:{_OCTET}\.){{1,3}}|{_V4}"


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def macro_statements() -> list[str]:
    """The macros the registered rows call; a connection needs them before a hunt."""
    # Candidate addresses: maximal runs of letters, digits and dots, stripped of dots at
    # either end; only those that are exactly a dotted quad count.
    addresses = (
        "list_filter(list_transform(regexp_extract_all(coalesce(CAST(src AS VARCHAR), ''), "
        "'[0-9A-Za-z.]+'), lambda ew_t: trim(ew_t, '.')), "
        f"lambda ew_t: regexp_full_match(ew_t, {_q(_V4)}))"
    )
    prefixes = (
        "list_filter(list_transform(prefixes, lambda ew_p: trim(ew_p, ' ')), "
        f"lambda ew_p: regexp_full_match(ew_p, {_q(_V4_PREFIX)}))"
    )
    has_any = (
        f"list_transform([{{'a': {addresses}, 'p': {prefixes}}}], lambda ew_b: "
        "len(list_filter(ew_b.a, lambda ew_a: len(list_filter(ew_b.p, lambda ew_p: "
        "starts_with(ew_a || '.', CASE WHEN ends_with(ew_p, '.') THEN ew_p ELSE ew_p || '.' "
        "END))) > 0)) > 0)[1]"
    )
    set_union = (
        "to_json(list_transform([flatten(list_transform(arrays, lambda ew_x: "
        "coalesce(json_extract(CAST(ew_x AS JSON), '$[*]'), [])))], lambda ew_l: "
        "list_filter(ew_l, lambda ew_v, ew_i: list_position(ew_l, ew_v) = ew_i))[1])"
    )
    return [
        f"CREATE OR REPLACE TEMP MACRO {PREFIX}has_any_ipv4_prefix(src, prefixes) AS "
        f"coalesce({has_any}, false)",
        f"CREATE OR REPLACE TEMP MACRO {PREFIX}set_union(arrays) AS {set_union}",
    ]


def install(con: duckdb.DuckDBPyConnection) -> None:
    for statement in macro_statements():
        con.execute(statement)


# -- registry rows ----------------------------------------------------------------------


def _text_list(arg: str) -> str:
    """Kusto's "strings, or a dynamic array of strings" as a VARCHAR list (see functions)."""
    return f"ew_text_list({arg})"


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: dict[str, Any] = {}
        self.spec: type | None = None


_state = _State()


def _spec_class(base: type) -> type:
    @dataclasses.dataclass(frozen=True)
    class ExtensionSpec(base):  # type: ignore[misc, valid-type]
        #: "prefix_list": first argument, then strings or arrays flattened into one list;
        #: "arrays": every argument, as a list of JSON arrays.
        shape: str = ""
        minimum: int = 1

        def render(self, args: list[str]) -> str:
            if len(args) < self.minimum:
                raise ValueError(
                    f"{self.name}() takes {self.minimum} or more arguments, got {len(args)}"
                )
            if self.shape == "prefix_list":
                tail = ", ".join(_text_list(a) for a in args[1:])
                return f"{PREFIX}has_any_ipv4_prefix({args[0]}, flatten([{tail}]))"
            if self.shape == "arrays":
                items = ", ".join(f"CAST({a} AS JSON)" for a in args)
                return f"{PREFIX}set_union([{items}])"
            raise ValueError(f"{self.name}(): unknown shape {self.shape!r}")

    return ExtensionSpec


#: Deprecated or conditional aggregate spelling -> (duckdb-kql row it copies, template).
AGGREGATE_ALIASES: Final[dict[str, str]] = {"makelist": "make_list"}


def _rows(registry: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if _state.spec is None:
        _state.spec = _spec_class(registry.FunctionSpec)
    spec = _state.spec

    def row(name: str, shape: str, minimum: int, arities: tuple[int, ...] = ()) -> Any:
        return spec(
            name=name,
            kind="template",
            template="",
            arities=arities,
            note=f"{_OWNER}: SQL macro",
            shape=shape,
            minimum=minimum,
        )

    scalars = {
        "has_any_ipv4_prefix": row("has_any_ipv4_prefix", "prefix_list", 2),
        "has_ipv4_prefix": row("has_ipv4_prefix", "prefix_list", 2, (2,)),
        "set_union": row("set_union", "arrays", 2),
    }
    parse_json = registry.SCALAR_FUNCTIONS.get("parse_json")
    if parse_json is not None:
        scalars["parsejson"] = dataclasses.replace(
            parse_json, name="parsejson", note=f"{_OWNER}: deprecated spelling of parse_json"
        )
    for name in ("extract_json", "extractjson"):
        scalars[name] = registry.FunctionSpec(
            name=name,
            kind="template",
            template="json_extract_string(TRY_CAST({1} AS JSON), {0})",
            arities=(2,),
            note=f"{_OWNER}: value at a JSONPath, as text",
        )
    aggregates: dict[str, Any] = {}
    for alias, target in AGGREGATE_ALIASES.items():
        base = registry.AGGREGATE_FUNCTIONS.get(target)
        if base is not None:
            aggregates[alias] = dataclasses.replace(
                base, name=alias, note=f"{_OWNER}: deprecated Kusto spelling of {target}"
            )
    for name, target in (("make_list_if", "make_list"), ("make_set_if", "make_set")):
        base = registry.AGGREGATE_FUNCTIONS.get(target)
        if base is not None and "{0}" in base.template:
            template = base.template.replace("{0}", "(CASE WHEN {1} THEN {0} END)")
            aggregates[name] = dataclasses.replace(
                base, name=name, template=template, arities=(2,), note=f"{_OWNER}: {name}"
            )
    return scalars, aggregates


def register() -> tuple[str, ...]:
    """Add the rows to duckdb-kql's registry (idempotent); a name duckdb-kql maps itself
    one day is left to it."""
    from duckdb_kql.translate import functions as registry

    with _state.lock:
        if _state.rows and all(
            registry.SCALAR_FUNCTIONS.get(n) is r or registry.AGGREGATE_FUNCTIONS.get(n) is r
            for n, r in _state.rows.items()
        ):
            return tuple(_state.rows)
        scalars, aggregates = _rows(registry)
        _state.rows.clear()
        for table, rows in (
            (registry.SCALAR_FUNCTIONS, scalars),
            (registry.AGGREGATE_FUNCTIONS, aggregates),
        ):
            for name, row in rows.items():
                current = table.get(name)
                if current is not None and not str(getattr(current, "note", "")).startswith(_OWNER):
                    continue
                table[name] = row
                _state.rows[name] = row
        return tuple(_state.rows)
