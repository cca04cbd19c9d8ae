"""The IP functions and ``makeset`` as a hunting query sees them.

Every query goes the real way: KQL through ``duckdb_kql.to_sql`` after ``register()``,
run on a connection configured like the hunt engine's after ``install()``. Expected
values in the ``test_doc_*`` tests are the Kusto documentation's own examples, quoted
from learn.microsoft.com/kusto/query/<function>-function.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import duckdb_kql
import pytest
from duckdb_kql import KqlUnsupportedError
from duckdb_kql.translate import functions as registry
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.hunt import functions

#: The hunt engine's connection settings (store/database.py).
HUNT_CONFIG = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
}


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    functions.register()
    connection = duckdb.connect(config=HUNT_CONFIG)
    connection.execute("SET TimeZone='UTC'")
    functions.install(connection)
    connection.execute("SET lock_configuration=true")
    yield connection
    connection.close()


def kql(con: duckdb.DuckDBPyConnection, text: str) -> list[tuple[Any, ...]]:
    # Cheap when nothing changed; the guard tests roll the registration back.
    functions.register()
    return con.execute(str(duckdb_kql.to_sql(text))).fetchall()


def values(con: duckdb.DuckDBPyConnection, exprs: Sequence[str]) -> dict[str, Any]:
    """Each KQL expression's value, from one ``print`` (binding is the slow part)."""
    row = kql(con, "print " + ", ".join(f"c{i} = {e}" for i, e in enumerate(exprs)))[0]
    return dict(zip(exprs, row, strict=True))


def check(con: duckdb.DuckDBPyConnection, expected: dict[str, Any]) -> None:
    assert values(con, list(expected)) == expected


# --------------------------------------------------------------------------------------
# The documentation's examples
# --------------------------------------------------------------------------------------


def test_doc_ipv4_is_private(con: duckdb.DuckDBPyConnection) -> None:
    check(
        con,
        {
            "ipv4_is_private('192.168.1.1/24')": True,
            "ipv4_is_private('10.1.2.3/24')": True,
            "ipv4_is_private('202.1.2.3')": False,
            'ipv4_is_private("127.0.0.1")': False,
        },
    )
    rows = kql(
        con,
        """datatable(ip_string:string)
        [
         '10.1.2.3',
         '192.168.1.1/24',
         '127.0.0.1',
        ]
        | extend result = ipv4_is_private(ip_string)""",
    )
    assert rows == [("10.1.2.3", True), ("192.168.1.1/24", True), ("127.0.0.1", False)]


def test_doc_ipv4_is_in_range(con: duckdb.DuckDBPyConnection) -> None:
    rows = kql(
        con,
        """datatable(ip_address:string, ip_range:string)
        [
         '192.168.1.1',    '192.168.1.1',       // Equal IPs
         '192.168.1.1',    '192.168.1.255/24',  // 24 bit IP-prefix is used for comparison
        ]
        | extend result = ipv4_is_in_range(ip_address, ip_range)""",
    )
    assert [r[2] for r in rows] == [True, True]


def test_doc_ipv4_is_match(con: duckdb.DuckDBPyConnection) -> None:
    assert kql(con, "print ipv4_is_match('192.168.1.1/24', '192.168.1.255')") == [(True,)]
    rows = kql(
        con,
        """datatable(ip1_string:string, ip2_string:string)
        [
         '192.168.1.0',    '192.168.1.0',       // Equal IPs
         '192.168.1.1/24', '192.168.1.255',     // 24 bit IP-prefix is used for comparison
         '192.168.1.1',    '192.168.1.255/24',  // 24 bit IP-prefix is used for comparison
         '192.168.1.1/30', '192.168.1.255/24',  // 24 bit IP-prefix is used for comparison
        ]
        | extend result = ipv4_is_match(ip1_string, ip2_string)""",
    )
    assert [r[2] for r in rows] == [True] * 4
    rows = kql(
        con,
        """datatable(ip1_string:string, ip2_string:string, prefix:long)
        [
         '192.168.1.1',    '192.168.1.0',   31, // 31 bit IP-prefix is used for comparison
         '192.168.1.1/24', '192.168.1.255', 31, // 24 bit IP-prefix is used for comparison
         '192.168.1.1',    '192.168.1.255', 24, // 24 bit IP-prefix is used for comparison
        ]
        | extend result = ipv4_is_match(ip1_string, ip2_string, prefix)""",
    )
    assert [r[3] for r in rows] == [True] * 3


def test_doc_ipv4_compare(con: duckdb.DuckDBPyConnection) -> None:
    rows = kql(
        con,
        """datatable(ip1_string:string, ip2_string:string)
        [
         '192.168.1.0',    '192.168.1.0',       // Equal IPs
         '192.168.1.1/24', '192.168.1.255',     // 24 bit IP-prefix is used for comparison
         '192.168.1.1',    '192.168.1.255/24',  // 24 bit IP-prefix is used for comparison
         '192.168.1.1/30', '192.168.1.255/24',  // 24 bit IP-prefix is used for comparison
        ]
        | extend result = ipv4_compare(ip1_string, ip2_string)""",
    )
    assert [r[2] for r in rows] == [0] * 4
    rows = kql(
        con,
        """datatable(ip1_string:string, ip2_string:string, prefix:long)
        [
         '192.168.1.1',    '192.168.1.0',   31, // 31 bit IP-prefix is used for comparison
         '192.168.1.1/24', '192.168.1.255', 31, // 24 bit IP-prefix is used for comparison
         '192.168.1.1',    '192.168.1.255', 24, // 24 bit IP-prefix is used for comparison
        ]
        | extend result = ipv4_compare(ip1_string, ip2_string, prefix)""",
    )
    assert [r[3] for r in rows] == [0] * 3


def test_doc_ipv4_is_in_any_range(con: duckdb.DuckDBPyConnection) -> None:
    assert kql(
        con,
        "print Result=ipv4_is_in_any_range('192.168.1.6', '192.168.1.1/24', '10.0.0.1/8', "
        "'127.1.0.1/16')",
    ) == [(True,)]
    assert kql(
        con, 'print Result=ipv4_is_in_any_range("127.0.0.1", dynamic(["127.0.0.1", "192.168.1.1"]))'
    ) == [(True,)]
    rows = kql(
        con,
        """let LocalNetworks=dynamic([
            "192.168.1.1/16",
            "127.0.0.1/8",
            "10.0.0.1/8"
        ]);
        let IPs=datatable(IP:string) [
            "10.1.2.3",
            "192.168.1.5",
            "123.1.11.21",
            "1.1.1.1"
        ];
        IPs
        | extend IsLocal=ipv4_is_in_any_range(IP, LocalNetworks)""",
    )
    assert rows == [
        ("10.1.2.3", True),
        ("192.168.1.5", True),
        ("123.1.11.21", False),
        ("1.1.1.1", False),
    ]


def test_doc_has_ipv4(con: duckdb.DuckDBPyConnection) -> None:
    check(
        con,
        {
            # Properly formatted IP address
            "has_ipv4('05:04:54 127.0.0.1 GET /favicon.ico 404', '127.0.0.1')": True,
            # Invalid IP address
            "has_ipv4('05:04:54 127.0.0.256 GET /favicon.ico 404', '127.0.0.256')": False,
            # Improperly delimited IP
            "has_ipv4('05:04:54127.0.0.1 GET /favicon.ico 404', '127.0.0.1')": False,
        },
    )


def test_doc_has_any_ipv4(con: duckdb.DuckDBPyConnection) -> None:
    text = "'05:04:54 127.0.0.1 GET /favicon.ico 404'"
    check(
        con,
        {
            # IP addresses as list of strings
            f"has_any_ipv4({text}, '127.0.0.1', '127.0.0.2')": True,
            # IP addresses as dynamic array
            f"has_any_ipv4({text}, dynamic(['127.0.0.1', '127.0.0.2']))": True,
            # Invalid IPv4 address
            "has_any_ipv4('05:04:54 127.0.0.256 GET /favicon.ico 404', "
            'dynamic(["127.0.0.256", "192.168.1.1"]))': False,
            # Improperly deliminated IP address
            "has_any_ipv4('05:04:54127.0.0.1 GET /favicon.ico 404', "
            "'127.0.0.1', '192.168.1.1')": False,
        },
    )


_IPV6_PAIRS = """
 // IPv4 are compared as IPv6 addresses
 '192.168.1.1',    '192.168.1.1',       // Equal IPs
 '192.168.1.1/24', '192.168.1.255',     // 24 bit IP4-prefix is used for comparison
 '192.168.1.1',    '192.168.1.255/24',  // 24 bit IP4-prefix is used for comparison
 '192.168.1.1/30', '192.168.1.255/24',  // 24 bit IP4-prefix is used for comparison
  // IPv6 cases
 'fe80::85d:e82c:9446:7994', 'fe80::85d:e82c:9446:7994',         // Equal IPs
 'fe80::85d:e82c:9446:7994/120', 'fe80::85d:e82c:9446:7998',     // 120 bit IP6-prefix
 'fe80::85d:e82c:9446:7994', 'fe80::85d:e82c:9446:7998/120',     // 120 bit IP6-prefix
 'fe80::85d:e82c:9446:7994/120', 'fe80::85d:e82c:9446:7998/120', // 120 bit IP6-prefix
 // Mixed case of IPv4 and IPv6
 '192.168.1.1',      '::ffff:c0a8:0101', // Equal IPs
 '192.168.1.1/24',   '::ffff:c0a8:01ff', // 24 bit IP-prefix is used for comparison
 '::ffff:c0a8:0101', '192.168.1.255/24', // 24 bit IP-prefix is used for comparison
 '::192.168.1.1/30', '192.168.1.255/24', // 24 bit IP-prefix is used for comparison
"""

_IPV6_PREFIXED = """
 // IPv4 are compared as IPv6 addresses
 '192.168.1.1',    '192.168.1.0',   31, // 31 bit IP4-prefix is used for comparison
 '192.168.1.1/24', '192.168.1.255', 31, // 24 bit IP4-prefix is used for comparison
 '192.168.1.1',    '192.168.1.255', 24, // 24 bit IP4-prefix is used for comparison
   // IPv6 cases
 'fe80::85d:e82c:9446:7994', 'fe80::85d:e82c:9446:7995',     127, // 127 bit IP6-prefix
 'fe80::85d:e82c:9446:7994/127', 'fe80::85d:e82c:9446:7998', 120, // 120 bit IP6-prefix
 'fe80::85d:e82c:9446:7994/120', 'fe80::85d:e82c:9446:7998', 127, // 120 bit IP6-prefix
 // Mixed case of IPv4 and IPv6
 '192.168.1.1/24',   '::ffff:c0a8:01ff', 127, // 127 bit IP6-prefix is used for comparison
 '::ffff:c0a8:0101', '192.168.1.255',    120, // 120 bit IP6-prefix is used for comparison
 '::192.168.1.1/30', '192.168.1.255/24', 127, // 120 bit IP6-prefix is used for comparison
"""


@pytest.mark.parametrize(("function", "equal"), [("ipv6_is_match", True), ("ipv6_compare", 0)])
def test_doc_ipv6(con: duckdb.DuckDBPyConnection, function: str, equal: object) -> None:
    # The documentation prints ipv6_is_match's true as 1: a bool column in its UI.
    rows = kql(
        con,
        f"datatable(ip1_string:string, ip2_string:string)[{_IPV6_PAIRS}]"
        f"| extend result = {function}(ip1_string, ip2_string)",
    )
    assert [r[2] for r in rows] == [equal] * 12
    rows = kql(
        con,
        f"datatable(ip1_string:string, ip2_string:string, prefix:long)[{_IPV6_PREFIXED}]"
        f"| extend result = {function}(ip1_string, ip2_string, prefix)",
    )
    assert [r[3] for r in rows] == [equal] * 9


# --------------------------------------------------------------------------------------
# Edges the documentation implies: ranges, prefixes, invalid text
# --------------------------------------------------------------------------------------


def test_ipv4_is_private_blocks_and_invalid_text(con: duckdb.DuckDBPyConnection) -> None:
    check(
        con,
        {
            "ipv4_is_private('10.0.0.0')": True,
            "ipv4_is_private('10.255.255.255')": True,
            "ipv4_is_private('172.15.255.255')": False,
            "ipv4_is_private('172.16.0.0')": True,
            "ipv4_is_private('172.31.255.255')": True,
            "ipv4_is_private('172.32.0.0')": False,
            "ipv4_is_private('192.167.255.255')": False,
            "ipv4_is_private('192.168.0.0')": True,
            # Loopback, link-local and carrier-grade NAT are not RFC 1918.
            "ipv4_is_private('127.0.0.1')": False,
            "ipv4_is_private('169.254.10.1')": False,
            "ipv4_is_private('100.64.0.1')": False,
            # A network is private only if all of it is.
            "ipv4_is_private('10.1.2.3/8')": True,
            "ipv4_is_private('10.1.2.3/7')": False,
            "ipv4_is_private('172.16.0.1/12')": True,
            "ipv4_is_private('172.16.0.1/11')": False,
            "ipv4_is_private('192.168.5.5/15')": False,
            "ipv4_is_private('0.0.0.0/0')": False,
            "ipv4_is_private(' 10.0.0.1 ')": True,
            "ipv4_is_private(dynamic('10.0.0.1'))": True,
            # Not an IPv4 address: null, not false.
            "ipv4_is_private('256.1.1.1')": None,
            "ipv4_is_private('1.2.3')": None,
            "ipv4_is_private('1.2.3.4.5')": None,
            "ipv4_is_private('01.2.3.4')": None,
            "ipv4_is_private('10.0.0.1/33')": None,
            "ipv4_is_private('10.0.0.1/08')": None,
            "ipv4_is_private('10.0.0.1/')": None,
            "ipv4_is_private('::ffff:10.0.0.1')": None,
            "ipv4_is_private('')": None,
            "ipv4_is_private('abc')": None,
            "ipv4_is_private(1)": None,
            "ipv4_is_private(dynamic(null))": None,
        },
    )


def test_ipv4_range_compare_and_match_edges(con: duckdb.DuckDBPyConnection) -> None:
    check(
        con,
        {
            "ipv4_is_in_range('10.1.2.3', '10.0.0.0/8')": True,
            "ipv4_is_in_range('11.1.2.3', '10.0.0.0/8')": False,
            "ipv4_is_in_range('1.2.3.4', '0.0.0.0/0')": True,
            "ipv4_is_in_range('1.2.3.4', '1.2.3.5')": False,
            # A prefixed first argument is a network: in range only if all of it is.
            "ipv4_is_in_range('10.1.0.0/16', '10.0.0.0/8')": True,
            "ipv4_is_in_range('10.0.0.0/7', '10.0.0.0/8')": False,
            "ipv4_is_in_range('10.1.2.3', '10.0.0.0/33')": None,
            "ipv4_is_in_range('10.1.2.300', '10.0.0.0/8')": None,
            "ipv4_is_in_range('10.1.2.3', 'junk')": None,
            "ipv4_compare('10.0.0.1', '10.0.0.2')": -1,
            "ipv4_compare('10.0.0.2', '10.0.0.1')": 1,
            "ipv4_compare('255.255.255.255', '0.0.0.0')": 1,
            "ipv4_compare('10.0.0.1', '10.0.0.2', 0)": 0,
            "ipv4_compare('10.0.0.1', '10.0.0.2', 32)": -1,
            "ipv4_compare('10.0.0.1', '10.0.0.2', 33)": None,
            "ipv4_compare('10.0.0.1', '10.0.0.2', -1)": None,
            "ipv4_compare('10.0.0.1', '10.0.0.2', int(null))": None,
            "ipv4_compare('10.0.0.1', '1.2.3')": None,
            "ipv4_is_match('10.0.0.1', '10.0.0.1')": True,
            "ipv4_is_match('10.0.0.1', '10.0.0.2')": False,
            "ipv4_is_match('10.0.0.1/31', '10.0.0.0')": True,
            "ipv4_is_match('10.0.0.1', 'x')": None,
        },
    )


def test_ipv4_is_in_any_range_three_valued(con: duckdb.DuckDBPyConnection) -> None:
    check(
        con,
        {
            "ipv4_is_in_any_range('10.1.2.3', dynamic([]))": False,
            "ipv4_is_in_any_range('10.1.2.3', '192.168.0.0/16', '10.0.0.0/8')": True,
            "ipv4_is_in_any_range('10.1.2.3', 'junk', '10.0.0.0/8')": True,
            "ipv4_is_in_any_range('8.8.8.8', 'junk', '10.0.0.0/8')": None,
            "ipv4_is_in_any_range('8.8.8.8', dynamic(['10.0.0.0/8', 7]))": None,
            "ipv4_is_in_any_range('junk', '10.0.0.0/8')": None,
            # Strings and arrays mix, as the syntax's "Ipv4Range [, Ipv4Range ...]" allows.
            "ipv4_is_in_any_range('1.1.1.1', '10.0.0.0/8', dynamic(['1.0.0.0/8']))": True,
            "ipv4_is_in_any_range('10.0.0.1', split('172.16.0.0/12,10.0.0.0/8', ','))": True,
        },
    )
    rows = kql(
        con,
        "datatable(ip:string, ranges:dynamic)["
        "'10.0.0.1', dynamic(['10.0.0.0/8']), '8.8.8.8', dynamic(['10.0.0.0/8']), "
        "'8.8.8.8', dynamic([])] | extend r = ipv4_is_in_any_range(ip, ranges)",
    )
    assert [r[2] for r in rows] == [True, False, False]


def test_has_ipv4_delimiters(con: duckdb.DuckDBPyConnection) -> None:
    check(
        con,
        {
            "has_ipv4('1.2.3.4', '1.2.3.4')": True,
            "has_ipv4('from [1.2.3.4]:443', '1.2.3.4')": True,
            "has_ipv4('net 1.2.3.4/24', '1.2.3.4')": True,
            "has_ipv4('host.1.2.3.4', '1.2.3.4')": True,
            "has_ipv4('ends with 1.2.3.4.', '1.2.3.4')": True,
            "has_ipv4('x_1.2.3.4_y', '1.2.3.4')": True,
            "has_ipv4('a\\n1.2.3.4\\nb', '1.2.3.4')": True,
            # Alphanumeric neighbours, and dots that make a longer dotted number.
            "has_ipv4('a1.2.3.4', '1.2.3.4')": False,
            "has_ipv4('1.2.3.4b', '1.2.3.4')": False,
            "has_ipv4('é1.2.3.4', '1.2.3.4')": False,
            "has_ipv4('11.2.3.4', '1.2.3.4')": False,
            "has_ipv4('1.2.3.45', '1.2.3.4')": False,
            "has_ipv4('5.1.2.3.4', '1.2.3.4')": False,
            "has_ipv4('1.2.3.4.5', '1.2.3.4')": False,
            # The first occurrence is not delimited, the second is.
            "has_ipv4('a1.2.3.4 1.2.3.4', '1.2.3.4')": True,
            "has_ipv4('1.2.3.4 is not 1.2.3.45', '1.2.3.45')": True,
            # The needle must be an address: no prefix, no junk; false, never null.
            "has_ipv4('net 1.2.3.0/24', '1.2.3.0/24')": False,
            "has_ipv4('1.2.3', '1.2.3')": False,
            "has_ipv4('x 1.2.3.4', ' 1.2.3.4 ')": True,
            "has_ipv4(dynamic(null), '1.2.3.4')": False,
            "has_ipv4('1.2.3.4', dynamic(null))": False,
            "has_any_ipv4('1.2.3.4', dynamic([]))": False,
            "has_any_ipv4('x 8.8.8.8 y', 'junk', '8.8.8.8')": True,
            "has_any_ipv4('x 8.8.8.8 y', dynamic(['1.1.1.1']), '8.8.8.8')": True,
        },
    )
    # A needle from a column: one pattern per row must not mean one regex per row.
    rows = kql(
        con,
        "datatable(line:string, ip:string)["
        "'GET 10.1.2.3 x', '10.1.2.3', 'a10.1.2.3 b', '10.1.2.3', 'x 8.8.8.8', '1.1.1.1']"
        "| extend h = has_ipv4(line, ip), a = has_any_ipv4(line, ip, '8.8.8.8')",
    )
    assert [(r[2], r[3]) for r in rows] == [(True, True), (False, False), (False, True)]


def test_ipv6_parsing_edges(con: duckdb.DuckDBPyConnection) -> None:
    check(
        con,
        {
            "ipv6_compare('::', '0:0:0:0:0:0:0:0')": 0,
            "ipv6_compare('::1', '0000:0000:0000:0000:0000:0000:0000:0001')": 0,
            "ipv6_compare('1::', '1:0:0:0:0:0:0:0')": 0,
            "ipv6_compare('1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0')": 0,
            "ipv6_compare('::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8')": 0,
            "ipv6_compare('FE80::ABCD', 'fe80::abcd')": 0,
            "ipv6_compare(' fe80::1 ', 'fe80::1')": 0,
            "ipv6_compare('fe80::1%eth0', 'fe80::1')": 0,
            "ipv6_compare('fe80::1%eth0/64', 'fe80::2/64')": 0,
            "ipv6_compare('::ffff:1.2.3.4', '1.2.3.4')": 0,
            "ipv6_compare('0:0:0:0:0:ffff:1.2.3.4', '::ffff:102:304')": 0,
            "ipv6_compare('64:ff9b::1.2.3.4', '64:ff9b::102:304')": 0,
            # IPv4-compatible, not IPv4-mapped: a different address.
            "ipv6_compare('::1.2.3.4', '1.2.3.4')": -1,
            "ipv6_compare('fe80::1', 'fe80::2')": -1,
            "ipv6_compare('ffff::', '::ffff')": 1,
            "ipv6_compare('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '::')": 1,
            "ipv6_compare('fe80::2', 'fe80::3', 127)": 0,
            "ipv6_compare('fe80::1', 'fe80::2', 127)": -1,
            "ipv6_compare('fe80::1', 'fe80::2', 128)": -1,
            "ipv6_compare('fe80::1', 'fe80::2', 0)": 0,
            # Which bits a prefix counts: IPv4 ones on a dotted IPv4-mapped address.
            "ipv6_compare('::ffff:1.2.3.4/24', '1.2.3.255')": 0,
            "ipv6_compare('::ffff:102:304/24', '1.2.3.255')": 0,
            "ipv6_compare('::ffff:102:304/120', '1.2.3.255')": 0,
            "ipv6_compare('::ffff:0:0/96', '8.8.8.8')": 0,
            "ipv6_compare('::1.2.3.4/120', '::1.2.3.255')": 0,
            "ipv6_is_match('1.2.3.4/24', '1.2.3.200')": True,
            "ipv6_is_match('fe80::1', '::1')": False,
            # Invalid text, prefixes out of range: null.
            "ipv6_compare('1:2:3:4:5:6:7:8:9', '::')": None,
            "ipv6_compare('1:2:3:4:5:6:7:8::', '::')": None,
            "ipv6_compare('1::2:3:4:5:6:7:8', '::')": None,
            "ipv6_compare('1::2::3', '::')": None,
            "ipv6_compare(':::', '::')": None,
            "ipv6_compare(':1::', '::')": None,
            "ipv6_compare('12345::', '::')": None,
            "ipv6_compare('g::1', '::')": None,
            "ipv6_compare('1:2:3:4:5:6:7', '::')": None,
            "ipv6_compare('::ffff:1.2.3.256', '::')": None,
            "ipv6_compare('::ffff:01.2.3.4', '::')": None,
            "ipv6_compare('1.2.3.4/33', '::')": None,
            "ipv6_compare('::ffff:1.2.3.4/33', '::')": None,
            "ipv6_compare('fe80::1/129', '::')": None,
            "ipv6_compare('fe80::1/064', '::')": None,
            "ipv6_compare('fe80::1', '::', 129)": None,
            "ipv6_compare('fe80::1', '::', int(null))": None,
            "ipv6_compare('', '::')": None,
            "ipv6_is_match('fe80::1', 'x')": None,
        },
    )


# --------------------------------------------------------------------------------------
# The same answers as Python's ipaddress, on random addresses and prefixes
# --------------------------------------------------------------------------------------

_translated: dict[str, str] = {}


def run_cases(
    con: duckdb.DuckDBPyConnection, project: str, columns: dict[str, list[Any]]
) -> list[tuple[Any, ...]]:
    """``Cases | project <project>`` over *columns*, one row per case, in order."""
    names = list(columns)
    count = len(columns[names[0]])
    types = {name: "BIGINT" if name.startswith("p") else "VARCHAR" for name in names}
    con.execute(
        "CREATE OR REPLACE TEMP TABLE Cases AS SELECT "
        + ", ".join(f"unnest(?::{types[n]}[]) AS {n}" for n in names)
        + ", unnest(range(?)) AS i",
        [*(columns[n] for n in names), count],
    )
    text = f"Cases | project i, {project} | order by i asc"
    if text not in _translated:
        functions.register()
        _translated[text] = str(duckdb_kql.to_sql(text))
    return [row[1:] for row in con.execute(_translated[text]).fetchall()]


V4 = st.integers(0, 2**32 - 1)


@st.composite
def v4_text(draw: st.DrawFn) -> tuple[str, int, int]:
    """(text, address, prefix): a dotted quad, with a prefix some of the time."""
    value = draw(V4)
    has_prefix = draw(st.booleans())
    prefix = draw(st.integers(0, 32)) if has_prefix else 32
    text = str(ipaddress.IPv4Address(value)) + (f"/{prefix}" if has_prefix else "")
    return text, value, prefix


def network(value: int, prefix: int) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network((value, prefix), strict=False)


def sign(a: int, b: int) -> int:
    return (a > b) - (a < b)


PRIVATE_BLOCKS = [
    ipaddress.IPv4Network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(v4_text(), v4_text(), st.integers(0, 32)), min_size=1, max_size=12))
def test_ipv4_range_and_compare_match_ipaddress(
    con: duckdb.DuckDBPyConnection, cases: list[tuple[Any, ...]]
) -> None:
    # One query per example for all four: binding it is most of the cost.
    rows = run_cases(
        con,
        "r = ipv4_is_in_range(a, b), private = ipv4_is_private(a), "
        "two = ipv4_compare(a, b), three = ipv4_compare(a, b, p)",
        {"a": [c[0][0] for c in cases], "b": [c[1][0] for c in cases], "p": [c[2] for c in cases]},
    )

    def compare(a: tuple[str, int, int], b: tuple[str, int, int], bits: int) -> int:
        bits = min(a[2], b[2], bits)
        return sign(*(int(network(x[1], bits).network_address) for x in (a, b)))

    expected = [
        (
            network(a[1], a[2]).subnet_of(network(b[1], b[2])),
            any(network(a[1], a[2]).subnet_of(block) for block in PRIVATE_BLOCKS),
            compare(a, b, 32),
            compare(a, b, p),
        )
        for a, b, p in cases
    ]
    assert rows == expected


@st.composite
def v6_text(draw: st.DrawFn) -> str:
    """An address in one of the spellings Kusto accepts, with a prefix some of the time."""
    kind = draw(
        st.sampled_from(["compressed", "exploded", "upper", "v4", "mapped", "mapped-hex", "tail"])
    )
    low = draw(V4)
    v4 = str(ipaddress.IPv4Address(low))
    if kind == "v4":
        text = v4
    elif kind == "mapped":
        text = f"::ffff:{v4}"
    elif kind == "mapped-hex":
        text = f"::ffff:{low >> 16:x}:{low & 0xFFFF:x}"
    elif kind == "tail":
        head = draw(st.sampled_from([0, 0xFFFF]) | st.integers(0, 2**96 - 1))
        text = ":".join(f"{(head >> (16 * (5 - i))) & 0xFFFF:x}" for i in range(6)) + ":" + v4
    else:
        address = ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1)))
        text = address.exploded if kind == "exploded" else address.compressed
        text = text.upper() if kind == "upper" else text
    if draw(st.booleans()):
        v4_bits = "." in text and v6_model(text)[0] >> 32 == 0xFFFF
        text += f"/{draw(st.integers(0, 32 if v4_bits else 128))}"
    return text


def v6_model(text: str) -> tuple[int, int]:
    """(address, prefix bits of 128): ipaddress, plus the module's rule for IPv4 prefixes."""
    address, _, prefix = text.partition("/")
    if ":" in address:
        value = int(ipaddress.IPv6Address(address))
    else:
        value = 0xFFFF << 32 | int(ipaddress.IPv4Address(address))
    if not prefix:
        return value, 128
    if "." in address and value >> 32 == 0xFFFF:
        return value, 96 + int(prefix)
    return value, int(prefix)


# Fewer, larger batches than the IPv4 tests: binding an IPv6 parse is the slow part.
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(v6_text(), v6_text(), st.integers(0, 128)), min_size=1, max_size=40))
def test_ipv6_compare_matches_ipaddress(
    con: duckdb.DuckDBPyConnection, cases: list[tuple[str, str, int]]
) -> None:
    rows = run_cases(
        con,
        "r = ipv6_compare(a, b, p)",
        {"a": [c[0] for c in cases], "b": [c[1] for c in cases], "p": [c[2] for c in cases]},
    )

    def compare(a: str, b: str, bits: int) -> int:
        (x, xb), (y, yb) = v6_model(a), v6_model(b)
        shift = 128 - min(xb, yb, bits)
        return sign(x >> shift, y >> shift)

    assert rows == [(compare(a, b, p),) for a, b, p in cases]


# --------------------------------------------------------------------------------------
# makeset, contexts, connections
# --------------------------------------------------------------------------------------


def test_makeset_is_make_set_named_set_x(con: duckdb.DuckDBPyConnection) -> None:
    table = (
        "datatable(k:string, x:string, n:long, d:dynamic)["
        "'a', 'p', 1, dynamic(['1', '2']), 'a', 'q', long(null), dynamic(['2', '3']), "
        "'a', 'p', 1, dynamic(null), 'b', '', long(null), dynamic([])]"
    )
    functions.register()
    aggregates = "{}(x), {}(n), {}(d)"
    old = con.sql(
        str(duckdb_kql.to_sql(f"{table} | summarize {aggregates.format(*['make_set'] * 3)} by k"))
    )
    new = con.sql(
        str(duckdb_kql.to_sql(f"{table} | summarize {aggregates.format(*['makeset'] * 3)} by k"))
    )
    assert new.columns == old.columns == ["k", "set_x", "set_n", "set_d"]

    def as_sets(rows: list[tuple[Any, ...]]) -> dict[str, tuple[frozenset[Any], ...]]:
        return {r[0]: tuple(frozenset(json.loads(v)) for v in r[1:]) for r in rows}

    assert as_sets(new.fetchall()) == as_sets(old.fetchall())
    assert as_sets(kql(con, f"{table} | summarize makeset(x), makeset(n), makeset(d) by k")) == {
        "a": (frozenset({"p", "q"}), frozenset({1}), frozenset({"1", "2", "3"})),
        "b": (frozenset({""}), frozenset(), frozenset()),
    }


def test_functions_work_in_every_clause(con: duckdb.DuckDBPyConnection) -> None:
    rows = kql(
        con,
        "datatable(ip:string)['10.0.0.1', '8.8.8.8', '10.0.0.2', 'x']"
        "| where isnotnull(ipv4_is_private(ip))"
        "| summarize n = count(), private = countif(ipv4_is_private(ip)),"
        "  ranged = countif(ipv4_is_in_any_range(ip, '8.0.0.0/8')) by p = ipv4_is_private(ip)"
        "| order by n desc",
    )
    assert rows == [(True, 2, 2, 0), (False, 1, 0, 1)]


def test_arguments_that_duckdb_kql_renders_as_subqueries(con: duckdb.DuckDBPyConnection) -> None:
    # parse_url and parse_ipv6 become scalar subqueries, which DuckDB refuses inside a
    # lambda: the macros must keep their arguments out of theirs.
    rows = kql(
        con,
        "datatable(u:string)['http://10.1.2.3:8080/x', 'http://8.8.8.8/']"
        "| extend p = ipv4_is_private(tostring(parse_url(u).Host)),"
        "  h = has_ipv4(tostring(parse_url(u)), '10.1.2.3'),"
        "  c = ipv6_compare(parse_ipv6(tostring(parse_url(u).Host)), '10.1.2.3'),"
        "  r = ipv4_is_in_any_range(tostring(parse_url(u).Host), dynamic(['8.0.0.0/8']))",
    )
    assert [r[1:] for r in rows] == [(True, True, 0, False), (False, False, -1, True)]
    assert not any("select" in s.lower() for s in functions.macro_statements())


def test_wrong_argument_counts_are_translation_errors() -> None:
    functions.register()
    for text, message in [
        ("print ipv4_compare('1.1.1.1')", r"takes \(2, 3\) argument"),
        ("print ipv4_is_private('1.1.1.1', 2)", r"takes \(1,\) argument"),
        ("print has_any_ipv4('x')", "2 or more"),
        ("print ipv4_is_in_any_range('1.1.1.1')", "2 or more"),
    ]:
        with pytest.raises(KqlUnsupportedError, match=message):
            duckdb_kql.to_sql(text)


def test_read_only_store_with_hunt_settings(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    with duckdb.connect(str(path)) as writer:
        writer.execute("CREATE TABLE T AS SELECT * FROM (VALUES ('10.0.0.1'), ('8.8.8.8')) v(ip)")
    functions.register()
    sql = str(duckdb_kql.to_sql("T | project p = ipv4_is_private(ip), c = ipv6_compare(ip, '::')"))
    with duckdb.connect(str(path), read_only=True, config=HUNT_CONFIG) as reader:
        reader.execute("SET TimeZone='UTC'")
        functions.install(reader)
        reader.execute("SET lock_configuration=true")
        functions.install(reader)
        assert reader.execute(sql).fetchall() == [(True, 1), (False, 1)]


def test_agent_cursor_after_lock(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "agent.duckdb")) as owner:
        owner.execute("CREATE TABLE T AS SELECT '192.168.1.1' AS ip")
        cursor = owner.cursor()
        cursor.execute("SET enable_external_access=false")
        cursor.execute("SET lock_configuration=true")
        functions.install(cursor)
        functions.register()
        sql = str(duckdb_kql.to_sql("T | project ipv4_is_private(ip)"))
        assert cursor.execute(sql).fetchall() == [(True,)]
        # Temp macros belong to one connection, and a cursor is one of its own.
        with pytest.raises(duckdb.CatalogException):
            owner.cursor().execute(sql)


# --------------------------------------------------------------------------------------
# Registration and the guard
# --------------------------------------------------------------------------------------


def test_register_is_idempotent() -> None:
    first = functions.register()
    rows = {name: registry.lookup(name) for name in functions.IP_FUNCTIONS}
    size = len(registry.SCALAR_FUNCTIONS), len(registry.AGGREGATE_FUNCTIONS)
    assert functions.register() == first
    assert set(first) == {*functions.IP_FUNCTIONS, *functions.AGGREGATE_ALIASES}
    assert all(registry.lookup(name) is row for name, row in rows.items())
    assert (len(registry.SCALAR_FUNCTIONS), len(registry.AGGREGATE_FUNCTIONS)) == size
    assert registry.lookup_aggregate("makeset").name_prefix == "set"
    functions.check_surface()


def test_guard_names_a_missing_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    functions.register()
    monkeypatch.delattr(registry, "SCALAR_FUNCTIONS")
    with pytest.raises(RuntimeError, match=r"SCALAR_FUNCTIONS is missing") as caught:
        functions.check_surface()
    assert "duckdb-kql 1." in str(caught.value)
    with pytest.raises(RuntimeError, match=r"SCALAR_FUNCTIONS is missing"):
        functions.register()


def test_guard_names_changed_spec_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass(frozen=True)
    class Narrower:
        name: str
        kind: str
        template: str
        owner: str

    monkeypatch.setattr(registry, "FunctionSpec", Narrower)
    with pytest.raises(RuntimeError) as caught:
        functions.check_surface()
    message = str(caught.value)
    for fragment in ("no field 'arities'", "no field 'rules'", "new required field 'owner'"):
        assert fragment in message


def test_guard_refuses_to_shadow_duckdb_kql(monkeypatch: pytest.MonkeyPatch) -> None:
    functions.register()
    native = registry.FunctionSpec("ipv4_is_private", "native", "inet_private({0})", (1,))
    monkeypatch.setitem(registry.SCALAR_FUNCTIONS, "ipv4_is_private", native)
    with pytest.raises(RuntimeError, match=r"now maps ipv4_is_private\(\) itself"):
        functions.check_surface()
    make_set = registry.AGGREGATE_FUNCTIONS["make_set"]
    monkeypatch.setitem(
        registry.AGGREGATE_FUNCTIONS, "make_set", dataclasses.replace(make_set, name_prefix="s")
    )
    with pytest.raises(RuntimeError, match="no longer be named set_x"):
        functions.check_surface()


def test_guard_rolls_back_when_lookups_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    functions.register()
    monkeypatch.setattr(registry, "lookup", lambda name: None)
    with pytest.raises(RuntimeError, match=r"lookup\('ipv4_compare'\) returns nothing"):
        functions.register()
    assert "ipv4_compare" not in registry.SCALAR_FUNCTIONS
    monkeypatch.undo()
    functions.register()
    assert registry.lookup("ipv4_compare") is registry.SCALAR_FUNCTIONS["ipv4_compare"]


#: Dotted quads as they appear in logs and as they go wrong: octets over 255, leading
#: zeros, spaces around them, a prefix, too few parts.
_octet_text = st.one_of(
    st.integers(0, 255).map(str),
    st.integers(256, 999).map(str),
    st.integers(0, 99).map(lambda n: f"0{n}"),
)
_dotted = st.one_of(
    st.tuples(_octet_text, _octet_text, _octet_text, _octet_text).map(".".join),
    st.tuples(_octet_text, _octet_text, _octet_text).map(".".join),
    st.sampled_from(["10", "172", "192", "127"]).flatmap(
        lambda first: st.tuples(st.just(first), _octet_text, _octet_text, _octet_text).map(".".join)
    ),
)


def _private_reference(text: str) -> bool | None:
    """Kusto's answer: whole network inside RFC 1918; null unless valid IPv4 (+prefix)."""
    body = text.strip(" ")
    address, _, prefix = body.partition("/")
    parts = address.split(".")
    if len(parts) != 4 or any(
        not p.isdigit() or (len(p) > 1 and p[0] == "0") or int(p) > 255 for p in parts
    ):
        return None
    if prefix and (
        not prefix.isdigit() or (len(prefix) > 1 and prefix[0] == "0") or int(prefix) > 32
    ):
        return None
    net = ipaddress.IPv4Network((address, int(prefix or 32)), strict=False)
    return any(net.subnet_of(block) for block in PRIVATE_BLOCKS)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            _dotted,
            st.sampled_from(["", " "]),
            st.one_of(st.just(""), st.integers(0, 40).map(lambda n: f"/{n}")),
        ).map(lambda t: t[1] + t[0] + t[2] + t[1]),
        min_size=1,
        max_size=20,
    )
)
def test_ipv4_is_private_matches_the_reference_on_text_columns(
    con: duckdb.DuckDBPyConnection, texts: list[str]
) -> None:
    """Over a text column: the path the seed TCP query takes, fast path included."""
    got = [row[0] for row in run_cases(con, "ipv4_is_private(a)", {"a": texts})]
    assert got == [_private_reference(t) for t in texts]
