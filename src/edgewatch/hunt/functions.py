"""Kusto's IP-address functions, and the ``makeset`` alias, for duckdb-kql.

Sentinel hunting queries lean on ``ipv4_is_private``, ``ipv4_is_in_range`` and friends,
and duckdb-kql does not map them. Two halves are needed:

* :func:`register` adds rows to duckdb-kql's function registry, so the translator knows
  the names and renders each call as a call to an ``ew_*`` SQL macro;
* :func:`install` creates those macros on a DuckDB connection.

The macros are ``CREATE OR REPLACE TEMP MACRO``, pure SQL, and they can be created on
every connection the hunt engine opens (the tests open each kind): a database opened
``read_only=True`` with ``enable_external_access=false`` and extension autoloading off,
and a cursor of a read-write connection with external access off, both before and after
``SET lock_configuration=true``. A temp macro lives in the connection's temporary
catalogue, which a read-only file does not own, and creating one is not a configuration
change, so no call needs its SQL inlined into the registry template instead. Temp
objects are per connection, and a DuckDB cursor is its own connection, so every cursor
needs its own :func:`install`.

No ``inet`` extension (extensions are off and there is no network) and no Python UDFs
(slow, and the Python path is not one a hunting query should reach): addresses are
parsed with regular expressions, ``string_split`` and integer arithmetic, IPv6 as a
``UHUGEINT``.

The macros bind intermediate values with ``list_transform([x], lambda v: …)[1]`` rather
than with scalar subqueries. A subquery was about ten times faster on a column with few
distinct addresses (DuckDB decorrelates it into a join over the distinct values) but two
to four times slower on ten million distinct ones, and DuckDB refuses a subquery inside a
lambda, where duckdb-kql puts expressions for ``has_any`` over a column, ``countof`` and
others. For the same reason a macro argument never appears inside one of the macros' own
lambdas: duckdb-kql renders ``parse_url()`` and friends as subqueries.

Semantics follow the Kusto documentation, whose examples the tests quote. Where it is
silent, these are the choices, each pinned by a test:

* ``ipv4_is_private``, ``ipv4_is_in_range`` and ``ipv4_is_in_any_range`` read an address
  with a prefix as the network it names, and answer true only if all of it is inside:
  ``10.1.2.3/7`` reaches 11.x, so it is not private. The documented ``10.1.2.3/24`` and
  ``192.168.1.1/24`` hold either way; masking first instead would call ``11.0.0.0/7``
  private.
* A prefix argument that is null or outside 0-32 (IPv4) or 0-128 (IPv6) makes the
  answer null, as invalid text does.
* ``ipv4_is_in_any_range`` is SQL's ``OR`` over the ranges: true if any contains the
  address, else null if a range is invalid, else false; an empty array is false. An
  invalid address is null.
* ``ipv6_*``: a prefix on an IPv4-mapped address written with a dotted quad
  (``1.2.3.4/24``, ``::ffff:1.2.3.4/24``) counts IPv4 bits, as duckdb-kql measured for
  ``parse_ipv6``; on any other spelling, ``::1.2.3.4/30`` and ``::ffff:102:304/24``
  included, it counts IPv6 bits. With standard IPv6 parsing that is the reading under
  which the documented ``ipv6_compare('::192.168.1.1/30', '192.168.1.255/24') == 0``
  holds. The prefix argument counts IPv6 bits, as documented.
* ``has_ipv4``/``has_any_ipv4`` answer false, never null. The needle may carry spaces but
  not a prefix. "Non-alphanumeric" is Unicode's letters and digits, and a dot delimits
  unless a digit is on its other side.
* Spaces around an address are ignored (as ``parse_ipv4`` ignores them), an IPv6
  ``%zone`` is dropped (as ``parse_ipv6`` drops it), and a dynamic string is read as the
  string.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "AGGREGATE_ALIASES",
    "IP_FUNCTIONS",
    "MACRO_PREFIX",
    "check_surface",
    "install",
    "macro_statements",
    "register",
]

#: Every macro is named with this prefix, out of the way of DuckDB's own functions.
MACRO_PREFIX: Final = "ew_"

#: Marks a registry row as this module's, so a second :func:`register` replaces it and
#: a row duckdb-kql ships itself one day is recognised as not ours.
_OWNER: Final = "edgewatch.hunt.functions"

#: KQL name -> (accepted argument counts, or None for "two or more"; takes a list tail).
#: A list tail is Kusto's "one or more strings, or a dynamic array" trailing argument.
IP_FUNCTIONS: Final[dict[str, tuple[tuple[int, ...] | None, bool]]] = {
    "ipv4_is_private": ((1,), False),
    "ipv4_is_in_range": ((2,), False),
    "ipv4_is_match": ((2, 3), False),
    "ipv4_compare": ((2, 3), False),
    "ipv4_is_in_any_range": (None, True),
    "has_ipv4": ((2,), False),
    "has_any_ipv4": (None, True),
    "ipv6_is_match": ((2, 3), False),
    "ipv6_compare": ((2, 3), False),
}

#: Deprecated Kusto aggregate spelling -> the duckdb-kql row it is a copy of.
AGGREGATE_ALIASES: Final[dict[str, str]] = {"makeset": "make_set"}

# --------------------------------------------------------------------------------------
# SQL
# --------------------------------------------------------------------------------------

#: One IPv4 octet, 0-255 with no leading zero (``01.2.3.4`` is null in Kusto's
#: ``parse_ipv4``, which duckdb-kql measured and mirrors).
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_V4 = rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"
#: 0-32, again without a leading zero; ``/33`` is not an IPv4 prefix.
_V4_PREFIX = "(?:3[0-2]|[12][0-9]|[0-9])"
#: Surrounding spaces are tolerated, as ``parse_ipv4`` tolerates them.
_V4_TEXT = f" *{_V4}(?:/{_V4_PREFIX})? *"
_V4_ADDRESS = f" *{_V4} *"

#: The three RFC 1918 blocks, each with the prefixes that keep a network wholly inside
#: it: ``10.1.2.3/7`` reaches 11.x, so it is not private (see ``ipv4_is_private``).
_PRIVATE = (
    rf"10\.{_OCTET}\.{_OCTET}\.{_OCTET}(?:/(?:3[0-2]|[12][0-9]|[89]))?",
    rf"172\.(?:1[6-9]|2[0-9]|3[01])\.{_OCTET}\.{_OCTET}(?:/(?:3[0-2]|2[0-9]|1[2-9]))?",
    rf"192\.168\.{_OCTET}\.{_OCTET}(?:/(?:3[0-2]|2[0-9]|1[6-9]))?",
)
_PRIVATE_TEXT = " *(?:" + "|".join(_PRIVATE) + ") *"
#: 172.16.0.0/12 as the start of a valid dotted quad (for the plain-address fast path).
_PRIVATE_172 = r"^172\.(?:1[6-9]|2[0-9]|3[01])\."

#: An IPv6 address before its groups are counted: hex and colons, or colons ending in a
#: dotted quad, or a bare dotted quad; a ``%zone``, dropped as duckdb-kql's measured
#: ``parse_ipv6`` drops it; then an optional prefix of at most three digits.
_V6_TEXT = rf"(?:(?:[0-9a-f:]*:)?{_V4}|[0-9a-f:]+)(?:%[^/]*)?(?:/(?:0|[1-9][0-9]?[0-9]?))?"
_HEX = "[0-9a-f]{1,4}"
#: Eight groups, or one ``::`` with at most seven around it (counted separately).
_V6_HEX = f"{_HEX}(?::{_HEX}){{7}}|(?:{_HEX}(?::{_HEX})*)?::(?:{_HEX}(?::{_HEX})*)?"

#: Whether the text before / after an address found in free text delimits it, tested on
#: the two characters next to it. Kusto asks for "non-alphanumeric" delimiters (Unicode
#: letters and digits, as duckdb-kql measured for terms); a dot counts as one only when
#: it does not make the run a longer dotted number, so ``5.1.2.3.4`` does not contain
#: ``1.2.3.4`` but ``host.1.2.3.4`` and a sentence ending ``… 1.2.3.4.`` do.
_BEFORE = r"(?s).?[^\pL\pN.]|[^\pN]?\."
_AFTER = r"(?s)[^\pL\pN.].?|\.[^\pN]?"


def _q(text: str) -> str:
    """*text* as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _let(value: str, name: str, body: str) -> str:
    """*body* with *value* evaluated once and bound to *name*.

    DuckDB has no ``LET``; a one-element ``list_transform`` is the binding form that
    stays legal inside another lambda. Repeating *value* instead is not free: DuckDB's
    common-subexpression pass does not merge a repeated parse inside CASE, and
    ``ipv4_is_private`` written that way takes 145 s over ten million rows, against
    under two bound like this.
    """
    return f"list_transform([{value}], lambda {name}: {body})[1]"


def _macro(name: str, params: str, body: str) -> str:
    return f"CREATE OR REPLACE TEMP MACRO {MACRO_PREFIX}{name}({params}) AS {body}"


def _v4_code(text: str) -> str:
    """A valid IPv4 *text* as ``address * 256 + prefix`` (prefix 32 when absent).

    One BIGINT instead of a struct keeps the two together through the list functions.
    ``string_split`` plus ``list_reduce`` costs a third of ``regexp_extract`` with capture
    groups, and DuckDB's integer cast ignores the surrounding spaces the pattern allows.
    """
    digits = (
        f"string_split(replace({text}, '/', '.') || "
        f"CASE WHEN contains({text}, '/') THEN '' ELSE '.32' END, '.')"
    )
    return (
        f"CASE WHEN regexp_full_match({text}, {_q(_V4_TEXT)}) "
        f"THEN list_reduce(CAST({digits} AS BIGINT[]), lambda ew_x, ew_y: ew_x * 256 + ew_y) END"
    )


def _v4_within(a: str, r: str) -> str:
    """Whether the network coded *a* lies wholly inside the one coded *r* (null if either is)."""
    return (
        f"CASE WHEN {a} IS NULL OR {r} IS NULL THEN NULL "
        f"ELSE ({a} & 255) >= ({r} & 255) "
        f"AND ({a} >> 8) >> (32 - ({r} & 255)) = ({r} >> 8) >> (32 - ({r} & 255)) END"
    )


def _v6(text: str) -> str:
    """An IPv6 (or IPv4) *text* as ``{'x': 32 hex digits, 'p': prefix text, 'd': dotted}``.

    ``x`` is null when the text is not an address. A dotted-quad tail becomes two hex
    groups and a bare dotted quad the IPv4-mapped ``::ffff:a.b.c.d``; :func:`_v6_bits`
    turns the prefix text into bits.

    Shaped by binding time as much as by run time: DuckDB binds a lambda's body again
    at every level of nesting, each regular expression costs about half a millisecond
    to bind, and a large expression tree is slow to optimise. Binding every step in its
    own lambda puts 60 ms on each ``ipv6_compare`` query, repeating sub-expressions
    instead of binding them 1.2 s; keeping each level small and the two regexes near
    the top, about 13 ms.
    """
    cleaned = f"lower(trim({text}))"
    # A `%zone` is dropped, as duckdb-kql's measured parse_ipv6 drops it.
    first = (
        f"{{'t': {cleaned}, 'a': string_split(string_split({cleaned}, '/')[1], '%')[1], "
        f"'p': coalesce(string_split({cleaned}, '/')[2], '')}}"
    )
    tail = "string_split(ew_a.a, ':')[-1]"
    octet = [f"TRY_CAST(string_split({tail}, '.')[{i}] AS INTEGER)" for i in range(1, 5)]
    quad_hex = f"printf('%x:%x', {octet[0]} * 256 + {octet[1]}, {octet[2]} * 256 + {octet[3]})"
    hexed = (
        f"CASE WHEN NOT regexp_full_match(ew_a.t, {_q(_V6_TEXT)}) THEN NULL "
        f"WHEN contains(ew_a.a, '.') THEN left(ew_a.a, length(ew_a.a) - length({tail})) "
        f"|| CASE WHEN contains(ew_a.a, ':') THEN '' ELSE '::ffff:' END || {quad_hex} "
        "ELSE ew_a.a END"
    )
    second = f"{{'h': {hexed}, 'p': ew_a.p, 'd': contains(ew_a.a, '.')}}"
    # Groups written out, as opposed to the ones `::` stands for, counted by colons.
    written = (
        "(length(ew_u.h) - length(replace(ew_u.h, ':', '')) "
        "- CAST(starts_with(ew_u.h, '::') AS INTEGER) - CAST(ends_with(ew_u.h, '::') AS INTEGER))"
    )
    eight = (
        f"CASE WHEN NOT regexp_full_match(ew_u.h, {_q(_V6_HEX)}) THEN NULL "
        "WHEN NOT contains(ew_u.h, '::') THEN ew_u.h "
        f"WHEN {written} <= 7 THEN concat_ws(':', NULLIF(string_split(ew_u.h, '::')[1], ''), "
        f"rtrim(repeat('0:', 8 - {written}), ':'), NULLIF(string_split(ew_u.h, '::')[2], '')) "
        "END"
    )
    third = f"{{'e': {eight}, 'p': ew_u.p, 'd': ew_u.d}}"
    # One lambda here beats eight `split_part` calls at run time (0.3 µs a row against
    # 0.8) and at binding. DuckDB's `split_part` is itself a macro over `string_split`,
    # a CASE per call, which is why it appears nowhere here.
    hex32 = (
        "array_to_string(list_transform(string_split(ew_e.e, ':'), "
        "lambda ew_g: lpad(ew_g, 4, '0')), '')"
    )
    return _let(
        first,
        "ew_a",
        _let(
            second,
            "ew_u",
            _let(third, "ew_e", f"{{'x': {hex32}, 'p': ew_e.p, 'd': ew_e.d}}"),
        ),
    )


def _v6_bits(v: str) -> str:
    """The prefix of a parsed :func:`_v6` *v* in bits of 128, null if out of range.

    A prefix counts IPv4 bits (0-32, 96 more) on an IPv4-mapped address written with a
    dotted quad, and IPv6 bits otherwise; see ``ipv6_compare``.
    """
    return (
        f"CASE WHEN {v}.p = '' THEN 128 "
        f"WHEN {v}.d AND starts_with({v}.x, '00000000000000000000ffff') THEN "
        f"CASE WHEN CAST({v}.p AS INTEGER) <= 32 THEN 96 + CAST({v}.p AS INTEGER) END "
        f"WHEN CAST({v}.p AS INTEGER) <= 128 THEN CAST({v}.p AS INTEGER) END"
    )


def _compare(lo: str, hi: str) -> str:
    """-1/0/1 without subtracting, which would wrap for UHUGEINT."""
    return f"CAST(CASE WHEN {lo} < {hi} THEN -1 WHEN {lo} > {hi} THEN 1 ELSE 0 END AS INTEGER)"


def macro_statements() -> list[str]:
    """The ``CREATE OR REPLACE TEMP MACRO`` statements :func:`install` runs, in order.

    Public so that a connection opened some other way can be prepared with plain SQL.
    """
    v4_cmp_bits = "(32 - least(ew_c.a & 255, ew_c.b & 255, ew_c.n))"
    v4_cmp = _let(
        "{'a': ew_v4_code(a), 'b': ew_v4_code(b), 'n': TRY_CAST(p AS BIGINT)}",
        "ew_c",
        "CASE WHEN ew_c.a IS NULL OR ew_c.b IS NULL OR ew_c.n IS NULL "
        "OR ew_c.n NOT BETWEEN 0 AND 32 THEN NULL ELSE "
        + _compare(f"(ew_c.a >> 8) >> {v4_cmp_bits}", f"(ew_c.b >> 8) >> {v4_cmp_bits}")
        + " END",
    )
    # UHUGEINT shifts only by a UHUGEINT. The masked values are bound once, as the
    # comparison reads each twice.
    v6_shift = "CAST(128 - least(ew_c.i, ew_c.j, ew_c.n) AS UHUGEINT)"
    v6_cmp = _let(
        _let(
            "{'a': ew_v6(a), 'b': ew_v6(b), 'n': TRY_CAST(p AS BIGINT)}",
            "ew_c",
            f"{{'a': ew_c.a.x, 'b': ew_c.b.x, 'i': {_v6_bits('ew_c.a')}, "
            f"'j': {_v6_bits('ew_c.b')}, 'n': ew_c.n}}",
        ),
        "ew_c",
        "CASE WHEN ew_c.a IS NULL OR ew_c.b IS NULL OR ew_c.i IS NULL OR ew_c.j IS NULL "
        "OR ew_c.n IS NULL OR ew_c.n NOT BETWEEN 0 AND 128 THEN NULL ELSE "
        + _compare(
            f"CAST('0x' || ew_c.a AS UHUGEINT) >> {v6_shift}",
            f"CAST('0x' || ew_c.b AS UHUGEINT) >> {v6_shift}",
        )
        + " END",
    )
    # Every occurrence of the needle sits between two pieces of the split text; one with
    # delimiters on both sides is a match. `contains` first, inside CASE so the rest
    # runs only on rows that have the needle at all. A single regex built from the
    # needles is three times slower for one constant needle, and for a needle from a
    # column it compiles a pattern per row.
    found = _let(
        "string_split(ew_h.s, ew_n)",
        "ew_p",
        "len(list_filter(range(1, len(ew_p)), lambda ew_i: "
        f"(ew_p[ew_i] = '' OR regexp_full_match(right(ew_p[ew_i], 2), {_q(_BEFORE)})) AND "
        f"(ew_p[ew_i + 1] = '' OR regexp_full_match(left(ew_p[ew_i + 1], 2), {_q(_AFTER)})))) > 0",
    )
    valid_needles = (
        "list_filter(list_transform(needles, lambda ew_n: trim(ew_n)), "
        f"lambda ew_n: regexp_full_match(ew_n, {_q(_V4_ADDRESS)}))"
    )
    # The arguments are bound outside every lambda: DuckDB refuses a subquery inside
    # one, and duckdb-kql renders parse_url() and friends as subqueries.
    has_any = _let(
        f"{{'s': ew_ip_text(src), 'n': {valid_needles}}}",
        "ew_h",
        "coalesce(len(list_filter(ew_h.n, lambda ew_n: "
        f"CASE WHEN contains(ew_h.s, ew_n) THEN {found} ELSE false END)) > 0, false)",
    )
    return [
        # A dynamic string is the string; anything else is its text.
        _macro(
            "ip_text",
            "x",
            "CASE WHEN typeof(x) = 'JSON' THEN TRY_CAST(x AS JSON) ->> '$' "
            "ELSE CAST(x AS VARCHAR) END",
        ),
        # Kusto's "string, or dynamic array of strings" argument, as a VARCHAR list.
        _macro(
            "text_list",
            "x",
            "CASE WHEN typeof(x) = 'JSON' THEN "
            "CASE WHEN json_type(TRY_CAST(x AS JSON)) = 'ARRAY' "
            "THEN json_extract_string(TRY_CAST(x AS JSON), '$[*]') "
            "ELSE [TRY_CAST(x AS JSON) ->> '$'] END "
            "WHEN typeof(x) LIKE '%[]' THEN TRY_CAST(x AS VARCHAR[]) "
            "ELSE [CAST(x AS VARCHAR)] END",
        ),
        _macro("v4_code", "x", _let("ew_ip_text(x)", "ew_s", _v4_code("ew_s"))),
        # Three-valued OR: true if any is, else null if any is, else false.
        _macro(
            "any3",
            "l",
            "CASE WHEN list_bool_or(l) THEN true WHEN list_count(l) < len(l) THEN NULL "
            "ELSE false END",
        ),
        # A plain dotted quad in a text column (nearly every row a hunt sees) is decided
        # by one regex and its prefix, with no binding lambda: measured, the seed TCP
        # query drops from 0.30 s to near hand-written SQL over 10M events. Anything
        # else (a prefix, spaces, a dynamic value) takes the general expression below.
        _macro(
            "ipv4_is_private",
            "x",
            f"CASE WHEN typeof(x) = 'VARCHAR' AND regexp_full_match(CAST(x AS VARCHAR), "
            f"{_q(_V4)}) THEN (starts_with(CAST(x AS VARCHAR), '10.') "
            "OR starts_with(CAST(x AS VARCHAR), '192.168.') "
            f"OR regexp_matches(CAST(x AS VARCHAR), {_q(_PRIVATE_172)})) ELSE "
            + _let(
                "ew_ip_text(x)",
                "ew_s",
                f"CASE WHEN regexp_full_match(ew_s, {_q(_PRIVATE_TEXT)}) THEN true "
                f"WHEN regexp_full_match(ew_s, {_q(_V4_TEXT)}) THEN false END",
            )
            + " END",
        ),
        _macro(
            "ipv4_is_in_range",
            "ip, r",
            _let("[ew_v4_code(ip), ew_v4_code(r)]", "ew_c", _v4_within("ew_c[1]", "ew_c[2]")),
        ),
        _macro("ipv4_compare", "a, b, p := 32", v4_cmp),
        _macro("ipv4_is_match", "a, b, p := 32", "(ew_ipv4_compare(a, b, p) = 0)"),
        # The ranges are coded outside the per-row lambda, so a constant list folds once.
        _macro(
            "ipv4_is_in_any_range",
            "ip, ranges",
            _let(
                "{'a': ew_v4_code(ip), 'r': list_transform(ranges, lambda ew_r: ew_v4_code(ew_r))}",
                "ew_b",
                "CASE WHEN ew_b.a IS NULL THEN NULL ELSE ew_any3(list_transform("
                f"ew_b.r, lambda ew_r: {_v4_within('ew_b.a', 'ew_r')})) END",
            ),
        ),
        _macro("has_any_ipv4", "src, needles", has_any),
        _macro("has_ipv4", "src, ip", "ew_has_any_ipv4(src, [ew_ip_text(ip)])"),
        _macro("v6", "x", _v6("ew_ip_text(x)")),
        _macro("ipv6_compare", "a, b, p := 128", v6_cmp),
        _macro("ipv6_is_match", "a, b, p := 128", "(ew_ipv6_compare(a, b, p) = 0)"),
    ]


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Create the macros the registered functions call, on *con* (idempotent).

    Needed once per connection and once per cursor: temp macros are per connection.
    Safe on a read-only database and after ``SET lock_configuration=true``.
    """
    for statement in macro_statements():
        con.execute(statement)


# --------------------------------------------------------------------------------------
# Registry rows
# --------------------------------------------------------------------------------------

#: The fields each row is constructed with; anything else on the dataclass needs a default.
_FUNCTION_FIELDS: Final = ("name", "kind", "template", "arities", "rules", "note")
_AGGREGATE_FIELDS: Final = ("name", "template", "arities", "name_prefix", "rules", "note")


class _State:
    """What :func:`register` has done in this process, guarded by ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: Built on first use, after the class it extends has been checked.
        self.spec_class: type | None = None
        #: The rows of the last successful :func:`register`, by KQL name.
        self.rows: dict[str, Any] = {}
        #: The registry and rows a translation last proved reach the translator.
        self.verified_for: tuple[int, ...] | None = None


_state = _State()


def _registry() -> Any:
    try:
        from duckdb_kql.translate import functions as registry
    except Exception as exc:  # pragma: no cover - duckdb-kql itself is broken
        raise RuntimeError(
            f"{_OWNER}: cannot import duckdb_kql.translate.functions ({exc!r}); the IP "
            "functions need duckdb-kql's function registry"
        ) from exc
    return registry


def _make_spec_class(base: type) -> type:
    """A ``FunctionSpec`` whose rendering handles optional and list-valued arguments.

    The stock row renders ``template.format(*args)``, which cannot drop an absent
    optional prefix nor tell Kusto's "strings or a dynamic array" tail apart from the
    leading arguments. Every call still goes through ``render``, the one hook the
    translator uses, and the arity error stays a ``ValueError`` so the translator
    reports it as it reports its own.
    """

    @dataclasses.dataclass(frozen=True)
    class IpFunctionSpec(base):  # type: ignore[misc, valid-type]
        list_tail: bool = False

        def render(self, args: list[str]) -> str:
            if self.arities and len(args) not in self.arities:
                raise ValueError(f"{self.name}() takes {self.arities} argument(s), got {len(args)}")
            if not self.arities and len(args) < 2:
                raise ValueError(f"{self.name}() takes 2 or more arguments, got {len(args)}")
            if self.list_tail:
                tail = ", ".join(f"{MACRO_PREFIX}text_list({a})" for a in args[1:])
                return self.template.format(f"{args[0]}, flatten([{tail}])")
            return self.template.format(", ".join(args))

    return IpFunctionSpec


def _build_rows(registry: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if _state.spec_class is None:
        _state.spec_class = _make_spec_class(registry.FunctionSpec)
    scalars = {
        name: _state.spec_class(
            name=name,
            kind="template",
            template=f"{MACRO_PREFIX}{name}({{}})",
            arities=arities or (),
            rules=("R1",),
            note=f"{_OWNER}: SQL macro {MACRO_PREFIX}{name}, see install()",
            list_tail=list_tail,
        )
        for name, (arities, list_tail) in IP_FUNCTIONS.items()
    }
    aggregates = {
        alias: dataclasses.replace(
            registry.AGGREGATE_FUNCTIONS[target],
            name=alias,
            note=f"{_OWNER}: deprecated Kusto spelling of {target}",
        )
        for alias, target in AGGREGATE_ALIASES.items()
    }
    return scalars, aggregates


def _is_ours(row: Any) -> bool:
    return str(getattr(row, "note", "")).startswith(_OWNER)


def _field_problems(cls: Any, label: str, wanted: Iterable[str]) -> list[str]:
    if not isinstance(cls, type) or not dataclasses.is_dataclass(cls):
        return [f"{label} is no longer a dataclass (found {cls!r})"]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    problems = [f"{label} has no field {name!r}" for name in wanted if name not in fields]
    problems += [
        f"{label} has a new required field {name!r}"
        for name, f in fields.items()
        if name not in wanted
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    return problems


def _structure_problems(registry: Any) -> list[str]:
    """What about duckdb-kql's registry no longer matches what the rows are built for."""
    problems: list[str] = []
    for attr in ("SCALAR_FUNCTIONS", "AGGREGATE_FUNCTIONS"):
        table = getattr(registry, attr, None)
        if not isinstance(table, dict):
            problems.append(
                f"duckdb_kql.translate.functions.{attr} is "
                + ("missing" if table is None else f"a {type(table).__name__}, not a dict")
            )
    for attr in ("lookup", "lookup_aggregate"):
        if not callable(getattr(registry, attr, None)):
            problems.append(f"duckdb_kql.translate.functions.{attr}() is missing")
    function_spec = getattr(registry, "FunctionSpec", None)
    problems += _field_problems(function_spec, "FunctionSpec", _FUNCTION_FIELDS)
    if isinstance(function_spec, type) and not callable(getattr(function_spec, "render", None)):
        problems.append("FunctionSpec.render() is missing")
    problems += _field_problems(
        getattr(registry, "AggregateSpec", None), "AggregateSpec", _AGGREGATE_FIELDS
    )
    if problems:
        return problems
    for alias, target in AGGREGATE_ALIASES.items():
        row = registry.AGGREGATE_FUNCTIONS.get(target)
        if row is None:
            problems.append(f"AGGREGATE_FUNCTIONS has no {target!r} row for {alias} to copy")
        elif getattr(row, "name_prefix", None) != "set":
            problems.append(
                f"AGGREGATE_FUNCTIONS[{target!r}].name_prefix is "
                f"{getattr(row, 'name_prefix', None)!r}, not 'set': {alias}(x) would no "
                "longer be named set_x"
            )
    for name in IP_FUNCTIONS:
        row = registry.SCALAR_FUNCTIONS.get(name)
        if row is not None and not _is_ours(row):
            problems.append(
                f"duckdb-kql now maps {name}() itself; drop it from {_OWNER} "
                "rather than override it"
            )
    for name in AGGREGATE_ALIASES:
        row = registry.AGGREGATE_FUNCTIONS.get(name)
        if row is not None and not _is_ours(row):
            problems.append(f"duckdb-kql now maps {name}() itself; drop it from {_OWNER}")
    special = _special_forms()
    problems += [
        f"duckdb-kql renders {name}() as a special form, which bypasses the registry"
        for name in (*IP_FUNCTIONS, *AGGREGATE_ALIASES)
        if name in special
    ]
    return problems


def _special_forms() -> Any:
    try:
        from duckdb_kql import translate
    except Exception:  # pragma: no cover - reported by _registry() instead
        return {}
    return getattr(translate, "_SPECIAL_FORMS", {})


def _routing_problems(registry: Any) -> list[str]:
    """Whether the registered rows are the ones the translator finds and uses.

    Identity through ``lookup``/``lookup_aggregate`` first, then one translation each
    way: a later duckdb-kql could copy the tables, or stop calling ``render``, and only
    the rendered SQL shows that.
    """
    problems: list[str] = []
    for name, row in _state.rows.items():
        if name in AGGREGATE_ALIASES:
            found, via = registry.lookup_aggregate(name), "lookup_aggregate"
        else:
            found, via = registry.lookup(name), "lookup"
        if found is not row:
            what = "nothing" if found is None else "another row"
            problems.append(f"{via}({name!r}) returns {what}, not the row registered for it")
    if problems or not _state.rows:
        return problems
    key = (
        id(registry.SCALAR_FUNCTIONS),
        id(registry.AGGREGATE_FUNCTIONS),
        *(id(row) for row in _state.rows.values()),
    )
    if _state.verified_for == key:
        return []
    import duckdb_kql

    checks: list[tuple[str, Callable[[str], bool], str]] = [
        (
            "print r = ipv4_compare('10.0.0.1', '10.0.0.2')",
            lambda sql: f"{MACRO_PREFIX}ipv4_compare('10.0.0.1', '10.0.0.2')" in sql,
            f"ipv4_compare() no longer renders as {MACRO_PREFIX}ipv4_compare(...)",
        ),
        (
            "print r = has_any_ipv4('a', '10.0.0.1', dynamic(['10.0.0.2']))",
            lambda sql: f"flatten([{MACRO_PREFIX}text_list(" in sql,
            "has_any_ipv4()'s list argument no longer renders through its row",
        ),
        (
            "T | summarize makeset(x)",
            lambda sql: '"set_x"' in sql,
            "summarize makeset(x) no longer names its column set_x",
        ),
    ]
    for kql, ok, message in checks:
        try:
            sql = str(duckdb_kql.to_sql(kql))
        except Exception as exc:
            problems.append(f"{message} (translating {kql!r} raised {exc!r})")
            continue
        if not ok(sql):
            problems.append(f"{message}: {sql!r}")
    if not problems:
        _state.verified_for = key
    return problems


def _raise(problems: list[str]) -> None:
    try:
        from importlib.metadata import version

        found = version("duckdb-kql")
    except Exception:  # pragma: no cover - metadata missing
        found = "unknown"
    raise RuntimeError(
        f"{_OWNER} depends on duckdb-kql's private function registry "
        f"(duckdb_kql.translate.functions), and duckdb-kql {found} differs from what it "
        "was written against:\n  - "
        + "\n  - ".join(problems)
        + "\nThe IP functions are not registered. Pin duckdb-kql back or update "
        f"{_OWNER} to the new registry."
    )


def check_surface() -> None:
    """Raise ``RuntimeError`` naming each way duckdb-kql's registry no longer fits.

    Checks that the registry dicts, ``lookup``/``lookup_aggregate`` and the two spec
    dataclasses (with the fields the rows are built from) are still there, that no name
    this module adds is now duckdb-kql's own, and, once :func:`register` has run, that
    lookups and translation really reach the registered rows.
    """
    registry = _registry()
    problems = _structure_problems(registry)
    if not problems and _state.rows:
        problems = _routing_problems(registry)
    if problems:
        _raise(problems)


def _current(registry: Any) -> bool:
    """Whether every registered row is still in place (the cheap, common case)."""
    if len(_state.rows) != len(IP_FUNCTIONS) + len(AGGREGATE_ALIASES):
        return False
    tables = (registry.SCALAR_FUNCTIONS, registry.AGGREGATE_FUNCTIONS)
    return all(
        tables[name in AGGREGATE_ALIASES].get(name) is row for name, row in _state.rows.items()
    )


def register() -> tuple[str, ...]:
    """Add the IP functions and ``makeset`` to duckdb-kql's registry; the names added.

    Idempotent and cheap to repeat, so it can run before every translation. Raises
    ``RuntimeError`` (see :func:`check_surface`) rather than register into a registry
    that has changed shape; a half-registered state is rolled back.
    """
    with _state.lock:
        registry = _registry()
        problems = _structure_problems(registry)
        if problems:
            _raise(problems)
        if not _current(registry):
            scalars, aggregates = _build_rows(registry)
            registry.SCALAR_FUNCTIONS.update(scalars)
            registry.AGGREGATE_FUNCTIONS.update(aggregates)
            _state.rows.clear()
            _state.rows.update(scalars)
            _state.rows.update(aggregates)
        problems = _routing_problems(registry)
        if problems:
            _unregister(registry)
            _raise(problems)
        return tuple(_state.rows)


def _unregister(registry: Any) -> None:
    for name, row in _state.rows.items():
        tables = (registry.SCALAR_FUNCTIONS, registry.AGGREGATE_FUNCTIONS)
        table = tables[name in AGGREGATE_ALIASES]
        if table.get(name) is row:
            del table[name]
    _state.rows.clear()
